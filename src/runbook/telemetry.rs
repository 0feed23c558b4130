//! The optional `telemetry` block: which provider receives the service's
//! metrics, the query that says, per region, how many pods reported and
//! when last. The top-level block gives the keys; an environment's
//! `telemetry` overrides any of them; a region's `telemetry` names it in the
//! provider's data. [`Runbook::telemetry_for`] resolves one environment's.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_saphyr::Spanned;

use super::Runbook;
use super::schema::whole_seconds;
use crate::duration::Dur;

/// `telemetry.provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Prometheus,
    Newrelic,
}

impl Provider {
    /// Every provider, as written in a runbook.
    pub const NAMES: &[&str] = &["prometheus", "newrelic"];

    pub fn parse(name: &str) -> Option<Provider> {
        match name {
            "prometheus" => Some(Provider::Prometheus),
            "newrelic" => Some(Provider::Newrelic),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Prometheus => "prometheus",
            Provider::Newrelic => "newrelic",
        }
    }

    /// As people name it: `Prometheus`, `New Relic`.
    pub fn display(self) -> &'static str {
        match self {
            Provider::Prometheus => "Prometheus",
            Provider::Newrelic => "New Relic",
        }
    }
}

impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Provider::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is not a telemetry provider; write one of {}",
                Provider::NAMES.join(", ")
            ))
        })
    }
}

/// `telemetry.region` of New Relic: which data centre holds the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NrRegion {
    Us,
    Eu,
}

impl NrRegion {
    pub const NAMES: &[&str] = &["us", "eu"];

    pub fn parse(name: &str) -> Option<NrRegion> {
        match name {
            "us" => Some(NrRegion::Us),
            "eu" => Some(NrRegion::Eu),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for NrRegion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NrRegion::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is not a New Relic region; write one of {}",
                NrRegion::NAMES.join(", ")
            ))
        })
    }
}

fn optional_window<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Dur>, D::Error> {
    whole_seconds(d).map(Some)
}

/// The `telemetry` keys as written, at the top level or in an environment
/// (where each overrides the top level's).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    #[serde(default, deserialize_with = "optional_window", skip_serializing_if = "Option::is_none")]
    pub since: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<NrRegion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Spanned<String>>,
}

impl TelemetryKeys {
    /// These keys with `over`'s set ones in their place.
    pub fn merged(&self, over: Option<&TelemetryKeys>) -> TelemetryKeys {
        let Some(o) = over else { return self.clone() };
        TelemetryKeys {
            provider: o.provider.or(self.provider),
            since: o.since.or(self.since),
            query: o.query.clone().or_else(|| self.query.clone()),
            label: o.label.clone().or_else(|| self.label.clone()),
            account_id: o.account_id.or(self.account_id),
            region: o.region.or(self.region),
            api_key_env: o.api_key_env.clone().or_else(|| self.api_key_env.clone()),
            token_env: o.token_env.clone().or_else(|| self.token_env.clone()),
            url: o.url.clone().or_else(|| self.url.clone()),
        }
    }
}

/// The default window.
pub const DEFAULT_SINCE: Duration = Duration::from_secs(600);
/// The default environment variable of New Relic's key.
pub const DEFAULT_API_KEY_ENV: &str = "NEW_RELIC_API_KEY";
/// NerdGraph's endpoints.
pub const NERDGRAPH_US: &str = "https://api.newrelic.com/graphql";
pub const NERDGRAPH_EU: &str = "https://api.eu.newrelic.com/graphql";

/// One environment's telemetry, every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Telemetry {
    pub provider: Provider,
    pub since: Duration,
    /// The query as written (`{since}` not yet filled in).
    pub query: String,
    /// Prometheus: the label naming the region.
    pub label: String,
    pub account_id: Option<u64>,
    /// The endpoint: Prometheus' base URL, or NerdGraph's full URL.
    pub url: String,
    /// The runbook key that gave the URL (`telemetry.url`,
    /// `environments.prod.telemetry.url`), or none for NerdGraph's own.
    pub url_key: Option<String>,
    /// The variable that holds the key (New Relic) or the token (Prometheus, optional).
    pub key_env: Option<String>,
    /// Each region of the environment with the value naming it in the provider's data.
    pub facets: Vec<(String, String)>,
    /// The runbook gives no query: the default one names its `container`.
    pub query_of_container: bool,
}

impl Telemetry {
    /// Whether the query asks over the window (`{since}` in it); without it,
    /// the provider answers with what it has now.
    pub fn windowed(&self) -> bool {
        self.query.contains("{since}")
    }

