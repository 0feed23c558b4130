//! Log classification throughput: a log read's bytes through the reader the
//! tool uses (`read_lines` for the window: split into lines, is each an
//! error, and if so its normalised group; `for_each_line` with a
//! `BaselineRead` for the baseline's timestamped lines), from memory, so
//! only the CPU is measured. Lines are shaped like the service's, with one
//! error in 100 (an ordinary window) and one in 5 (an incident).
//! Throughput is bytes of log per second on one core.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::executor::block_on;
use futures::io::Cursor;
use keysvc_check::evidence::logs::{BaselineRead, Classifier, Flow, Tally, for_each_line, read_lines};
use regex::Regex;

/// `count` lines as the kubelet sends them (with `timestamps`, an RFC 3339
/// time first); every `error_every`-th an ERROR of one of a few kinds.
fn log(count: usize, error_every: usize, timestamps: bool) -> Vec<u8> {
    let errors = [
        "ERROR upstream timeout after 3000ms calling auth-7 request_id=req-{n}",
        "ERROR failed to load signing keys: connection refused (db-7.internal:5432) attempt={n}",
        "ERROR token validation failed for key kid=7f3a{n} Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ7bn0ifQ.c2lnbmF0dXJl",
    ];
    (0..count)
        .map(|n| {
            let ts = format!("2026-11-26T03:{:02}:{:02}.{:09}Z", (n / 60) % 60, n % 60, n * 7919 % 1_000_000_000);
            let text = if error_every > 0 && n % error_every == 0 {
                errors[n / error_every % errors.len()].replace("{n}", &n.to_string())
            } else {
                format!(
                    "INFO  [api-key-service-5f6d8-p8w4t] GET /v1/keys/validate 200 {}ms request_id=req-{n:08} tenant=t-{}",
                    3 + n % 17,
                    n % 40
                )
            };
            if timestamps { format!("{ts} {text}\n") } else { format!("{text}\n") }
        })
        .collect::<String>()
        .into_bytes()
}

/// No receiver: lines are counted, not shown (as with `-o json`).
const NO_SINK: Option<&tokio::sync::mpsc::Sender<()>> = None;

fn classification(c: &mut Criterion) {
    let classifier = Classifier::new(&[Regex::new(r"\b(ERROR|FATAL|PANIC)\b").unwrap()]);
    let mut group = c.benchmark_group("classify");
    for (name, error_every) in [("1-in-100-errors", 100), ("1-in-5-errors", 5)] {
        let window = log(10_000, error_every, false);
        group.throughput(Throughput::Bytes(window.len() as u64));
        group.bench_function(format!("window/{name}"), |b| {
            b.iter(|| {
                let mut tally = Tally::default();
                block_on(read_lines(Cursor::new(black_box(&window)), &classifier, &mut tally, NO_SINK, |_, _| None))
                    .unwrap();
                black_box(tally.error_lines)
            })
        });
        let baseline = log(10_000, error_every, true);
        group.throughput(Throughput::Bytes(baseline.len() as u64));
        group.bench_function(format!("baseline/{name}"), |b| {
            b.iter(|| {
                // The window starts after every line: the whole read is baseline.
                let mut read = BaselineRead::new("2026-11-26T05:00:00Z".parse().unwrap());
                block_on(for_each_line(Cursor::new(black_box(&baseline)), NO_SINK, |line| {
                    if read.feed(&classifier, line) { Flow::Next(None) } else { Flow::Stop }
                }))
                .unwrap();
                black_box(read.tally.error_lines)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, classification);
criterion_main!(benches);
