//! The loghub benchmark for one system directory (`tests/bench/loghub.sh`
//! runs it per system and sums up): group accuracy of the template miner on
//! the `Content` column, error-line precision and recall of the format
//! reader on the raw lines against the `Level` column where there is one,
//! lines per second of both, and the process's peak RSS. Prints one
//! tab-separated row: name, lines, GA, templates, truth templates, TP, FP,
//! FN (`-` without levels), lines/s, peak RSS KiB.

use std::collections::HashMap;
use std::time::Instant;

use keysvc_check::evidence::logs::format::{Overrides, Reader};
use keysvc_check::evidence::logs::template::{Miner, MinerConfig, TemplateId};
use regex::RegexSet;

/// The levels counted as errors in the `Level` column.
const ERROR_LEVELS: &[&str] = &["ERROR", "FATAL", "SEVERE", "CRITICAL", "CRIT", "EMERG", "ALERT", "PANIC", "E", "F"];
/// Rounds of the whole file for the lines-per-second figure.
const ROUNDS: usize = 50;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: loghub DIR");
    let name = std::path::Path::new(&dir).file_name().and_then(|n| n.to_str()).expect("a directory name").to_string();
    let csv = std::fs::read_to_string(format!("{dir}/{name}_2k.log_structured.csv")).expect("the structured csv");
    let raw = std::fs::read_to_string(format!("{dir}/{name}_2k.log")).expect("the raw log");
    let rows = parse_csv(&csv);
    let (header, rows) = rows.split_first().expect("a header row");
    let col = |n: &str| header.iter().position(|h| h == n);
    let (content, event) = (col("Content").expect("Content"), col("EventId").expect("EventId"));
    let raw_lines: Vec<&str> = raw.lines().collect();
    assert_eq!(raw_lines.len(), rows.len(), "{name}: raw lines and csv rows differ");

    let mut miner = Miner::new(MinerConfig::default());
    let predicted: Vec<TemplateId> = rows.iter().map(|r| miner.add(&r[content])).collect();
    let truth: Vec<&str> = rows.iter().map(|r| r[event].as_str()).collect();
    let ga = group_accuracy(&predicted, &truth);
    let truth_templates = truth.iter().collect::<std::collections::HashSet<_>>().len();

    // The default error patterns of a runbook, for lines without a level.
    let reader =
        Reader::new(Overrides::default(), RegexSet::new([r"\b(ERROR|FATAL|PANIC|CRITICAL)\b"]).expect("valid"));
    let counts = col("Level").map(|level| {
        let (mut tp, mut fp, mut fal) = (0u64, 0u64, 0u64);
        for (line, row) in raw_lines.iter().zip(rows) {
            // The logs step's fast path (it agrees with the full read).
            let said = reader.judge(line).1;
            let is = ERROR_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(row[level].trim()));
            match (said, is) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fal += 1,
                _ => {}
            }
        }
        (tp, fp, fal)
    });

    // Throughput: classification of the raw line and mining of its message.
    let start = Instant::now();
    let mut errors = 0u64;
    for _ in 0..ROUNDS {
        let mut miner = Miner::new(MinerConfig::default());
        for line in &raw_lines {
            let (entry, error) = reader.classify(line);
            errors += u64::from(error);
            std::hint::black_box(miner.add(&entry.message));
        }
    }
    std::hint::black_box(errors);
    let per_sec = (ROUNDS * raw_lines.len()) as f64 / start.elapsed().as_secs_f64();

    let (tp, fp, fal) = match counts {
        Some((a, b, c)) => (a.to_string(), b.to_string(), c.to_string()),
        None => ("-".into(), "-".into(), "-".into()),
    };
    println!(
        "{name}\t{}\t{ga:.3}\t{}\t{truth_templates}\t{tp}\t{fp}\t{fal}\t{per_sec:.0}\t{}",
        rows.len(),
        miner.len(),
        peak_rss_kib()
    );
}

/// GA: a line is right when its predicted group holds exactly the lines of
/// its ground-truth group.
fn group_accuracy(predicted: &[TemplateId], truth: &[&str]) -> f64 {
    let mut truth_size: HashMap<&str, usize> = HashMap::new();
    for t in truth {
        *truth_size.entry(t).or_default() += 1;
    }
    let mut groups: HashMap<TemplateId, Vec<usize>> = HashMap::new();
    for (i, p) in predicted.iter().enumerate() {
        groups.entry(*p).or_default().push(i);
    }
    let right: usize = groups
        .values()
        .filter(|lines| {
            let first = truth[lines[0]];
            lines.iter().all(|&i| truth[i] == first) && truth_size[first] == lines.len()
        })
        .map(Vec::len)
        .sum();
    right as f64 / truth.len() as f64
}

/// Rows of a CSV text with quoted fields (`""` for a quote inside one).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field, mut quoted) = (Vec::new(), Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The process's peak resident set (VmHWM), KiB; 0 where /proc is absent.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches(" kB").trim().parse().ok()))
        })
        .flatten()
        .unwrap_or(0)
}
