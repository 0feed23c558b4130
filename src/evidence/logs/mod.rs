//! Step 3: reading a container's recent logs as a stream, counting error lines
//! and grouping like ones (numbers, ids and timestamps normalised), and judging
//! the window's errors against the baseline, the time before it. Memory is
//! bounded whatever the volume: lines are read one at a time with a length
//! cap, and only counts, a bounded set of groups and one example each are kept.
//!
//! Below it, with no I/O: what a line is (its format, level, message,
//! error, stack: `format`), which lines make one entry (`entry`), and which
//! template a message is an instance of (`template`).

pub mod entry;
pub mod format;
pub mod template;

use std::collections::HashMap;

use futures::{AsyncBufRead, AsyncBufReadExt};
use jiff::Timestamp;
use regex::{Regex, RegexSet};

use crate::report::{ErrorGroup, ErrorSignature, Judgement};
use crate::runbook::{LevelName, LogFormat, LogsSpec};
use crate::sanitize;
use entry::{Assembler, Limits};
use format::{Format, Level, Overrides, Reader};
use template::{Miner, MinerConfig, TemplateId};

/// Longest line kept; the rest of a longer line is skipped.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Templates tracked per container (and per region); further new ones are counted as "other".
const MAX_GROUPS: usize = 500;
/// Error groups shown per pod.
pub const TOP_GROUPS: usize = 5;
/// Error signatures reported per region.
pub const TOP_SIGNATURES: usize = 10;
/// The pattern under which groups past [`MAX_GROUPS`] are counted.
const OTHER: &str = "(other messages)";

/// Decides which lines are errors: each line read for its format and level
/// ([`format::Reader`], the level decides), text lines without a level by
/// the runbook's error patterns.
#[derive(Debug, Clone)]
pub struct Classifier {
    reader: Reader,
}

impl Classifier {
    pub fn new(patterns: &[Regex]) -> Classifier {
        Classifier::with(Overrides::default(), patterns)
    }

    /// With the runbook's overrides of what is found by itself.
    pub fn with(overrides: Overrides, patterns: &[Regex]) -> Classifier {
        let set = RegexSet::new(patterns.iter().map(Regex::as_str)).expect("patterns were compiled once already");
        Classifier { reader: Reader::new(overrides, set) }
    }

    /// The runbook's: its `logs` keys (format, level and message fields,
    /// error levels) and its error patterns.
    pub fn of(spec: &LogsSpec) -> Classifier {
        let format = match spec.format {
            LogFormat::Auto => None,
            LogFormat::Json => Some(Format::Json),
            LogFormat::Logfmt => Some(Format::Logfmt),
            LogFormat::Klog => Some(Format::Klog),
            LogFormat::Text => Some(Format::Text),
        };
        let level = |l: &LevelName| match l {
            LevelName::Trace => Level::Trace,
            LevelName::Debug => Level::Debug,
            LevelName::Info => Level::Info,
            LevelName::Warn => Level::Warn,
            LevelName::Error => Level::Error,
            LevelName::Fatal => Level::Fatal,
        };
        let overrides = Overrides {
            format,
            level_field: spec.level_field.clone(),
            message_field: spec.message_field.clone(),
            error_levels: spec.error_levels.iter().map(level).collect(),
        };
        let patterns: Vec<Regex> = spec.error_patterns.iter().map(|p| p.0.clone()).collect();
        Classifier::with(overrides, &patterns)
    }

    /// Whether `line`, read on its own, is an error line. Indented lines
    /// (stack frames) are continuations of the line before, never errors of
    /// their own.
    pub fn is_error(&self, line: &str) -> bool {
        !line.starts_with([' ', '\t']) && self.reader.judge(line).1
    }

    pub fn reader(&self) -> &Reader {
        &self.reader
    }
}

/// The group key of a single error line: the template its message alone
/// makes (credentials masked first, variable parts as `<*>`), as
/// [`Tally`] keys a group whose only line it is.
pub fn normalize(line: &str) -> String {
    let reader = Reader::new(Overrides::default(), RegexSet::empty());
    let mut miner = Miner::new(MinerConfig::default());
    let id = miner.add(&mined_text(&reader.read(line)));
    sanitize::clean(&miner.template(id), 160)
}

/// What an error entry is grouped by: its message and the error it
/// carries, credentials masked.
fn mined_text(entry: &format::Entry) -> String {
    let text = match &entry.error {
        Some(error) if !entry.message.contains(error.as_str()) => format!("{}: {error}", entry.message),
        _ => entry.message.clone(),
    };
    crate::mask::apply(&text).into_owned()
}

