//! `diagnose --watch` output, one run at a time: the whole screen redrawn on
//! a terminal, a line per run on a pipe, a report per line as JSON Lines.
//! Times come in from the watch loop; nothing here reads a clock.

use std::io::Write;
use std::time::Duration;

use jiff::Timestamp;

use super::{Layout, table};
use crate::report::{RegionState, Report, Transition};

/// Moves the cursor home and clears the screen: the first run starts on a
/// clean screen (what was there before stays in the scrollback).
pub const CLEAR: &str = "\u{1b}[H\u{1b}[2J";
/// Moves the cursor home: later runs overwrite the one before in place,
/// each line cleared as it is written and the rest of the screen after the
/// last, so nothing flickers and hours of runs do not fill the scrollback.
pub const HOME: &str = "\u{1b}[H";
/// Clears the line from the cursor on; written before each line's text
/// (after it, a line as wide as the terminal would lose its last column).
const CLEAR_LINE: &str = "\u{1b}[K";
/// Clears from the cursor to the end of the screen.
const CLEAR_BELOW: &str = "\u{1b}[J";

/// What the screen's header says about the watch.
pub struct Header<'a> {
    pub interval: Duration,
    /// The run shown, from 1.
    pub run: u64,
    /// When it started.
    pub now: Timestamp,
    pub regions: &'a [RegionState],
}

/// `03:12:40Z`: the time of day in UTC.
fn clock(t: Timestamp) -> String {
    t.strftime("%H:%M:%SZ").to_string()
}

fn interval(d: Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}

/// The header line of the screen while the watch goes on.
fn headline(h: &Header) -> String {
    format!("Watching every {} — run {}, {} — Ctrl-C to stop", interval(h.interval), h.run, clock(h.now))
}

