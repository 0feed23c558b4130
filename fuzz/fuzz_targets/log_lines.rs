#![no_main]
//! Any bytes as a log stream: counted, grouped, masked and made safe, never a
//! panic. Masking leaves no JWT-shaped token and changes nothing when run
//! again.
use keysvc_check::evidence::logs::{Classifier, Tally, normalize, read_lines};
use keysvc_check::mask::mask;
use keysvc_check::sanitize::clean;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static CLASSIFIER: LazyLock<Classifier> =
    LazyLock::new(|| Classifier::new(&[regex::Regex::new(r"\b(ERROR|FATAL)\b").unwrap()]));

/// A JWT as the masker's documentation defines it, written independently of
/// the masker's own pattern: `eyJ` at an ASCII word boundary, then a second
/// segment.
static JWT: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?-u:\b)eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.").unwrap());

fn check_mask(line: &str) {
    let once = mask(line);
    assert!(!JWT.is_match(&once), "a JWT is left in {once:?} (from {line:?})");
    assert_eq!(mask(&once), once, "masking twice changed {line:?}");
}

fuzz_target!(|data: &[u8]| {
    let classifier = &*CLASSIFIER;
    let mut tally = Tally::default();
    // Room for every line the input can hold, so sending never waits.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, String)>(data.len() + 1);
    futures::executor::block_on(read_lines(
        futures::io::Cursor::new(data),
        classifier,
        &mut tally,
        Some(&tx),
        |l, _| {
            check_mask(l);
            Some((clean(l, 4096), l.to_string()))
        },
    ))
    .unwrap();
    drop(tx);
    while let Ok((line, raw)) = rx.try_recv() {
        assert!(!line.chars().any(char::is_control));
        // Shown lines are masked (the cap may cut a JWT's masked form, never
        // leave one whole).
        assert!(!JWT.is_match(&line), "a JWT is shown in {line:?}");
        // A group's pattern is shown cleaned, as `Tally::top` does.
        assert!(!JWT.is_match(&clean(&normalize(&raw), 160)), "a JWT is in the group of {raw:?}");
    }
    assert!(tally.error_lines <= tally.lines);
    for g in tally.top(5) {
        assert!(!JWT.is_match(&g.pattern) && !JWT.is_match(&g.example), "{g:?}");
    }
});
