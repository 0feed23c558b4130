//! `-o markdown`: the report to paste into an incident channel or ticket.
//!
//! Only constructs GitHub, Slack and Jira all read: headings, bold, lists,
//! plain pipe tables and fenced code blocks, no HTML. Outside text (pod
//! names, log lines, server messages) is escaped so it cannot end a table
//! cell, open a code span or turn into markup; commands sit in fenced blocks
//! so they are copied exactly. The time and the command line come in with
//! the report and the arguments: this module reads no clock and no argv.

use std::io::Write;

use super::View;
use super::errors::{self, Block};
use super::table::{self, Grid};
use crate::report::{Report, Severity};
use crate::shell::shell_join;

/// `report` as Markdown. `argv` is the command that produced it, program
/// name first; it is shown shell-quoted, as it can be run again.
pub fn render(report: &Report, view: View, argv: &[String], out: &mut impl Write) -> std::io::Result<()> {
    let r = report;
    writeln!(
        out,
        "## {} ({}): {} at {}",
        text(&r.service_name),
        text(&r.environment),
        r.service.verdict.as_str().to_uppercase(),
        text(&r.generated_at)
    )?;
    writeln!(out)?;
    writeln!(out, "{}", text(&r.service.summary))?;
    writeln!(out)?;
    writeln!(out, "Runbook: {}", text(&r.runbook))?;
    if let Some(impact) = &r.service.impact {
        writeln!(out)?;
        writeln!(out, "**Impact:** {}", text(impact))?;
    }
    if r.partial {
        writeln!(out)?;
        writeln!(out, "**Partial:** the run was cut short; some results are missing.")?;
    }
    if view == View::Diagnose
        && let Some(h) = &r.healthz
    {
        writeln!(out)?;
        writeln!(out, "Healthz {}: **{}** ({})", text(&h.url), h.status.as_str(), text(&table::healthz_summary(h)))?;
    }
    if let Some(line) = table::telemetry_line(r) {
        writeln!(out)?;
        writeln!(out, "{}", text(&line))?;
    }
    writeln!(out)?;
    let grid = match view {
        View::Diagnose => table::diagnose_grid(r),
        View::Pods => table::pods_grid(r),
        View::Logs => table::logs_grid(r),
        View::Telemetry if !r.telemetry.as_ref().is_some_and(|t| t.configured) => return rest(r, argv, out),
        View::Telemetry => table::telemetry_grid(r),
        View::Healthz => {
            healthz_table(r, out)?;
            return rest(r, argv, out);
        }
    };
    grid_table(&grid, out)?;
    match view {
        View::Diagnose => error_blocks(&errors::by_region(r), out)?,
        View::Logs => error_blocks(&errors::by_container(r), out)?,
        View::Pods | View::Healthz | View::Telemetry => {}
    }
    rest(r, argv, out)
}

/// The error groups read, by template: a list per container or region.
fn error_blocks(blocks: &[Block], out: &mut impl Write) -> std::io::Result<()> {
    if blocks.is_empty() {
        return Ok(());
    }
    writeln!(out, "\n### Log errors by template\n")?;
    for b in blocks {
        writeln!(out, "- **{}**", text(&b.heading))?;
        for g in &b.groups {
            let seen = g.seen.as_ref().map(|s| format!(" — seen {}", text(s))).unwrap_or_default();
            writeln!(out, "  - {}{seen}", text(&g.title()))?;
            if !g.example.is_empty() {
                writeln!(out, "    e.g. {}", text(&g.example))?;
            }
        }
    }
    Ok(())
}

/// `doctor`'s report as Markdown: the result, the table, the command.
pub fn doctor(r: &crate::doctor::DoctorReport, argv: &[String], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "## keysvc-check doctor ({}): {} at {}\n\n{}\n",
        text(&r.environment),
        if r.ok { "OK" } else { "FAIL" },
        text(&r.generated_at),
        text(&r.summary)
    )?;
    grid_table(&table::doctor_grid(r), out)?;
    writeln!(out, "\n### Command\n")?;
    code_block(&shell_join(argv), out)
}

fn rest(r: &Report, argv: &[String], out: &mut impl Write) -> std::io::Result<()> {
    if !r.findings.is_empty() {
        writeln!(out, "\n### Findings\n")?;
        for f in &r.findings {
            let severity = match f.severity {
                Severity::Fail => "FAIL",
                Severity::Warn => "WARN",
                Severity::Info => "INFO",
            };
            let region = f.region.as_ref().map(|r| format!("{}: ", text(r))).unwrap_or_default();
            writeln!(out, "- **{severity}** {region}{}", text(&f.text))?;
        }
    }
    if !r.next_steps.is_empty() {
        writeln!(out, "\n### Next steps\n")?;
        for (i, s) in r.next_steps.iter().enumerate() {
            let region = s.region.as_ref().map(|r| format!("{}: ", text(r))).unwrap_or_default();
            writeln!(out, "{}. {region}{}", i + 1, text(&s.text))?;
            // Not indented under the item: Slack and Jira show an indented
            // fence as text, and GitHub numbers the next item on anyway.
            if let Some(c) = &s.command {
                writeln!(out)?;
                code_block(&shell_join(&c.argv), out)?;
            }
            writeln!(out)?;
        }
    } else {
        writeln!(out)?;
    }
    writeln!(out, "### Command\n")?;
    code_block(&shell_join(argv), out)
}

/// A fenced code block holding `code` exactly: the fence is longer than any
/// run of backticks inside.
fn code_block(code: &str, out: &mut impl Write) -> std::io::Result<()> {
    let longest = code.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    writeln!(out, "{fence}\n{code}\n{fence}")
}

