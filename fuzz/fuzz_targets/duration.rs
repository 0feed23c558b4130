#![no_main]
//! Any text as a duration: parsed or refused, never zero, never a panic.
use keysvc_check::duration::parse_duration;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(d) = parse_duration(s)
    {
        assert!(!d.is_zero());
    }
});
