//! Log reading throughput of `evidence::logs`, from memory, on one core:
//! `tally/*` is what the logs step does with each line (`Tally::feed`: the
//! format and level judged without allocating, multi-line entries followed,
//! error entries read in full and placed in their template); and
//! `classify+template/*` reads every line in full and mines every message
//! (the loghub benchmark's path). Lines are shaped like services' logs in
//! three formats (text with a level header, JSON, logfmt), one error in 20.
//! Throughput is lines per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keysvc_check::evidence::logs::format::{Overrides, Reader};
use keysvc_check::evidence::logs::template::{Miner, MinerConfig};
use keysvc_check::evidence::logs::{Classifier, Tally};
use regex::{Regex, RegexSet};

fn lines(count: usize, shape: &str) -> Vec<String> {
    (0..count)
        .map(|n| {
            let (level, msg) = if n % 20 == 0 {
                ("error", format!("failed to load signing keys from db-7.internal:5432 attempt={}", n % 5))
            } else {
                (
                    "info",
                    format!("GET /v1/keys/validate 200 {}ms request_id=req-{n:08} tenant=t-{}", 3 + n % 17, n % 40),
                )
            };
            match shape {
                "json" => {
                    format!(r#"{{"level":"{level}","ts":1764126245.{n},"caller":"keys/load.go:88","msg":"{msg}"}}"#)
                }
                "logfmt" => format!(r#"time=2026-11-26T03:04:05Z level={level} msg="{msg}" component=keys"#),
                _ => format!(
                    "2026-11-26 03:04:05,{:03} {} [main] com.acme.keys.Loader: {msg}",
                    n % 1000,
                    level.to_uppercase()
                ),
            }
        })
        .collect()
}

fn reading(c: &mut Criterion) {
    let reader = Reader::new(Overrides::default(), RegexSet::new([r"\b(ERROR|FATAL|PANIC)\b"]).unwrap());
    let classifier = Classifier::new(&[Regex::new(r"\b(ERROR|FATAL|PANIC)\b").unwrap()]);
    let mut group = c.benchmark_group("log_reading");
    for shape in ["text", "json", "logfmt"] {
        let input = lines(10_000, shape);
        group.throughput(Throughput::Elements(input.len() as u64));
        group.bench_function(format!("tally/{shape}"), |b| {
            b.iter(|| {
                let mut tally = Tally::default();
                for line in &input {
                    tally.feed(&classifier, black_box(line));
                }
                black_box(tally.error_lines)
            })
        });
        group.bench_function(format!("classify+template/{shape}"), |b| {
            b.iter(|| {
                let mut miner = Miner::new(MinerConfig::default());
                let mut errors = 0u32;
                for line in &input {
                    let (entry, error) = reader.classify(black_box(line));
                    errors += u32::from(error);
                    black_box(miner.add(&entry.message));
                }
                black_box(errors)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, reading);
criterion_main!(benches);
