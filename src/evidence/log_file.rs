//! Saved logs (`logs --file`): lines saved from `kubectl logs`, with or
//! without `--timestamps` and `--prefix`, or exported from a log service,
//! read as the logs step reads a container's: the same reader, entries and
//! templates, with no cluster. A `[pod/NAME/CONTAINER]` prefix names the
//! stream a line belongs to, so that interleaved pods are assembled into
//! entries each on its own; a time in front (RFC 3339) is the line's time.
//! Memory is bounded: lines are streamed, streams are capped at
//! [`MAX_STREAMS`] (the rest counted together) and each stream's templates
//! as the logs step caps them.

use std::collections::{BTreeMap, HashMap};

use futures::AsyncBufRead;
use jiff::Timestamp;
use serde::Serialize;

use super::logs::{Classifier, Flow, Tally, for_each_line, split_timestamp};
use crate::report::ErrorGroup;

/// Streams (`--prefix` pods and containers) counted apart; lines of
/// further ones are counted together under [`OTHER_STREAMS`].
pub const MAX_STREAMS: usize = 64;
/// Error groups shown for the whole file, and per stream.
pub const TOP_ERRORS: usize = 10;
/// The stream of the lines past [`MAX_STREAMS`].
pub const OTHER_STREAMS: &str = "(other streams)";

/// What a file of saved log lines holds.
#[derive(Debug, Clone, Serialize)]
pub struct LogFile {
    pub lines: u64,
    /// Error entries (a stack trace with its frames is one).
    pub error_lines: u64,
    /// Entries per format found (`json`, `logfmt`, `klog`, `text`).
    pub formats: BTreeMap<&'static str, u64>,
    /// Distinct error templates.
    pub templates: usize,
    /// The most frequent error groups, most first.
    pub top_errors: Vec<ErrorGroup>,
    /// Per `[pod/NAME/CONTAINER]` prefix, in order of first line; empty
    /// when the lines carry no prefix.
    pub streams: Vec<StreamLogs>,
}

/// The lines of one prefix.
#[derive(Debug, Clone, Serialize)]
pub struct StreamLogs {
    /// `pod/NAME/CONTAINER` as kubectl wrote it.
    pub stream: String,
    pub lines: u64,
    pub error_lines: u64,
    /// The format most of its entries are in.
    pub format: Option<String>,
    pub top_errors: Vec<ErrorGroup>,
}

/// A file being read: one tally per stream.
pub struct FileRead<'c> {
    classifier: &'c Classifier,
    /// Streams by name, in order of first line (`None`: lines without a prefix).
    tallies: Vec<(Option<String>, Tally)>,
    index: HashMap<Option<String>, usize>,
}

impl<'c> FileRead<'c> {
    pub fn new(classifier: &'c Classifier) -> FileRead<'c> {
        FileRead { classifier, tallies: vec![], index: HashMap::new() }
    }

    /// Counts one line as saved: prefix, time, then the line.
    pub fn feed(&mut self, line: &str) {
        let (stream, rest) = split_prefix(line);
        let (at, text) = split_time(rest);
        let key = stream.map(str::to_string);
        let i = match self.index.get(&key) {
            Some(i) => *i,
            None => {
                let key = if self.tallies.len() >= MAX_STREAMS { Some(OTHER_STREAMS.to_string()) } else { key };
                let i = *self.index.entry(key.clone()).or_insert(self.tallies.len());
                if i == self.tallies.len() {
                    self.tallies.push((key, Tally::default()));
                }
                i
            }
        };
        self.tallies[i].1.feed_at(self.classifier, at, text);
    }

    /// What was read.
    pub fn finish(self) -> LogFile {
        let mut all: Vec<ErrorGroup> = vec![];
        let mut file = LogFile {
            lines: 0,
            error_lines: 0,
            formats: BTreeMap::new(),
            templates: 0,
            top_errors: vec![],
            streams: vec![],
        };
        for (name, t) in &self.tallies {
            file.lines += t.lines;
            file.error_lines += t.error_lines;
            for (format, n) in t.formats() {
                *file.formats.entry(format).or_default() += n;
            }
            let groups = t.top(usize::MAX);
            if let Some(stream) = name {
                let mut top = groups.clone();
                top.truncate(TOP_ERRORS);
                let format = t.format().map(str::to_string);
                file.streams.push(StreamLogs {
                    stream: stream.clone(),
                    lines: t.lines,
                    error_lines: t.error_lines,
                    format,
                    top_errors: top,
                });
            }
            merge(&mut all, groups);
        }
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.pattern.cmp(&b.pattern)));
        file.templates = all.len();
        all.truncate(TOP_ERRORS);
        file.top_errors = all;
        file
    }
}

