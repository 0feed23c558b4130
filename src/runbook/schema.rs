//! The runbook's schema: the typed runbook (service, namespace, selector,
//! container, healthz, logs, environments, guidance) with its defaults and the
//! value types that check themselves while deserializing (durations, patterns,
//! counts, factors). Serialising it writes a runbook that reads back the same.

use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_saphyr::Spanned;

use super::one_line;
use crate::duration::{Dur, Units, parse_in};

pub use super::telemetry::{NrRegion, Provider, Telemetry, TelemetryKeys};

/// A log window: [`Units::Secs`].
pub(super) fn whole_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
    let s = String::deserialize(d)?;
    parse_in(&s, Units::Secs).map(Dur).map_err(serde::de::Error::custom)
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
    /// The optional telemetry step: absent, it is not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetryKeys>,
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

pub(super) fn default_expected_ready() -> u32 {
    3
}

pub(super) fn default_not_ready_grace() -> Dur {
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
    /// How the lines are written; `auto` finds it per line.
    pub format: LogFormat,
    /// The JSON or logfmt field with the level, tried before the usual ones.
    pub level_field: Option<String>,
    /// The JSON or logfmt field with the message, tried before the usual ones.
    pub message_field: Option<String>,
    /// The levels whose lines are error lines.
    pub error_levels: Vec<LevelName>,
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
            format: LogFormat::Auto,
            level_field: None,
            message_field: None,
            error_levels: vec![LevelName::Error, LevelName::Fatal],
        }
    }
}

/// `logs.format`: how the service writes its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Each line read for what it is (JSON, logfmt, klog or text).
    Auto,
    Json,
    Logfmt,
    Klog,
    Text,
}

impl LogFormat {
    /// Every value, as written in a runbook.
    pub const NAMES: &[&str] = &["auto", "json", "logfmt", "klog", "text"];

    pub fn parse(name: &str) -> Option<LogFormat> {
        Some(match name {
            "auto" => LogFormat::Auto,
            "json" => LogFormat::Json,
            "logfmt" => LogFormat::Logfmt,
            "klog" => LogFormat::Klog,
            "text" => LogFormat::Text,
            _ => return None,
        })
    }
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LogFormat::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not a log format; write one of {}", LogFormat::NAMES.join(", ")))
        })
    }
}

/// A level of `logs.error_levels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LevelName {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl LevelName {
    /// Every level, as written in a runbook.
    pub const NAMES: &[&str] = &["trace", "debug", "info", "warn", "error", "fatal"];

    pub fn parse(name: &str) -> Option<LevelName> {
        Some(match name {
            "trace" => LevelName::Trace,
            "debug" => LevelName::Debug,
            "info" => LevelName::Info,
            "warn" => LevelName::Warn,
            "error" => LevelName::Error,
            "fatal" => LevelName::Fatal,
            _ => return None,
        })
    }
}

impl<'de> Deserialize<'de> for LevelName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LevelName::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not a level; write one of {}", LevelName::NAMES.join(", ")))
        })
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
    /// Overrides of the top-level `telemetry` keys for this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetryKeys>,
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
    /// None: the kubeconfig's current context, as kubectl.
    #[serde(default)]
    pub context: Option<Spanned<String>>,
    #[serde(default)]
    pub healthz_url: Option<Spanned<String>>,
    /// The value naming this region in the telemetry provider's data
    /// (default: the region's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Guidance {
    pub impact: Option<String>,
    pub dashboard: Option<String>,
    pub other_apis: Option<String>,
    /// Who runs the platform underneath (Kubernetes, network); its older
    /// name `technical_foundation` is read too.
    #[serde(alias = "technical_foundation")]
    pub platform: Option<String>,
    pub metrics: Option<String>,
    pub logs: IndexMap<String, String>,
    /// Where each link is written, (line, column) by its key (`dashboard`,
    /// `logs.us-east`), to name the line of a placeholder.
    #[serde(skip)]
    pub places: IndexMap<String, (u64, u64)>,
}

impl Guidance {
    /// Every link, as (key under `guidance`, URL), in the order of the schema.
    pub fn links(&self) -> Vec<(String, &str)> {
        let named = [
            ("dashboard", &self.dashboard),
            ("other_apis", &self.other_apis),
            ("platform", &self.platform),
            ("metrics", &self.metrics),
        ];
        let mut out: Vec<(String, &str)> =
            named.into_iter().filter_map(|(k, v)| Some((k.to_string(), v.as_deref()?))).collect();
        out.extend(self.logs.iter().map(|(region, url)| (format!("logs.{region}"), url.as_str())));
        out
    }
}

impl Runbook {
    pub fn env_names(&self) -> Vec<&str> {
        self.environments.value.keys().map(String::as_str).collect()
    }

    /// What to say of an environment `name` the runbook lacks: the one it
    /// is likely a typo of, and every one it has (`did you mean local?
    /// it has: local, prod`).
    pub fn other_envs(&self, name: &str) -> String {
        let names: Vec<String> = self.environments.value.keys().cloned().collect();
        let all = self.env_names().join(", ");
        match super::did_you_mean(name, &names) {
            Some(meant) if names.len() == 1 => format!("did you mean {meant}, its only one?"),
            Some(meant) => format!("did you mean {meant}? it has: {all}"),
            None => format!("it has: {all}"),
        }
    }
}
