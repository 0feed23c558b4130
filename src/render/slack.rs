//! `-o slack`: the report in Slack's own markup (mrkdwn), to post to a
//! channel. The same parts as `-o markdown` (`doc`), laid out as Slack shows
//! them: `*bold*` titles instead of headings, `•` lists, a table as aligned
//! text in a code block, links as `<url|text>`. Slack reads `&`, `<` and
//! `>` as markup and knows no backslash escape, so those three are written
//! `&amp;`, `&lt;` and `&gt;` (in code blocks too: Slack reads entities
//! there the same way) and nothing else is escaped.

use std::io::Write;

use unicode_width::UnicodeWidthStr;

use super::View;
use super::doc::{self, Doc, Table};
use super::errors::Block;
use super::table;
use crate::report::Report;
use crate::shell::shell_join;

/// `report` in Slack's markup. `argv` is the command that produced it,
/// program name first; it is shown shell-quoted, as it can be run again.
pub fn render(report: &Report, view: View, argv: &[String], out: &mut impl Write) -> std::io::Result<()> {
    let d = doc::build(report, view, argv);
    writeln!(out, "*{} ({}): {}* at {}\n", text(&d.service), text(&d.environment), d.verdict, text(&d.generated_at))?;
    writeln!(out, "{}\n", text(&d.summary))?;
    writeln!(out, "Runbook: {}", text(&d.runbook))?;
    if let Some(context) = &d.context {
        writeln!(out, "\nContext: {}", text(context))?;
    }
    if let Some(impact) = &d.impact {
        writeln!(out, "\n*Impact:* {}", text(impact))?;
    }
    if d.partial {
        writeln!(out, "\n*Partial:* the run was cut short; some results are missing.")?;
    }
    if let Some(h) = &d.healthz {
        writeln!(out, "\nHealthz {}: *{}* ({})", link(&h.url), h.status.as_str(), text(&h.summary))?;
    }
    if let Some(line) = &d.telemetry {
        writeln!(out, "\n{}", text(line))?;
    }
    writeln!(out)?;
    if !d.table.header.is_empty() {
        code_block(&aligned(&d.table), out)?;
    }
    error_blocks(&d.errors, out)?;
    rest(&d, out)
}

/// `doctor`'s report in Slack's markup: the result, the table, the command.
pub fn doctor(r: &crate::doctor::DoctorReport, argv: &[String], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "*keysvc-check doctor ({}): {}* at {}\n\n{}\n",
        text(&r.environment),
        if r.ok { "OK" } else { "FAIL" },
        text(&r.generated_at),
        text(&r.summary)
    )?;
    code_block(&aligned(&doc::grid(&table::doctor_grid(r))), out)?;
    writeln!(out, "\n*Command*")?;
    code_block(&shell_join(argv), out)
}

fn error_blocks(blocks: &[Block], out: &mut impl Write) -> std::io::Result<()> {
    if blocks.is_empty() {
        return Ok(());
    }
    writeln!(out, "\n*Log errors by template*")?;
    for b in blocks {
        writeln!(out, "• *{}*", text(&b.heading))?;
        for g in &b.groups {
            let seen = g.seen.as_ref().map(|s| format!(" — seen {}", text(s))).unwrap_or_default();
            writeln!(out, "    ◦ {}{seen}", text(&g.title()))?;
            if !g.example.is_empty() {
                writeln!(out, "       e.g. {}", text(&g.example))?;
            }
        }
    }
    Ok(())
}

fn rest(d: &Doc, out: &mut impl Write) -> std::io::Result<()> {
    if !d.findings.is_empty() {
        writeln!(out, "\n*Findings*")?;
        for f in &d.findings {
            let region = f.region.as_ref().map(|r| format!("{}: ", text(r))).unwrap_or_default();
            writeln!(out, "• *{}* {region}{}", doc::severity_word(f.severity), text(&f.text))?;
        }
    }
    if !d.steps.is_empty() {
        writeln!(out, "\n*Next steps*")?;
        for (i, s) in d.steps.iter().enumerate() {
            let region = s.region.as_ref().map(|r| format!("{}: ", text(r))).unwrap_or_default();
            writeln!(out, "{}. {region}{}", i + 1, text(&s.text))?;
            if let Some(c) = &s.command {
                code_block(c, out)?;
            }
        }
    }
    writeln!(out, "\n*Command*")?;
    code_block(&d.command, out)
}