/// Adds `groups` to `all`, a group of the same template counted once.
fn merge(all: &mut Vec<ErrorGroup>, groups: Vec<ErrorGroup>) {
    for g in groups {
        match all.iter_mut().find(|a| a.pattern == g.pattern) {
            Some(a) => {
                a.count += g.count;
                a.first_seen = match (a.first_seen, g.first_seen) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                };
                a.last_seen = a.last_seen.max(g.last_seen);
            }
            None => all.push(g),
        }
    }
}

/// `[pod/NAME/CONTAINER] rest` as kubectl's `--prefix` writes it: the
/// stream and the rest; the whole line when it has no such prefix.
pub fn split_prefix(line: &str) -> (Option<&str>, &str) {
    let Some(inner) = line.strip_prefix('[') else { return (None, line) };
    let Some((stream, rest)) = inner.split_once("] ") else { return (None, line) };
    let parts = stream.split('/').count();
    if stream.starts_with("pod/") && parts == 3 && !stream.contains(' ') { (Some(stream), rest) } else { (None, line) }
}

/// An RFC 3339 time in front of the line (then a space or a tab), as
/// `kubectl logs --timestamps` and log exports write it.
fn split_time(line: &str) -> (Option<Timestamp>, &str) {
    if let Some((at, text)) = split_timestamp(line) {
        return (Some(at), text);
    }
    match line.split_once('\t') {
        Some((ts, text)) => ts.parse::<Timestamp>().map_or((None, line), |at| (Some(at), text)),
        None => (None, line),
    }
}

/// Reads `reader` to its end (lines cut as the logs step cuts them).
pub async fn read<R: AsyncBufRead + Unpin>(reader: R, classifier: &Classifier) -> std::io::Result<LogFile> {
    let mut file = FileRead::new(classifier);
    for_each_line::<_, (), _>(reader, None, |line| {
        file.feed(line);
        Flow::Next(None)
    })
    .await?;
    Ok(file.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::LogsSpec;

    fn read_all(text: &str) -> LogFile {
        let c = Classifier::of(&LogsSpec::default());
        let mut f = FileRead::new(&c);
        text.lines().for_each(|l| f.feed(l));
        f.finish()
    }

    #[test]
    fn kubectl_prefixes_and_timestamps_are_read_apart_from_the_line() {
        assert_eq!(split_prefix("[pod/api-1/c] x y"), (Some("pod/api-1/c"), "x y"));
        assert_eq!(split_prefix("[error] x"), (None, "[error] x"));
        assert_eq!(split_prefix("[pod/a b/c] x"), (None, "[pod/a b/c] x"));
        let f = read_all(concat!(
            "[pod/a/c] 2026-01-02T03:04:05.000000001Z {\"level\":\"error\",\"msg\":\"db down\",\"attempt\":1}\n",
            "[pod/b/c] 2026-01-02T03:04:06Z ERROR java.lang.IllegalStateException: no keys\n",
            "[pod/a/c] 2026-01-02T03:04:07Z {\"level\":\"info\",\"msg\":\"ERROR budget fine\"}\n",
            "[pod/b/c] 2026-01-02T03:04:07Z \tat com.acme.Main.main(Main.java:5)\n",
            "[pod/a/c] 2026-01-02T03:04:09Z {\"level\":\"error\",\"msg\":\"db down\",\"attempt\":2}\n",
        ));
        assert_eq!((f.lines, f.error_lines), (5, 3));
        assert_eq!(f.formats.get("json"), Some(&3));
        let names: Vec<&str> = f.streams.iter().map(|s| s.stream.as_str()).collect();
        assert_eq!(names, ["pod/a/c", "pod/b/c"]);
        let g = &f.top_errors[0];
        assert_eq!((g.pattern.as_str(), g.count), ("db down", 2));
        assert_eq!(g.first_seen.unwrap().to_string(), "2026-01-02T03:04:05.000000001Z");
        assert_eq!(g.last_seen.unwrap().to_string(), "2026-01-02T03:04:09Z");
    }

    #[test]
    fn lines_without_prefix_or_time_are_one_stream_without_times() {
        let f = read_all(
            "E1204 12:00:00.123456 1 a.go:1] boom 1\nI1204 12:00:01.0 1 a.go:2] ok\nE1204 12:00:02.0 1 a.go:1] boom 2\n",
        );
        assert!(f.streams.is_empty());
        assert_eq!((f.lines, f.error_lines, f.templates), (3, 2, 1));
        assert_eq!(f.top_errors[0].first_seen, None);
    }

    #[test]
    fn streams_past_the_cap_are_counted_together() {
        let text: String = (0..MAX_STREAMS + 5).map(|i| format!("[pod/p{i}/c] ERROR x {i}\n")).collect();
        let f = read_all(&text);
        assert_eq!(f.streams.len(), MAX_STREAMS + 1);
        assert_eq!(f.streams.last().unwrap().stream, OTHER_STREAMS);
        assert_eq!(f.streams.last().unwrap().lines, 5);
        assert_eq!(f.error_lines, MAX_STREAMS as u64 + 5);
    }
}
