//! The runbook: which service to check, where, and what "healthy" means. It is
//! data (YAML); the key-service runbook is embedded as the default. Parsing is
//! strict: unknown keys, wrong types, bad durations, bad patterns, duplicate
//! keys and empty sections are one error naming the file, line and column.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

/// The key-service runbook shipped in the binary.
pub const EMBEDDED: &str = include_str!("../runbooks/key-service.yaml");
/// What `--runbook` shows as the source of the embedded runbook.
pub const EMBEDDED_NAME: &str = "<embedded runbooks/key-service.yaml>";
/// Larger runbook files are refused before parsing.
pub const MAX_RUNBOOK_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RunbookError {
    #[error("{path}: cannot read the runbook: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: the runbook is {size} bytes; a runbook is at most 1 MiB")]
    TooLarge { path: String, size: u64 },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid { path: String, line: u64, column: u64, message: String },
}

impl RunbookError {
    fn at(path: &str, loc: Option<serde_saphyr::Location>, message: impl Into<String>) -> RunbookError {
        let (line, column) = loc.map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
        RunbookError::Invalid { path: path.to_string(), line, column, message: message.into() }
    }
}

/// A duration written as `30s`, `5m`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(Dur).map_err(serde::de::Error::custom)
    }
}

/// Parses `30s`, `5m`, `1h30m`; zero and negative durations are refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d.is_zero() => Err(format!("duration `{s}` must be more than zero")),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("`{s}` is not a duration ({e}); write it like 30s, 5m or 1h")),
    }
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

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Debug, Clone, Deserialize)]
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
    #[serde(default)]
    pub healthz: HealthzSpec,
    #[serde(default)]
    pub logs: LogsSpec,
    pub environments: Spanned<IndexMap<String, Environment>>,
    #[serde(default)]
    pub guidance: Guidance,
}

fn default_expected_ready() -> u32 {
    3
}

#[derive(Debug, Clone, Deserialize)]
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

/// A factor greater than 1: a window rate this many times the usual one is a spike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factor(pub f64);

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsSpec {
    /// The window: how far back the logs judged are read.
    pub since: Dur,
    /// The time before the window whose error rate is "usual".
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub healthz_url: Spanned<String>,
    pub regions: Spanned<IndexMap<String, RegionSpec>>,
    /// Other APIs' healthz URLs: when the service's fails, these tell a
    /// platform or network outage from the service's own.
    #[serde(default)]
    pub peers: Vec<PeerSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSpec {
    pub name: String,
    pub healthz_url: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    pub context: Spanned<String>,
    #[serde(default)]
    pub healthz_url: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
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
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| RunbookError::Read { path: name.clone(), source })?;
        if meta.len() > MAX_RUNBOOK_BYTES {
            return Err(RunbookError::TooLarge { path: name, size: meta.len() });
        }
        let bytes = std::fs::read(path).map_err(|source| RunbookError::Read { path: name.clone(), source })?;
        let text = String::from_utf8(bytes).map_err(|_| RunbookError::Read {
            path: name.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is not UTF-8 text"),
        })?;
        Ok(Source { name, text })
    }

    pub fn load(path: Option<&PathBuf>) -> Result<Source, RunbookError> {
        match path {
            Some(p) => Source::read(p),
            None => Ok(Source::embedded()),
        }
    }
}

/// Parses and checks a runbook.
pub fn parse(src: &Source) -> Result<Runbook, RunbookError> {
    let path = src.name.as_str();
    if src.text.len() as u64 > MAX_RUNBOOK_BYTES {
        return Err(RunbookError::TooLarge { path: path.into(), size: src.text.len() as u64 });
    }
    let rb: Runbook = serde_saphyr::from_str(&src.text).map_err(|e| {
        let message = saphyr_message(&e);
        RunbookError::at(path, e.location(), message)
    })?;
    validate(&rb, path)?;
    Ok(rb)
}

/// The parser's message without the location it also prints (we print our own).
fn saphyr_message(e: &serde_saphyr::Error) -> String {
    let full = one_line(&e.to_string());
    let trimmed = match full.find(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    if trimmed.contains("unknown field") { format!("{trimmed}; remove it or check its spelling") } else { trimmed }
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
    fn duplicate_regions_and_empty_environments_are_rejected() {
        let dup = MINIMAL.replace(
            "      us-south: { context: ctx }\n",
            "      us-south: { context: a }\n      us-south: { context: b }\n",
        );
        let (line, _, msg) = invalid(&dup);
        assert!(msg.to_lowercase().contains("duplicate"), "{msg}");
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
}
