//! Placeholders: values of the runbook on names reserved for examples
//! (`example.com`, `.invalid`, …), configuration still to do, which
//! `runbook validate` warns about and a check does not ask a cluster about.

use serde_saphyr::Spanned;

use super::Runbook;

/// A runbook value that is a placeholder, for `runbook validate` and
/// `runbook init` to name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub line: u64,
    pub column: u64,
    /// Its key, dotted: `environments.prod.healthz_url`, `guidance.dashboard`.
    pub key: String,
    pub value: String,
    /// What it means until it is replaced.
    pub effect: Effect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A URL or context a check would use: it is not checked.
    NotChecked,
    /// A `guidance` link: reports leave it out.
    NotShown,
}

impl Effect {
    /// What a warning says of it: "it will not be checked until you set the real one".
    pub fn words(self) -> &'static str {
        match self {
            Effect::NotChecked => "it will not be checked until you set the real one",
            Effect::NotShown => "reports leave the link out until you set the real one",
        }
    }
}

impl Runbook {
    /// Every URL and context of the runbook that is a placeholder, for
    /// `runbook validate` and `runbook init` to warn about: the ones checked,
    /// then the `guidance` links (a placeholder link is never shown in a report).
    pub fn placeholders(&self) -> Vec<Placeholder> {
        let mut out = vec![];
        let mut add = |s: &Spanned<String>, key: String, is: fn(&str) -> bool| {
            if is(&s.value) {
                let (line, column, value) = (s.defined.line(), s.defined.column(), s.value.clone());
                out.push(Placeholder { line, column, key, value, effect: Effect::NotChecked });
            }
        };
        if let Some(u) = self.telemetry.as_ref().and_then(|t| t.url.as_ref()) {
            add(u, "telemetry.url".into(), placeholder_url);
        }
        for (name, env) in &self.environments.value {
            if let Some(u) = env.telemetry.as_ref().and_then(|t| t.url.as_ref()) {
                add(u, format!("environments.{name}.telemetry.url"), placeholder_url);
            }
            add(&env.healthz_url, format!("environments.{name}.healthz_url"), placeholder_url);
            for (region, spec) in &env.regions.value {
                if let Some(c) = &spec.context {
                    add(c, format!("environments.{name}.regions.{region}.context"), placeholder_name);
                }
                if let Some(u) = &spec.healthz_url {
                    add(u, format!("environments.{name}.regions.{region}.healthz_url"), placeholder_url);
                }
            }
            for (i, peer) in env.peers.iter().enumerate() {
                add(&peer.healthz_url, format!("environments.{name}.peers[{i}].healthz_url"), placeholder_url);
            }
        }
        for (key, url) in self.guidance.links() {
            if placeholder_url(url) {
                let (line, column) = self.guidance.places.get(&key).copied().unwrap_or((0, 0));
                let key = format!("guidance.{key}");
                out.push(Placeholder { line, column, key, value: url.to_string(), effect: Effect::NotShown });
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