/// The table as text in columns, each as wide as its widest cell.
fn aligned(t: &Table) -> String {
    let mut widths: Vec<usize> = t.header.iter().map(|h| h.width()).collect();
    for row in &t.rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(one_line(cell).width());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c = one_line(c);
                format!("{c}{}", " ".repeat(w.saturating_sub(c.width())))
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut lines = vec![line(&t.header)];
    lines.extend(t.rows.iter().map(|r| line(r)));
    lines.join("\n")
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// A code block holding `code`: Slack's fence cannot be lengthened, so a
/// run of three backticks inside is broken up (a zero-width space after
/// the first) rather than end the block.
fn code_block(code: &str, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "```\n{}\n```", escape(code).replace("```", "`\u{200b}``"))
}

/// Slack's three escapes, nothing else.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Outside or free text on one line, its URLs as links.
fn text(s: &str) -> String {
    one_line(s)
        .split(' ')
        .map(|word| {
            let is_url = word.starts_with("https://") || word.starts_with("http://");
            // A sentence's own punctuation after a URL is not part of it.
            let url = word.trim_end_matches(['.', ',', ';', ':', ')']);
            if is_url && url.len() > "https://".len() {
                format!("{}{}", link(url), escape(&word[url.len()..]))
            } else {
                escape(word)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `<url|url>`: in the URL, what would end the link is percent-encoded.
fn link(url: &str) -> String {
    let target = url.replace('&', "&amp;").replace('|', "%7C").replace('<', "%3C").replace('>', "%3E");
    format!("<{target}|{}>", escape(url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;

    fn show(view: View) -> String {
        let argv: Vec<String> =
            ["keysvc-check", "diagnose", "--env", "prod", "--runbook", "/srv/run books/a&b.yaml", "-o", "slack"]
                .map(String::from)
                .to_vec();
        let mut out = vec![];
        render(&fixture::report(), view, &argv, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn diagnose_report_for_slack() {
        insta::assert_snapshot!("diagnose", show(View::Diagnose));
    }

    #[test]
    fn every_command_has_its_table() {
        insta::assert_snapshot!("healthz", show(View::Healthz));
        insta::assert_snapshot!("logs", show(View::Logs));
    }

    #[test]
    fn no_github_markup_and_only_slacks_escapes() {
        for view in [View::Diagnose, View::Pods, View::Logs, View::Healthz] {
            let out = show(view);
            for github in ["## ", "**", "| --- |", "\\|", "\\<", "\\*", "\\`"] {
                assert!(!out.contains(github), "{view:?}: {github} in\n{out}");
            }
            // Every `<` opens a link, every `>` closes one; every `&` is an entity.
            assert!(out.match_indices('<').all(|(i, _)| out[i..].starts_with("<http")), "{out}");
            assert!(
                out.match_indices('&').all(|(i, _)| ["&amp;", "&lt;", "&gt;"].iter().any(|e| out[i..].starts_with(e))),
                "{out}"
            );
        }
        let out = show(View::Diagnose);
        assert!(out.contains("key=&lt;nil&gt; | retry `later`"), "{out}");
        assert!(out.contains("'/srv/run books/a&amp;b.yaml' -o slack\n```\n"), "{out}");
    }

    #[test]
    fn a_healthz_body_that_is_not_the_json_expected_is_shown() {
        let mut r = fixture::report();
        r.healthz.as_mut().unwrap().body_excerpt = Some("<html><title>502 Bad Gateway</title>".into());
        let mut out = vec![];
        render(&r, View::Healthz, &["keysvc-check".into()], &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let row = out.lines().find(|l| l.starts_with("environment ")).unwrap();
        assert!(row.ends_with("body: &lt;html&gt;&lt;title&gt;502 Bad Gateway&lt;/title&gt;"), "{row}");
    }

    #[test]
    fn a_table_is_aligned_text_in_a_code_block() {
        let t = Table {
            header: vec!["Region".into(), "Pods".into(), "Note".into()],
            rows: vec![
                vec!["us-south".into(), "3/3".into(), "".into()],
                vec!["eu".into(), "0/3".into(), "a\nb".into()],
            ],
        };
        assert_eq!(aligned(&t), "Region    Pods  Note\nus-south  3/3\neu        0/3   a b");
    }

    #[test]
    fn links_escapes_and_fences() {
        assert_eq!(
            link("https://d.corp/x?a=1&b=2|3"),
            "<https://d.corp/x?a=1&amp;b=2%7C3|https://d.corp/x?a=1&amp;b=2|3>"
        );
        assert_eq!(
            text("open https://d.corp/x. a<b & c>d"),
            "open <https://d.corp/x|https://d.corp/x>. a&lt;b &amp; c&gt;d"
        );
        assert_eq!(text("https:// alone"), "https:// alone");
        let mut out = vec![];
        code_block("echo ``` <x>", &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "```\necho `\u{200b}`` &lt;x&gt;\n```\n");
    }
}
