//! The runbook: which service to check, where, and what "healthy" means. It is
//! data (YAML); the key-service runbook is embedded as the default, and a file
//! is found by `--runbook`, `KEYSVC_RUNBOOK` or the user's config directory.
//!
//! Reading is two passes. The first reads the YAML into plain nodes with their
//! locations and checks every key and value against the schema itself, so that
//! `runbook validate` can report every problem at once, in plain words. Only a
//! file without problems goes to the second, strict pass (serde), which builds
//! the typed runbook; whatever the first pass missed is still refused there.

pub mod labels;

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_saphyr::Spanned;

/// The key-service runbook shipped in the binary.
pub const EMBEDDED: &str = include_str!("../../runbooks/key-service.yaml");
/// What `--runbook` shows as the source of the embedded runbook.
pub const EMBEDDED_NAME: &str = "<embedded runbooks/key-service.yaml>";
/// Larger runbook files are refused before parsing.
pub const MAX_RUNBOOK_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RunbookError {
    /// One line: the path, what named it and what to do (the I/O error is
    /// in the words, not chained, so it is not said twice).
    #[error("{}", read_message(path, *origin, error))]
    Read { path: String, origin: Option<Origin>, error: std::io::Error },
    #[error("{path}: the runbook is {size} bytes; a runbook is at most 1 MiB")]
    TooLarge { path: String, size: u64 },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid { path: String, line: u64, column: u64, message: String, hint: Option<String> },
}

impl RunbookError {
    fn at(path: &str, loc: Option<serde_saphyr::Location>, message: impl Into<String>) -> RunbookError {
        let (line, column) = loc.map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
        RunbookError::Invalid { path: path.to_string(), line, column, message: message.into(), hint: None }
    }
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

/// A log window: [`Units::Secs`].
fn whole_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
    let s = String::deserialize(d)?;
    parse_in(&s, Units::Secs).map(Dur).map_err(serde::de::Error::custom)
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

/// A regular expression, compiled while parsing.
#[derive(Debug, Clone)]
pub struct Pattern(pub Regex);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        regex::RegexBuilder::new(&s).size_limit(1 << 20).build().map(Pattern).map_err(|e| {
            serde::de::Error::custom(format!("`{s}` is not a valid regular expression: {}", one_line(&e.to_string())))
        })
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// The runbook's id (the alert's runbook-name).
    #[serde(default)]
    pub runbook: Option<String>,
    pub service: String,
    pub namespace: String,
    pub selector: String,
    pub container: String,
    #[serde(default = "default_expected_ready")]
    pub expected_ready: u32,
    /// A single Running pod not ready for less than this, the others
    /// ready, is information, not a warning: a readiness probe flapping.
    #[serde(default = "default_not_ready_grace")]
    pub not_ready_grace: Dur,
    #[serde(default)]
    pub healthz: HealthzSpec,
    #[serde(default)]
    pub logs: LogsSpec,
    pub environments: Spanned<IndexMap<String, Environment>>,
    #[serde(default)]
    pub guidance: Guidance,
    /// Where `namespace`, `selector` and `container` are written, to name
    /// the line to fix when the cluster has no such thing.
    #[serde(skip)]
    pub lines: KeyLines,
}

/// The line of each top-level key a cluster can contradict (0: not known).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLines {
    pub namespace: u64,
    pub selector: u64,
    pub container: u64,
}

impl KeyLines {
    /// "`container` on line 4 of FILE", or "`container` in FILE" when the
    /// line is not known; `file` is how the report names the runbook.
    pub fn at(&self, key: &str, file: &str) -> String {
        let line = match key {
            "namespace" => self.namespace,
            "selector" => self.selector,
            "container" => self.container,
            _ => 0,
        };
        if line > 0 { format!("`{key}` on line {line} of {file}") } else { format!("`{key}` in {file}") }
    }
}

impl Runbook {
    /// Where `key` is written (see [`KeyLines::at`]).
    pub fn key_at(&self, key: &str, file: &str) -> String {
        self.lines.at(key, file)
    }
}

/// The one of `names` that `name` is most likely a typo of, if any is close
/// enough: `oncall@us-east` for `oncall-us-east`, `api` for `apii`.
pub fn did_you_mean<'n>(name: &str, names: &'n [String]) -> Option<&'n str> {
    let (best, d) =
        names.iter().filter(|n| *n != name).map(|n| (n, lint::distance(name, n))).min_by_key(|(_, d)| *d)?;
    let len = name.chars().count();
    (d <= 2.max(len / 4) && d < len).then_some(best.as_str())
}

/// Reads where the keys of [`KeyLines`] are, from a runbook already parsed.
fn key_lines(text: &str) -> KeyLines {
    #[derive(Deserialize)]
    struct Places {
        namespace: Option<Spanned<String>>,
        selector: Option<Spanned<String>>,
        container: Option<Spanned<String>>,
    }
    let line = |s: &Option<Spanned<String>>| s.as_ref().map_or(0, |s| s.referenced.line());
    match serde_saphyr::from_str::<Places>(text) {
        Ok(p) => KeyLines { namespace: line(&p.namespace), selector: line(&p.selector), container: line(&p.container) },
        Err(_) => KeyLines::default(),
    }
}

fn default_expected_ready() -> u32 {
    3
}

fn default_not_ready_grace() -> Dur {
    // Three failed readiness probes at kubelet's default 10s period.
    Dur(Duration::from_secs(30))
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthzSpec {
    pub status: u16,
    pub code: i64,
    pub description: String,
    pub timeout: Dur,
    pub max_body_bytes: u64,
}

impl Default for HealthzSpec {
    fn default() -> Self {
        HealthzSpec {
            status: 200,
            code: 0,
            description: "The API is available and operational.".into(),
            timeout: Dur(Duration::from_secs(10)),
            max_body_bytes: 64 * 1024,
        }
    }
}

/// A whole number of at least 1 (a count or a size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtLeastOne(pub u64);

impl<'de> Deserialize<'de> for AtLeastOne {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            0 => Err(serde::de::Error::custom("must be at least 1")),
            n => Ok(AtLeastOne(n)),
        }
    }
}

