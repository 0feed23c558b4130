#![no_main]
//! Any bytes as a log stream: counted, grouped, masked and made safe, never a
//! panic. Masking leaves no JWT-shaped token and changes nothing when run
//! again. Each line is also read on its own (the quick judgement agrees with
//! the full read on every line that is no JSON object), assembled into entries (every line lands in exactly one)
//! and mined (templates stay within their cap).
use keysvc_check::evidence::logs::entry::{Assembler, Limits};
use keysvc_check::evidence::logs::format::{Overrides, Reader};
use keysvc_check::evidence::logs::template::{Miner, MinerConfig};
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

/// The reader, assembler and miner on their own, line by line.
fn check_parts(lines: &[String]) {
    let reader = Reader::new(Overrides::default(), regex::RegexSet::new([r"\b(ERROR|FATAL)\b"]).unwrap());
    let mut entries = Assembler::new(Limits { max_lines: 8, max_bytes: 256 });
    let mut miner = Miner::new(MinerConfig { max_templates: 8, ..MinerConfig::default() });
    let mut assembled = 0;
    for line in lines {
        let (entry, error) = reader.classify(line);
        // The quick scan of a JSON object is more lenient than the parser
        // (a malformed object, duplicate keys); every other shape agrees.
        let judged = reader.judge(line);
        assert!(line.contains('{') || judged == (entry.format, error), "{line:?}: {judged:?}");
        miner.add(&entry.message);
        assembled += entries.push(line).map_or(0, |b| b.lines);
    }
    assembled += entries.finish().map_or(0, |b| b.lines);
    assert_eq!(assembled, lines.len());
    assert!(miner.len() <= 8);
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
    let mut raws = vec![];
    while let Ok((line, raw)) = rx.try_recv() {
        assert!(!line.chars().any(char::is_control));
        // Shown lines are masked (the cap may cut a JWT's masked form, never
        // leave one whole).
        assert!(!JWT.is_match(&line), "a JWT is shown in {line:?}");
        // A group's pattern is shown cleaned, as `Tally::top` does.
        assert!(!JWT.is_match(&clean(&normalize(&raw), 160)), "a JWT is in the group of {raw:?}");
        raws.push(raw);
    }
    check_parts(&raws);
    assert!(tally.error_lines <= tally.lines);
    for g in tally.top(5) {
        assert!(!JWT.is_match(&g.pattern) && !JWT.is_match(&g.example), "{g:?}");
    }
});
