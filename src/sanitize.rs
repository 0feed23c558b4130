//! Text from outside (log lines, healthz bodies, server messages) is made safe
//! to show: credentials are masked (see [`crate::mask`]; off with
//! `--no-mask`), control characters are written as escapes so they cannot
//! move the cursor, recolour or retitle the terminal, and length is capped.
//! Every outside string passes here on its way into a report or the output,
//! so every format is covered.

/// Longest text kept from one outside string, in characters.
pub const MAX_CHARS: usize = 512;

/// `s` with credentials masked, control characters escaped and at most
/// `max` characters.
pub fn clean(s: &str, max: usize) -> String {
    // Masked before the cap, so a token cut in half is still recognised.
    let s = &*crate::mask::apply(s);
    let mut out = String::with_capacity(s.len().min(max + 8));
    for (count, c) in s.chars().enumerate() {
        if count >= max {
            out.push('…');
            return out;
        }
        match c {
            '\t' => out.push_str("    "),
            c if c.is_control() || ('\u{80}'..='\u{9f}').contains(&c) => {
                let code = c as u32;
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else {
                    out.push_str(&format!("\\u{{{code:x}}}"));
                }
            }
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Raw bytes (maybe not UTF-8) made safe; invalid bytes become U+FFFD.
pub fn clean_bytes(b: &[u8], max: usize) -> String {
    clean(&String::from_utf8_lossy(b), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls() {
        let s = "\u{1b}[31mred\u{1b}[0m \u{1b}]0;title\u{7} \u{1b}]8;;http://x\u{1b}\\link nul\0 del\u{7f} c1\u{9b}";
        let c = clean(s, 1000);
        assert!(!c.chars().any(|c| c.is_control()), "{c:?}");
        assert!(c.starts_with("\\x1b[31mred"), "{c}");
        assert!(c.contains("nul\\x00"));
        assert!(c.contains("\\x07"));
        assert!(c.contains("c1\\x9b"));
    }

    #[test]
    fn caps_length_and_handles_invalid_utf8() {
        assert_eq!(clean(&"a".repeat(10), 4), "aaaa…");
        assert_eq!(clean_bytes(b"ok \xff\xfe", 100), "ok \u{fffd}\u{fffd}");
        assert_eq!(clean("tab\there", 100), "tab    here");
        assert_eq!(clean("rtl\u{202e}x", 100), "rtl\\u{202e}x");
    }

    #[test]
    fn masks_credentials_before_the_cap() {
        let line = "ERROR db postgres://svc:hunter2@db-7.internal:5432/keys \u{1b}[0m";
        assert_eq!(clean(line, 1000), "ERROR db postgres://svc:[masked]@db-7.internal:5432/keys \\x1b[0m");
        assert_eq!(clean("x password=hunter2hunter2hunter2", 14), "x password=[ma…");
    }
}
