//! `-o table`: the verdict line, a table per command, findings and next
//! steps. Colour only when asked for (a TTY without NO_COLOR, or --color).
//! Every outside string in the report was made safe when it was recorded.
//!
//! Output fits the width in `Layout` (`fit` decides how): on a terminal,
//! columns wrap at spaces or are left out by priority and prose wraps with a
//! hanging indent; on a pipe nothing wraps, so each table row is one line
//! for `grep`. Words are never cut and commands are never wrapped: both
//! are pasted into shells.

use std::io::Write;

use comfy_table::{Attribute, Cell, Color, ColumnConstraint, ContentArrangement, Table, Width, presets};

use super::Layout;
use super::errors::{self, Block};
use super::fit::{self, ColumnRule, Frame};
use crate::doctor::{CheckKind, DoctorReport, Outcome};
use crate::evidence::pods::short_age;
use crate::evidence::region::LogLine;
use crate::report::{
    HealthzCheck, Judgement, ProblemKind, RegionReport, RegionTelemetry, Report, Severity, Status, Verdict,
};
use crate::shell::shell_join;

/// A table style and what its borders and padding take per line.
#[derive(Clone, Copy)]
struct Style {
    preset: &'static str,
    /// Spaces left and right of each cell's content.
    padding: (u16, u16),
    frame: Frame,
}

/// Boxed: a border left of each column and one at the right end, plus one
/// space of padding either side of the content.
const BOXED: Style = Style {
    preset: presets::UTF8_FULL_CONDENSED,
    padding: (1, 1),
    frame: Frame { fixed: 1, per_column: 3, trailing: 0 },
};
/// Borderless and flush left, as `kubectl get` prints: two spaces after
/// each column, trimmed after the last.
const PLAIN: Style =
    Style { preset: presets::NOTHING, padding: (0, 2), frame: Frame { fixed: 0, per_column: 2, trailing: 2 } };

/// A table before it is fitted to a width: headers, how each column may
/// give way, and the rows as `(text, colour)` cells. The Markdown renderer
/// reads the same rows.
pub(super) struct Grid {
    style: Style,
    pub(super) header: Vec<&'static str>,
    rules: Vec<ColumnRule>,
    pub(super) rows: Vec<Vec<(String, Option<Color>)>>,
}