impl Serialize for AtLeastOne {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// A factor greater than 1: a window rate this many times the usual one is a spike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factor(pub f64);

impl Serialize for Factor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Factor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = f64::deserialize(d)?;
        // Up to 1 every window would be a spike of itself; NaN compares false everywhere.
        if f.is_finite() && f > 1.0 {
            Ok(Factor(f))
        } else {
            Err(serde::de::Error::custom(format!("`{f}` is not a factor greater than 1 (e.g. 3)")))
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsSpec {
    /// The window: how far back the logs judged are read.
    #[serde(deserialize_with = "whole_seconds")]
    pub since: Dur,
    /// The time before the window whose error rate is "usual".
    #[serde(deserialize_with = "whole_seconds")]
    pub baseline: Dur,
    /// Bytes read per container for the baseline.
    pub baseline_max_bytes: AtLeastOne,
    /// Fewer error lines than this in a region's window never degrade it.
    pub min_errors: AtLeastOne,
    /// A window rate at least this many times the baseline rate is a spike.
    pub spike_factor: Factor,
    pub error_patterns: Vec<Pattern>,
    /// Optional absolute rule: a pod with more error lines than this in the
    /// window degrades its region, whatever the baseline. Off when absent.
    pub error_threshold: Option<u64>,
}

impl Default for LogsSpec {
    fn default() -> Self {
        LogsSpec {
            since: Dur(Duration::from_secs(300)),
            baseline: Dur(Duration::from_secs(3600)),
            baseline_max_bytes: AtLeastOne(4 * 1024 * 1024),
            min_errors: AtLeastOne(5),
            spike_factor: Factor(3.0),
            error_patterns: vec![Pattern(Regex::new(r"\b(ERROR|FATAL|PANIC)\b").expect("valid"))],
            error_threshold: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub healthz_url: Spanned<String>,
    pub regions: Spanned<IndexMap<String, RegionSpec>>,
    /// Other APIs' healthz URLs: when the service's fails, these tell a
    /// platform or network outage from the service's own.
    #[serde(default)]
    pub peers: Vec<PeerSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSpec {
    pub name: String,
    pub healthz_url: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    pub context: Spanned<String>,
    #[serde(default)]
    pub healthz_url: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Guidance {
    pub impact: Option<String>,
    pub dashboard: Option<String>,
    pub other_apis: Option<String>,
    pub technical_foundation: Option<String>,
    pub metrics: Option<String>,
    pub logs: IndexMap<String, String>,
}

/// Where a runbook came from, for messages.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn embedded() -> Source {
        Source { name: EMBEDDED_NAME.into(), text: EMBEDDED.into() }
    }

    pub fn read(path: &Path) -> Result<Source, RunbookError> {
        Source::read_from(path, None)
    }

    /// [`Source::read`], an error saying what named the file.
    fn read_from(path: &Path, origin: Option<Origin>) -> Result<Source, RunbookError> {
        let name = path.display().to_string();
        let failed = |error| RunbookError::Read { path: name.clone(), origin, error };
        let meta = std::fs::metadata(path).map_err(failed)?;
        if meta.is_dir() {
            return Err(failed(std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a directory")));
        }
        if meta.len() > MAX_RUNBOOK_BYTES {
            return Err(RunbookError::TooLarge { path: name, size: meta.len() });
        }
        let bytes = std::fs::read(path).map_err(failed)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| failed(std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is not UTF-8 text")))?;
        Ok(Source { name, text })
    }

    /// The runbook in effect: `flag` (from `--runbook` or `KEYSVC_RUNBOOK`),
    /// else the user's config file when it exists, else the embedded one.
    pub fn load(flag: Option<&PathBuf>) -> Result<Source, RunbookError> {
        Source::find(flag).map(|(src, _)| src)
    }

    /// [`Source::load`], saying where the runbook came from.
    pub fn find(flag: Option<&PathBuf>) -> Result<(Source, Origin), RunbookError> {
        if let Some(p) = flag {
            // Clap fills `--runbook` from KEYSVC_RUNBOOK too; the same value
            // in the variable means it most likely came from there.
            let origin =
                if std::env::var_os("KEYSVC_RUNBOOK").is_some_and(|v| v == p.as_os_str()) && !flag_on_command_line() {
                    Origin::EnvVar
                } else {
                    Origin::Flag
                };
            return Ok((Source::read_from(p, Some(origin))?, origin));
        }
        if let Some(p) = config_path() {
            match std::fs::metadata(&p) {
                Ok(_) => return Ok((Source::read_from(&p, Some(Origin::ConfigFile))?, Origin::ConfigFile)),
                // Only a file that is not there falls through: an unreadable
                // one is an error, not a silent switch to the embedded runbook.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(RunbookError::Read {
                        path: p.display().to_string(),
                        origin: Some(Origin::ConfigFile),
                        error,
                    });
                }
            }
        }
        Ok((Source::embedded(), Origin::Embedded))
    }
}

/// `--runbook` is on the command line (clap fills it from KEYSVC_RUNBOOK
/// too, so its value alone does not say which named the file).
fn flag_on_command_line() -> bool {
    std::env::args_os().skip(1).any(|a| a == "--runbook" || a.to_string_lossy().starts_with("--runbook="))
}

/// "cannot read the runbook rb.yaml (from --runbook, relative to /home/me):
/// no such file; …": which file, what named it, why, and what to do.
fn read_message(path: &str, origin: Option<Origin>, error: &std::io::Error) -> String {
    let relative = Path::new(path).is_relative();
    let cwd = std::env::current_dir().ok().filter(|_| relative);
    let mut from = match origin {
        Some(Origin::Flag) => vec!["from --runbook".to_string()],
        Some(Origin::EnvVar) => vec!["from KEYSVC_RUNBOOK".to_string()],
        Some(Origin::ConfigFile) => vec!["the config file".to_string()],
        Some(Origin::Embedded) | None => vec![],
    };
    if let Some(d) = cwd {
        from.push(format!("relative to {}", d.display()));
    }
    let from = if from.is_empty() { String::new() } else { format!(" ({})", from.join(", ")) };
    let why = match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        // The words are ours ("it is a directory", "not UTF-8 text").
        std::io::ErrorKind::IsADirectory | std::io::ErrorKind::InvalidData => error.to_string(),
        _ => {
            let text = error.to_string();
            // "Not a directory (os error 20)": the OS's words without the number.
            text.split(" (os error").next().unwrap_or(&text).to_lowercase()
        }
    };
    let fix = match (origin, error.kind()) {
        (Some(Origin::EnvVar), _) => {
            "point KEYSVC_RUNBOOK at a runbook file, or unset it to use the config file or the embedded runbook"
        }
        (Some(Origin::ConfigFile), std::io::ErrorKind::NotFound) => "write one with `keysvc-check runbook init`",
        (Some(Origin::ConfigFile), _) => "fix the file (or its permissions), or remove it to use the embedded runbook",
        (Some(Origin::Flag), _) => "pass --runbook the path of a runbook file",
        _ => "give the path of a runbook file",
    };
    format!("cannot read the runbook {path}{from}: {why}; {fix}")
}

/// Where the runbook in effect was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flag,
    EnvVar,
    ConfigFile,
    Embedded,
}

impl Origin {
    /// The runbook's name with where it came from, for reports and `runbook show`.
    pub fn describe(self, src: &Source) -> String {
        match self {
            Origin::Flag => format!("{} (--runbook)", src.name),
            Origin::EnvVar => format!("{} (KEYSVC_RUNBOOK)", src.name),
            Origin::ConfigFile => format!("{} (config file)", src.name),
            Origin::Embedded => src.name.clone(),
        }
    }
}

/// The user's runbook file: `$XDG_CONFIG_HOME/keysvc-check/runbook.yaml`, or
/// `~/.config/keysvc-check/runbook.yaml` when XDG_CONFIG_HOME is unset, empty
/// or relative (the XDG spec says to ignore a relative one).
pub fn config_path() -> Option<PathBuf> {
    config_path_from(std::env::var_os("XDG_CONFIG_HOME"), std::env::var_os("HOME"))
}

fn config_path_from(xdg: Option<std::ffi::OsString>, home: Option<std::ffi::OsString>) -> Option<PathBuf> {
    let base = match xdg.map(PathBuf::from) {
        Some(x) if x.is_absolute() => x,
        _ => PathBuf::from(home.filter(|h| !h.is_empty())?).join(".config"),
    };
    Some(base.join("keysvc-check").join("runbook.yaml"))
}

/// Parses and checks a runbook; the first problem is the error.
pub fn parse(src: &Source) -> Result<Runbook, RunbookError> {
    parse_all(src).map_err(|mut problems| problems.swap_remove(0))
}

/// Parses and checks a runbook; on failure, every problem found, in file order
/// (never an empty list).
pub fn parse_all(src: &Source) -> Result<Runbook, Vec<RunbookError>> {
    let path = src.name.as_str();
    if src.text.len() as u64 > MAX_RUNBOOK_BYTES {
        return Err(vec![RunbookError::TooLarge { path: path.into(), size: src.text.len() as u64 }]);
    }
    let problems = lint::lint(path, &src.text);
    if !problems.is_empty() {
        return Err(problems);
    }
    let rb: Runbook = serde_saphyr::from_str(&src.text).map_err(|e| {
        let message = saphyr_message(&e);
        vec![RunbookError::at(path, e.location(), message)]
    })?;
    validate(&rb, path).map_err(|e| vec![e])?;
    Ok(Runbook { lines: key_lines(&src.text), ..rb })
}

/// The parser's message without the code excerpt and location it also
/// prints (we print our own location, once).
pub(crate) fn saphyr_message(e: &serde_saphyr::Error) -> String {
    let full = one_line(&e.without_snippet().to_string());
    let full = full.strip_prefix("error: ").unwrap_or(&full).to_string();
    let trimmed = match full.find(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    match trimmed.strip_prefix(|c: char| c == 'l').and_then(|t| t.split_once(": ")) {
        // "line 3 column 1: message": the location is ours to print.
        Some((loc, msg)) if loc.starts_with("ine ") => msg.to_string(),
        _ => trimmed,
    }
}

fn validate(rb: &Runbook, path: &str) -> Result<(), RunbookError> {
    let err = |loc: serde_saphyr::Location, msg: String| Err(RunbookError::at(path, Some(loc), msg));
    for (field, value) in [
        ("service", &rb.service),
        ("namespace", &rb.namespace),
        ("selector", &rb.selector),
        ("container", &rb.container),
    ] {
        if value.trim().is_empty() {
            return Err(RunbookError::at(path, None, format!("`{field}` is empty; give the service's {field}")));
        }
    }
    if rb.expected_ready == 0 {
        return Err(RunbookError::at(
            path,
            None,
            "`expected_ready` is 0; give how many pods should be ready per region",
        ));
    }
    if rb.environments.value.is_empty() {
        return err(rb.environments.defined, "`environments` is empty; define at least one environment".into());
    }
    for (name, env) in &rb.environments.value {
        check_url(&env.healthz_url, &format!("environments.{name}.healthz_url"))
            .or_else(|m| err(env.healthz_url.defined, m))?;
        for (i, peer) in env.peers.iter().enumerate() {
            if peer.name.trim().is_empty() {
                return err(peer.healthz_url.defined, format!("environments.{name}.peers[{i}].name is empty"));
            }
            check_url(&peer.healthz_url, &format!("environments.{name}.peers[{i}].healthz_url"))
                .or_else(|m| err(peer.healthz_url.defined, m))?;
        }
        if env.regions.value.is_empty() {
            return err(env.regions.defined, format!("environment `{name}` has no regions; list at least one"));
        }
        for (region, spec) in &env.regions.value {
            if spec.context.value.trim().is_empty() {
                return err(
                    spec.context.defined,
                    format!("environments.{name}.regions.{region}.context is empty; give the kube context"),
                );
            }
            if let Some(url) = &spec.healthz_url {
                check_url(url, &format!("environments.{name}.regions.{region}.healthz_url"))
                    .or_else(|m| err(url.defined, m))?;
            }
        }
    }
    Ok(())
}

fn check_url(url: &Spanned<String>, field: &str) -> Result<(), String> {
    match reqwest::Url::parse(&url.value) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        Ok(u) => Err(format!("{field}: `{}` has scheme `{}`; use an http or https URL", url.value, u.scheme())),
        Err(e) => Err(format!("{field}: `{}` is not a URL ({e})", url.value)),
    }
}

impl Runbook {
    pub fn env_names(&self) -> Vec<&str> {
        self.environments.value.keys().map(String::as_str).collect()
    }

    /// Every URL and context of the runbook that is a placeholder, as
    /// (line, column, key, value), for `runbook validate` to warn about.
    pub fn placeholders(&self) -> Vec<(u64, u64, String, String)> {
        let mut out = vec![];
        let mut add = |s: &Spanned<String>, key: String, is: fn(&str) -> bool| {
            if is(&s.value) {
                out.push((s.defined.line(), s.defined.column(), key, s.value.clone()));
            }
        };
        for (name, env) in &self.environments.value {
            add(&env.healthz_url, format!("environments.{name}.healthz_url"), placeholder_url);
            for (region, spec) in &env.regions.value {
                add(&spec.context, format!("environments.{name}.regions.{region}.context"), placeholder_name);
                if let Some(u) = &spec.healthz_url {
                    add(u, format!("environments.{name}.regions.{region}.healthz_url"), placeholder_url);
                }
            }
            for (i, peer) in env.peers.iter().enumerate() {
                add(&peer.healthz_url, format!("environments.{name}.peers[{i}].healthz_url"), placeholder_url);
            }
        }
        out
    }
}

/// Whether `name` (a host or a kube context) is on a name reserved for
/// examples (RFC 2606/6761): `example.com`, `.net`, `.org` and their
/// subdomains, and anything under `.example`, `.invalid` or `.test`. Such a
/// value was never meant to be checked: it is configuration still to do.
pub fn placeholder_name(name: &str) -> bool {
    let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let under = |domain: &str| n == domain || n.ends_with(&format!(".{domain}"));
    ["example.com", "example.net", "example.org", "example", "invalid", "test"].iter().any(|d| under(d))
}

/// Whether a URL's host is a placeholder name (see [`placeholder_name`]).
pub fn placeholder_url(url: &str) -> bool {
    reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(placeholder_name)).unwrap_or(false)
}

/// The first, lenient pass: the YAML read into nodes with their locations and
/// checked against the schema here, every problem collected. It never refuses
/// what the strict pass accepts (a value it is unsure of passes on to serde),
/// so a file it passes is judged by serde alone.
mod lint {
    use std::collections::HashMap;

    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_saphyr::Spanned;

