//! The lenient checks of the `telemetry` blocks: each key's value, then
//! what each environment's telemetry needs once its block and the top
//! level's are put together (a provider; Prometheus' URL; New Relic's
//! account), and keys that belong to the other provider.

use super::super::node::{N, at, text};
use super::super::telemetry::{NrRegion, Provider};
use super::{Lint, TELEMETRY};
use crate::duration::Units;

/// What one `telemetry` block says, for the checks across blocks.
#[derive(Debug, Clone, Default)]
pub(super) struct Block {
    /// Where the block is (its key), to name what it lacks.
    at: (u64, u64),
    /// How the block is named (`telemetry`, `environments.prod.telemetry`).
    name: String,
    provider: Option<Provider>,
    /// Each key given, with its place.
    keys: Vec<(String, (u64, u64))>,
}

impl Block {
    fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|(k, _)| k == key)
    }
}

/// The keys only one provider reads.
const PROMETHEUS_ONLY: &[&str] = &["label", "token_env"];
const NEWRELIC_ONLY: &[&str] = &["account_id", "region", "api_key_env"];

impl Lint<'_> {
    /// One block's keys, each checked; `key_at` is where its key is written.
    pub(super) fn telemetry(&mut self, key_at: (u64, u64), node: &N, name: &str) -> Block {
        let mut block = Block { at: key_at, name: name.to_string(), ..Block::default() };
        let Some(e) = self.map(node, name, Some(TELEMETRY)) else { return block };
        for (k, key, v) in &e.list {
            let full = format!("{name}.{key}");
            match key.as_str() {
                "provider" => {
                    self.one_of(v, &full, Provider::NAMES);
                    block.provider = text(v).and_then(|t| Provider::parse(&t));
                }
                "since" => self.duration(v, &full, Units::Secs),
                "query" => self.text_value(v, &full, true),
                "label" | "api_key_env" | "token_env" => self.variable(v, &full, key == "label"),
                "account_id" => self.whole(v, &full, 1, u64::MAX.into(), "1234567"),
                "region" => self.one_of(v, &full, NrRegion::NAMES),
                _ => self.url(v, &full),
            }
            block.keys.push((key.clone(), at(k)));
        }
        block
    }

    /// An environment variable's name (or a label's): letters, digits and `_`.
    fn variable(&mut self, v: &N, key: &str, label: bool) {
        let ok = text(v).is_some_and(|t| {
            let mut chars = t.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if !ok {
            let what = if label {
                "a label name, like region"
            } else {
                "an environment variable's name, like NEW_RELIC_API_KEY"
            };
            let got = text(v).map_or_else(|| "empty".to_string(), |t| format!("`{t}`"));
            self.problem(at(v), format!("`{key}` must be {what}, not {got}"), None);
        }
    }

    /// What each environment's telemetry needs, its block over the top
    /// level's: `envs` holds each environment's name and block (if any).
    pub(super) fn telemetry_needs(&mut self, top: Option<&Block>, envs: &[(String, Option<Block>)]) {
        let mut said: Vec<(u64, u64, String)> = vec![];
        for (env, block) in envs {
            let blocks: Vec<&Block> = top.into_iter().chain(block.as_ref()).collect();
            // The block a missing key is reported at: the environment's when it is alone.
            let Some(owner) = top.or(block.as_ref()) else { continue };
            let has = |key: &str| blocks.iter().any(|b| b.has(key));
            let provider = block.as_ref().and_then(|b| b.provider).or(top.and_then(|t| t.provider));
            let mut say = |l: &mut Self, place: (u64, u64), message: String, hint: Option<String>| {
                if !said.iter().any(|(a, b, m)| (*a, *b) == place && *m == message) {
                    said.push((place.0, place.1, message.clone()));
                    l.problem(place, message, hint);
                }
            };
            let Some(provider) = provider else {
                if !has("provider") {
                    let m = format!("`{}` has no `provider`; it is required", owner.name);
                    say(
                        self,
                        owner.at,
                        m,
                        Some(format!("write `provider: {}`", Provider::NAMES.join("` or `provider: "))),
                    );
                }
                continue;
            };
            let needed = match provider {
                Provider::Prometheus => {
                    ("url", "the Prometheus server's base URL, like http://prometheus.monitoring:9090")
                }
                Provider::Newrelic => ("account_id", "the New Relic account's id, a number like 1234567"),
            };
            if !has(needed.0) {
                let m = format!(
                    "`{}` has no `{}` for environment {env}; provider {} needs it",
                    owner.name,
                    needed.0,
                    provider.as_str()
                );
                say(self, owner.at, m, Some(format!("give `{}`: {}", needed.0, needed.1)));
            }
            let (others, other) = match provider {
                Provider::Prometheus => (NEWRELIC_ONLY, Provider::Newrelic),
                Provider::Newrelic => (PROMETHEUS_ONLY, Provider::Prometheus),
            };
            for b in &blocks {
                for (key, place) in b.keys.iter().filter(|(k, _)| others.contains(&k.as_str())) {
                    let m = format!(
                        "`{}.{key}` is read only with provider {}; environment {env}'s provider is {}",
                        b.name,
                        other.as_str(),
                        provider.as_str()
                    );
                    say(self, *place, m, Some("remove it, or set the provider it belongs to".into()));
                }
            }
        }
    }
}