/// One error group: its count, one example line and when it was seen.
#[derive(Debug, Clone)]
struct Group {
    count: u64,
    example: String,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl Group {
    fn new(count: u64, example: String, at: Option<Timestamp>) -> Group {
        Group { count, example, first: at, last: at }
    }

    fn merge(&mut self, other: &Group) {
        self.count += other.count;
        self.first = min_some(self.first, other.first);
        self.last = self.last.max(other.last);
        if self.example.is_empty() {
            self.example.clone_from(&other.example);
        }
    }
}

fn min_some(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Counts for one stream of lines: lines, error entries (a multi-line entry
/// is one), the formats the lines are in, and the error entries grouped by
/// template (at most [`MAX_GROUPS`] templates; the rest counted as other).
#[derive(Debug)]
pub struct Tally {
    pub lines: u64,
    /// Error entries (a stack trace with its frames is one).
    pub error_lines: u64,
    /// Entries per format, in [`FORMATS`] order.
    formats: [u64; 4],
    miner: Miner,
    groups: HashMap<TemplateId, Group>,
    entries: Assembler,
    /// The error entry in progress when it opened with a Python traceback:
    /// its group moves to its exception line's when that line comes.
    traceback: Option<(TemplateId, Option<Timestamp>)>,
    /// Whether the entry in progress is an error.
    in_error: bool,
}

const FORMATS: [Format; 4] = [Format::Json, Format::Logfmt, Format::Klog, Format::Text];

impl Default for Tally {
    fn default() -> Self {
        Tally {
            lines: 0,
            error_lines: 0,
            formats: [0; 4],
            miner: Miner::new(MinerConfig { max_templates: MAX_GROUPS, ..MinerConfig::default() }),
            groups: HashMap::new(),
            entries: Assembler::new(Limits::default()),
            traceback: None,
            in_error: false,
        }
    }
}

impl Tally {
    /// Counts one line (a kubelet timestamp in front is read as its time);
    /// returns whether it starts an error entry.
    pub fn feed(&mut self, classifier: &Classifier, line: &str) -> bool {
        match split_timestamp(line) {
            Some((at, text)) => self.feed_at(classifier, Some(at), text),
            None => self.feed_at(classifier, None, line),
        }
    }

    /// Counts one line logged at `at`; returns whether it starts an error entry.
    pub fn feed_at(&mut self, classifier: &Classifier, at: Option<Timestamp>, line: &str) -> bool {
        self.lines += 1;
        // A stack after a line that is no error (an info line, then an
        // uncaught exception) is an error entry of its own.
        let own_stack = !self.in_error && entry::opens_stack(line);
        if !own_stack && self.entries.continues(line) {
            self.follow_traceback(classifier);
            return false;
        }
        let (format, error) = classifier.reader.judge(line);
        self.formats[FORMATS.iter().position(|f| *f == format).unwrap_or(3)] += 1;
        // A stray continuation line (the window began inside a stack) is no error.
        let error = (error || entry::opens_stack(line)) && !line.starts_with([' ', '\t']);
        self.entries.start(line, error);
        self.in_error = error;
        self.traceback = None;
        if !error {
            return false;
        }
        self.error_lines += 1;
        let id = self.miner.add(&mined_text(&classifier.reader.read(line)));
        self.count(id, line, at);
        if line.starts_with("Traceback (") {
            self.traceback = Some((id, at));
        }
        true
    }

    fn count(&mut self, id: TemplateId, line: &str, at: Option<Timestamp>) {
        match self.groups.get_mut(&id) {
            Some(g) => g.merge(&Group::new(1, String::new(), at)),
            None => {
                let example = if id == TemplateId::OTHER { String::new() } else { sanitize::clean(line, 300) };
                self.groups.insert(id, Group::new(1, example, at));
            }
        }
    }

    /// A traceback's exception line names it: its count moves there.
    fn follow_traceback(&mut self, classifier: &Classifier) {
        let Some((id, at)) = self.traceback else { return };
        let Some(head) = self.entries.head().filter(|h| !h.starts_with("Traceback (")).map(str::to_string) else {
            return;
        };
        self.traceback = None;
        if let Some(g) = self.groups.get_mut(&id) {
            g.count -= 1;
            if g.count == 0 {
                self.groups.remove(&id);
            }
        }
        let new = self.miner.add(&mined_text(&classifier.reader.read(&head)));
        self.count(new, &head, at);
    }

    /// Entries per format, the formats found only.
    pub fn formats(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        FORMATS.iter().zip(self.formats).filter(|(_, n)| *n > 0).map(|(f, n)| (f.as_str(), n))
    }

    /// The format most of the entries were in; `None` before any line.
    pub fn format(&self) -> Option<&'static str> {
        let (i, n) = self.formats.iter().enumerate().max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))?;
        (*n > 0).then(|| FORMATS[i].as_str())
    }

    /// The groups by template text (two templates may read the same).
    fn by_template(&self) -> HashMap<String, Group> {
        let mut out: HashMap<String, Group> = HashMap::new();
        for (id, g) in &self.groups {
            match out.get_mut(&self.miner.template(*id)) {
                Some(have) => have.merge(g),
                None => {
                    out.insert(self.miner.template(*id), g.clone());
                }
            }
        }
        out
    }

    /// The most frequent groups, most first (ties by template for stable output).
    pub fn top(&self, n: usize) -> Vec<ErrorGroup> {
        let mut all: Vec<ErrorGroup> = self
            .by_template()
            .into_iter()
            .map(|(template, g)| ErrorGroup {
                pattern: sanitize::clean(&template, 160),
                count: g.count,
                example: g.example,
                first_seen: g.first,
                last_seen: g.last,
            })
            .collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.pattern.cmp(&b.pattern)));
        all.truncate(n);
        all
    }
}

/// What to do after one line.
pub enum Flow<T> {
    /// Go on, sending this to the receiver if there is one.
    Next(Option<T>),
    /// Stop reading.
    Stop,
}

