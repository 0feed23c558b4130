//! The checks that need the typed runbook: required text not blank, at least
//! one environment and region, and every healthz URL an http or https URL.

use serde_saphyr::Spanned;

use super::{Runbook, RunbookError};

pub(super) fn validate(rb: &Runbook, path: &str) -> Result<(), RunbookError> {
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
            if let Some(c) = spec.context.as_ref().filter(|c| c.value.trim().is_empty()) {
                return err(
                    c.defined,
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

pub(super) fn check_url(url: &Spanned<String>, field: &str) -> Result<(), String> {
    match reqwest::Url::parse(&url.value) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        Ok(u) => Err(format!("{field}: `{}` has scheme `{}`; use an http or https URL", url.value, u.scheme())),
        Err(e) => Err(format!("{field}: `{}` is not a URL ({e})", url.value)),
    }
}
