//! `-o markdown`: the report to paste into an incident channel or ticket.
//!
//! GitHub's Markdown (Jira and GitLab read it too): headings, bold, lists,
//! plain pipe tables and fenced code blocks, no HTML; Slack has markup of
//! its own (`slack`), from the same parts (`doc`). Outside text (pod
//! names, log lines, server messages) is escaped so it cannot end a table
//! cell, open a code span or turn into markup; commands sit in fenced blocks
//! so they are copied exactly. The time and the command line come in with
//! the report and the arguments: this module reads no clock and no argv.

use std::io::Write;

use super::View;
use super::doc::{self, Doc, Table};
use super::errors::Block;
use super::table;
use crate::report::Report;
use crate::shell::shell_join;

/// `report` as Markdown. `argv` is the command that produced it, program
/// name first; it is shown shell-quoted, as it can be run again.
pub fn render(report: &Report, view: View, argv: &[String], out: &mut impl Write) -> std::io::Result<()> {
    let d = doc::build(report, view, argv);
    writeln!(out, "## {} ({}): {} at {}", text(&d.service), text(&d.environment), d.verdict, text(&d.generated_at))?;
    writeln!(out)?;
    writeln!(out, "{}", text(&d.summary))?;
    writeln!(out)?;
    writeln!(out, "Runbook: {}", text(&d.runbook))?;
    if let Some(context) = &d.context {
        writeln!(out)?;
        writeln!(out, "Context: {}", text(context))?;
    }
    if let Some(impact) = &d.impact {
        writeln!(out)?;
        writeln!(out, "**Impact:** {}", text(impact))?;
    }
    if d.partial {
        writeln!(out)?;
        writeln!(out, "**Partial:** the run was cut short; some results are missing.")?;
    }
    if let Some(h) = &d.healthz {
        writeln!(out)?;
        writeln!(out, "Healthz {}: **{}** ({})", text(&h.url), h.status.as_str(), text(&h.summary))?;
    }
    if let Some(line) = &d.telemetry {
        writeln!(out)?;
        writeln!(out, "{}", text(line))?;
    }
    writeln!(out)?;
    pipe_table(&d.table, out)?;
    error_blocks(&d.errors, out)?;
    rest(&d, out)
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
    pipe_table(&doc::grid(&table::doctor_grid(r)), out)?;
    writeln!(out, "\n### Command\n")?;
    code_block(&shell_join(argv), out)
}

fn rest(d: &Doc, out: &mut impl Write) -> std::io::Result<()> {
    if !d.findings.is_empty() {
        writeln!(out, "\n### Findings\n")?;
        for f in &d.findings {
            let region = f.region.as_ref().map(|r| format!("{}: ", text(r))).unwrap_or_default();
            writeln!(out, "- **{}** {region}{}", doc::severity_word(f.severity), text(&f.text))?;
        }
    }
    if !d.steps.is_empty() {
        writeln!(out, "\n### Next steps\n")?;
        for (i, s) in d.steps.iter().enumerate() {
            let region = s.region.as_ref().map(|r| format!("{}: ", text(r))).unwrap_or_default();
            writeln!(out, "{}. {region}{}", i + 1, text(&s.text))?;
            // Not indented under the item: Slack and Jira show an indented
            // fence as text, and GitHub numbers the next item on anyway.
            if let Some(c) = &s.command {
                writeln!(out)?;
                code_block(c, out)?;
            }
            writeln!(out)?;
        }
    } else {
        writeln!(out)?;
    }
    writeln!(out, "### Command\n")?;
    code_block(&d.command, out)
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
fn pipe_table(t: &Table, out: &mut impl Write) -> std::io::Result<()> {
    if t.header.is_empty() {
        return Ok(());
    }
    let line = |cells: &[String]| format!("| {} |", cells.iter().map(|c| text(c)).collect::<Vec<_>>().join(" | "));
    writeln!(out, "{}", line(&t.header))?;
    writeln!(out, "|{}", " --- |".repeat(t.header.len()))?;
    for row in &t.rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
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
    fn a_healthz_body_that_is_not_the_json_expected_is_shown() {
        let mut r = fixture::report();
        let h = r.healthz.as_mut().unwrap();
        h.body_excerpt = Some("<html><title>502 Bad Gateway</title>".into());
        let mut out = vec![];
        render(&r, View::Healthz, &["keysvc-check".into()], &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let row = out.lines().find(|l| l.starts_with("| environment |")).unwrap();
        assert!(row.ends_with(r"| body: \<html\>\<title\>502 Bad Gateway\</title\> |"), "{row}");
    }

    #[test]
    fn line_breaks_and_markup_are_neutralised() {
        assert_eq!(text("a|b\nc `d` *e* _f_ <g> #1 & [h]"), r"a\|b c \`d\` \*e\* \_f\_ \<g\> \#1 \& \[h\]");
    }
}
