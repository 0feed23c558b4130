//! `-o table`: the verdict line, a table per command, findings and next
//! steps. Colour only when asked for (a TTY without NO_COLOR, or --color).
//! Every outside string in the report was made safe when it was recorded.

use std::io::Write;

use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};

use crate::check::LogLine;
use crate::pods::short_age;
use crate::report::{HealthzCheck, Judgement, RegionReport, Report, Severity, Status, Verdict};

const WIDTH: u16 = 100;

fn new_table(color: bool) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_width(WIDTH);
    if !color {
        t.force_no_tty();
    } else {
        t.enforce_styling();
    }
    t
}

/// Pod names are copied into commands: never wrap them.
fn keep_whole(t: &mut Table, column: usize) {
    if let Some(c) = t.column_mut(column) {
        c.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
    }
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
pub fn verdict_line(r: &Report, color: bool, out: &mut impl Write) -> std::io::Result<()> {
    let v = r.service.verdict;
    writeln!(
        out,
        "{} ({}): {} — {}",
        r.service_name,
        r.environment,
        paint(&v.as_str().to_uppercase(), verdict_color(v), color),
        r.service.summary
    )?;
    if let Some(impact) = &r.service.impact {
        writeln!(out, "Impact: {impact}")?;
    }
    Ok(())
}

fn healthz_summary(h: &HealthzCheck) -> String {
    let mut s = match (h.http_status, &h.error) {
        (_, Some(e)) => e.message.clone(),
        (Some(code), None) => format!("HTTP {code}"),
        (None, None) => "no reply".into(),
    };
    if let Some(ms) = h.latency_ms {
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

fn findings_and_steps(r: &Report, color: bool, out: &mut impl Write) -> std::io::Result<()> {
    if !r.findings.is_empty() {
        writeln!(out, "\nFindings:")?;
        for f in &r.findings {
            let region = f.region.as_ref().map(|r| format!("{r}: ")).unwrap_or_default();
            writeln!(out, "  {} {region}{}", mark(f.severity, color), f.text)?;
        }
    }
    if !r.next_steps.is_empty() {
        writeln!(out, "\nNext steps:")?;
        for (i, s) in r.next_steps.iter().enumerate() {
            let region = s.region.as_ref().map(|r| format!("{r}: ")).unwrap_or_default();
            writeln!(out, "  {}. {region}{}", i + 1, s.text)?;
            // The command on a line of its own, so it can be copied whole.
            if let Some(c) = &s.command {
                writeln!(out, "       {c}")?;
            }
        }
    }
    Ok(())
}

fn region_note(r: &RegionReport) -> String {
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
    let statuses: Vec<String> = r
        .pods
        .iter()
        .flat_map(|p| p.pods.iter())
        .filter(|p| p.crash_looping || p.terminating || p.pending || !p.is_ready)
        .map(|p| p.status.clone())
        .collect();
    statuses.join(", ")
}

/// A few words for the NOTE column; the findings carry the whole message.
fn short_problem(p: &crate::report::Problem) -> String {
    use crate::report::ProblemKind::*;
    let resource = if p.message.contains("pods/log") { "pods/log" } else { "pods" };
    match p.kind {
        ContextMissing => "context not in kubeconfig".into(),
        Kubeconfig => "kubeconfig problem".into(),
        Refused => "connection refused".into(),
        Reset => "connection reset".into(),
        Dns => "DNS lookup failed".into(),
        Tls => "TLS failure".into(),
        Timeout => "timed out".into(),
        Unauthorized => "401 unauthorized".into(),
        Forbidden => format!("403 forbidden: {resource}"),
        NotFound => "not found".into(),
        Deadline => "deadline reached".into(),
        Interrupted => "interrupted".into(),
        Placeholder => "placeholder: not checked".into(),
        BadRequest | Other => crate::sanitize::clean(&p.message, 40),
    }
}

pub fn diagnose(r: &Report, color: bool, out: &mut impl Write) -> std::io::Result<()> {
    verdict_line(r, color, out)?;
    if let Some(h) = &r.healthz {
        writeln!(
            out,
            "Healthz {}: {} ({})",
            h.url,
            paint(h.status.as_str(), status_color(h.status), color),
            healthz_summary(h)
        )?;
    }
    writeln!(out)?;
    let mut t = new_table(color);
    t.set_header(["REGION", "HEALTHZ", "PODS READY", "RESTARTS", "LOG ERRORS", "VERDICT", "NOTE"]);
    for reg in &r.regions {
        let hz = reg
            .healthz
            .as_ref()
            .map_or(cell("-", None, color), |h| cell(h.status.as_str(), Some(status_color(h.status)), color));
        let pods = match &reg.pods {
            Some(p) if p.status == Status::Error => cell("error", Some(Color::Magenta), color),
            Some(p) => cell(format!("{}/{}", p.ready, p.expected), Some(status_color(p.status)), color),
            None => cell("-", None, color),
        };
        let restarts = match &reg.pods {
            Some(p) if p.status != Status::Error => p.restarts.to_string(),
            _ => "-".into(),
        };
        let logs = match &reg.logs {
            Some(l) if l.status == Status::Error => cell("error", Some(Color::Magenta), color),
            Some(l) => cell(
                format!("{}{}", l.error_lines, if l.partial { " (partial)" } else { "" }),
                Some(status_color(l.status)),
                color,
            ),
            None => cell("-", None, color),
        };
        t.add_row(vec![
            Cell::new(&reg.name),
            hz,
            pods,
            Cell::new(restarts),
            logs,
            cell(reg.verdict.as_str(), Some(verdict_color(reg.verdict)), color),
            Cell::new(region_note(reg)),
        ]);
    }
    writeln!(out, "{t}")?;
    findings_and_steps(r, color, out)
}

pub fn healthz(r: &Report, color: bool, out: &mut impl Write) -> std::io::Result<()> {
    verdict_line(r, color, out)?;
    let mut rows: Vec<(String, &HealthzCheck)> = vec![];
    if let Some(h) = &r.healthz {
        rows.push(("environment".into(), h));
    }
    for reg in &r.regions {
        if let Some(h) = &reg.healthz {
            rows.push((format!("region {}", reg.name), h));
        }
    }
    // One block per URL, not a table: URLs and replies are long and must not wrap.
    for (name, h) in rows {
        writeln!(out)?;
        writeln!(out, "Healthz ({name})")?;
        writeln!(out, "  URL:     {}", h.url)?;
        writeln!(out, "  Result:  {}", paint(h.status.as_str(), status_color(h.status), color))?;
        writeln!(out, "  HTTP:    {}", h.http_status.map_or("-".into(), |c| c.to_string()))?;
        writeln!(out, "  Latency: {}", h.latency_ms.map_or("-".into(), |ms| format!("{ms} ms")))?;
        if let Some(reply) = &h.reply {
            writeln!(out, "  Reply:   {reply}")?;
        }
        if let Some(b) = h.body_excerpt.as_ref().filter(|b| !b.is_empty()) {
            writeln!(out, "  Body:    {b}")?;
        }
        if let Some(e) = &h.error {
            writeln!(out, "  Error:   {}", e.message)?;
        }
        for p in &h.problems {
            writeln!(out, "  Problem: {p}")?;
        }
    }
    findings_and_steps(r, color, out)
}

pub fn pods(r: &Report, color: bool, out: &mut impl Write) -> std::io::Result<()> {
    verdict_line(r, color, out)?;
    writeln!(out)?;
    let mut t = new_table(color);
    t.load_preset(presets::NOTHING);
    t.set_header(["REGION", "POD", "READY", "STATUS", "RESTARTS", "AGE", "NODE"]);
    keep_whole(&mut t, 1);
    for reg in &r.regions {
        let Some(p) = &reg.pods else { continue };
        if let Some(e) = &p.error {
            t.add_row(vec![
                Cell::new(&reg.name),
                cell("(not checked)", Some(Color::Magenta), color),
                Cell::new(""),
                Cell::new(&e.message),
            ]);
            continue;
        }
        if p.pods.is_empty() {
            t.add_row(vec![
                Cell::new(&reg.name),
                cell("(none)", Some(Color::Red), color),
                Cell::new("0/0"),
                Cell::new(p.note.clone().unwrap_or_default()),
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
            t.add_row(vec![
                Cell::new(&reg.name),
                Cell::new(&pod.name),
                Cell::new(&pod.ready),
                cell(&pod.status, Some(st_color), color),
                Cell::new(restarts),
                Cell::new(pod.age_secs.map_or("-".into(), short_age)),
                Cell::new(pod.node.clone().unwrap_or_else(|| "<none>".into())),
            ]);
        }
    }
    writeln!(out, "{t}")?;
    findings_and_steps(r, color, out)
}

/// One streamed log line: `region pod │ text`.
pub fn log_line(l: &LogLine, color: bool, out: &mut impl Write) -> std::io::Result<()> {
    let prefix = format!("{} {}", l.region, l.pod);
    let prefix = if color { format!("\u{1b}[36m{prefix}\u{1b}[0m") } else { prefix };
    let text = if l.is_error { paint(&l.text, Color::Red, color) } else { l.text.clone() };
    writeln!(out, "{prefix} │ {text}")
}

pub fn logs(r: &Report, color: bool, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out)?;
    verdict_line(r, color, out)?;
    writeln!(out)?;
    let mut t = new_table(color);
    t.set_header(["REGION", "POD", "LINES", "ERRORS", "TOP ERROR"]);
    keep_whole(&mut t, 1);
    for reg in &r.regions {
        let Some(l) = &reg.logs else { continue };
        if l.pods.is_empty() {
            let why = l.error.as_ref().map_or_else(|| "no pods".to_string(), |e| e.message.clone());
            t.add_row(vec![
                Cell::new(&reg.name),
                cell("(not read)", Some(Color::Magenta), color),
                Cell::new("-"),
                Cell::new("-"),
                Cell::new(why),
            ]);
        }
        for p in &l.pods {
            let name = if p.previous { format!("{} (previous)", p.pod) } else { p.pod.clone() };
            let top = match (&p.error, p.top_errors.first()) {
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
            t.add_row(vec![
                Cell::new(&reg.name),
                Cell::new(name),
                Cell::new(format!("{}{}", p.lines, if p.partial { " (partial)" } else { "" })),
                cell(p.error_lines.to_string(), Some(status_color(errors_status)), color),
                Cell::new(top),
            ]);
        }
    }
    writeln!(out, "{t}")?;
    findings_and_steps(r, color, out)
}
