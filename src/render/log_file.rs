//! `logs --file`: what a file of saved log lines holds, as text (counts,
//! the formats found, the most frequent error templates with an example
//! and when each was seen, the streams of a `--prefix` file) or as one JSON
//! document (`keysvc-check/logfile/v1`, `schemas/logfile-v1.json`).

use std::io::Write;

use unicode_width::UnicodeWidthChar;

use super::Layout;
use crate::evidence::log_file::LogFile;
use crate::report::ErrorGroup;

/// The JSON document's `schema`.
pub const SCHEMA: &str = "keysvc-check/logfile/v1";

/// What was read, with where from.
pub struct Shown<'a> {
    /// The file as given (`-`: standard input).
    pub file: &'a str,
    /// The runbook in effect, named by where it was found.
    pub runbook: &'a str,
    pub log: &'a LogFile,
}

pub fn json(s: &Shown, out: &mut impl Write) -> std::io::Result<()> {
    let mut doc = serde_json::json!({ "schema": SCHEMA, "file": s.file, "runbook": s.runbook });
    if let (Some(doc), serde_json::Value::Object(log)) = (doc.as_object_mut(), serde_json::to_value(s.log)?) {
        doc.extend(log);
    }
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

pub fn text(s: &Shown, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    let log = s.log;
    let name = if s.file == "-" { "standard input" } else { s.file };
    writeln!(out, "{name}: {}", summary(log.lines, log.error_lines, log.templates))?;
    match log.formats.len() {
        0 => {}
        1 => writeln!(out, "Format: {}", log.formats.keys().next().unwrap_or(&"text"))?,
        _ => {
            let each: Vec<String> = log.formats.iter().map(|(f, n)| format!("{f} {} entries", thousands(*n))).collect();
            writeln!(out, "Formats: {}", each.join(", "))?;
        }
    }
    writeln!(out, "Runbook: {}", s.runbook.replace('\n', " "))?;
    if !log.top_errors.is_empty() {
        let more = if log.templates > log.top_errors.len() {
            format!(" ({} of {} templates)", log.top_errors.len(), log.templates)
        } else {
            String::new()
        };
        writeln!(out, "\nMost frequent errors{more}:")?;
        groups(&log.top_errors, "  ", layout, out)?;
    }
    if !log.streams.is_empty() {
        writeln!(out, "\nStreams:")?;
        for st in &log.streams {
            let format = st.format.as_deref().map_or_else(String::new, |f| format!(", {f}"));
            let line = format!(
                "  {}: {}, {}{format}",
                st.stream,
                count(st.lines, "line"),
                count(st.error_lines, "error entry")
            );
            writeln!(out, "{}", fit(&line, layout.width))?;
            if let Some(g) = st.top_errors.first() {
                let top = format!("    most often: {}× {}", thousands(g.count), g.pattern);
                writeln!(out, "{}", fit(&top, layout.width))?;
            }
        }
    }
    Ok(())
}

fn summary(lines: u64, errors: u64, templates: usize) -> String {
    let entries = if errors == 1 { "error entry" } else { "error entries" };
    let mut s = format!("{} lines, {} {entries}", thousands(lines), thousands(errors));
    if templates > 0 {
        s.push_str(&format!(
            " in {} {}",
            thousands(templates as u64),
            if templates == 1 { "template" } else { "templates" }
        ));
    }
    s
}

/// Each group: count and template, an example, when it was seen.
fn groups(list: &[ErrorGroup], indent: &str, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    let counts: Vec<String> = list.iter().map(|g| format!("{}×", thousands(g.count))).collect();
    let w = counts.iter().map(String::len).max().unwrap_or(0);
    let pad = format!("{indent}{:w$} ", "");
    for (g, count) in list.iter().zip(&counts) {
        for line in wrap(&format!("{indent}{count:>w$} {}", g.pattern), &pad, layout.width) {
            writeln!(out, "{line}")?;
        }
        if g.example != g.pattern {
            writeln!(out, "{}", fit(&format!("{pad}e.g. {}", g.example), layout.width))?;
        }
        match (g.first_seen, g.last_seen) {
            (Some(a), Some(b)) if a != b => writeln!(out, "{pad}seen {} … {}", second(a), second(b))?,
            (Some(a), _) => writeln!(out, "{pad}seen {}", second(a))?,
            _ => {}
        }
    }
    Ok(())
}

fn second(t: jiff::Timestamp) -> String {
    crate::duration::whole_second(t).to_string()
}

/// `line` wrapped at spaces to `width` columns, the lines after the first
/// indented by `pad` (whole on a pipe); a word longer than a line is cut.
fn wrap(line: &str, pad: &str, width: Option<usize>) -> Vec<String> {
    let Some(width) = width.filter(|w| *w > pad.len() + 10) else { return vec![line.to_string()] };
    let body = line.trim_start();
    let mut out = vec![];
    let mut current = line[..line.len() - body.len()].to_string();
    let mut used = current.len();
    let mut fresh = true;
    for word in body.split(' ') {
        let w: usize = word.chars().map(|c| c.width().unwrap_or(0)).sum();
        if !fresh && used + 1 + w > width {
            out.push(std::mem::replace(&mut current, pad.to_string()));
            used = pad.len();
        } else if !fresh {
            current.push(' ');
            used += 1;
        }
        current.push_str(word);
        used += w;
        fresh = false;
    }
    out.push(current);
    out.into_iter().map(|l| fit(&l, Some(width))).collect()
}

/// `line` cut to `width` columns with `…` (whole on a pipe).
fn fit(line: &str, width: Option<usize>) -> String {
    let Some(width) = width else { return line.to_string() };
    let mut used = 0;
    let mut out = String::new();
    for c in line.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width.saturating_sub(1) {
            let rest: usize = line[out.len()..].chars().map(|c| c.width().unwrap_or(0)).sum();
            if used + rest <= width {
                out.push_str(&line[out.len()..]);
            } else {
                out.push('…');
            }
            return out;
        }
        used += w;
        out.push(c);
    }
    out
}

/// `1 line`, `2 lines`, `3 error entries`.
fn count(n: u64, one: &str) -> String {
    let many = one.strip_suffix('y').map_or_else(|| format!("{one}s"), |stem| format!("{stem}ies"));
    format!("{} {}", thousands(n), if n == 1 { one } else { &many })
}

/// `12,345`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_seen_is_shown_to_the_second_it_is_in() {
        assert_eq!(second("2026-11-26T12:50:48.675Z".parse().unwrap()), "2026-11-26T12:50:48Z");
    }

    #[test]
    fn lines_are_fitted_to_the_width_and_numbers_grouped() {
        assert_eq!(fit("abcdef", Some(4)), "abc…");
        assert_eq!(fit("abcd", Some(4)), "abcd");
        assert_eq!(fit("abcdef", None), "abcdef");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(wrap("  3× aaa bbb ccc ddd eee fff", "     ", Some(16)), ["  3× aaa bbb ccc", "     ddd eee fff"]);
        assert_eq!(wrap("  3× aaa bbb", "     ", None), ["  3× aaa bbb"]);
    }
}
