#![no_main]
//! Any status and body as a healthz reply: judged, never a panic, and what is
//! kept for display carries no control characters.
use keysvc_check::evidence::healthz::{blank, evaluate};
use keysvc_check::runbook::HealthzSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = u16::from_le_bytes([data[0], data[1]]) % 600;
    let url = "https://key-service.example.com/healthz";
    let mut out = blank(url);
    evaluate(&mut out, status, Some(String::from_utf8_lossy(data).into_owned()), &data[2..], false, url, &HealthzSpec::default());
    if let Some(b) = &out.body_excerpt {
        assert!(!b.chars().any(char::is_control));
    }
    for p in &out.problems {
        assert!(!p.chars().any(|c| c.is_control() && c != '\n'));
    }
});