    /// The query with `{since}` filled in: NRQL words (`10 minutes`) or a
    /// PromQL duration (`10m`).
    pub fn filled_query(&self) -> String {
        self.query.replace("{since}", &self.since_words())
    }

    /// The window as the query language writes it.
    pub fn since_words(&self) -> String {
        match self.provider {
            Provider::Prometheus => crate::duration::format_duration(self.since),
            Provider::Newrelic => {
                let mins = self.since.as_secs().div_ceil(60).max(1);
                if mins == 1 { "1 minute".into() } else { format!("{mins} minutes") }
            }
        }
    }

    /// The facet value (or label value) naming `region`.
    pub fn facet<'a>(&'a self, region: &'a str) -> &'a str {
        self.facets.iter().find(|(r, _)| r == region).map_or(region, |(_, f)| f.as_str())
    }
}

/// The query asked when the runbook gives none.
fn default_query(provider: Provider, container: &str, label: &str) -> String {
    match provider {
        Provider::Prometheus => format!("count by ({label}) (up{{job=\"{container}\"}} == 1)"),
        Provider::Newrelic => format!(
            "SELECT latest(timestamp), uniqueCount(k8s.podName) FROM Metric WHERE k8s.deploymentName = '{container}' FACET k8s.clusterName SINCE {{since}} AGO"
        ),
    }
}

impl Runbook {
    /// The top-level telemetry keys with their defaults written in, for
    /// `runbook show`: the window, and, when no environment names another
    /// provider, the query and the provider's own defaults. The URL stays as
    /// written (an environment's `region` may choose New Relic's).
    pub fn fill_telemetry_defaults(&mut self) {
        let others = self.environments.value.values().filter_map(|e| e.telemetry.as_ref()?.provider).count();
        let container = self.container.clone();
        let Some(t) = self.telemetry.as_mut() else { return };
        t.since.get_or_insert(Dur(DEFAULT_SINCE));
        let (Some(provider), 0) = (t.provider, others) else { return };
        match provider {
            Provider::Prometheus => {
                let label = t.label.get_or_insert_with(|| "region".into()).clone();
                t.query.get_or_insert_with(|| default_query(provider, &container, &label));
            }
            Provider::Newrelic => {
                t.api_key_env.get_or_insert_with(|| DEFAULT_API_KEY_ENV.into());
                t.query.get_or_insert_with(|| default_query(provider, &container, ""));
            }
        }
    }

    /// The telemetry of environment `env`, when the runbook configures one
    /// (a provider, and what it needs: Prometheus' URL, New Relic's account).
    pub fn telemetry_for(&self, env: &str) -> Option<Telemetry> {
        let e = self.environments.value.get(env)?;
        let top = self.telemetry.clone().unwrap_or_default();
        if self.telemetry.is_none() && e.telemetry.is_none() {
            return None;
        }
        let k = top.merged(e.telemetry.as_ref());
        let provider = k.provider?;
        let url_key = |from_env: bool| {
            if from_env { format!("environments.{env}.telemetry.url") } else { "telemetry.url".to_string() }
        };
        let env_url = e.telemetry.as_ref().and_then(|t| t.url.as_ref()).is_some();
        let (url, url_key) = match (provider, &k.url) {
            (_, Some(u)) => (u.value.clone(), Some(url_key(env_url))),
            (Provider::Prometheus, None) => return None,
            (Provider::Newrelic, None) => {
                let nerdgraph = if k.region == Some(NrRegion::Eu) { NERDGRAPH_EU } else { NERDGRAPH_US };
                (nerdgraph.to_string(), None)
            }
        };
        let container = &self.container;
        let label = k.label.clone().unwrap_or_else(|| "region".to_string());
        let query = k.query.clone().unwrap_or_else(|| default_query(provider, container, &label));
        let key_env = match provider {
            Provider::Newrelic => Some(k.api_key_env.clone().unwrap_or_else(|| DEFAULT_API_KEY_ENV.to_string())),
            Provider::Prometheus => k.token_env.clone(),
        };
        let facets = e
            .regions
            .value
            .iter()
            .map(|(name, spec)| (name.clone(), spec.telemetry.clone().unwrap_or_else(|| name.clone())))
            .collect();
        Some(Telemetry {
            provider,
            since: k.since.map_or(DEFAULT_SINCE, |d| d.0),
            query,
            label,
            account_id: k.account_id,
            url,
            url_key,
            key_env,
            facets,
            query_of_container: k.query.is_none(),
        })
    }
}