/// Outside or free text made inert for inline Markdown and table cells:
/// ASCII punctuation that starts markup is backslash-escaped (`|` would end
/// a cell, a backtick open a code span, `<` start HTML), and line breaks
/// become spaces so a cell stays on its row.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A pipe table: a header row, the separator, one line per row.
fn pipe_table(header: &[String], rows: &[Vec<String>], out: &mut impl Write) -> std::io::Result<()> {
    let line = |cells: &[String]| format!("| {} |", cells.iter().map(|c| text(c)).collect::<Vec<_>>().join(" | "));
    writeln!(out, "{}", line(header))?;
    writeln!(out, "|{}", " --- |".repeat(header.len()))?;
    for row in rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

/// The table renderer's rows, every column kept: a pasted report has no
/// terminal width to fit.
fn grid_table(g: &Grid, out: &mut impl Write) -> std::io::Result<()> {
    let header: Vec<String> = g.header.iter().map(|h| sentence_case(h)).collect();
    let rows: Vec<Vec<String>> = g.rows.iter().map(|r| r.iter().map(|(t, _)| t.clone()).collect()).collect();
    pipe_table(&header, &rows, out)
}

/// `PODS READY` → `Pods ready`: table headers in capitals read as shouting.
fn sentence_case(h: &str) -> String {
    let lower = h.to_lowercase();
    let mut chars = lower.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn healthz_table(r: &Report, out: &mut impl Write) -> std::io::Result<()> {
    let rows = r.healthz_checks();
    let header = ["Check", "URL", "Result", "HTTP", "Latency", "Detail"].map(String::from);
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(name, h)| {
            let mut detail: Vec<String> = h.error.iter().map(|e| e.message.clone()).collect();
            detail.extend(h.problems.iter().cloned());
            detail.extend(h.mismatches.iter().cloned());
            detail.extend(h.unrendered.iter().map(|u| format!("unrendered template: {u}")));
            vec![
                name,
                h.url.clone(),
                h.status.as_str().into(),
                h.http_status.map_or("-".into(), |c| c.to_string()),
                h.latency_ms.map_or("-".into(), |ms| format!("{ms} ms")),
                detail.join("; "),
            ]
        })
        .collect();
    pipe_table(&header, &rows, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;

    fn show(view: View) -> String {
        let argv: Vec<String> = [
            "keysvc-check",
            "diagnose",
            "--env",
            "prod",
            "--runbook",
            "/srv/run books/key service.yaml",
            "-o",
            "markdown",
        ]
        .map(String::from)
        .to_vec();
        let mut out = vec![];
        render(&fixture::report(), view, &argv, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Cells of a pipe table line: split at every `|` not escaped.
    fn cells(line: &str) -> usize {
        let mut n = 0;
        let mut escaped = false;
        for c in line.chars() {
            match c {
                '\\' if !escaped => escaped = true,
                '|' if !escaped => n += 1,
                _ => escaped = false,
            }
        }
        n - 1
    }

    #[test]
    fn diagnose_report_as_markdown() {
        insta::assert_snapshot!("diagnose", show(View::Diagnose));
    }

    #[test]
    fn every_command_has_its_table() {
        insta::assert_snapshot!("pods", show(View::Pods));
        insta::assert_snapshot!("logs", show(View::Logs));
        insta::assert_snapshot!("healthz", show(View::Healthz));
    }

    #[test]
    fn outside_text_cannot_break_a_table_row() {
        for view in [View::Diagnose, View::Pods, View::Logs, View::Healthz] {
            let out = show(view);
            let rows: Vec<&str> = out.lines().filter(|l| l.starts_with('|')).collect();
            assert!(rows.len() >= 3, "{out}");
            let columns = cells(rows[0]);
            for row in &rows {
                assert_eq!(cells(row), columns, "{view:?}: {row}");
                assert!(row.ends_with(" |"), "{row}");
            }
        }
        let logs = show(View::Logs);
        let top = logs.lines().find(|l| l.contains("2×")).unwrap();
        assert!(top.contains(r"key=\<nil\> \| retry \`later\` \*now\* \[db-7.internal:5432\]"), "{top}");
    }

    #[test]
    fn title_commands_and_the_command_line() {
        let out = show(View::Diagnose);
        assert!(out.starts_with("## Key Service API (prod): DEGRADED at 2025-03-04T05:06:07Z\n"), "{out}");
        let r = fixture::report();
        for c in r.next_steps.iter().filter_map(|s| s.command.as_ref().map(|c| shell_join(&c.argv))) {
            assert!(out.contains(&format!("```\n{c}\n```\n")), "{c} not in a code block:\n{out}");
        }
        assert!(out.contains("- **FAIL** us-east: api-key-service-7d9f6b5c4d-x8k2p CrashLoopBackOff"), "{out}");
        let command = "keysvc-check diagnose --env prod --runbook '/srv/run books/key service.yaml' -o markdown";
        assert!(out.ends_with(&format!("### Command\n\n```\n{command}\n```\n")), "{out}");
        // No HTML: every `<` in the report is outside text, escaped.
        assert!(out.match_indices('<').all(|(i, _)| out[..i].ends_with('\\')), "{out}");
    }

    #[test]
    fn a_fence_outlasts_the_backticks_inside() {
        let mut out = vec![];
        code_block("echo ```; echo `x`", &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "````\necho ```; echo `x`\n````\n");
    }

    #[test]
    fn line_breaks_and_markup_are_neutralised() {
        assert_eq!(text("a|b\nc `d` *e* _f_ <g> #1 & [h]"), r"a\|b c \`d\` \*e\* \_f\_ \<g\> \#1 \& \[h\]");
    }
}