impl Grid {
    fn new(style: Style, columns: &[(&'static str, ColumnRule)]) -> Grid {
        Grid {
            style,
            header: columns.iter().map(|(h, _)| *h).collect(),
            rules: columns.iter().map(|(_, r)| *r).collect(),
            rows: vec![],
        }
    }

    /// A row; missing cells at the end are empty.
    fn row(&mut self, mut cells: Vec<(String, Option<Color>)>) {
        cells.resize(self.header.len(), (String::new(), None));
        self.rows.push(cells);
    }

    /// The width of each column in `layout` (`None`: left out).
    fn widths(&self, layout: Layout) -> Vec<Option<usize>> {
        let columns: Vec<Vec<&str>> = (0..self.header.len())
            .map(|i| std::iter::once(self.header[i]).chain(self.rows.iter().map(|r| r[i].0.as_str())).collect())
            .collect();
        fit::fit_columns(&columns, &self.rules, self.style.frame, layout.width)
    }

    fn write(self, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
        let widths = self.widths(layout);
        let shown = |i: &usize| widths[*i].is_some();
        let mut t = Table::new();
        // The width is ours to decide: comfy-table must neither look at the
        // terminal nor rearrange what `fit` chose.
        t.load_preset(self.style.preset).set_content_arrangement(ContentArrangement::Disabled).force_no_tty();
        if layout.color {
            t.enforce_styling();
        }
        t.set_header((0..self.header.len()).filter(shown).map(|i| self.header[i]).collect::<Vec<_>>());
        for row in &self.rows {
            t.add_row(
                (0..row.len())
                    .filter(shown)
                    .map(|i| cell(row[i].0.clone(), row[i].1, layout.color))
                    .collect::<Vec<_>>(),
            );
        }
        let (left, right) = self.style.padding;
        for (column, w) in t.column_iter_mut().zip(widths.iter().flatten()) {
            column.set_padding((left, right));
            if layout.width.is_some() {
                // An absolute width counts the padding.
                let w = u16::try_from(*w).unwrap_or(u16::MAX).saturating_add(left + right);
                column.set_constraint(ColumnConstraint::Absolute(Width::Fixed(w)));
            }
        }
        for line in t.lines() {
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// `text` after `prefix`, wrapped at spaces to the layout's width with the
/// lines after the first indented by `indent`.
fn prose(out: &mut impl Write, layout: Layout, prefix: &str, indent: usize, text: &str) -> std::io::Result<()> {
    for (i, line) in fit::wrap(text, fit::display_width(prefix), indent, layout.width).iter().enumerate() {
        if i == 0 {
            writeln!(out, "{prefix}{line}")?;
        } else {
            writeln!(out, "{:indent$}{line}", "")?;
        }
    }
    Ok(())
}

fn verdict_color(v: Verdict) -> Color {
    match v {
        Verdict::Healthy => Color::Green,
        Verdict::Degraded => Color::Yellow,
        Verdict::Down => Color::Red,
        Verdict::Unknown => Color::Magenta,
    }
}

fn status_color(s: Status) -> Color {
    match s {
        Status::Pass => Color::Green,
        Status::Warn => Color::Yellow,
        Status::Fail => Color::Red,
        Status::Error => Color::Magenta,
    }
}

fn cell(text: impl Into<String>, color: Option<Color>, on: bool) -> Cell {
    let c = Cell::new(text.into());
    match (color, on) {
        (Some(col), true) => c.fg(col).add_attribute(Attribute::Bold),
        _ => c,
    }
}

fn paint(text: &str, color: Color, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    let code = match color {
        Color::Green => 32,
        Color::Yellow => 33,
        Color::Red => 31,
        Color::Magenta => 35,
        _ => 39,
    };
    format!("\u{1b}[1;{code}m{text}\u{1b}[0m")
}

/// The top line: service, environment, verdict, summary.
pub fn verdict_line(r: &Report, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    let v = r.service.verdict;
    let line = format!(
        "{} ({}): {} — {}",
        r.service_name,
        r.environment,
        paint(&v.as_str().to_uppercase(), verdict_color(v), layout.color),
        r.service.summary
    );
    prose(out, layout, "", 2, &line)?;
    if let Some(impact) = &r.service.impact {
        prose(out, layout, "Impact: ", 2, impact)?;
    }
    Ok(())
}

/// Which runbook the run followed (the one in effect and where it came
/// from), as every report says.
fn runbook_line(r: &Report, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    prose(out, layout, "Runbook: ", 2, &r.runbook)?;
    match r.current_context() {
        Some((ctx, regions)) => prose(out, layout, "Context: ", 2, &current_context_words(ctx, &regions)),
        None => Ok(()),
    }
}

/// "current (oncall@us-east) for us-east, the runbook gives it none": a
/// region checked with the kubeconfig's current context, as kubectl.
pub(super) fn current_context_words(ctx: &str, regions: &[&str]) -> String {
    let ctx = if ctx.is_empty() { "none in the kubeconfig".to_string() } else { ctx.to_string() };
    let (them, it) = if regions.len() == 1 { (regions[0].to_string(), "it") } else { (regions.join(", "), "them") };
    format!("current ({ctx}) for {them}: the runbook gives {it} none")
}

pub(super) fn healthz_summary(h: &HealthzCheck) -> String {
    // A latency belongs to a reply; a failure already says what happened
    // ("no complete reply within 2s"), and "refused in 1 ms" reads oddly.
    let mut s = match (h.http_status, &h.error) {
        (_, Some(e)) => e.message.clone(),
        (Some(code), None) => format!("HTTP {code}"),
        (None, None) => "no reply".into(),
    };
    if let (Some(ms), None) = (h.latency_ms, &h.error) {
        s.push_str(&format!(" in {ms} ms"));
    }
    if !h.problems.is_empty() {
        s.push_str(&format!(": {}", h.problems.join("; ")));
    }
    s
}

/// A finding's mark: `✗` fail, `!` warn, `·` info.
fn mark(s: Severity, color: bool) -> String {
    match s {
        Severity::Fail => paint("✗", Color::Red, color),
        Severity::Warn => paint("!", Color::Yellow, color),
        Severity::Info => "·".into(),
    }
}

fn findings_and_steps(r: &Report, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    if !r.findings.is_empty() {
        writeln!(out, "\nFindings:")?;
        for f in &r.findings {
            let region = f.region.as_ref().map(|r| format!("{r}: ")).unwrap_or_default();
            prose(out, layout, &format!("  {} ", mark(f.severity, layout.color)), 4, &format!("{region}{}", f.text))?;
        }
    }
    if !r.next_steps.is_empty() {
        writeln!(out, "\nNext steps:")?;
        for (i, s) in r.next_steps.iter().enumerate() {
            let region = s.region.as_ref().map(|r| format!("{r}: ")).unwrap_or_default();
            let number = format!("  {}. ", i + 1);
            prose(out, layout, &number, number.len(), &format!("{region}{}", s.text))?;
            // The command on a line of its own and never wrapped, so it can be copied whole.
            if let Some(c) = &s.command {
                writeln!(out, "       {}", shell_join(&c.argv))?;
            }
        }
    }
    Ok(())
}

pub(super) fn region_note(r: &RegionReport) -> String {
    let problems = [
        r.healthz.as_ref().and_then(|h| h.error.as_ref()),
        r.pods.as_ref().and_then(|p| p.error.as_ref()),
        r.logs.as_ref().and_then(|l| l.error.as_ref()),
    ];
    if let Some(p) = problems.into_iter().flatten().next() {
        return short_problem(p);
    }
    if let Some(n) = r.pods.as_ref().and_then(|p| p.note.clone()) {
        return n;
    }
    // Each state once, counted: `3× CrashLoopBackOff, not ready`. A pod
    // Running (or Completed) but not ready is "not ready": its STATUS alone
    // reads as fine.
    let mut states: Vec<(&str, usize)> = vec![];
    let troubled = r
        .pods
        .iter()
        .flat_map(|p| p.pods.iter())
        .filter(|p| p.crash_looping || p.terminating || p.pending || !p.is_ready);
    for p in troubled {
        let state = match p.status.as_str() {
            "Running" | "Completed" if !p.is_ready => "not ready",
            s => s,
        };
        match states.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => states.push((state, 1)),
        }
    }
    let words: Vec<String> =
        states.into_iter().map(|(s, n)| if n > 1 { format!("{n}× {s}") } else { s.to_string() }).collect();
    if words.is_empty() { telemetry_note(r) } else { words.join(", ") }
}

/// Telemetry missing, from fewer pods or late, in a region that is
/// otherwise up: why it is degraded.
fn telemetry_note(r: &RegionReport) -> String {
    let up = !matches!(r.verdict, Verdict::Down | Verdict::Unknown);
    match r.telemetry.as_ref().filter(|_| up) {
        Some(t) if t.status == Status::Fail => "no telemetry".into(),
        Some(t) if t.status == Status::Warn => match t.pods_reporting {
            Some(1) if t.expected > 1 => "telemetry from 1 pod".into(),
            Some(n) if n < t.expected => format!("telemetry from {n} pods"),
            _ => "telemetry late".into(),
        },
        _ => String::new(),
    }
}

/// A few words for the NOTE column; the findings carry the whole message.
fn short_problem(p: &crate::report::Problem) -> String {
    use crate::report::ProblemDetail;
    use crate::report::ProblemKind::*;
    let resource = match &p.detail {
        ProblemDetail::Forbidden { resource, .. } if resource == "pods/log" => "pods/log",
        _ => "pods",
    };
    match p.kind {
        ContextMissing if p.detail == ProblemDetail::NoContext => "no context".into(),
        ContextMissing => "context not in kubeconfig".into(),
        Kubeconfig => "kubeconfig problem".into(),
        Refused => "connection refused".into(),
        Reset => "connection reset".into(),
        Dns => "DNS lookup failed".into(),
        Tls => "TLS failure".into(),
        Timeout => "timed out".into(),
        Unauthorized if matches!(p.detail, ProblemDetail::EnvUnset { .. }) => "key not set".into(),
        Unauthorized => "401 unauthorized".into(),
        Forbidden => format!("403 forbidden: {resource}"),
        NotFound => "not found".into(),
        Deadline => "deadline reached".into(),
        Interrupted => "interrupted".into(),
        Throttled => "throttled".into(),
        Placeholder => "placeholder: not checked".into(),
        SameCluster => "another region's cluster".into(),
        RunbookMismatch if matches!(p.detail, ProblemDetail::NoSuchContainer { .. }) => {
            "runbook container not in pods".into()
        }
        RunbookMismatch if matches!(p.detail, ProblemDetail::TelemetryName { .. }) => "runbook: region's name".into(),
        RunbookMismatch => "selector matches no pod".into(),
        Query => "query refused".into(),
        BadRequest | Other => crate::sanitize::clean(&p.message, 40),
    }
}

pub fn diagnose(r: &Report, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    let color = layout.color;
    verdict_line(r, layout, out)?;
    runbook_line(r, layout, out)?;
    if let Some(h) = &r.healthz {
        let line = format!(
            "Healthz {}: {} ({})",
            h.url,
            paint(h.status.as_str(), status_color(h.status), color),
            healthz_summary(h)
        );
        prose(out, layout, "", 2, &line)?;
    }
    if let Some(line) = telemetry_line(r) {
        prose(out, layout, "", 2, &line)?;
    }
    writeln!(out)?;
    diagnose_grid(r).write(layout, out)?;
    error_blocks(&errors::by_region(r), layout, out)?;
    findings_and_steps(r, layout, out)
}

/// The error groups read, by template: the title, when seen, an example.
fn error_blocks(blocks: &[Block], layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    if blocks.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nLog errors by template:")?;
    for b in blocks {
        prose(out, layout, "  ", 4, &b.heading)?;
        for g in &b.groups {
            prose(out, layout, "    ", 6, &g.title())?;
            if let Some(seen) = &g.seen {
                prose(out, layout, "      seen ", 11, seen)?;
            }
            // One line, cut to the width: a log line (JSON above all) has
            // few spaces to wrap at; the streamed lines and JSON have it whole.
            match layout.width {
                _ if g.example.is_empty() => {}
                Some(w) => writeln!(out, "      e.g. {}", fit::cut(&g.example, w.saturating_sub(11).max(20)))?,
                None => writeln!(out, "      e.g. {}", g.example)?,
            }
        }
    }
    Ok(())
}

/// The verdict table: one row per region.
pub(super) fn diagnose_grid(r: &Report) -> Grid {
    // The NOTE goes first when space is short: the findings carry each
    // note's whole message. RESTARTS next: the findings count restarts too.
    let mut columns = vec![
        ("REGION", ColumnRule::KEEP),
        ("HEALTHZ", ColumnRule::KEEP),
        ("PODS READY", ColumnRule::KEEP),
        ("RESTARTS", ColumnRule::drop(1)),
        ("LOG ERRORS", ColumnRule::KEEP),
        ("VERDICT", ColumnRule::KEEP),
        ("NOTE", ColumnRule::wrap_then_drop(0)),
    ];
    // Only when the runbook configures telemetry: the line above says when not.
    let telemetry = r.telemetry.as_ref().is_some_and(|t| t.configured);
    if telemetry {
        columns.insert(5, ("TELEMETRY", ColumnRule::KEEP));
    }
    let mut t = Grid::new(BOXED, &columns);
    for reg in &r.regions {
        let hz = reg
            .healthz
            .as_ref()
            .map_or(("-".into(), None), |h| (h.status.as_str().into(), Some(status_color(h.status))));
        let pods = match &reg.pods {
            Some(p) if p.status == Status::Error => ("error".into(), Some(Color::Magenta)),
            Some(p) => (format!("{}/{}", p.ready, p.expected), Some(status_color(p.status))),
            None => ("-".into(), None),
        };
        let restarts = match &reg.pods {
            Some(p) if p.status != Status::Error => p.restarts.to_string(),
            _ => "-".into(),
        };
        let logs = match &reg.logs {
            Some(l) if l.status == Status::Error => ("error".into(), Some(Color::Magenta)),
            Some(l) => (
                format!("{}{}", l.error_lines, if l.partial { " (partial)" } else { "" }),
                Some(status_color(l.status)),
            ),
            None => ("-".into(), None),
        };
        let mut cells = vec![
            (reg.name.clone(), None),
            hz,
            pods,
            (restarts, None),
            logs,
            (reg.verdict.as_str().into(), Some(verdict_color(reg.verdict))),
            (region_note(reg), None),
        ];
        if telemetry {
            cells.insert(5, telemetry_cell(reg.telemetry.as_ref()));
        }
        t.row(cells);
    }
    t
}

pub fn healthz(r: &Report, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    let color = layout.color;
    verdict_line(r, layout, out)?;
    runbook_line(r, layout, out)?;
    let rows = r.healthz_checks();
    // One block per URL, not a table: URLs and replies are long. Values wrap
    // at spaces under their label; a URL has none, so it stays whole.
    const INDENT: usize = 11;
    for (name, h) in rows {
        writeln!(out)?;
        writeln!(out, "Healthz ({name})")?;
        writeln!(out, "  URL:     {}", h.url)?;
        writeln!(out, "  Result:  {}", paint(h.status.as_str(), status_color(h.status), color))?;
        writeln!(out, "  HTTP:    {}", h.http_status.map_or("-".into(), |c| c.to_string()))?;
        writeln!(out, "  Latency: {}", h.latency_ms.map_or("-".into(), |ms| format!("{ms} ms")))?;
        if let Some(reply) = &h.reply {
            prose(out, layout, "  Reply:   ", INDENT, &reply.to_string())?;
        }
        if let Some(b) = h.body_excerpt.as_ref().filter(|b| !b.is_empty()) {
            prose(out, layout, "  Body:    ", INDENT, b)?;
        }
        if let Some(e) = &h.error {
            prose(out, layout, "  Error:   ", INDENT, &e.message)?;
        }
        for p in &h.problems {
            prose(out, layout, "  Problem: ", INDENT, p)?;
        }
    }
    findings_and_steps(r, layout, out)
}

/// The TELEMETRY cell: pods reporting of those expected, `none`, `error`.
pub(super) fn telemetry_cell(t: Option<&RegionTelemetry>) -> (String, Option<Color>) {
    match t {
        None => ("-".into(), None),
        Some(t) if t.error.as_ref().is_some_and(|e| e.kind == ProblemKind::Placeholder) => ("placeholder".into(), None),
        Some(t) if t.status == Status::Error => ("error".into(), Some(Color::Magenta)),
        Some(t) if !t.present() => ("none".into(), Some(status_color(t.status))),
        Some(t) => (format!("{}/{}", t.pods_reporting.unwrap_or(0), t.expected), Some(status_color(t.status))),
    }
}

/// The telemetry step in one line: `telemetry: not configured`, or the
/// provider, its window and what it said; none when the step did not run.
pub(super) fn telemetry_line(r: &Report) -> Option<String> {
    let t = r.telemetry.as_ref()?;
    if !t.configured {
        return Some("telemetry: not configured".into());
    }
    let who = t.provider.map_or("-", |p| p.display());
    let window = crate::duration::format_duration(std::time::Duration::from_secs(t.window_secs));
    let when = if t.windowed { format!("last {window}") } else { "now".into() };
    let said = match &t.error {
        Some(e) => format!("error: {}", e.message),
        None => {
            let with = r.regions.iter().filter(|g| g.telemetry.as_ref().is_some_and(|t| t.present())).count();
            format!("data from {with}/{} regions", r.regions.len())
        }
    };
    Some(format!("Telemetry ({who}, {when}): {said}"))
}

/// `telemetry`: what the provider says of each region.
pub fn telemetry(r: &Report, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    verdict_line(r, layout, out)?;
    runbook_line(r, layout, out)?;
    if let Some(line) = telemetry_line(r) {
        prose(out, layout, "", 2, &line)?;
    }
    if let Some(q) = r.telemetry.as_ref().and_then(|t| t.query.as_ref()) {
        prose(out, layout, "Query: ", 2, q)?;
    }
    if r.telemetry.as_ref().is_some_and(|t| t.configured) {
        writeln!(out)?;
        telemetry_grid(r).write(layout, out)?;
    }
    findings_and_steps(r, layout, out)
}

pub(super) fn telemetry_grid(r: &Report) -> Grid {
    let mut t = Grid::new(
        BOXED,
        &[
            ("REGION", ColumnRule::KEEP),
            ("TELEMETRY", ColumnRule::KEEP),
            ("LATEST", ColumnRule::drop(1)),
            ("FACET", ColumnRule::drop(0)),
            ("VERDICT", ColumnRule::KEEP),
            ("NOTE", ColumnRule::WRAP),
        ],
    );
    for reg in &r.regions {
        let tel = reg.telemetry.as_ref();
        let latest = tel.and_then(|t| t.latest_secs_ago).map_or("-".into(), |s| format!("{} ago", short_age(s)));
        let note = match tel.and_then(|t| t.error.as_ref()) {
            Some(e) => short_problem(e),
            None => telemetry_note(reg),
        };
        t.row(vec![
            (reg.name.clone(), None),
            telemetry_cell(tel),
            (latest, None),
            (tel.map_or_else(|| "-".into(), |t| t.facet.clone()), None),
            (reg.verdict.as_str().into(), Some(verdict_color(reg.verdict))),
            (note, None),
        ]);
    }
    t
}

pub fn pods(r: &Report, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    verdict_line(r, layout, out)?;
    runbook_line(r, layout, out)?;
    writeln!(out)?;
    pods_grid(r).write(layout, out)?;
    findings_and_steps(r, layout, out)
}

/// One row per pod, as `kubectl get po` shows it.
pub(super) fn pods_grid(r: &Report) -> Grid {
    // NODE, then AGE, then RESTARTS give way first; STATUS wraps only where
    // it holds a message (a status is one word).
    let mut t = Grid::new(
        PLAIN,
        &[
            ("REGION", ColumnRule::KEEP),
            ("POD", ColumnRule::KEEP),
            ("READY", ColumnRule::KEEP),
            ("STATUS", ColumnRule::WRAP),
            ("RESTARTS", ColumnRule::drop(2)),
            ("AGE", ColumnRule::drop(1)),
            ("NODE", ColumnRule::drop(0)),
        ],
    );
    for reg in &r.regions {
        let Some(p) = &reg.pods else { continue };
        if let Some(e) = &p.error {
            // A few words, as in the verdict table: the findings carry the message.
            t.row(vec![
                (reg.name.clone(), None),
                ("(not checked)".into(), Some(Color::Magenta)),
                (String::new(), None),
                (short_problem(e), None),
            ]);
            continue;
        }
        if p.pods.is_empty() {
            t.row(vec![
                (reg.name.clone(), None),
                ("(none)".into(), Some(Color::Red)),
                ("0/0".into(), None),
                (p.note.clone().unwrap_or_default(), None),
            ]);
        }
        for pod in &p.pods {
            let st_color = if pod.is_ready && !pod.terminating {
                Color::Green
            } else if pod.crash_looping || pod.status == "OOMKilled" {
                Color::Red
            } else {
                Color::Yellow
            };
            let restarts = match pod.last_restart_secs_ago {
                Some(s) if pod.restarts > 0 => format!("{} ({} ago)", pod.restarts, short_age(s)),
                _ => pod.restarts.to_string(),
            };
            t.row(vec![
                (reg.name.clone(), None),
                (pod.name.clone(), None),
                (pod.ready.clone(), None),
                (pod.status.clone(), Some(st_color)),
                (restarts, None),
                (pod.age_secs.map_or("-".into(), short_age), None),
                (pod.node.clone().unwrap_or_else(|| "<none>".into()), None),
            ]);
        }
    }
    t
}

/// One streamed log line: `region pod │ text`, `region pod (previous) │
/// text` for the container that ended.
pub fn log_line(l: &LogLine, color: bool, out: &mut impl Write) -> std::io::Result<()> {
    let previous = if l.previous { " (previous)" } else { "" };
    let prefix = format!("{} {}{previous}", l.region, l.pod);
    let prefix = if color { format!("\u{1b}[36m{prefix}\u{1b}[0m") } else { prefix };
    let text = if l.is_error { paint(&l.text, Color::Red, color) } else { l.text.clone() };
    writeln!(out, "{prefix} │ {text}")
}

pub fn logs(r: &Report, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out)?;
    verdict_line(r, layout, out)?;
    runbook_line(r, layout, out)?;
    writeln!(out)?;
    logs_grid(r).write(layout, out)?;
    error_blocks(&errors::by_container(r), layout, out)?;
    findings_and_steps(r, layout, out)
}

/// One row per container read: lines, error lines, the most frequent error.
pub(super) fn logs_grid(r: &Report) -> Grid {
    // TOP ERROR wraps, and goes when even its longest word does not fit:
    // the findings quote each region's most frequent error whole.
    let mut t = Grid::new(
        BOXED,
        &[
            ("REGION", ColumnRule::KEEP),
            ("POD", ColumnRule::WRAP),
            ("LINES", ColumnRule::WRAP),
            ("ERRORS", ColumnRule::KEEP),
            ("TOP ERROR", ColumnRule::wrap_then_drop(0)),
        ],
    );
    for reg in &r.regions {
        let Some(l) = &reg.logs else { continue };
        if l.pods.is_empty() {
            let why = l.error.as_ref().map_or_else(|| "no pods".to_string(), |e| e.message.clone());
            t.row(vec![
                (reg.name.clone(), None),
                ("(not read)".into(), Some(Color::Magenta)),
                ("-".into(), None),
                ("-".into(), None),
                (why, None),
            ]);
        }
        for p in &l.pods {
            let name = errors::pod_cell(p);
            let top = match (&p.error, p.top_errors.first()) {
                (Some(e), _) if matches!(e.kind, ProblemKind::BadRequest | ProblemKind::NotFound) => {
                    no_logs(&e.message)
                }
                (Some(e), _) => e.message.clone(),
                (None, Some(g)) => format!("{}× {}", g.count, g.example),
                (None, None) => String::new(),
            };
            // A pod's errors show as a warning when the region's errors do.
            let warns = match l.judgement {
                Some(Judgement::Threshold) => l.threshold.is_some_and(|t| p.error_lines > t),
                Some(j) => j.warns() && p.error_lines > 0,
                None => false,
            };
            let errors_status = if warns { Status::Warn } else { Status::Pass };
            t.row(vec![
                (reg.name.clone(), None),
                (name, None),
                (format!("{}{}", p.lines, if p.partial { " (partial)" } else { "" }), None),
                (p.error_lines.to_string(), Some(status_color(errors_status))),
                (top, None),
            ]);
        }
    }
    t
}

/// A container with no logs to read, said as such rather than as an error
/// line: `(no logs: waiting to start, CrashLoopBackOff)`. The API server
/// answers 400 for a container that has not started, naming the container
/// and pod the row already names.
fn no_logs(message: &str) -> String {
    match message.split_once(" is waiting to start: ") {
        Some((_, why)) => format!("(no logs: waiting to start, {why})"),
        None => format!("(no logs: {message})"),
    }
}

/// `doctor`'s top line: the environment, OK or FAIL, and the summary.
pub fn doctor_line(r: &DoctorReport, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    let verdict = if r.ok { paint("OK", Color::Green, layout.color) } else { paint("FAIL", Color::Red, layout.color) };
    let line = format!("keysvc-check doctor ({}, namespace {}): {verdict} — {}", r.environment, r.namespace, r.summary);
    prose(out, layout, "", 2, &line)
}

pub fn doctor(r: &DoctorReport, layout: Layout, out: &mut impl Write) -> std::io::Result<()> {
    doctor_line(r, layout, out)?;
    writeln!(out)?;
    let grid = doctor_grid(r);
    // DETAIL is column 3; when it cannot be shown, what matters of it moves
    // into the last column.
    if grid.widths(layout)[3].is_some() { grid.write(layout, out) } else { doctor_grid_narrow(r).write(layout, out) }
}

/// The doctor table without DETAIL, for a narrow terminal: the last column
/// keeps what a row cannot do without — which runbook is used, that a
/// missing permission is optional, and the cause of a failure — before
/// its fix.
fn doctor_grid_narrow(r: &DoctorReport) -> Grid {
    let mut t = Grid::new(
        PLAIN,
        &[
            ("CHECK", ColumnRule::KEEP),
            ("REGION", ColumnRule::KEEP),
            ("RESULT", ColumnRule::KEEP),
            ("DETAIL / FIX", ColumnRule::WRAP),
        ],
    );
    for c in &r.checks {
        let fix = c.fix.clone().unwrap_or_default();
        let last = match (c.result, c.check) {
            (Outcome::Ok, CheckKind::Runbook) => c.detail.clone(),
            (Outcome::Ok, _) => String::new(),
            (_, CheckKind::Permission) if !c.required && c.result == Outcome::Missing => format!("(optional) {fix}"),
            (_, CheckKind::Permission) if c.result == Outcome::Missing => fix,
            _ if fix.is_empty() => c.detail.clone(),
            _ => format!("{} — {fix}", c.detail),
        };
        t.row(vec![
            (c.label(), None),
            (c.region.clone().unwrap_or_else(|| "-".into()), None),
            (c.result.as_str().into(), Some(result_color(c))),
            (last, None),
        ]);
    }
    t
}

fn result_color(c: &crate::doctor::CheckRow) -> Color {
    match c.result {
        Outcome::Ok => Color::Green,
        Outcome::Missing | Outcome::Fail if c.required => Color::Red,
        Outcome::Missing | Outcome::Fail | Outcome::Placeholder => Color::Yellow,
    }
}

/// One row per check and region, with the fix of each that did not pass.
pub(super) fn doctor_grid(r: &DoctorReport) -> Grid {
    // DETAIL goes first when space is short: the FIX names what to do,
    // which is what the row is for.
    let mut t = Grid::new(
        PLAIN,
        &[
            ("CHECK", ColumnRule::KEEP),
            ("REGION", ColumnRule::KEEP),
            ("RESULT", ColumnRule::KEEP),
            ("DETAIL", ColumnRule::wrap_then_drop(0)),
            ("FIX", ColumnRule::WRAP),
        ],
    );
    for c in &r.checks {
        t.row(vec![
            (c.label(), None),
            (c.region.clone().unwrap_or_else(|| "-".into()), None),
            (c.result.as_str().into(), Some(result_color(c))),
            (c.detail.clone(), None),
            (c.fix.clone().unwrap_or_default(), None),
        ]);
    }
    t
}

#[cfg(test)]
mod doctor_tests {
    use std::time::Duration;

    use super::*;
    use crate::doctor::{Access, Facts, PERMISSIONS, RegionFacts, RunbookInfo, judge};
    use crate::render::fit::display_width;

    fn report() -> DoctorReport {
        let region = |name: &str, logs: bool| RegionFacts {
            name: name.into(),
            context: format!("keysvc-prod-{name}"),
            placeholder_key: None,
            context_from: Default::default(),
            in_cluster: None,
            same_cluster: None,
            taken_contexts: vec![],
            client: Some(Ok(())),
            version: Some(Ok("v1.20.15".into())),
            access: PERMISSIONS
                .iter()
                .map(|p| Some(Ok(Access { allowed: p.required && (logs || p.subresource.is_empty()), reason: None })))
                .collect(),
            retried: vec![],
            pods: None,
        };
        let facts = Facts {
            environment: "prod".into(),
            namespace: "api".into(),
            runbook: RunbookInfo { source: "embedded", name: crate::runbook::EMBEDDED_NAME.into(), via: None },
            kubeconfig: None,
            timeout: Duration::from_secs(30),
            regions: vec![region("us-south", true), region("us-east", false)],
            urls: vec![],
            duration_ms: 1,
            selector: "app=api-key-service".into(),
            container: "api-key-service".into(),
            lines: Default::default(),
            telemetry: None,
        };
        judge(&facts, "2025-03-04T05:06:07Z".into())
    }

    fn show(width: Option<usize>) -> String {
        let mut out = vec![];
        doctor(&report(), Layout { color: false, width }, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn on_a_pipe_each_check_is_one_greppable_line_with_its_fix() {
        let out = show(None);
        let line = out.lines().find(|l| l.starts_with("get pods/log") && l.contains("us-east")).unwrap();
        for col in [
            "missing",
            "not allowed in namespace api",
            "ask for get on pods/log in namespace api for context keysvc-prod-us-east",
        ] {
            assert!(line.contains(col), "{col} missing: {line}");
        }
        assert!(
            out.starts_with("keysvc-check doctor (prod, namespace api): FAIL — 1 required check did not pass"),
            "{out}"
        );
    }

    #[test]
    fn at_80_columns_the_detail_goes_and_the_fix_stays_whole() {
        let out = show(Some(80));
        for line in out.lines() {
            assert!(display_width(line) <= 80, "wider than 80: {line:?}\n{out}");
        }
        let header = out.lines().find(|l| l.starts_with("CHECK")).unwrap();
        assert!(header.ends_with("DETAIL / FIX") && header.matches("DETAIL").count() == 1, "{out}");
        let words: Vec<&str> = out.split_whitespace().collect();
        assert!(words.contains(&"keysvc-prod-us-east"), "{out}");
        // What DETAIL said that matters stays: the runbook used, which
        // missing permissions are optional (and that the required one is not).
        assert!(out.lines().any(|l| l.starts_with("runbook") && l.contains("embedded")), "{out}");
        let row = |label: &str| out.lines().find(|l| l.starts_with(label) && l.contains("us-east")).unwrap();
        assert!(row("list events").contains("(optional)"), "{out}");
        assert!(!row("get pods/log").contains("(optional)"), "{out}");
        let wide = show(Some(200));
        let header = wide.lines().find(|l| l.starts_with("CHECK")).unwrap();
        assert!(header.contains("DETAIL") && !header.contains("DETAIL / FIX"), "{wide}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fit::display_width;
    use crate::render::fixture::{self, CRASHING};

    type Renderer = fn(&Report, Layout, &mut Vec<u8>) -> std::io::Result<()>;

    fn show(f: Renderer, color: bool, width: Option<usize>) -> String {
        let mut out = vec![];
        f(&fixture::report(), Layout { color, width }, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_key_never_set_is_not_called_a_refusal() {
        use crate::report::{Problem, ProblemDetail, ProblemKind};
        let unset = Problem::new(ProblemKind::Unauthorized, "NEW_RELIC_API_KEY is not set")
            .detail(ProblemDetail::EnvUnset { var: "NEW_RELIC_API_KEY".into() });
        assert_eq!(short_problem(&unset), "key not set");
        assert_eq!(short_problem(&Problem::new(ProblemKind::Unauthorized, "401")), "401 unauthorized");
    }

    /// Every line fits in `width`, but for a command, printed whole on purpose.
    fn assert_fits(out: &str, width: usize) {
        let r = fixture::report();
        let commands: Vec<String> =
            r.next_steps.iter().filter_map(|s| s.command.as_ref().map(|c| shell_join(&c.argv))).collect();
        for line in out.lines() {
            let command = commands.iter().any(|c| c == line.trim());
            assert!(display_width(line) <= width || command, "wider than {width}: {line:?}\n{out}");
        }
        for c in commands {
            assert!(out.lines().any(|l| l.trim() == c), "command not on a line of its own: {c}\n{out}");
        }
    }

    /// `word` is shown whole: some token of the output holds all of it.
    fn assert_whole(out: &str, word: &str) {
        assert!(out.split_whitespace().any(|t| t.contains(word)), "{word} is cut or missing:\n{out}");
    }

    fn line_with<'a>(out: &'a str, needle: &str) -> &'a str {
        out.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle}:\n{out}"))
    }

    #[test]
    fn pods_at_80_columns_drop_node_and_age_and_keep_every_name_whole() {
        let out = show(pods, false, Some(80));
        assert_fits(&out, 80);
        let header = line_with(&out, "REGION");
        assert!(!header.contains("NODE") && !header.contains("AGE"), "{header}");
        let row = line_with(&out, CRASHING);
        for col in ["us-east", "0/1", "CrashLoopBackOff", "7 (4m ago)"] {
            assert!(row.contains(col), "{col} missing: {row}");
        }
        // A region not checked says why in a few words, wrapped in its column.
        assert!(line_with(&out, "(not checked)").contains("403 forbidden:"), "{out}");
        // Its whole message is in the findings, wrapped at its spaces.
        for word in
            "missing permission to list pods in namespace api (user oncall, context keysvc-prod-eu-de)".split(' ')
        {
            assert_whole(&out, word);
        }
    }

    #[test]
    fn every_view_names_the_runbook_under_the_verdict() {
        for view in [diagnose, pods, logs, healthz] {
            let out = show(view, false, None);
            let head: Vec<&str> = out.lines().take(3).collect();
            assert!(head.contains(&"Runbook: <embedded runbooks/key-service.yaml>"), "{out}");
        }
    }

    #[test]
    fn pods_at_200_columns_show_every_column() {
        let out = show(pods, false, Some(200));
        assert_fits(&out, 200);
        let header = line_with(&out, "REGION");
        assert!(header.contains("AGE") && header.contains("NODE"), "{header}");
        assert!(line_with(&out, CRASHING).contains("node-us-east-1a-pool-7f9c"));
    }

    #[test]
    fn on_a_pipe_every_row_is_one_line_whatever_its_length() {
        let out = show(pods, false, None);
        let row = line_with(&out, CRASHING);
        for col in ["CrashLoopBackOff", "7 (4m ago)", "2h", "node-us-east-1a-pool-7f9c"] {
            assert!(row.contains(col), "{col} missing: {row}");
        }
        let error = line_with(&out, "eu-de: pods not checked");
        assert!(error.contains("(user oncall, context keysvc-prod-eu-de)"), "{error}");
        let finding = line_with(&out, "most frequent error");
        assert!(finding.ends_with("[db-7.internal:5432]"), "prose does not wrap on a pipe: {finding}");

        let logs_out = show(logs, false, None);
        let top = line_with(&logs_out, "2×");
        assert!(top.contains(CRASHING) && top.contains("[db-7.internal:5432]"), "{top}");
        assert!(display_width(top) > 100, "no width limit on a pipe: {top}");
    }

    #[test]
    fn the_note_counts_pods_in_one_state_and_names_running_but_not_ready() {
        let mut r = fixture::report();
        let east = r.regions.iter_mut().find(|g| g.name == "us-east").unwrap();
        let pods = &mut east.pods.as_mut().unwrap().pods;
        let crashing = pods.iter().find(|p| p.crash_looping).unwrap().clone();
        let mut probe_failing = pods.iter().find(|p| p.is_ready).unwrap().clone();
        probe_failing.is_ready = false;
        pods.clear();
        pods.extend([crashing.clone(), probe_failing, crashing.clone(), crashing]);
        assert_eq!(region_note(east), "3× CrashLoopBackOff, not ready");
    }

    #[test]
    fn diagnose_at_80_columns_moves_the_note_to_the_findings() {
        let out = show(diagnose, false, Some(80));
        assert_fits(&out, 80);
        let header = line_with(&out, "REGION");
        assert!(!header.contains("NOTE") && header.contains("RESTARTS"), "{header}");
        assert!(line_with(&out, "│ us-east").contains("degraded"));
        // The finding wraps under its text, not under the mark.
        let first = out.lines().position(|l| l.contains(&format!("us-east: {CRASHING}"))).unwrap();
        let next = out.lines().nth(first + 1).unwrap();
        assert!(next.starts_with("    ") && !next.starts_with("     "), "hanging indent of 4: {next:?}");
        assert_whole(&out, CRASHING);

        let wide = show(diagnose, false, Some(200));
        assert_fits(&wide, 200);
        assert!(line_with(&wide, "REGION").contains("NOTE"));
        assert!(line_with(&wide, "│ us-east").contains("CrashLoopBackOff"));
    }

    #[test]
    fn the_error_groups_say_format_template_count_example_and_when_seen() {
        for (view, heading) in [
            (logs as Renderer, "us-east api-key-service-7d9f6b5c4d-x8k2p (previous, json)"),
            (diagnose, "us-east (json)"),
        ] {
            let out = show(view, false, Some(80));
            assert_fits(&out, 80);
            let at = out.lines().position(|l| l == "Log errors by template:").expect(&out);
            let block: Vec<&str> = out.lines().skip(at + 1).take_while(|l| !l.is_empty()).collect();
            assert_eq!(block[0], format!("  {heading}"), "{out}");
            assert!(block[1].starts_with("    2× ") && block[1].contains("key=<*>"), "{out}");
            assert!(block.contains(&"      seen 4m ago … 10s ago"), "{out}");
            assert!(block.iter().any(|l| l.starts_with("      e.g. ERROR signing failed: key=<nil>")), "{out}");
        }
        assert!(show(diagnose, false, None).contains("2× (new) ERROR signing failed"));
    }

    #[test]
    fn healthz_replies_wrap_under_their_label() {
        let out = show(healthz, false, Some(80));
        assert_fits(&out, 80);
        let reply = out.lines().position(|l| l.starts_with("  Reply:   {")).unwrap();
        assert!(out.lines().nth(reply + 1).unwrap().starts_with(&" ".repeat(11)), "{out}");
    }

    #[test]
    fn colour_does_not_change_the_fit() {
        let out = show(diagnose, true, Some(80));
        assert!(out.contains("\u{1b}[1;"), "{out}");
        assert_fits(&out, 80);
        assert_eq!(show(diagnose, true, Some(80)).lines().count(), show(diagnose, false, Some(80)).lines().count());
    }

    /// The frame sizes (`BOXED`, `PLAIN`) are what comfy-table draws: at
    /// every width the output fits, and at its full width nothing is lost.
    #[test]
    fn telemetry_is_a_column_that_fits_at_80_and_a_line_when_not_configured() {
        let r = fixture::with_telemetry();
        for width in [Some(80), Some(120), None] {
            let mut out = vec![];
            diagnose(&r, Layout { color: false, width }, &mut out).unwrap();
            let out = String::from_utf8(out).unwrap();
            if let Some(w) = width {
                assert_fits(&out, w);
            }
            assert!(out.contains("TELEMETRY"), "{out}");
            assert!(out.contains("Telemetry (New Relic, last 10m): data from 1/3 regions"), "{out}");
            let south = line_with(&out, "│ us-south");
            assert!(south.contains("3/3"), "{out}");
            let east = line_with(&out, "│ us-east");
            assert!(east.contains("none"), "{out}");
            if width.is_none() {
                assert!(east.contains("CrashLoopBackOff") && !east.contains("no telemetry"), "pods first: {out}");
            }
            if width.is_none() {
                assert!(line_with(&out, "│ eu-de").contains("error"), "{out}");
            }
            let mut out = vec![];
            telemetry(&r, Layout { color: false, width }, &mut out).unwrap();
            let out = String::from_utf8(out).unwrap();
            if let Some(w) = width {
                assert_fits(&out, w);
            }
            assert!(out.contains("Query: SELECT latest(timestamp)"), "{out}");
        }
        let mut out = vec![];
        let mut none = fixture::report();
        none.telemetry = Some(crate::report::TelemetryStep::not_configured());
        diagnose(&none, Layout { color: false, width: None }, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.lines().any(|l| l == "telemetry: not configured"), "{out}");
        assert!(!out.contains("TELEMETRY"), "{out}");
    }

    #[test]
    fn the_telemetry_command_notes_a_region_without_telemetry_as_diagnose_does() {
        let mut out = vec![];
        telemetry(&fixture::with_telemetry(), Layout { color: false, width: None }, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let none = out.lines().find(|l| l.contains(" none ")).unwrap_or_else(|| panic!("{out}"));
        assert!(none.contains("no telemetry"), "{out}");
    }

    #[test]
    fn the_note_of_a_region_up_without_telemetry_says_so_after_its_pods() {
        let mut r = fixture::with_telemetry().regions.remove(0);
        r.verdict = Verdict::Degraded;
        let t = r.telemetry.as_mut().unwrap();
        (t.status, t.pods_reporting) = (Status::Fail, None);
        assert_eq!(region_note(&r), "no telemetry");
        let t = r.telemetry.as_mut().unwrap();
        (t.status, t.pods_reporting) = (Status::Warn, Some(1));
        assert_eq!(region_note(&r), "telemetry from 1 pod");
        let t = r.telemetry.as_mut().unwrap();
        (t.status, t.pods_reporting, t.latest_secs_ago) = (Status::Warn, Some(3), Some(400));
        assert_eq!(region_note(&r), "telemetry late");
        r.verdict = Verdict::Down;
        assert_eq!(region_note(&r), "", "down: its pods or healthz say why");
    }

    #[test]
    fn every_table_fits_every_width_from_80_to_200() {
        for (name, f) in [("pods", pods as Renderer), ("diagnose", diagnose), ("logs", logs), ("healthz", healthz)] {
            for width in 80..=200 {
                let out = show(f, false, Some(width));
                assert_fits(&out, width);
                assert_whole(&out, CRASHING);
            }
            // The table: from its header to the blank line after it.
            let table = |out: &str| -> Vec<String> {
                let lines = out.lines().skip_while(|l| !l.contains("REGION") && !l.starts_with('┌'));
                lines.take_while(|l| !l.is_empty()).map(str::to_string).collect()
            };
            let full = table(&show(f, false, None));
            if let Some(widest) = full.iter().map(|l| display_width(l)).max() {
                assert_eq!(table(&show(f, false, Some(widest))), full, "{name} at its own width {widest}");
                assert_ne!(table(&show(f, false, Some(widest - 1))), full, "{name} at {}", widest - 1);
            }
        }
    }
}
