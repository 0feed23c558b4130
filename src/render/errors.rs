//! What the logs step read, as text: per container the format its lines
//! were in (when not plain text) and its error groups, each with its
//! template (variable parts as `<*>`), count, one example line and when it
//! was first and last seen in the window; for `diagnose`, each region's
//! error signatures. The table and Markdown renderers lay these out.

use jiff::Timestamp;

use crate::evidence::pods::short_age;
use crate::report::{ErrorGroup, ErrorSignature, LogsStep, PodLogs, Report};

/// Signatures shown per region in `diagnose`: the report holds more.
const DIAGNOSE_SIGNATURES: usize = 3;

/// One error group as shown.
pub(super) struct GroupText {
    pub count: u64,
    pub template: String,
    /// `new` for a signature absent from the baseline.
    pub new: bool,
    /// `4m ago … 10s ago`, `10s ago` (one time), or `None` without times.
    pub seen: Option<String>,
    pub example: String,
}

/// The groups of one container, or of one region in `diagnose`.
pub(super) struct Block {
    /// `us-east api-key-service-…-p8w4t (previous, json)`, `us-east (json)`.
    pub heading: String,
    pub groups: Vec<GroupText>,
}

/// When a group was seen, as time before the run: `4m ago … 10s ago`.
fn seen(now: Option<Timestamp>, first: Option<Timestamp>, last: Option<Timestamp>) -> Option<String> {
    let ago = |t: Timestamp| {
        let secs = now?.duration_since(t).as_secs().max(0) as u64;
        Some(format!("{} ago", short_age(secs)))
    };
    let (first, last) = (ago(first?), last.and_then(ago));
    match (first, last) {
        (Some(f), Some(l)) if f != l => Some(format!("{f} … {l}")),
        (f, l) => f.or(l),
    }
}

fn now(r: &Report) -> Option<Timestamp> {
    r.generated_at.parse().ok()
}

/// `(previous, json)`: what sets a container apart, plain text not said.
fn container_note(p: &PodLogs) -> String {
    let mut words: Vec<&str> = vec![];
    if p.previous {
        words.push("previous");
    }
    if let Some(f) = p.format.as_deref().filter(|f| *f != "text") {
        words.push(f);
    }
    if words.is_empty() { String::new() } else { format!(" ({})", words.join(", ")) }
}

/// The pod column of the logs table: the pod, then `(previous, json)`.
pub(super) fn pod_cell(p: &PodLogs) -> String {
    format!("{}{}", p.pod, container_note(p))
}

fn group(now: Option<Timestamp>, g: &ErrorGroup) -> GroupText {
    GroupText {
        count: g.count,
        template: g.pattern.clone(),
        new: false,
        seen: seen(now, g.first_seen, g.last_seen),
        example: g.example.clone(),
    }
}

fn signature(now: Option<Timestamp>, s: &ErrorSignature) -> GroupText {
    GroupText {
        count: s.window_count,
        template: s.pattern.clone(),
        new: s.new,
        seen: seen(now, s.first_seen, s.last_seen),
        example: s.example.clone(),
    }
}

/// The `logs` view: every container that logged errors, with its groups.
pub(super) fn by_container(r: &Report) -> Vec<Block> {
    let now = now(r);
    let mut out = vec![];
    for reg in &r.regions {
        let Some(l) = &reg.logs else { continue };
        for p in l.pods.iter().filter(|p| !p.top_errors.is_empty()) {
            out.push(Block {
                heading: format!("{} {}", reg.name, pod_cell(p)),
                groups: p.top_errors.iter().map(|g| group(now, g)).collect(),
            });
        }
    }
    out
}

/// The formats other than plain text a region's containers logged in.
fn region_formats(l: &LogsStep) -> String {
    let mut formats: Vec<&str> = vec![];
    for f in l.pods.iter().filter_map(|p| p.format.as_deref()).filter(|f| *f != "text") {
        if !formats.contains(&f) {
            formats.push(f);
        }
    }
    if formats.is_empty() { String::new() } else { format!(" ({})", formats.join(", ")) }
}

/// The `diagnose` view: the most significant error signatures of each
/// region whose errors warn (the others' are their everyday noise, which
/// `logs` shows).
pub(super) fn by_region(r: &Report) -> Vec<Block> {
    let now = now(r);
    let mut out = vec![];
    for reg in &r.regions {
        let warns = |l: &&LogsStep| l.judgement.is_some_and(|j| j.warns()) && !l.signatures.is_empty();
        let Some(l) = reg.logs.as_ref().filter(warns) else { continue };
        out.push(Block {
            heading: format!("{}{}", reg.name, region_formats(l)),
            groups: l.signatures.iter().take(DIAGNOSE_SIGNATURES).map(|s| signature(now, s)).collect(),
        });
    }
    out
}

impl GroupText {
    /// `45× (new) connection to <*> refused`.
    pub fn title(&self) -> String {
        format!("{}× {}{}", self.count, if self.new { "(new) " } else { "" }, self.template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_reads_as_time_before_the_run() {
        let at = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        let now = at("2025-03-04T05:06:07Z");
        assert_eq!(seen(now, at("2025-03-04T05:02:07Z"), at("2025-03-04T05:05:57Z")).unwrap(), "4m ago … 10s ago");
        assert_eq!(seen(now, at("2025-03-04T05:05:57Z"), at("2025-03-04T05:05:57Z")).unwrap(), "10s ago");
        assert_eq!(seen(now, None, None), None);
        assert_eq!(seen(None, at("2025-03-04T05:05:57Z"), None), None);
    }
}