    use super::{RunbookError, Units, check_url, one_line, parse_in, saphyr_message};

    /// A YAML value without a schema.
    #[derive(Debug)]
    pub(super) enum Node {
        Null,
        Bool(bool),
        Int(i128),
        Float(f64),
        Str(String),
        Seq(Vec<Spanned<Node>>),
        Map(Vec<(Spanned<Node>, Spanned<Node>)>),
    }

    impl<'de> Deserialize<'de> for Node {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(NodeVisitor)
        }
    }

    struct NodeVisitor;

    impl<'de> Visitor<'de> for NodeVisitor {
        type Value = Node;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any YAML value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
            Ok(Node::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
            Ok(Node::Int(v.into()))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
            Ok(Node::Int(v.into()))
        }
        fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
            Ok(Node::Int(v))
        }
        fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
            Ok(i128::try_from(v).map_or(Node::Float(v as f64), Node::Int))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
            Ok(Node::Float(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Node, E> {
            Ok(Node::Str(v.to_string()))
        }
        fn visit_string<E>(self, v: String) -> Result<Node, E> {
            Ok(Node::Str(v))
        }
        fn visit_unit<E>(self) -> Result<Node, E> {
            Ok(Node::Null)
        }
        fn visit_none<E>(self) -> Result<Node, E> {
            Ok(Node::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
            Node::deserialize(d)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
            let mut v = vec![];
            while let Some(item) = a.next_element::<Spanned<Node>>()? {
                v.push(item);
            }
            Ok(Node::Seq(v))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
            let mut v = vec![];
            while let Some(k) = a.next_key::<Spanned<Node>>()? {
                v.push((k, a.next_value::<Spanned<Node>>()?));
            }
            Ok(Node::Map(v))
        }
    }

    type N = Spanned<Node>;

    fn at(n: &N) -> (u64, u64) {
        (n.referenced.line(), n.referenced.column())
    }

    /// A scalar as the text it was written as (near enough for messages).
    fn text(n: &N) -> Option<String> {
        match &n.value {
            Node::Str(s) => Some(s.clone()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Bool(b) => Some(b.to_string()),
            Node::Null | Node::Seq(_) | Node::Map(_) => None,
        }
    }

    fn shape(n: &N) -> &'static str {
        match &n.value {
            Node::Null => "empty",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
            _ => "a single value",
        }
    }

    struct Lint<'a> {
        path: &'a str,
        problems: Vec<RunbookError>,
    }

    /// One mapping's entries by key, after duplicates and unknown keys were reported.
    struct Entries<'n> {
        /// (key node, key, value) in file order, the first of duplicates only.
        list: Vec<(&'n N, String, &'n N)>,
    }