/// Reads `reader` line by line into `tally`. Each line (lossy UTF-8,
/// length-capped, without the kubelet's timestamp when it has one: that
/// time is the line's in the tally) is offered to `each`; what it returns
/// is sent to `tx`, waiting when the receiver is behind. Lines longer than
/// [`MAX_LINE_BYTES`] are cut.
pub async fn read_lines<R, T, F>(
    reader: R,
    classifier: &Classifier,
    tally: &mut Tally,
    tx: Option<&tokio::sync::mpsc::Sender<T>>,
    mut each: F,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    F: FnMut(&str, bool) -> Option<T>,
{
    for_each_line(reader, tx, |line| {
        let (at, text) = split_timestamp(line).map_or((None, line), |(at, text)| (Some(at), text));
        let is_err = tally.feed_at(classifier, at, text);
        Flow::Next(each(text, is_err))
    })
    .await
    .map(|_| ())
}

/// Offers each line of `reader` (lossy UTF-8, cut at [`MAX_LINE_BYTES`]) to
/// `each` until the end or until it says stop; returns the bytes consumed.
pub async fn for_each_line<R, T, F>(
    mut reader: R,
    tx: Option<&tokio::sync::mpsc::Sender<T>>,
    mut each: F,
) -> std::io::Result<u64>
where
    R: AsyncBufRead + Unpin,
    F: FnMut(&str) -> Flow<T>,
{
    let mut line: Vec<u8> = Vec::with_capacity(1024);
    let mut overlong = false;
    let mut consumed: u64 = 0;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            if !line.is_empty() {
                let text = String::from_utf8_lossy(&line).into_owned();
                if let Flow::Next(Some(item)) = each(&text)
                    && let Some(tx) = tx
                {
                    let _ = tx.send(item).await;
                }
            }
            return Ok(consumed);
        }
        let (used, complete) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let piece = &buf[..if complete { used - 1 } else { used }];
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        if piece.len() > room {
            line.extend_from_slice(&piece[..room]);
            overlong = true;
        } else {
            line.extend_from_slice(piece);
        }
        reader.consume_unpin(used);
        consumed += used as u64;
        if complete {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let mut text = String::from_utf8_lossy(&line).into_owned();
            if overlong {
                text.push_str(" …[line cut]");
            }
            match each(&text) {
                Flow::Stop => return Ok(consumed),
                Flow::Next(Some(item)) => {
                    if let Some(tx) = tx {
                        let _ = tx.send(item).await;
                    }
                }
                Flow::Next(None) => {}
            }
            line.clear();
            overlong = false;
        }
    }
}

/// Splits the timestamp the kubelet puts before each line with
/// `timestamps=true` (RFC 3339, then one space) from the line.
pub fn split_timestamp(line: &str) -> Option<(Timestamp, &str)> {
    let (ts, rest) = line.split_once(' ').unwrap_or((line, ""));
    ts.parse::<Timestamp>().ok().map(|t| (t, rest))
}

/// A baseline read in progress: timestamped lines from before the window.
#[derive(Debug)]
pub struct BaselineRead {
    pub tally: Tally,
    window_start: Timestamp,
    last: Option<Timestamp>,
    reached_window: bool,
}

impl BaselineRead {
    pub fn new(window_start: Timestamp) -> BaselineRead {
        BaselineRead { tally: Tally::default(), window_start, last: None, reached_window: false }
    }

    /// Counts one timestamped line; false once a line is at or past the
    /// window's start: a container's log is in time order, and from there on
    /// the window read counts the lines. A line without a timestamp cannot be
    /// placed in time and is not counted.
    pub fn feed(&mut self, classifier: &Classifier, line: &str) -> bool {
        let Some((ts, text)) = split_timestamp(line) else {
            return true;
        };
        if ts >= self.window_start {
            self.reached_window = true;
            return false;
        }
        self.last = Some(ts);
        self.tally.feed_at(classifier, Some(ts), text);
        true
    }

    /// Whether the read got to the window's start.
    pub fn reached_window(&self) -> bool {
        self.reached_window
    }

    /// Where the time the read covered ends: the window's start when the
    /// stream got there or ended by itself (the container logged nothing
    /// more), else (`stopped_early`: a byte limit or the deadline) the last
    /// line read.
    pub fn covered_until(&self, stopped_early: bool) -> Option<Timestamp> {
        if self.reached_window || !stopped_early { Some(self.window_start) } else { self.last }
    }
}

/// Seconds the baseline of a container covered: from the later of the read's
/// start and the container's start, until `until` (see
/// [`BaselineRead::covered_until`]); 0 when that is not after the start.
pub fn baseline_span(read_start: Timestamp, container_start: Option<Timestamp>, until: Option<Timestamp>) -> f64 {
    let start = container_start.map_or(read_start, |c| c.max(read_start));
    match until {
        Some(end) if end > start => end.duration_since(start).as_secs_f64(),
        _ => 0.0,
    }
}

/// The thresholds of the rule (runbook `logs:`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub min_errors: u64,
    pub spike_factor: f64,
    /// The optional absolute rule: a pod with more error lines than this.
    pub threshold: Option<u64>,
}

/// What the rule looks at for one region.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Evidence {
    pub window_errors: u64,
    pub window_secs: f64,
    /// Error lines per second in the baseline (the sum over pods); `None`
    /// when no pod has a baseline.
    pub baseline_rate: Option<f64>,
    /// The most lines in the window of one signature absent from the baseline.
    pub new_signature_max: u64,
    /// The most error lines one pod's container logged in the window.
    pub max_pod_errors: u64,
}

