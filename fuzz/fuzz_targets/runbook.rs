#![no_main]
//! Any text as a runbook: parse errors, never a panic.
use keysvc_check::runbook::{Source, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse(&Source { name: "fuzz.yaml".into(), text: text.into() });
    }
});
