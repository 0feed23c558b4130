//! Durations as people write them: `30s`, `5m`, `1h30m` (and `500ms` where
//! the units allow it), parsed strictly and written back in the same form.
//! The runbook, the command line and the report all read and show durations
//! here, so none of them needs another for it.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `t` to the second it is in (12:50:48.675 is 12:50:48), as every time the
/// tool shows to the second: never a second that had not yet begun.
pub fn whole_second(t: jiff::Timestamp) -> jiff::Timestamp {
    let trunc = jiff::TimestampRound::new().smallest(jiff::Unit::Second).mode(jiff::RoundMode::Trunc);
    t.round(trunc).unwrap_or(t)
}

/// A duration written as `30s`, `5m`, `1h`, `1h30m` (and `500ms` where
/// [`Units::Millis`] allows it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(Dur).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // `5m`, `1h`: what a person writes, and what parse_duration reads back.
        s.serialize_str(&format_duration(self.0))
    }
}

/// The units a duration may be written in. A log window is whole seconds
/// (Kubernetes reads logs `sinceSeconds`); a timeout may be finer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Units {
    /// `s`, `m`, `h`.
    Secs,
    /// `ms`, `s`, `m`, `h`.
    Millis,
}

impl Units {
    fn list(self) -> &'static str {
        match self {
            Units::Secs => "s, m, h",
            Units::Millis => "ms, s, m, h",
        }
    }
}

/// Parses a timeout: `30s`, `5m`, `1h30m`, `500ms`; zero is refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_in(s, Units::Millis)
}

/// Parses a duration written in `units`: whole numbers each followed by its
/// unit, with nothing between (`5m`, `1h30m`). Anything else — `5M`
/// (months, to some parsers), `1 hour`, `5 m`, `1d`, `1.5h` — is refused,
/// saying what to write instead when that is clear.
pub fn parse_in(s: &str, units: Units) -> Result<Duration, String> {
    let t = s.trim();
    let mut total: u128 = 0;
    let mut rest = t;
    let mut ok = !rest.is_empty();
    while ok && !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let after = &rest[digits..];
        let unit_len = after.len() - after.trim_start_matches(|c: char| c.is_ascii_alphabetic()).len();
        let (number, unit) = (&rest[..digits], &after[..unit_len]);
        let ms: u128 = match unit {
            "ms" if units == Units::Millis => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => 0,
        };
        match number.parse::<u128>() {
            Ok(n) if ms > 0 && n < u128::from(u64::MAX) => total += n * ms,
            _ => ok = false,
        }
        rest = &after[unit_len..];
    }
    if ok && total <= u128::from(u64::MAX) {
        let d = Duration::from_millis(total as u64);
        return if d.is_zero() { Err(format!("duration `{s}` must be more than zero")) } else { Ok(d) };
    }
    Err(format!("`{s}` is not a duration{}", instead(t, units)))
}

/// What to write instead of `t`, when a reading of it is clear: `; write 5m
/// for minutes (units: s, m, h)`; else the form and the units.
fn instead(t: &str, units: Units) -> String {
    let plain = format!("; write it like 30s, 5m or 1h30m (units: {}, no spaces)", units.list());
    // Read leniently: numbers (with a fraction) and unit words, spaces allowed.
    let mut total = 0f64;
    let mut words = vec![];
    let mut rest = t;
    while !rest.is_empty() {
        let n = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.').len();
        let Ok(number) = rest[..n].parse::<f64>() else { return plain };
        let after = rest[n..].trim_start();
        let u = after.len() - after.trim_start_matches(|c: char| c.is_ascii_alphabetic()).len();
        let word = &after[..u];
        let secs = match word {
            "ms" | "msec" | "millis" | "millisecond" | "milliseconds" => 0.001,
            "s" | "S" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "M" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "H" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "D" | "day" | "days" => 86_400.0,
            "w" | "W" | "week" | "weeks" => 604_800.0,
            _ => return plain,
        };
        total += number * secs;
        words.push(word);
        rest = after[u..].trim_start();
    }
    let ms = (total * 1000.0).round();
    if !(1.0..1e15).contains(&ms) {
        return plain;
    }
    if units == Units::Secs && ms % 1000.0 != 0.0 {
        return format!("; this is whole seconds, like 1s or 5m (units: {}, no spaces)", units.list());
    }
    let better = format_duration(Duration::from_millis(ms as u64));
    let meant = match words.as_slice() {
        ["M"] => " for minutes (M is months to some tools)".to_string(),
        [w] if matches!(*w, "min" | "mins" | "minute" | "minutes") => " for minutes".to_string(),
        [w] if matches!(*w, "d" | "D" | "day" | "days") => " for days".to_string(),
        [w] if matches!(*w, "w" | "W" | "week" | "weeks") => " for weeks".to_string(),
        _ => String::new(),
    };
    format!("; write {better}{meant} (units: {}, no spaces)", units.list())
}

/// `5m`, `1h30m`, `1s500ms`: a duration as [`parse_duration`] reads it back.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000u128), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        let n = ms / size
            % if unit == "h" {
                u128::MAX
            } else if unit == "ms" {
                1_000
            } else {
                60
            };
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}
