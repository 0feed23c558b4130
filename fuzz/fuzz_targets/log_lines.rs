#![no_main]
//! Any bytes as a log stream: counted, grouped and made safe, never a panic.
use keysvc_check::logs::{Classifier, Tally, normalize, read_lines};
use keysvc_check::sanitize::clean;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static CLASSIFIER: LazyLock<Classifier> =
    LazyLock::new(|| Classifier::new(&[regex::Regex::new(r"\b(ERROR|FATAL)\b").unwrap()]));

fuzz_target!(|data: &[u8]| {
    let classifier = &*CLASSIFIER;
    let mut tally = Tally::default();
    // Room for every line the input can hold, so sending never waits.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(data.len() + 1);
    futures::executor::block_on(read_lines(futures::io::Cursor::new(data), classifier, &mut tally, Some(&tx), |l, _| {
        Some(clean(l, 4096))
    }))
    .unwrap();
    drop(tx);
    while let Ok(line) = rx.try_recv() {
        assert!(!line.chars().any(char::is_control));
        let _ = normalize(&line);
    }
    assert!(tally.error_lines <= tally.lines);
    let _ = tally.top(5);
});