/// The rule: errors degrade a region when there are at least `min_errors`
/// of them and at least `spike_factor` times the baseline's rate, or one
/// new signature reaches `min_errors`, or (no baseline at all) the window
/// reaches `min_errors`; or a pod passes the optional absolute threshold.
/// Anything else is the service's usual noise.
pub fn judge(rule: &Rule, e: &Evidence) -> Judgement {
    if e.window_errors == 0 {
        return Judgement::Quiet;
    }
    let enough = e.window_errors >= rule.min_errors;
    if e.baseline_rate.is_some() && e.new_signature_max >= rule.min_errors {
        Judgement::NewError
    } else if let Some(rate) = e.baseline_rate
        && enough
        && e.window_errors as f64 >= rule.spike_factor * rate * e.window_secs
    {
        Judgement::Spike
    } else if e.baseline_rate.is_none() && enough {
        Judgement::NoBaseline
    } else if rule.threshold.is_some_and(|t| e.max_pod_errors > t) {
        Judgement::Threshold
    } else {
        Judgement::Steady
    }
}

/// Error lines per minute, rounded for the report.
pub fn per_minute(lines_per_sec: f64) -> f64 {
    (lines_per_sec * 60.0 * 1000.0).round() / 1000.0
}

/// A region's error entries, merged from its pods' reads as each finishes,
/// so only one bounded set of groups per side is kept whatever the pod
/// count. The pods' templates are mined once more, together: a template one
/// pod learnt wider (`user <*>`) and another narrower (`user root`) are one
/// group, in the window and the baseline alike.
#[derive(Debug)]
pub struct RegionTally {
    miner: Miner,
    window: HashMap<TemplateId, Group>,
    window_other: u64,
    window_errors: u64,
    max_pod_errors: u64,
    /// Template → (lines, lines per second summed over pods).
    baseline: HashMap<TemplateId, (u64, f64)>,
    baseline_other: bool,
    baseline_errors: u64,
    baseline_rate: f64,
    baselines: usize,
}

impl Default for RegionTally {
    fn default() -> Self {
        RegionTally {
            // Room for a full window and a full baseline that share nothing.
            miner: Miner::new(MinerConfig { max_templates: 2 * MAX_GROUPS, ..MinerConfig::default() }),
            window: HashMap::new(),
            window_other: 0,
            window_errors: 0,
            max_pod_errors: 0,
            baseline: HashMap::new(),
            baseline_other: false,
            baseline_errors: 0,
            baseline_rate: 0.0,
            baselines: 0,
        }
    }
}

/// What a region's logs come to.
#[derive(Debug, Clone, PartialEq)]
pub struct Conclusion {
    pub judgement: Judgement,
    pub window_rate_per_min: f64,
    pub baseline_error_lines: u64,
    pub baseline_rate_per_min: Option<f64>,
    pub signatures: Vec<ErrorSignature>,
}

impl RegionTally {
    /// The region's template for a pod's, `None` past the cap.
    fn place(&mut self, template: &str) -> Option<TemplateId> {
        if template == OTHER {
            return None;
        }
        Some(self.miner.add(template)).filter(|id| *id != TemplateId::OTHER)
    }

    /// Adds one window read (a current or previous container).
    pub fn add_window(&mut self, t: &Tally) {
        self.window_errors += t.error_lines;
        self.max_pod_errors = self.max_pod_errors.max(t.error_lines);
        for (template, g) in t.by_template() {
            let full = self.window.len() >= MAX_GROUPS;
            match self.place(&template) {
                Some(id) if let Some(have) = self.window.get_mut(&id) => have.merge(&g),
                Some(id) if !full => {
                    self.window.insert(id, g);
                }
                _ => self.window_other += g.count,
            }
        }
    }

    /// Adds one container's baseline, `span_secs` long. A baseline shorter
    /// than the window says too little about the usual rate (a container
    /// that started just before the window) and is left out.
    pub fn add_baseline(&mut self, t: &Tally, span_secs: f64, window_secs: f64) {
        if span_secs < window_secs || span_secs <= 0.0 {
            return;
        }
        self.baselines += 1;
        self.baseline_errors += t.error_lines;
        self.baseline_rate += t.error_lines as f64 / span_secs;
        for (template, g) in t.by_template() {
            let full = self.baseline.len() >= MAX_GROUPS;
            let Some(id) = self.place(&template).filter(|id| !full || self.baseline.contains_key(id)) else {
                self.baseline_other = true;
                continue;
            };
            let have = self.baseline.entry(id).or_insert((0, 0.0));
            have.0 += g.count;
            have.1 += g.count as f64 / span_secs;
        }
    }

    /// The window's groups by template text, with their baseline counts
    /// and rates (two region templates may read the same).
    fn merged(&self) -> HashMap<String, (Group, u64, f64)> {
        let mut out: HashMap<String, (Group, u64, f64)> = HashMap::new();
        for (id, g) in &self.window {
            let (count, rate) = self.baseline.get(id).copied().unwrap_or((0, 0.0));
            let template = self.miner.template(*id);
            match out.get_mut(&template) {
                Some(have) => {
                    have.0.merge(g);
                    have.1 += count;
                    have.2 += rate;
                }
                None => {
                    out.insert(template, (g.clone(), count, rate));
                }
            }
        }
        out
    }

