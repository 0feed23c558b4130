//! Step 3: reading a container's recent logs as a stream, counting error lines
//! and grouping like ones (numbers, ids and timestamps normalised). Memory is
//! bounded whatever the volume: lines are read one at a time with a length
//! cap, and only counts, a bounded set of groups and one example each are kept.

use std::collections::HashMap;
use std::sync::LazyLock;

use futures::{AsyncBufRead, AsyncBufReadExt};
use regex::{Regex, RegexSet};

use crate::report::ErrorGroup;
use crate::sanitize;

/// Longest line kept; the rest of a longer line is skipped.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Distinct error groups tracked per pod; further new groups are counted as "other".
const MAX_GROUPS: usize = 500;
/// Error groups shown per pod.
pub const TOP_GROUPS: usize = 5;

/// Decides which lines are errors.
#[derive(Debug, Clone)]
pub struct Classifier {
    set: RegexSet,
}

impl Classifier {
    pub fn new(patterns: &[Regex]) -> Classifier {
        let set = RegexSet::new(patterns.iter().map(Regex::as_str)).expect("patterns were compiled once already");
        Classifier { set }
    }

    /// Whether `line` is an error line. Indented lines (stack frames) are
    /// continuations of the line before, never errors of their own.
    pub fn is_error(&self, line: &str) -> bool {
        !line.starts_with([' ', '\t']) && self.set.is_match(line)
    }
}

static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?\s*").expect("valid")
});
static VARIABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b0x[0-9a-f]+\b|\b[0-9a-f]*\d[0-9a-f]*\b|\d+").expect("valid")
});

/// The shape of an error line: credentials masked (so lines differing only
/// in their token are one group), timestamp dropped, numbers and ids as `#`.
pub fn normalize(line: &str) -> String {
    let line = crate::mask::apply(line);
    let line = TIMESTAMP.replace(&line, "");
    VARIABLE.replace_all(&line, "#").chars().take(160).collect()
}

/// Counts for one stream of lines.
#[derive(Debug, Default)]
pub struct Tally {
    pub lines: u64,
    pub error_lines: u64,
    groups: HashMap<String, (u64, String)>,
    other: u64,
}

impl Tally {
    /// Counts one line; returns whether it is an error line.
    pub fn feed(&mut self, classifier: &Classifier, line: &str) -> bool {
        self.lines += 1;
        if !classifier.is_error(line) {
            return false;
        }
        self.error_lines += 1;
        let key = normalize(line);
        let full = self.groups.len() >= MAX_GROUPS;
        match self.groups.get_mut(&key) {
            Some(g) => g.0 += 1,
            None if full => self.other += 1,
            None => {
                self.groups.insert(key, (1, sanitize::clean(line, 300)));
            }
        }
        true
    }

    /// The most frequent groups, most first (ties by pattern for stable output).
    pub fn top(&self, n: usize) -> Vec<ErrorGroup> {
        let mut all: Vec<ErrorGroup> = self
            .groups
            .iter()
            .map(|(k, (count, example))| ErrorGroup {
                pattern: sanitize::clean(k, 160),
                count: *count,
                example: example.clone(),
            })
            .collect();
        if self.other > 0 {
            all.push(ErrorGroup { pattern: "(other messages)".into(), count: self.other, example: String::new() });
        }
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.pattern.cmp(&b.pattern)));
        all.truncate(n);
        all
    }
}

/// Reads `reader` line by line into `tally`. Each line (lossy UTF-8,
/// length-capped) is offered to `each`; what it returns is sent to `tx`,
/// waiting when the receiver is behind. Lines longer than
/// [`MAX_LINE_BYTES`] are cut.
pub async fn read_lines<R, T, F>(
    mut reader: R,
    classifier: &Classifier,
    tally: &mut Tally,
    tx: Option<&tokio::sync::mpsc::Sender<T>>,
    mut each: F,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    F: FnMut(&str, bool) -> Option<T>,
{
    let mut line: Vec<u8> = Vec::with_capacity(1024);
    let mut overlong = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            if !line.is_empty() {
                let text = String::from_utf8_lossy(&line).into_owned();
                let is_err = tally.feed(classifier, &text);
                if let Some(tx) = tx
                    && let Some(item) = each(&text, is_err)
                {
                    let _ = tx.send(item).await;
                }
            }
            return Ok(());
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
        if complete {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let mut text = String::from_utf8_lossy(&line).into_owned();
            if overlong {
                text.push_str(" …[line cut]");
            }
            let is_err = tally.feed(classifier, &text);
            // `each` cleans and masks the line: only worth it when it is shown.
            if let Some(tx) = tx
                && let Some(item) = each(&text, is_err)
            {
                let _ = tx.send(item).await;
            }
            line.clear();
            overlong = false;
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
            "ERROR request # failed after #ms kid=key-# addr=#"
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
        assert_eq!(top[0].pattern, "ERROR rejected token eyJhbGc…[masked] for /v#/keys?api_key=[masked]");
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
        assert_eq!(top[0].pattern, "ERROR failed to load keys attempt=#");
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
        assert_eq!(t.groups.len(), MAX_GROUPS);
        assert_eq!(t.error_lines, (MAX_GROUPS * 3) as u64);
        assert!(t.top(10).iter().any(|g| g.pattern == "(other messages)"));
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