/// The header (`headline`, then each region's last change) and the
/// `diagnose` report, as lines of text.
fn body(r: &Report, h: &Header, headline: &str, layout: Layout) -> std::io::Result<String> {
    let mut body = Vec::new();
    writeln!(body, "{headline}")?;
    for reg in h.regions {
        match &reg.last_change {
            Some(c) => writeln!(body, "  {} {} → {} at {}", reg.name, c.from.as_str(), c.to.as_str(), clock(c.at))?,
            None => writeln!(body, "  {} {}, unchanged since {}", reg.name, reg.verdict.as_str(), clock(reg.since))?,
        }
    }
    writeln!(body)?;
    table::diagnose(r, layout, &mut body)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The first run's screen while it runs: cleared, the header at once, and
/// a blank line under which the live progress lines (`render::progress`)
/// show each region's step until the run's screen replaces them.
pub fn starting(h: &Header, out: &mut impl Write) -> std::io::Result<()> {
    write!(out, "{CLEAR}{}\n\n", headline(h))
}

/// The header and the `diagnose` report, drawn from the top of the screen
/// over the run before. At most `height - 1` lines, so the terminal never
/// scrolls and the header stays on the first line; what does not fit is
/// counted.
pub fn screen(
    r: &Report,
    h: &Header,
    layout: Layout,
    height: Option<usize>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let text = body(r, h, &headline(h), layout)?;
    let lines: Vec<&str> = text.lines().collect();
    out.write_all(if h.run <= 1 { CLEAR } else { HOME }.as_bytes())?;
    let room = height.map_or(usize::MAX, |h| h.saturating_sub(1).max(2));
    let shown = if lines.len() <= room { lines.len() } else { room - 1 };
    for l in &lines[..shown] {
        writeln!(out, "{CLEAR_LINE}{l}")?;
    }
    if shown < lines.len() {
        writeln!(out, "{CLEAR_LINE}… {} more lines (a taller terminal shows them)", lines.len() - shown)?;
    }
    out.write_all(CLEAR_BELOW.as_bytes())
}

/// When the watch ends (Ctrl-C, `--until`): the screen cleared and the last
/// run's header and report printed whole, as `diagnose` prints it, with
/// every finding and next step; a report taller than the terminal scrolls
/// as any output does, and stays once the shell's prompt is back.
pub fn last(r: &Report, h: &Header, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    let headline = format!("Watched every {} — last run {}, {}", interval(h.interval), h.run, clock(h.now));
    out.write_all(CLEAR.as_bytes())?;
    out.write_all(body(r, h, &headline, layout)?.as_bytes())
}

/// One line per run, for a pipe: the run's start, the service verdict,
/// each region's verdict, and what changed since the run before:
/// `2026-11-26T03:12:40Z DEGRADED us-south=healthy us-east=degraded (changed: us-east healthy → degraded)`.
pub fn line(r: &Report, now: Timestamp, changes: &[Transition], out: &mut impl Write) -> std::io::Result<()> {
    let mut s = format!("{now} {}", r.service.verdict.as_str().to_uppercase());
    for reg in &r.regions {
        s.push_str(&format!(" {}={}", reg.name, reg.verdict.as_str()));
    }
    // Telemetry that did not pass, by region: `(telemetry us-east=none)`.
    let telemetry: Vec<String> = r
        .regions
        .iter()
        .filter_map(|g| {
            let t = g.telemetry.as_ref().filter(|t| t.status != crate::report::Status::Pass)?;
            Some(format!("{}={}", g.name, table::telemetry_cell(Some(t)).0))
        })
        .collect();
    if !telemetry.is_empty() {
        s.push_str(&format!(" (telemetry {})", telemetry.join(" ")));
    }
    if r.partial {
        s.push_str(" (partial)");
    }
    if !changes.is_empty() {
        let list: Vec<String> =
            changes.iter().map(|c| format!("{} {} → {}", c.region, c.from.as_str(), c.to.as_str())).collect();
        s.push_str(&format!(" (changed: {})", list.join(", ")));
    }
    writeln!(out, "{s}")
}

/// The report as one line of JSON (JSON Lines: one document per run).
pub fn json_line(r: &Report, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, r)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::watch::Watch;
    use crate::render::fixture;
    use crate::report::Verdict;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn text(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
        let mut buf = Vec::new();
        f(&mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn the_compact_line_names_the_regions_whose_telemetry_did_not_pass() {
        let r = fixture::with_telemetry();
        let t = at("2026-11-26T03:12:40Z");
        assert_eq!(
            text(|o| line(&r, t, &[], o)),
            "2026-11-26T03:12:40Z DEGRADED us-south=healthy us-east=degraded eu-de=unknown (telemetry us-east=none eu-de=error)\n"
        );
    }

    #[test]
    fn the_compact_line_names_every_region_and_what_changed() {
        let mut r = fixture::report();
        let t = at("2026-11-26T03:12:40Z");
        assert_eq!(
            text(|o| line(&r, t, &[], o)),
            "2026-11-26T03:12:40Z DEGRADED us-south=healthy us-east=degraded eu-de=unknown\n"
        );
        r.partial = true;
        let changes = [
            Transition { region: "us-east".into(), from: Verdict::Degraded, to: Verdict::Healthy, at: t },
            Transition { region: "eu-de".into(), from: Verdict::Healthy, to: Verdict::Unknown, at: t },
        ];
        let l = text(|o| line(&r, t, &changes, o));
        assert_eq!(
            l,
            "2026-11-26T03:12:40Z DEGRADED us-south=healthy us-east=degraded eu-de=unknown (partial) \
(changed: us-east degraded → healthy, eu-de healthy → unknown)\n"
        );
        assert!(!l.contains('\u{1b}'));
    }

    #[test]
    fn the_first_run_clears_the_screen() {
        let mut w = Watch::default();
        let r = fixture::report();
        let now = at("2026-11-26T03:12:00Z");
        w.observe(&r, now);
        let h = Header { interval: Duration::from_secs(90), run: w.run, now, regions: &w.regions };
        let s = text(|o| screen(&r, &h, Layout { color: false, width: None }, None, o));
        assert!(s.starts_with(CLEAR), "{s:?}");
        assert!(s.contains("Watching every 1m30s — run 1, 03:12:00Z — Ctrl-C to stop\n"), "{s:?}");
    }

    #[test]
    fn the_first_run_shows_its_header_at_once_and_the_end_the_last_report_whole() {
        let now = at("2026-11-26T03:12:00Z");
        let h = Header { interval: Duration::from_secs(60), run: 1, now, regions: &[] };
        assert_eq!(
            text(|o| starting(&h, o)),
            format!("{CLEAR}Watching every 1m — run 1, 03:12:00Z — Ctrl-C to stop\n\n")
        );
        let mut w = Watch::default();
        let r = fixture::report();
        w.observe(&r, now);
        let h = Header { interval: Duration::from_secs(60), run: w.run, now, regions: &w.regions };
        let layout = Layout { color: false, width: Some(80) };
        let cut = text(|o| screen(&r, &h, layout, Some(12), o));
        assert!(cut.contains("more lines (a taller terminal shows them)"), "{cut}");
        let whole = text(|o| last(&r, &h, layout, o));
        let body = whole.strip_prefix(CLEAR).expect("on a cleared screen");
        assert!(
            body.starts_with("Watched every 1m — last run 1, 03:12:00Z\n  us-south healthy, unchanged since"),
            "{body}"
        );
        assert!(!body.contains("more lines") && !body.contains('\u{1b}'), "{body}");
        let mut report = Vec::new();
        table::diagnose(&r, layout, &mut report).unwrap();
        assert!(body.ends_with(&String::from_utf8(report).unwrap()), "the report as diagnose prints it:\n{body}");
    }

    #[test]
    fn json_lines_hold_one_whole_report_each() {
        let r = fixture::report();
        let l = text(|o| json_line(&r, o));
        assert_eq!(l.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["service"]["verdict"], "degraded");
    }

    #[test]
    fn the_screen_starts_clear_with_the_header_and_each_regions_last_change() {
        let mut w = Watch::default();
        let mut r = fixture::report();
        w.observe(&r, at("2026-11-26T03:12:00Z"));
        r.regions[1].verdict = Verdict::Healthy;
        let now = at("2026-11-26T03:12:40Z");
        w.observe(&r, now);
        let h = Header { interval: Duration::from_secs(10), run: w.run, now, regions: &w.regions };
        let layout = Layout { color: false, width: Some(100) };
        let drawn = text(|o| screen(&r, &h, layout, Some(50), o));
        let s = drawn.strip_prefix(HOME).expect("starts at the top").replace(CLEAR_LINE, "");
        assert!(!s.starts_with("\u{1b}[2J"), "only the first run clears the whole screen");
        let s = s.strip_suffix(CLEAR_BELOW).expect("clears what the run before left below");
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "Watching every 10s — run 2, 03:12:40Z — Ctrl-C to stop");
        assert_eq!(lines[1], "  us-south healthy, unchanged since 03:12:00Z");
        assert_eq!(lines[2], "  us-east degraded → healthy at 03:12:40Z");
        assert!(s.contains("Key Service API (prod): DEGRADED"), "{s}");
        assert!(s.contains("REGION"), "the diagnose table follows: {s}");

        // Cut to the terminal's height: it must not scroll.
        let short = text(|o| screen(&r, &h, layout, Some(12), o));
        let body = short.strip_prefix(HOME).unwrap().strip_suffix(CLEAR_BELOW).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 11, "the cursor ends on the last row, not below it");
        assert!(lines.iter().all(|l| l.starts_with(CLEAR_LINE)));
        let lines: Vec<String> = lines.iter().map(|l| l.replace(CLEAR_LINE, "")).collect();
        assert!(lines[10].starts_with("… ") && lines[10].ends_with("more lines (a taller terminal shows them)"));
    }
}