    pub fn conclude(&self, rule: &Rule, window_secs: f64) -> Conclusion {
        let has_baseline = self.baselines > 0;
        let window_secs = window_secs.max(1.0);
        let mut sigs: Vec<(f64, ErrorSignature)> = self
            .merged()
            .into_iter()
            .map(|(template, (g, baseline_count, rate))| {
                // Absent from a baseline whose groups all fit: it is new. When
                // they overflowed, absence proves nothing.
                let new = has_baseline && baseline_count == 0 && !self.baseline_other;
                let sig = ErrorSignature {
                    pattern: sanitize::clean(&template, 160),
                    example: g.example,
                    window_count: g.count,
                    baseline_count,
                    baseline_rate_per_min: per_minute(rate),
                    new,
                    first_seen: g.first,
                    last_seen: g.last,
                };
                (g.count as f64 - rate * window_secs, sig)
            })
            .collect();
        if self.window_other > 0 {
            let sig = ErrorSignature {
                pattern: OTHER.into(),
                example: String::new(),
                window_count: self.window_other,
                baseline_count: 0,
                baseline_rate_per_min: 0.0,
                new: false,
                first_seen: None,
                last_seen: None,
            };
            sigs.push((f64::MIN, sig));
        }
        let new_signature_max = sigs.iter().filter(|(_, s)| s.new).map(|(_, s)| s.window_count).max().unwrap_or(0);
        // What made the verdict first (a new signature past min_errors), then
        // by how far each is above its usual count in a window.
        let triggers = |s: &ErrorSignature| s.new && s.window_count >= rule.min_errors;
        sigs.sort_by(|(ea, a), (eb, b)| {
            triggers(b)
                .cmp(&triggers(a))
                .then(eb.total_cmp(ea))
                .then(b.window_count.cmp(&a.window_count))
                .then_with(|| a.pattern.cmp(&b.pattern))
        });
        sigs.truncate(TOP_SIGNATURES);
        let baseline_rate = has_baseline.then_some(self.baseline_rate);
        let evidence = Evidence {
            window_errors: self.window_errors,
            window_secs,
            baseline_rate,
            new_signature_max,
            max_pod_errors: self.max_pod_errors,
        };
        Conclusion {
            judgement: judge(rule, &evidence),
            window_rate_per_min: per_minute(self.window_errors as f64 / window_secs),
            baseline_error_lines: self.baseline_errors,
            baseline_rate_per_min: baseline_rate.map(per_minute),
            signatures: sigs.into_iter().map(|(_, s)| s).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier() -> Classifier {
        Classifier::new(&[Regex::new(r"\b(ERROR|FATAL)\b").unwrap(), Regex::new("OutOfMemoryError").unwrap()])
    }

    #[test]
    fn normalizes_numbers_ids_and_timestamps() {
        assert_eq!(
            normalize(
                "2026-01-01T10:00:00.123Z ERROR request 8f14e45f-ceea-467f-a0e6-5d1c0a3b2f11 failed after 3021ms kid=key-17 addr=0xdeadbeef"
            ),
            "request <*> failed after <*> kid=<*> addr=<*>"
        );
        assert_eq!(normalize("ERROR db-7.internal:5432 attempt=2"), normalize("ERROR db-7.internal:5432 attempt=3"));
    }

    #[test]
    fn lines_differing_only_in_their_credentials_are_one_group() {
        let c = classifier();
        let mut t = Tally::default();
        for l in [
            "ERROR rejected token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnYQ for /v1/keys?api_key=AAAA",
            "ERROR rejected token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiIn0.c2lnYg for /v1/keys?api_key=BBBB",
        ] {
            t.feed(&c, l);
        }
        let top = t.top(5);
        assert_eq!(top.len(), 1, "{top:?}");
        assert_eq!(top[0].count, 2);
        assert_eq!(top[0].pattern, "rejected token eyJhbGc…[masked] for /<*>/keys?api_key=[masked]");
        assert!(!top[0].example.contains("AAAA") && top[0].example.contains("api_key=[masked]"), "{top:?}");
    }

    #[test]
    fn stack_frames_are_not_errors_and_groups_count() {
        let c = classifier();
        let mut t = Tally::default();
        for l in [
            "INFO ok",
            "ERROR failed to load keys attempt=1",
            "\tat com.example.Signer.sign(Signer.java:88)",
            "    at ERROR-looking frame",
            "ERROR failed to load keys attempt=2",
            "FATAL java.lang.OutOfMemoryError: Java heap space",
        ] {
            t.feed(&c, l);
        }
        assert_eq!((t.lines, t.error_lines), (6, 3));
        let top = t.top(5);
        assert_eq!(top[0].count, 2);
        assert_eq!(top[0].pattern, "failed to load keys attempt=<*>");
        assert_eq!(top[1].count, 1);
    }

    #[test]
    fn groups_are_bounded() {
        let c = classifier();
        let mut t = Tally::default();
        for i in 0..(MAX_GROUPS * 3) {
            let word: String = (0..6).map(|k| (b'a' + ((i >> (k * 3)) % 8) as u8) as char).collect();
            t.feed(&c, &format!("ERROR {word}"));
        }
        assert_eq!(t.miner.len(), MAX_GROUPS);
        assert_eq!(t.error_lines, (MAX_GROUPS * 3) as u64);
        assert!(t.top(10).iter().any(|g| g.pattern == "(other messages)"));
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_rule_judges_the_window_against_the_baseline() {
        let rule = Rule { min_errors: 5, spike_factor: 3.0, threshold: None };
        // Baseline rates are per second; the window is 300 s, so 0.01/s is 3 per window.
        let ev = |window_errors: u64, baseline_rate: Option<f64>, new_signature_max: u64| Evidence {
            window_errors,
            window_secs: 300.0,
            baseline_rate,
            new_signature_max,
            max_pod_errors: window_errors,
        };
        use Judgement::*;
        let table: [(&str, Evidence, Judgement); 13] = [
            ("no errors", ev(0, Some(0.01), 0), Quiet),
            ("no errors, no baseline", ev(0, None, 0), Quiet),
            ("a few, no baseline", ev(4, None, 0), Steady),
            ("min_errors, no baseline", ev(5, None, 0), NoBaseline),
            ("a few, quiet baseline", ev(4, Some(0.0), 4), Steady),
            ("min_errors, quiet baseline", ev(5, Some(0.0), 0), Spike),
            ("usual rate", ev(8, Some(8.0 / 300.0), 0), Steady),
            ("just under the factor", ev(23, Some(8.0 / 300.0), 0), Steady),
            ("exactly the factor", ev(24, Some(8.0 / 300.0), 0), Spike),
            ("factor but under min_errors", ev(4, Some(1.0 / 300.0), 0), Steady),
            ("a new signature at min_errors", ev(9, Some(8.0 / 300.0), 5), NewError),
            ("a new signature under min_errors", ev(9, Some(8.0 / 300.0), 4), Steady),
            ("new and spike: the new error is named", ev(50, Some(1.0 / 300.0), 40), NewError),
        ];
        for (name, e, want) in table {
            assert_eq!(judge(&rule, &e), want, "{name}");
        }
        // The absolute threshold, when set, warns on its own.
        let with = Rule { threshold: Some(2), ..rule };
        assert_eq!(judge(&with, &Evidence { max_pod_errors: 3, ..ev(3, Some(1.0), 0) }), Threshold);
        assert_eq!(judge(&with, &Evidence { max_pod_errors: 2, ..ev(3, Some(1.0), 0) }), Steady);
        assert_eq!(judge(&rule, &Evidence { max_pod_errors: 3, ..ev(3, Some(1.0), 0) }), Steady);
        assert!(Spike.warns() && NewError.warns() && NoBaseline.warns() && Threshold.warns());
        assert!(!Quiet.warns() && !Steady.warns());
    }

    #[test]
    fn baseline_span_is_the_time_the_read_covered() {
        let read_start = ts("2026-01-01T09:00:00Z");
        let window_start = ts("2026-01-01T10:00:00Z");
        // Container older than the baseline: the whole hour.
        assert_eq!(baseline_span(read_start, Some(ts("2026-01-01T07:00:00Z")), Some(window_start)), 3600.0);
        // Unknown start: from where the read began.
        assert_eq!(baseline_span(read_start, None, Some(window_start)), 3600.0);
        // Started 20 minutes before now (15 before the window).
        assert_eq!(baseline_span(read_start, Some(ts("2026-01-01T09:45:00Z")), Some(window_start)), 900.0);
        // Started inside the window: no baseline.
        assert_eq!(baseline_span(read_start, Some(ts("2026-01-01T10:02:00Z")), Some(window_start)), 0.0);
        // Cut at the last line read, 3 minutes in.
        assert_eq!(baseline_span(read_start, None, Some(ts("2026-01-01T09:03:00Z"))), 180.0);
        // Cut before a single line was read.
        assert_eq!(baseline_span(read_start, None, None), 0.0);
    }

    #[test]
    fn baseline_read_counts_only_lines_before_the_window_and_knows_where_it_ended() {
        let c = classifier();
        let window_start = ts("2026-01-01T10:00:00Z");
        let mut b = BaselineRead::new(window_start);
        assert!(b.feed(&c, "2026-01-01T09:10:00.000000001Z ERROR upstream timeout after 3000ms"));
        assert!(b.feed(&c, "no timestamp: cannot be placed"));
        assert!(b.feed(&c, "2026-01-01T09:20:00Z INFO ok"));
        assert_eq!((b.tally.lines, b.tally.error_lines), (2, 1));
        assert_eq!(b.tally.top(1)[0].pattern, "upstream timeout after <*>");
        assert_eq!(b.tally.top(1)[0].first_seen, Some(ts("2026-01-01T09:10:00.000000001Z")));
        assert!(!b.reached_window());
        // Cut by a limit here: the time covered ends at the last line read.
        assert_eq!(b.covered_until(true), Some(ts("2026-01-01T09:20:00Z")));
        // The stream ended by itself: nothing more was logged before the window.
        assert_eq!(b.covered_until(false), Some(window_start));
        assert!(!b.feed(&c, "2026-01-01T10:00:00Z ERROR in the window"));
        assert!(b.reached_window());
        assert_eq!(b.tally.error_lines, 1);
        assert_eq!(b.covered_until(true), Some(window_start));
        assert_eq!(BaselineRead::new(window_start).covered_until(true), None);
        assert_eq!(split_timestamp("2026-01-01T09:20:00+02:00 x y"), Some((ts("2026-01-01T07:20:00Z"), "x y")));
        assert_eq!(split_timestamp("2026-01-01T09:20:00Z"), Some((ts("2026-01-01T09:20:00Z"), "")));
    }

    fn tally(lines: &[(&str, u64)]) -> Tally {
        let c = classifier();
        let mut t = Tally::default();
        for (line, n) in lines {
            for _ in 0..*n {
                t.feed(&c, line);
            }
        }
        t
    }

    #[test]
    fn region_rates_and_signatures_merge_pods() {
        let rule = Rule { min_errors: 5, spike_factor: 3.0, threshold: None };
        let mut r = RegionTally::default();
        // Two pods with an hour of baseline, 12 timeouts each; one with 20 minutes, 4.
        for (n, span) in [(12, 3600.0), (12, 3600.0), (4, 1200.0)] {
            r.add_baseline(&tally(&[("ERROR upstream timeout after 3000ms", n), ("INFO ok", 100)]), span, 300.0);
        }
        // A container that started just before the window: left out.
        r.add_baseline(&tally(&[("ERROR refused 1", 9)]), 120.0, 300.0);
        r.add_window(&tally(&[("ERROR upstream timeout after 2000ms", 2)]));
        r.add_window(&tally(&[("ERROR upstream timeout after 10ms", 1), ("ERROR signing key kid=7 not found", 6)]));
        let c = r.conclude(&rule, 300.0);
        assert_eq!(c.baseline_error_lines, 28);
        // 12/60 + 12/60 + 4/20 lines a minute.
        assert_eq!(c.baseline_rate_per_min, Some(0.6));
        assert_eq!(c.window_rate_per_min, 1.8);
        assert_eq!(c.judgement, Judgement::NewError);
        let first = &c.signatures[0];
        assert_eq!(first.pattern, "signing key kid=<*> not found");
        assert!(first.new);
        assert_eq!((first.window_count, first.baseline_count), (6, 0));
        let timeout = &c.signatures[1];
        assert_eq!(timeout.pattern, "upstream timeout after <*>");
        assert!(!timeout.new);
        assert_eq!((timeout.window_count, timeout.baseline_count), (3, 28));
        assert_eq!(timeout.baseline_rate_per_min, 0.6);

        // The same window against no usable baseline.
        let mut none = RegionTally::default();
        none.add_baseline(&tally(&[("ERROR refused 1", 9)]), 120.0, 300.0);
        none.add_window(&tally(&[("ERROR signing key kid=7 not found", 6)]));
        let c = none.conclude(&rule, 300.0);
        assert_eq!(c.baseline_rate_per_min, None);
        assert_eq!(c.judgement, Judgement::NoBaseline);
        assert!(!c.signatures[0].new, "nothing is new without a baseline");
    }

    #[test]
    fn region_signatures_are_bounded_and_absence_from_a_full_baseline_is_not_new() {
        let rule = Rule { min_errors: 5, spike_factor: 3.0, threshold: None };
        let word = |i: usize| -> String { (0..6).map(|k| (b'a' + ((i >> (k * 3)) % 8) as u8) as char).collect() };
        let c = classifier();
        let mut base = Tally::default();
        for i in 0..(MAX_GROUPS + 10) {
            base.feed(&c, &format!("ERROR {}", word(i)));
        }
        let mut r = RegionTally::default();
        r.add_baseline(&base, 3600.0, 300.0);
        let mut w = Tally::default();
        for _ in 0..5 {
            w.feed(&c, "ERROR never seen before");
        }
        for i in 0..(MAX_GROUPS * 2) {
            w.feed(&c, &format!("ERROR {}", word(i + 100_000)));
        }
        r.add_window(&w);
        let out = r.conclude(&rule, 300.0);
        assert_eq!(out.signatures.len(), TOP_SIGNATURES);
        assert_eq!(out.signatures[0].pattern, "never seen before");
        assert!(out.signatures.iter().all(|s| !s.new));
        assert_ne!(out.judgement, Judgement::NewError);
    }

    fn fed(lines: &[&str]) -> Tally {
        let c = classifier();
        let mut t = Tally::default();
        for l in lines {
            t.feed(&c, l);
        }
        t
    }

    #[test]
    fn structured_levels_decide_and_errors_group_by_template() {
        let t = fed(&[
            r#"{"level":"info","msg":"ERROR budget at 3%"}"#,
            r#"{"level":"error","msg":"load keys","error":"dial tcp 10.0.0.7:5432: connection refused"}"#,
            r#"{"level":"error","msg":"load keys","error":"dial tcp 10.0.0.9:5432: connection refused"}"#,
            r#"level=error msg="signing failed" kid=key-7"#,
            r#"level=info msg="retrying after ERROR""#,
            "E1204 12:00:00.123456       1 sync.go:88] failed to sync keys: timeout after 3s",
            "I1204 12:00:00.123456       1 sync.go:88] ERROR in a message",
        ]);
        assert_eq!((t.lines, t.error_lines), (7, 4));
        let top = t.top(5);
        assert_eq!(top[0].pattern, "load keys: dial tcp <*>: connection refused");
        assert_eq!(top[0].count, 2);
        let patterns: Vec<&str> = top.iter().map(|g| g.pattern.as_str()).collect();
        assert!(patterns.contains(&"signing failed") && patterns.contains(&"failed to sync keys: timeout after <*>"));
        // Most entries were JSON.
        assert_eq!(t.format(), Some("json"));
        assert_eq!(Tally::default().format(), None);
        assert_eq!(fed(&["level=info msg=a", "level=warn msg=b", "plain"]).format(), Some("logfmt"));
    }

    #[test]
    fn a_stack_is_one_error_entry() {
        let java = fed(&[
            "2026-11-26 03:04:05 ERROR [main] Keys: load failed",
            "\tat com.acme.Keys.load(Keys.java:12)",
            "Caused by: java.net.ConnectException: refused",
            "\tat java.net.Socket.connect(Socket.java:1)",
            "\t... 12 more",
            "2026-11-26 03:04:06 INFO [main] Keys: retry",
        ]);
        assert_eq!((java.lines, java.error_lines), (6, 1));
        // An exception nothing caught, after an info line: one error, its frames and cause included.
        let uncaught = fed(&[
            "INFO signer ready",
            "Exception in thread \"pool-1\" java.lang.IllegalStateException: signer closed (id=0)",
            "\tat com.example.keys.Signer.sign(Signer.java:88)",
            "Caused by: java.io.IOException: broken pipe",
            "\t... 3 more",
            "INFO next",
        ]);
        assert_eq!((uncaught.lines, uncaught.error_lines), (6, 1));
        assert_eq!(uncaught.top(1)[0].pattern, "java.lang.IllegalStateException: signer closed (id=<*>)");
        let python = fed(&[
            "Traceback (most recent call last):",
            "  File \"app.py\", line 3, in <module>",
            "    load()",
            "ValueError: no keys for tenant 42",
            "INFO next",
        ]);
        assert_eq!(python.error_lines, 1);
        // After an info line, a traceback is an error of its own; after an
        // error line, it is that error's.
        let after_info =
            fed(&["INFO rotating", "Traceback (most recent call last):", "  File \"a.py\"", "KeyError: 'k'"]);
        assert_eq!((after_info.error_lines, after_info.top(1)[0].pattern.as_str()), (1, "KeyError: 'k'"));
        let after_error = fed(&["ERROR rotate failed", "Traceback (most recent call last):", "KeyError: 'k'"]);
        assert_eq!((after_error.error_lines, after_error.top(1)[0].pattern.as_str()), (1, "rotate failed"));
        let top = python.top(5);
        assert_eq!((top.len(), top[0].pattern.as_str(), top[0].count), (1, "ValueError: no keys for tenant <*>", 1));
        let go = fed(&[
            "panic: runtime error: invalid memory address or nil pointer dereference",
            "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x49a1b2]",
            "",
            "goroutine 1 [running]:",
            "main.(*Loader).load(0x0)",
            "\t/src/keys/load.go:88 +0x12",
            "exit status 2",
        ]);
        assert_eq!((go.lines, go.error_lines), (7, 1));
        // A window that starts inside a stack: the stray frame is no error.
        assert_eq!(fed(&["    at ERROR-looking frame"]).error_lines, 0);
    }

    #[test]
    fn groups_know_when_they_were_seen_and_mask_secrets() {
        let t = fed(&[
            r#"2026-01-01T10:01:00Z {"level":"error","msg":"login failed","password":"hunter2","user":"u-1"}"#,
            r#"2026-01-01T10:03:00Z {"level":"error","msg":"login failed","password":"hunter3","user":"u-2"}"#,
            "2026-01-01T10:02:00Z ERROR token rejected api_key=AAAAsecret",
        ]);
        let top = t.top(5);
        assert_eq!(top[0].pattern, "login failed");
        assert_eq!(top[0].first_seen, Some(ts("2026-01-01T10:01:00Z")));
        assert_eq!(top[0].last_seen, Some(ts("2026-01-01T10:03:00Z")));
        assert!(!top[0].example.contains("hunter") && top[0].example.contains("[masked]"), "{top:?}");
        assert!(top.iter().all(|g| !g.pattern.contains("AAAA") && !g.example.contains("AAAA")), "{top:?}");
    }

    #[test]
    fn normalize_is_the_template_of_one_line() {
        assert_eq!(normalize("ERROR connection to db-7.internal:5432 refused"), "connection to <*> refused");
        assert_eq!(normalize(r#"{"level":"error","msg":"load keys","error":"timeout"}"#), "load keys: timeout");
    }

    #[test]
    fn region_templates_merge_narrower_and_wider_ones() {
        let rule = Rule { min_errors: 2, spike_factor: 3.0, threshold: None };
        let mut r = RegionTally::default();
        // One pod's baseline saw only root, so its template is narrower.
        r.add_baseline(&tally(&[("ERROR session refused for user root by policy", 10)]), 3600.0, 300.0);
        r.add_window(&tally(&[
            ("ERROR session refused for user admin by policy", 1),
            ("ERROR session refused for user ops by policy", 1),
        ]));
        let c = r.conclude(&rule, 300.0);
        assert_eq!(c.signatures.len(), 1, "{:?}", c.signatures);
        assert_eq!(c.signatures[0].pattern, "session refused for user <*> by policy");
        assert!(!c.signatures[0].new);
        assert_eq!(c.signatures[0].baseline_count, 10);
    }

    #[tokio::test]
    async fn reading_stops_when_asked_and_counts_bytes() {
        let input = "one\ntwo\r\nthree\nfour\n";
        let mut seen = vec![];
        let bytes = for_each_line::<_, (), _>(futures::io::Cursor::new(input), None, |l| {
            seen.push(l.to_string());
            if l == "three" { Flow::Stop } else { Flow::Next(None) }
        })
        .await
        .unwrap();
        assert_eq!(seen, ["one", "two", "three"]);
        assert_eq!(bytes, "one\ntwo\r\nthree\n".len() as u64);
        let all =
            for_each_line::<_, (), _>(futures::io::Cursor::new("a\nb"), None, |_| Flow::Next(None)).await.unwrap();
        assert_eq!(all, 3);
    }

    #[tokio::test]
    async fn reads_lines_with_caps_and_invalid_utf8() {
        let c = classifier();
        let mut t = Tally::default();
        let long = "x".repeat(MAX_LINE_BYTES * 3);
        let input = format!("INFO a\r\nERROR \u{1b}[31mred\nbad \u{fffd}\n{long}\nlast without newline");
        let mut bytes = input.into_bytes();
        bytes.extend_from_slice(b"\xff\n");
        let (tx, mut rx) = tokio::sync::mpsc::channel(100);
        read_lines(futures::io::Cursor::new(bytes), &c, &mut t, Some(&tx), |l: &str, _| Some(l.len())).await.unwrap();
        drop(tx);
        let mut seen = vec![];
        while let Some(n) = rx.recv().await {
            seen.push(n);
        }
        assert_eq!(seen.len(), 5);
        assert_eq!(t.lines, 5);
        assert_eq!(t.error_lines, 1);
        assert!(seen.iter().all(|&n| n <= MAX_LINE_BYTES + 20), "{seen:?}");
    }
}
