//! The case builder's telemetry: the runbook's `telemetry:` block for each
//! provider, the New Relic key in the case's command lines, and an exporter
//! a case changes restored when it ends.

use keysvc_testenv::{Exporter, REGIONS};

use crate::common::case::{API_KEY_ENV, Case, Provider};

fn every_region(n: usize) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = REGIONS.iter().map(|r| (r.to_string(), n)).collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn prometheus_case_names_the_environments_prometheus() {
    let c = Case::new("t-case-prom").no_scenarios().telemetry(Provider::Prometheus).build();
    let text = std::fs::read_to_string(&c.runbook).unwrap();
    let url = c.telemetry_env().prometheus_url().unwrap();
    assert!(text.contains(&format!("telemetry:\n  provider: prometheus\n  url: {url}\n")), "{text}");
    // No key is set: a Prometheus runbook needs none.
    let cmd = c.line(&["diagnose"]).command();
    assert!(cmd.get_envs().all(|(k, v)| k != API_KEY_ENV || v.is_none()));
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn newrelic_case_sets_the_key_and_restores_the_exporters_it_changed() {
    {
        let c = Case::new("t-case-nr")
            .no_scenarios()
            .telemetry(Provider::NewRelic)
            .exporter("us-east", Exporter::Stopped)
            .build();
        let t = c.telemetry_env();
        let text = std::fs::read_to_string(&c.runbook).unwrap();
        let block = format!(
            "telemetry:\n  provider: newrelic\n  url: {}\n  account_id: 1\n  api_key_env: {API_KEY_ENV}\n",
            t.nerdgraph_url
        );
        assert!(text.contains(&block), "{text}");
        let cmd = c.line(&["diagnose"]).command();
        let key = cmd.get_envs().find(|(k, _)| *k == API_KEY_ENV).and_then(|(_, v)| v);
        assert_eq!(key, Some(std::ffi::OsStr::new(&t.api_key)));
        let cmd = c.line(&["diagnose"]).env_remove(API_KEY_ENV).command();
        assert_eq!(cmd.get_envs().find(|(k, _)| *k == API_KEY_ENV), Some((API_KEY_ENV.as_ref(), None)));

        // The builder's change, then one made while the case runs.
        let mut want = every_region(3);
        want.retain(|(r, _)| r != "us-east");
        assert_eq!(c.env.prometheus_counts().unwrap(), want);
        c.exporter("eu-de", Exporter::Pods(1));
        want.iter_mut().filter(|(r, _)| r == "eu-de").for_each(|(_, n)| *n = 1);
        assert_eq!(c.env.prometheus_counts().unwrap(), want);
    }
    // Restored when the case ended.
    let c = Case::new("t-case-nr-after").no_scenarios().build();
    assert_eq!(c.env.prometheus_counts().unwrap(), every_region(3));
    let text = std::fs::read_to_string(&c.runbook).unwrap();
    assert!(!text.contains("telemetry:"), "{text}");
}