    impl<'n> Entries<'n> {
        fn get(&self, key: &str) -> Option<&'n N> {
            self.list.iter().find(|(_, k, _)| k == key).map(|(_, _, v)| *v)
        }
    }

    impl<'a> Lint<'a> {
        fn problem(&mut self, (line, column): (u64, u64), message: String, hint: Option<String>) {
            self.problems.push(RunbookError::Invalid {
                path: self.path.to_string(),
                line: line.max(1),
                column: column.max(1),
                message,
                hint,
            });
        }

        /// `node` as a mapping named `name` (`logs`, `environments.prod`; empty at
        /// the top level). `known`: the keys it may have, or None for free keys.
        /// A null counts as an empty mapping (serde's defaults apply).
        fn map<'n>(&mut self, node: &'n N, name: &str, known: Option<&[&str]>) -> Option<Entries<'n>> {
            let pairs = match &node.value {
                Node::Map(p) => p,
                Node::Null => return Some(Entries { list: vec![] }),
                _ => {
                    let what = if name.is_empty() { "The runbook".to_string() } else { format!("`{name}`") };
                    self.problem(
                        at(node),
                        format!("{what} must be a mapping of keys, but it is {}", shape(node)),
                        Some("write each key on its own line, `key: value`, indented under its section".into()),
                    );
                    return None;
                }
            };
            let under = if name.is_empty() { "at the top level".to_string() } else { format!("under `{name}`") };
            let mut seen: HashMap<String, u64> = HashMap::new();
            let mut list = vec![];
            for (k, v) in pairs {
                let Some(key) = text(k) else {
                    self.problem(at(k), format!("a key {under} must be a name, not {}", shape(k)), None);
                    continue;
                };
                if let Some(first) = seen.get(&key) {
                    self.problem(
                        at(k),
                        format!("`{key}` appears twice {under} (first on line {first})"),
                        Some("keep one of them: a key can be given only once".into()),
                    );
                    continue;
                }
                seen.insert(key.clone(), k.referenced.line());
                if let Some(known) = known
                    && !known.contains(&key.as_str())
                {
                    let message = match nearest(&key, known) {
                        Some(s) => format!("unknown key `{key}` {under}; did you mean `{s}`?"),
                        None => format!("unknown key `{key}` {under}"),
                    };
                    let hint =
                        nearest(&key, known).is_none().then(|| format!("the keys {under} are: {}", known.join(", ")));
                    self.problem(at(k), message, hint);
                    continue;
                }
                list.push((k, key, v));
            }
            Some(Entries { list })
        }

        /// A required key: reported at `owner` (the key of the mapping) when absent.
        fn required<'n>(&mut self, e: &Entries<'n>, key: &str, owner: (u64, u64), what: &str) -> Option<&'n N> {
            let v = e.get(key);
            if v.is_none() {
                self.problem(owner, format!("{what} has no `{key}`; it is required"), None);
            }
            v
        }

        fn text_value(&mut self, v: &N, key: &str, required: bool) {
            match (&v.value, text(v)) {
                (_, Some(t)) if required && t.trim().is_empty() => {
                    self.problem(at(v), format!("`{key}` is empty; give a value"), None)
                }
                (Node::Null, _) if required => self.problem(at(v), format!("`{key}` is empty; give a value"), None),
                (Node::Seq(_) | Node::Map(_), _) => self.problem(
                    at(v),
                    format!("`{key}` must be a single value, not {}", shape(v)),
                    Some("quote the value if it contains `: ` or starts with `[`, `{` or `-`".into()),
                ),
                _ => {}
            }
        }

        /// A whole number within `min..=max`; `example` shows one.
        fn whole(&mut self, v: &N, key: &str, min: i128, max: i128, example: &str) {
            let ok = match &v.value {
                Node::Int(i) => *i >= min && *i <= max,
                // A quoted number may still pass serde; leave it to serde.
                Node::Str(s) => s.trim().parse::<i128>().is_ok_and(|i| i >= min && i <= max),
                _ => false,
            };
            if !ok {
                let range = if min > 0 { format!(" of at least {min}") } else { String::new() };
                let got = text(v).map_or_else(|| format!(", not {}", shape(v)), |t| format!(", not `{t}`"));
                self.problem(at(v), format!("`{key}` must be a whole number{range}, like {example}{got}"), None);
            }
        }

        fn duration(&mut self, v: &N, key: &str, units: Units) {
            let t = text(v).unwrap_or_default();
            if let Err(m) = parse_in(&t, units) {
                self.problem(at(v), format!("`{key}`: {m}"), None);
            }
        }

        fn url(&mut self, v: &N, key: &str) {
            match text(v) {
                Some(t) => {
                    let spanned = Spanned { value: t, referenced: v.referenced, defined: v.defined };
                    if let Err(m) = check_url(&spanned, key) {
                        self.problem(at(v), m, None);
                    }
                }
                None => self.problem(
                    at(v),
                    format!("`{key}` must be a URL like https://host/healthz, but it is {}", shape(v)),
                    None,
                ),
            }
        }
    }

    /// The nearest known key by edit distance, when it is close enough to be a typo.
    fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
        let (best, d) = known.iter().map(|k| (*k, distance(key, k))).min_by_key(|(_, d)| *d)?;
        (d <= 2.max(key.chars().count() / 4) && d < key.chars().count()).then_some(best)
    }

    /// Levenshtein distance.
    pub(super) fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }

    const TOP: &[&str] = &[
        "runbook",
        "service",
        "namespace",
        "selector",
        "container",
        "expected_ready",
        "not_ready_grace",
        "healthz",
        "logs",
        "environments",
        "guidance",
    ];
    const HEALTHZ: &[&str] = &["status", "code", "description", "timeout", "max_body_bytes"];
    const LOGS: &[&str] =
        &["since", "baseline", "baseline_max_bytes", "min_errors", "spike_factor", "error_patterns", "error_threshold"];
    const ENV: &[&str] = &["healthz_url", "regions", "peers"];
    const REGION: &[&str] = &["context", "healthz_url"];
    const PEER: &[&str] = &["name", "healthz_url"];
    const GUIDANCE: &[&str] = &["impact", "dashboard", "other_apis", "technical_foundation", "metrics", "logs"];

    /// Every problem of the runbook text, in file order.
    pub(super) fn lint(path: &str, text: &str) -> Vec<RunbookError> {
        // Duplicates reach the visitor so that each is reported with its place;
        // `.nan` and `.inf` stay text so that a number check can name them.
        let options = serde_saphyr::options! {
            duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
            non_finite_float_policy: serde_saphyr::options::NonFiniteFloatPolicy::AsString,
        };
        let root: N = match serde_saphyr::from_str_with_options(text, options) {
            Ok(root) => root,
            Err(e) => return vec![RunbookError::at(path, e.location(), syntax_message(&e))],
        };
        let mut l = Lint { path, problems: vec![] };
        l.top(&root);
        let mut problems = l.problems;
        problems.sort_by_key(|p| match p {
            RunbookError::Invalid { line, column, .. } => (*line, *column),
            _ => (0, 0),
        });
        problems
    }

    /// A YAML syntax error in plain words.
    fn syntax_message(e: &serde_saphyr::Error) -> String {
        let m = saphyr_message(e);
        if m.is_empty() { "this is not valid YAML here".into() } else { format!("not valid YAML: {}", one_line(&m)) }
    }

    impl<'a> Lint<'a> {
        fn top(&mut self, root: &N) {
            if matches!(root.value, Node::Null) {
                self.problem(
                    at(root),
                    "the runbook is empty".into(),
                    Some("`keysvc-check runbook init` writes a starter".into()),
                );
                return;
            }
            let Some(e) = self.map(root, "", Some(TOP)) else { return };
            let start = (1, 1);
            for key in ["service", "namespace", "selector", "container"] {
                if let Some(v) = self.required(&e, key, start, "The runbook") {
                    self.text_value(v, key, true);
                }
            }
            // What the API server would refuse, said here with its place
            // rather than as a bad request from every region.
            type Check = fn(&str) -> Result<(), String>;
            let names: [(&str, Check, &str, &str); 2] = [
                (
                    "namespace",
                    crate::runbook::labels::check_namespace,
                    "a namespace name",
                    "the namespace the service's pods run in, as `kubectl get ns` lists it, e.g. api",
                ),
                (
                    "selector",
                    crate::runbook::labels::check_selector,
                    "a label selector",
                    "a label selector is terms separated by commas: key=value, key!=value, key in (a,b), \
                     key notin (a,b), key or !key, as `kubectl get pods -l` takes it; e.g. app=api-key-service",
                ),
            ];
            for (key, check, what, hint) in names {
                let Some(v) = e.get(key) else { continue };
                let Some(t) = text(v).filter(|t| !t.trim().is_empty()) else { continue };
                if let Err(why) = check(&t) {
                    self.problem(at(v), format!("`{key}` `{t}` is not {what}: {why}"), Some(hint.into()));
                }
            }
            if let Some(v) = e.get("runbook") {
                self.text_value(v, "runbook", false);
            }
            if let Some(v) = e.get("expected_ready") {
                self.whole(v, "expected_ready", 1, u32::MAX.into(), "3");
            }
            if let Some(v) = e.get("not_ready_grace") {
                self.duration(v, "not_ready_grace", Units::Millis);
            }
            if let Some(v) = e.get("healthz") {
                self.healthz(v);
            }
            if let Some(v) = e.get("logs") {
                self.logs(v);
            }
            if let Some(v) = self.required(&e, "environments", start, "The runbook") {
                self.environments(v);
            }
            if let Some(v) = e.get("guidance") {
                self.guidance(v);
            }
        }

        fn healthz(&mut self, node: &N) {
            let Some(e) = self.map(node, "healthz", Some(HEALTHZ)) else { return };
            for (_, key, v) in &e.list {
                let name = format!("healthz.{key}");
                match key.as_str() {
                    "status" => self.whole(v, &name, 100, 599, "200"),
                    "code" => self.whole(v, &name, i64::MIN.into(), i64::MAX.into(), "0"),
                    "max_body_bytes" => self.whole(v, &name, 0, u64::MAX.into(), "65536"),
                    "timeout" => self.duration(v, &name, Units::Millis),
                    _ => self.text_value(v, &name, false),
                }
            }
        }

        fn logs(&mut self, node: &N) {
            let Some(e) = self.map(node, "logs", Some(LOGS)) else { return };
            for (_, key, v) in &e.list {
                let name = format!("logs.{key}");
                match key.as_str() {
                    "since" | "baseline" => self.duration(v, &name, Units::Secs),
                    "baseline_max_bytes" => self.whole(v, &name, 1, u64::MAX.into(), "4194304"),
                    "min_errors" => self.whole(v, &name, 1, u64::MAX.into(), "5"),
                    "error_threshold" if matches!(v.value, Node::Null) => {}
                    "error_threshold" => self.whole(v, &name, 0, u64::MAX.into(), "50"),
                    "spike_factor" => {
                        let f = match &v.value {
                            Node::Int(i) => Some(*i as f64),
                            Node::Float(f) => Some(*f),
                            _ => None,
                        };
                        if !f.is_some_and(|f| f.is_finite() && f > 1.0) {
                            let got = text(v).unwrap_or_else(|| shape(v).into());
                            self.problem(
                                at(v),
                                format!("`{name}` must be a number greater than 1, like 3, not `{got}`"),
                                None,
                            );
                        }
                    }
                    _ => self.patterns(v),
                }
            }
        }

        fn patterns(&mut self, v: &N) {
            let Node::Seq(items) = &v.value else {
                self.problem(
                    at(v),
                    format!("`logs.error_patterns` must be a list of regular expressions, not {}", shape(v)),
                    Some("write each pattern on its own line as `- 'ERROR'`".into()),
                );
                return;
            };
            for item in items {
                let Some(p) = text(item) else {
                    self.problem(at(item), "each of `logs.error_patterns` must be a regular expression".into(), None);
                    continue;
                };
                if let Err(e) = regex::RegexBuilder::new(&p).size_limit(1 << 20).build() {
                    // The regex crate draws the pattern with a caret; its last
                    // line says what is wrong.
                    let full = e.to_string();
                    let what = full.lines().last().unwrap_or_default().trim();
                    let what = what.strip_prefix("error: ").unwrap_or(what);
                    // Double quotes turn `\b` into a control character: the
                    // hint is for a pattern with backslashes or such characters.
                    let quoting = p.contains('\\') || p.chars().any(char::is_control);
                    self.problem(
                        at(item),
                        format!("`{p}` is not a valid regular expression: {}", one_line(what)),
                        quoting.then(|| "quote patterns with single quotes so that backslashes stay as written".into()),
                    );
                }
            }
        }

        fn environments(&mut self, node: &N) {
            let Some(e) = self.map(node, "environments", None) else { return };
            if e.list.is_empty() {
                self.problem(at(node), "`environments` is empty; define at least one environment".into(), None);
            }
            for (k, env, v) in &e.list {
                if ENV.contains(&env.as_str()) {
                    self.problem(
                        at(k),
                        format!("`{env}` is read as an environment name here"),
                        Some(format!(
                            "indentation may be the cause: `{env}:` belongs inside an environment such as `prod:`, indented as deep as its `healthz_url:`"
                        )),
                    );
                    continue;
                }
                self.environment(k, env, v);
            }
        }

        fn environment(&mut self, k: &N, env: &str, v: &N) {
            let name = format!("environments.{env}");
            let Some(e) = self.map(v, &name, Some(ENV)) else { return };
            let indent = format!(
                "indentation may be the cause: it must be indented under `{env}:`, as deep as the environment's other keys"
            );
            for key in ["healthz_url", "regions"] {
                if e.get(key).is_none() {
                    self.problem(at(k), format!("environment `{env}` has no `{key}`"), Some(indent.clone()));
                }
            }
            if let Some(u) = e.get("healthz_url") {
                self.url(u, &format!("{name}.healthz_url"));
            }
            if let Some(r) = e.get("regions") {
                self.regions(r, env);
            }
            if let Some(p) = e.get("peers") {
                self.peers(p, env);
            }
        }

        fn regions(&mut self, node: &N, env: &str) {
            let name = format!("environments.{env}.regions");
            let Some(e) = self.map(node, &name, None) else { return };
            if e.list.is_empty() {
                self.problem(
                    at(node),
                    format!("environment `{env}` has no regions; list at least one"),
                    Some("each region goes on its own line, indented under `regions:`, like `us-south: { context: CONTEXT }`".into()),
                );
            }
            for (k, region, v) in &e.list {
                let rname = format!("{name}.{region}");
                if !matches!(v.value, Node::Map(_)) {
                    self.problem(
                        at(v),
                        format!("region `{region}` of `{env}` must be a mapping like `{{ context: CONTEXT }}`, but it is {}", shape(v)),
                        None,
                    );
                    continue;
                }
                let Some(re) = self.map(v, &rname, Some(REGION)) else { continue };
                if let Some(c) = self.required(&re, "context", at(k), &format!("region `{region}` of `{env}`")) {
                    self.text_value(c, &format!("{rname}.context"), true);
                }
                // Optional: `runbook show` writes an absent one as null.
                if let Some(u) = re.get("healthz_url").filter(|u| !matches!(u.value, Node::Null)) {
                    self.url(u, &format!("{rname}.healthz_url"));
                }
            }
        }

        fn peers(&mut self, node: &N, env: &str) {
            let name = format!("environments.{env}.peers");
            let items = match &node.value {
                Node::Seq(items) => items,
                Node::Null => return,
                _ => {
                    self.problem(
                        at(node),
                        format!("`{name}` must be a list, not {}", shape(node)),
                        Some("write each peer as `- { name: iam-api, healthz_url: URL }`".into()),
                    );
                    return;
                }
            };
            for (i, item) in items.iter().enumerate() {
                let pname = format!("{name}[{i}]");
                let Some(e) = self.map(item, &pname, Some(PEER)) else { continue };
                if let Some(n) = self.required(&e, "name", at(item), &format!("`{pname}`")) {
                    self.text_value(n, &format!("{pname}.name"), true);
                }
                if let Some(u) = self.required(&e, "healthz_url", at(item), &format!("`{pname}`")) {
                    self.url(u, &format!("{pname}.healthz_url"));
                }
            }
        }

        fn guidance(&mut self, node: &N) {
            let Some(e) = self.map(node, "guidance", Some(GUIDANCE)) else { return };
            for (_, key, v) in &e.list {
                if key == "logs" {
                    let Some(logs) = self.map(v, "guidance.logs", None) else { continue };
                    for (_, region, link) in &logs.list {
                        self.text_value(link, &format!("guidance.logs.{region}"), false);
                    }
                } else {
                    self.text_value(v, &format!("guidance.{key}"), false);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Runbook, RunbookError> {
        parse(&Source { name: "rb.yaml".into(), text: text.into() })
    }

    const MINIMAL: &str = "service: S\nnamespace: api\nselector: app=x\ncontainer: c\nenvironments:\n  prod:\n    healthz_url: https://h/healthz\n    regions:\n      us-south: { context: ctx }\n";

    #[test]
    fn embedded_runbook_parses_with_three_regions_in_order() {
        let rb = parse(&Source::embedded()).unwrap();
        let prod = &rb.environments.value["prod"];
        let regions: Vec<&str> = prod.regions.value.keys().map(String::as_str).collect();
        assert_eq!(regions, ["us-south", "us-east", "eu-de"]);
        assert_eq!(rb.namespace, "api");
        assert_eq!(rb.selector, "app=api-key-service");
        assert_eq!(rb.container, "api-key-service");
        assert_eq!(rb.expected_ready, 3);
        assert_eq!(rb.logs.since.0, Duration::from_secs(300));
        assert_eq!(rb.logs.baseline.0, Duration::from_secs(3600));
        assert_eq!(rb.logs.min_errors, AtLeastOne(5));
        assert_eq!(rb.logs.spike_factor, Factor(3.0));
        // Judged against the baseline, not an absolute count, unless one is set.
        assert_eq!(rb.logs.error_threshold, None);
    }

    #[test]
    fn minimal_runbook_takes_defaults() {
        let rb = parse_str(MINIMAL).unwrap();
        assert_eq!(rb.expected_ready, 3);
        assert_eq!(rb.healthz.status, 200);
        assert_eq!(rb.logs.since.0, Duration::from_secs(300));
        assert_eq!(rb.logs.baseline.0, Duration::from_secs(3600));
        assert_eq!(rb.logs.baseline_max_bytes, AtLeastOne(4 * 1024 * 1024));
        assert_eq!(rb.logs.min_errors, AtLeastOne(5));
        assert_eq!(rb.logs.spike_factor, Factor(3.0));
        assert_eq!(rb.logs.error_threshold, None);
    }

    #[test]
    fn baseline_keys_are_read_and_checked() {
        let rb = parse_str(&format!(
            "{MINIMAL}logs:\n  baseline: 2h\n  baseline_max_bytes: 1024\n  min_errors: 10\n  spike_factor: 2.5\n  error_threshold: 0\n"
        ))
        .unwrap();
        assert_eq!(rb.logs.baseline.0, Duration::from_secs(7200));
        assert_eq!(rb.logs.baseline_max_bytes, AtLeastOne(1024));
        assert_eq!(rb.logs.min_errors, AtLeastOne(10));
        assert_eq!(rb.logs.spike_factor, Factor(2.5));
        assert_eq!(rb.logs.error_threshold, Some(0));
        for (bad, needle) in [
            ("spike_factor: 1", "greater than 1"),
            ("spike_factor: 0.5", "greater than 1"),
            ("spike_factor: .nan", "greater than 1"),
            ("min_errors: 0", "at least 1"),
            ("baseline_max_bytes: 0", "at least 1"),
            ("baseline: 0s", "more than zero"),
            ("min_errors: -1", ""),
        ] {
            let (line, _, msg) = invalid(&format!("{MINIMAL}logs:\n  {bad}\n"));
            assert_eq!(line, 11, "{bad}: {msg}");
            assert!(msg.contains(needle), "{bad}: {msg}");
        }
    }

    fn invalid(text: &str) -> (u64, u64, String) {
        match parse_str(text) {
            Err(RunbookError::Invalid { line, column, message, .. }) => (line, column, message),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let (line, _, msg) = invalid(&MINIMAL.replace("container: c\n", "container: c\ncontainr: d\n"));
        assert_eq!(line, 5, "{msg}");
        assert!(msg.contains("containr"), "{msg}");
    }

    #[test]
    fn bad_duration_and_regex_and_types_are_rejected_with_location() {
        let (line, _, msg) = invalid(&format!("{MINIMAL}logs:\n  since: five minutes\n"));
        assert_eq!(line, 11, "{msg}");
        assert!(msg.contains("not a duration"), "{msg}");
        let (line, _, msg) = invalid(&format!("{MINIMAL}logs:\n  error_patterns: ['(unclosed']\n"));
        assert_eq!(line, 11, "{msg}");
        assert!(msg.contains("regular expression"), "{msg}");
        let (_, _, msg) = invalid(&MINIMAL.replace("service: S", "service: [1, 2]"));
        assert!(!msg.is_empty());
        let (line, _, _) = invalid(&format!("{MINIMAL}healthz:\n  status: many\n"));
        assert_eq!(line, 11);
    }

    #[test]
    fn a_selector_or_namespace_kubernetes_would_refuse_is_rejected_where_it_is_written() {
        let problems = all_problems(
            &MINIMAL
                .replace("selector: app=x", "selector: app==api key service")
                .replace("namespace: api", "namespace: Key_Service"),
        );
        assert_eq!(problems.len(), 2, "{problems:#?}");
        let (line, column, message, hint) = &problems[0];
        assert_eq!((*line, *column), (2, 12));
        assert_eq!(
            message,
            "`namespace` `Key_Service` is not a namespace name: a namespace name is lower-case letters, digits and `-`, beginning and ending with a letter or digit"
        );
        assert!(hint.as_deref().unwrap().contains("kubectl get ns"), "{hint:?}");
        let (line, column, message, hint) = &problems[1];
        assert_eq!((*line, *column), (3, 11));
        assert_eq!(
            message,
            "`selector` `app==api key service` is not a label selector: `key` where `,` or the end was expected (a value cannot contain spaces)"
        );
        assert!(hint.as_deref().unwrap().ends_with("e.g. app=api-key-service"), "{hint:?}");
        // Loading refuses it too, as every command loads the runbook.
        assert!(parse_str(&MINIMAL.replace("selector: app=x", "selector: app in x")).is_err());
        for ok in ["app=x, tier!=db", "'app in (a, b)'", "app.kubernetes.io/name=x", "'!canary'"] {
            let text = MINIMAL.replace("selector: app=x", &format!("selector: {ok}"));
            assert!(parse_str(&text).is_ok(), "{ok}: {:?}", parse_str(&text).err());
        }
    }

    #[test]
    fn duplicate_regions_and_empty_environments_are_rejected() {
        let dup = MINIMAL.replace(
            "      us-south: { context: ctx }\n",
            "      us-south: { context: a }\n      us-south: { context: b }\n",
        );
        let (line, _, msg) = invalid(&dup);
        assert!(msg.contains("`us-south` appears twice") && msg.contains("first on line 9"), "{msg}");
        assert_eq!(line, 10, "{msg}");
        let (_, _, msg) = invalid("service: S\nnamespace: api\nselector: a=b\ncontainer: c\nenvironments: {}\n");
        assert!(msg.contains("environments"), "{msg}");
        let (line, _, msg) =
            invalid(&MINIMAL.replace("    regions:\n      us-south: { context: ctx }\n", "    regions: {}\n"));
        assert!(msg.contains("no regions"), "{msg}");
        assert_eq!(line, 8);
    }

    #[test]
    fn bad_urls_and_zero_durations_are_rejected() {
        let (line, _, msg) = invalid(&MINIMAL.replace("https://h/healthz", "ftp://h/healthz"));
        assert_eq!(line, 7);
        assert!(msg.contains("http or https"), "{msg}");
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5m").is_ok());
    }

    #[test]
    fn durations_take_only_the_documented_units_and_say_what_to_write() {
        use super::{Units, format_duration, parse_in};
        let ok = |s: &str, u: Units| parse_in(s, u).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("5m", Units::Secs), Duration::from_secs(300));
        assert_eq!(ok("1h30m", Units::Secs), Duration::from_secs(5400));
        assert_eq!(ok(" 90s ", Units::Secs), Duration::from_secs(90));
        assert_eq!(ok("1s500ms", Units::Millis), Duration::from_millis(1500));
        for (s, u, said) in [
            (
                "5M",
                Units::Secs,
                "`5M` is not a duration; write 5m for minutes (M is months to some tools) (units: s, m, h, no spaces)",
            ),
            ("1 hour", Units::Secs, "`1 hour` is not a duration; write 1h (units: s, m, h, no spaces)"),
            ("5 m", Units::Millis, "`5 m` is not a duration; write 5m (units: ms, s, m, h, no spaces)"),
            ("1d", Units::Secs, "`1d` is not a duration; write 24h for days (units: s, m, h, no spaces)"),
            (
                "10M",
                Units::Millis,
                "`10M` is not a duration; write 10m for minutes (M is months to some tools) (units: ms, s, m, h, no spaces)",
            ),
            ("1.5h", Units::Secs, "`1.5h` is not a duration; write 1h30m (units: s, m, h, no spaces)"),
            (
                "500ms",
                Units::Secs,
                "`500ms` is not a duration; this is whole seconds, like 1s or 5m (units: s, m, h, no spaces)",
            ),
            (
                "5minuts",
                Units::Secs,
                "`5minuts` is not a duration; write it like 30s, 5m or 1h30m (units: s, m, h, no spaces)",
            ),
        ] {
            assert_eq!(parse_in(s, u).unwrap_err(), said);
        }
        assert!(parse_in("0h0m", Units::Secs).unwrap_err().contains("more than zero"));
        assert!(parse_in("99999999999999999999999h", Units::Secs).is_err());
        for d in [1, 59, 60, 61, 3600, 5400, 86_400 * 3] {
            let d = Duration::from_secs(d);
            assert_eq!(parse_in(&format_duration(d), Units::Secs).unwrap(), d, "{}", format_duration(d));
        }
        assert_eq!(format_duration(Duration::from_millis(90_500)), "1m30s500ms");
        assert_eq!(format_duration(Duration::from_secs(48 * 3600)), "48h");
        // In the runbook: the key, its line and what to write.
        let (line, _, msg) = invalid(&MINIMAL.replace("service: S\n", "service: S\nlogs:\n  since: 5M\n"));
        assert_eq!(line, 3, "{msg}");
        assert!(msg.starts_with("`logs.since`: `5M` is not a duration; write 5m for minutes"), "{msg}");
    }

    #[test]
    fn placeholders_are_reserved_names_only() {
        for p in [
            "example.com",
            "key-service.example.com",
            "x.example.net",
            "EXAMPLE.ORG.",
            "prod-us-south.example",
            "a.invalid",
            "a.test",
        ] {
            assert!(placeholder_name(p), "{p}");
        }
        for real in
            ["keysvc-prod-us-south", "example.company.com", "myexample.com", "127.0.0.1", "localhost", "testing"]
        {
            assert!(!placeholder_name(real), "{real}");
        }
        assert!(placeholder_url("https://key-service.example.com/healthz"));
        assert!(!placeholder_url("http://127.0.0.1:8080/healthz"));
        let rb = parse(&Source::embedded()).unwrap();
        let keys: Vec<String> = rb.placeholders().into_iter().map(|p| p.2).collect();
        assert!(keys.contains(&"environments.prod.healthz_url".to_string()), "{keys:?}");
        assert!(keys.contains(&"environments.prod.regions.us-east.context".to_string()), "{keys:?}");
        assert!(parse_str(MINIMAL).unwrap().placeholders().is_empty());
    }

    #[test]
    fn peers_are_named_urls() {
        let rb = parse_str(&MINIMAL.replace(
            "    regions:\n",
            "    peers:\n      - { name: iam, healthz_url: https://iam/healthz }\n    regions:\n",
        ))
        .unwrap();
        assert_eq!(rb.environments.value["prod"].peers[0].name, "iam");
        let (_, _, msg) = invalid(
            &MINIMAL
                .replace("    regions:\n", "    peers:\n      - { name: iam, healthz_url: ftp://iam }\n    regions:\n"),
        );
        assert!(msg.contains("peers[0].healthz_url"), "{msg}");
    }

    #[test]
    fn malformed_yaml_and_huge_files_are_one_error() {
        let (line, _, msg) = invalid("service: S\n  bad: [\n");
        assert!(line >= 1 && !msg.is_empty());
        let huge = format!("{MINIMAL}# {}\n", "x".repeat(2 * 1024 * 1024));
        assert!(matches!(parse_str(&huge), Err(RunbookError::TooLarge { .. })));
    }

    fn all_problems(text: &str) -> Vec<(u64, u64, String, Option<String>)> {
        match parse_all(&Source { name: "rb.yaml".into(), text: text.into() }) {
            Ok(_) => panic!("expected problems in:\n{text}"),
            Err(v) => v
                .into_iter()
                .map(|e| match e {
                    RunbookError::Invalid { line, column, message, hint, .. } => (line, column, message, hint),
                    other => panic!("{other:?}"),
                })
                .collect(),
        }
    }

    #[test]
    fn every_problem_is_reported_once_with_its_own_place() {
        let text = EMBEDDED
            .replace("expected_ready: 3", "expected_ready: three")
            .replace("  since: 5m", "  sinse: 5m")
            .replace("  spike_factor: 3", "  spike_factor: 1")
            .replace("us-east: { context: prod-us-east.example }", "us-south: { context: again }")
            .replace("'OutOfMemoryError'", "'(Out'");
        let problems = all_problems(&text);
        let messages: Vec<&str> = problems.iter().map(|p| p.2.as_str()).collect();
        assert_eq!(problems.len(), 5, "{messages:#?}");
        let mut places: Vec<(u64, u64)> = problems.iter().map(|p| (p.0, p.1)).collect();
        places.dedup();
        assert_eq!(places.len(), 5, "each at its own place: {places:?}");
        assert_eq!(messages[0], "`expected_ready` must be a whole number of at least 1, like 3, not `three`");
        assert_eq!(messages[1], "unknown key `sinse` under `logs`; did you mean `since`?");
        assert!(messages[2].contains("`logs.spike_factor` must be a number greater than 1"), "{messages:?}");
        assert!(messages[3].contains("`(Out` is not a valid regular expression"), "{messages:?}");
        assert_eq!(problems[3].3, None, "no quoting hint for a pattern without backslashes");
        // Double quotes turned `\b` into a backspace: that is what the hint is for.
        let quoted = all_problems(&EMBEDDED.replace("'OutOfMemoryError'", "\"\\b(Out\""));
        assert!(quoted[0].3.as_deref().is_some_and(|h| h.contains("single quotes")), "{quoted:?}");
        assert!(messages[4].starts_with("`us-south` appears twice under `environments.prod.regions`"), "{messages:?}");
        // The embedded text keeps its lines, so the places are checkable.
        let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1;
        assert_eq!((problems[0].0, problems[0].1), (line_of("expected_ready: three"), 17));
        assert_eq!((problems[1].0, problems[1].1), (line_of("sinse"), 3));
        assert_eq!(problems[4].0, line_of("us-south: { context: again }"));
        for m in &messages {
            for jargon in ["invalid u32", "DuplicateKeyPolicy", "<input>", "error:", "-->"] {
                assert!(!m.contains(jargon), "{m}");
            }
        }
    }

    #[test]
    fn a_key_far_from_any_known_one_lists_them_instead() {
        let p = all_problems(&format!("{MINIMAL}logs:\n  colour: red\n"));
        assert_eq!(p[0].2, "unknown key `colour` under `logs`");
        assert!(p[0].3.as_deref().unwrap().contains("since, baseline, baseline_max_bytes"), "{p:?}");
        let p = all_problems(&MINIMAL.replace("container: c\n", "container: c\ncontainr: d\n"));
        assert_eq!(p[0].2, "unknown key `containr` at the top level; did you mean `container`?");
        assert_eq!(lint::distance("sinse", "since"), 1);
        assert_eq!(lint::distance("", "abc"), 3);
    }

    #[test]
    fn a_mis_indented_regions_names_the_environment_and_the_indentation() {
        let text = MINIMAL.replace("    regions:\n", "  regions:\n");
        let p = all_problems(&text);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert_eq!((p[0].0, p[0].2.as_str()), (6, "environment `prod` has no `regions`"));
        assert!(p[0].3.as_deref().unwrap().contains("indentation"), "{p:?}");
        assert_eq!((p[1].0, p[1].2.as_str()), (8, "`regions` is read as an environment name here"));
        assert!(p[1].3.as_deref().unwrap().contains("indentation"), "{p:?}");
    }

    #[test]
    fn the_strict_pass_still_refuses_what_the_lenient_one_lets_through() {
        // A quoted number passes the first pass (serde decides) and must not
        // slip through unchecked.
        let r = parse_str(&MINIMAL.replace("service: S", "service: S\nexpected_ready: '0'"));
        assert!(matches!(r, Err(RunbookError::Invalid { .. })), "{r:?}");
    }

    #[test]
    fn config_path_follows_xdg_then_home() {
        let p = |x: Option<&str>, h: Option<&str>| config_path_from(x.map(Into::into), h.map(Into::into));
        assert_eq!(p(Some("/x"), Some("/h")), Some(PathBuf::from("/x/keysvc-check/runbook.yaml")));
        assert_eq!(p(Some(""), Some("/h")), Some(PathBuf::from("/h/.config/keysvc-check/runbook.yaml")));
        assert_eq!(p(None, Some("/h")), Some(PathBuf::from("/h/.config/keysvc-check/runbook.yaml")));
        assert_eq!(p(Some("relative"), Some("/h")), Some(PathBuf::from("/h/.config/keysvc-check/runbook.yaml")));
        assert_eq!(p(None, None), None);
    }

    #[test]
    fn the_effective_runbook_written_out_reads_back_the_same() {
        let mut rb = parse(&Source::embedded()).unwrap();
        rb.logs.error_threshold = Some(7);
        let yaml = serde_saphyr::to_string(&rb).unwrap();
        let back = parse_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(serde_saphyr::to_string(&back).unwrap(), yaml);
        assert_eq!(back.logs.error_threshold, Some(7));
        let patterns: Vec<&str> = back.logs.error_patterns.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(patterns[0], r"\b(ERROR|FATAL|PANIC|CRITICAL)\b");
        // JSON is YAML too.
        let json = serde_json::to_string(&rb).unwrap();
        assert_eq!(serde_saphyr::to_string(&parse_str(&json).unwrap()).unwrap(), yaml);
    }
}
