//! doctor's telemetry checks: the key's variable is set, the endpoint
//! answers the runbook's query, and the answer has a facet for each region.

use super::{CheckKind, CheckRow, Facts, Outcome};
use crate::evidence::telemetry::Row;
use crate::report::{Problem, ProblemKind};
use crate::runbook::{Provider, Telemetry};

/// What was learnt of the telemetry provider.
#[derive(Debug, Clone)]
pub struct TelemetryFacts {
    pub telemetry: Telemetry,
    /// The runbook key of a placeholder URL: not asked.
    pub placeholder: Option<String>,
    /// Whether the key's variable is set (`None`: no variable named).
    pub key_set: Option<bool>,
    /// The answer: `None` when not asked, or not finished by the deadline.
    pub answer: Option<Result<Vec<Row>, Problem>>,
    /// Each region checked, with the environment's name for the runbook key.
    pub regions: Vec<String>,
    pub env: String,
}

fn row(check: CheckKind, region: Option<&str>, result: Outcome, detail: String, fix: Option<String>) -> CheckRow {
    CheckRow { check, permission: None, region: region.map(str::to_string), required: true, result, detail, fix }
}

/// The telemetry rows: key, endpoint, then a facet per region.
pub(super) fn rows(facts: &Facts, out: &mut Vec<CheckRow>) {
    let Some(f) = &facts.telemetry else { return };
    let t = &f.telemetry;
    let who = t.provider.display();
    if let (Some(var), Some(set)) = (&t.key_env, f.key_set) {
        let what = if t.provider == Provider::Newrelic { "User API key" } else { "bearer token" };
        out.push(if set {
            row(CheckKind::TelemetryKey, None, Outcome::Ok, format!("{var} is set"), None)
        } else {
            let fix = format!("export {var}=… with {who}'s {what} (the runbook names this variable)");
            row(CheckKind::TelemetryKey, None, Outcome::Missing, format!("{var} is not set"), Some(fix))
        });
    }
    let shown = crate::mask::url(&t.url);
    let url_key = t.url_key.clone().unwrap_or_else(|| "telemetry.url (or telemetry.region)".into());
    if let Some(key) = &f.placeholder {
        let detail = format!("{shown} is a placeholder; not asked");
        out.push(row(
            CheckKind::TelemetryEndpoint,
            None,
            Outcome::Placeholder,
            detail,
            Some(format!("set {key} in your runbook")),
        ));
        return;
    }
    let rows = match &f.answer {
        None if f.key_set == Some(false) && t.provider == Provider::Newrelic => return,
        None => {
            let detail = format!(
                "{shown}: no answer within {} (--timeout); no region's value checked",
                humantime::format_duration(facts.timeout)
            );
            out.push(row(CheckKind::TelemetryEndpoint, None, Outcome::Fail, detail, Some(format!("check {url_key}"))));
            return;
        }
        Some(Err(p)) => {
            let detail = format!("{}; no region's value checked", p.message);
            out.push(row(CheckKind::TelemetryEndpoint, None, Outcome::Fail, detail, Some(refused_fix(t, p, &url_key))));
            return;
        }
        Some(Ok(rows)) => rows,
    };
    let detail = format!("{who} at {shown} answered the query ({} results)", rows.len());
    out.push(row(CheckKind::TelemetryEndpoint, None, Outcome::Ok, detail, None));
    let seen: Vec<String> = rows.iter().map(|r| r.facet.clone()).collect();
    for region in &f.regions {
        let facet = t.facet(region);
        match rows.iter().find(|r| r.facet == facet) {
            Some(r) => {
                let pods = r.pods.map_or_else(
                    || "data".to_string(),
                    |p| format!("{} reporting", crate::advice::plural(p.round() as u64, "pod")),
                );
                out.push(row(CheckKind::TelemetryFacet, Some(region), Outcome::Ok, format!("{facet}: {pods}"), None));
            }
            None => {
                let has = if seen.is_empty() { "none".to_string() } else { seen.join(", ") };
                let detail = format!("no `{facet}` in the answer (it has: {has})");
                let key = format!("environments.{}.regions.{region}.telemetry", f.env);
                let fix = match crate::runbook::did_you_mean(facet, &seen) {
                    Some(g) => format!("did you mean {g}? set {key} to it"),
                    None => format!(
                        "set {key} to the value naming {region} in {who}'s data, or see why {region} sends nothing"
                    ),
                };
                out.push(row(CheckKind::TelemetryFacet, Some(region), Outcome::Fail, detail, Some(fix)));
            }
        }
    }
}

/// What to fix when the endpoint refused the query.
fn refused_fix(t: &Telemetry, p: &Problem, url_key: &str) -> String {
    match p.kind {
        ProblemKind::Unauthorized | ProblemKind::Forbidden => format!(
            "check the key in {}: it must be a valid key for this account",
            t.key_env.as_deref().unwrap_or("the key's variable")
        ),
        ProblemKind::Query => "fix telemetry.query in your runbook (or telemetry.account_id)".to_string(),
        _ => format!("check {url_key}: it must be reachable from here"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telemetry() -> Telemetry {
        let rb = crate::runbook::parse(&crate::runbook::Source {
            name: "rb.yaml".into(),
            text: "service: S\nnamespace: api\nselector: app=x\ncontainer: c\ntelemetry:\n  provider: newrelic\n  account_id: 1\nenvironments:\n  prod:\n    healthz_url: https://h/healthz\n    regions:\n      us-south: { context: a }\n      us-east: { context: b }\n".into(),
        })
        .unwrap();
        rb.telemetry_for("prod").unwrap()
    }

    fn judged(key_set: Option<bool>, answer: Option<Result<Vec<Row>, Problem>>) -> Vec<CheckRow> {
        let mut facts = super::super::judge::tests_facts();
        facts.telemetry = Some(TelemetryFacts {
            telemetry: telemetry(),
            placeholder: None,
            key_set,
            answer,
            regions: vec!["us-south".into(), "us-east".into()],
            env: "prod".into(),
        });
        let mut out = vec![];
        rows(&facts, &mut out);
        out
    }

    #[test]
    fn the_key_the_endpoint_and_a_facet_per_region_each_a_row() {
        let south = Row { facet: "us-south".into(), pods: Some(1.0), latest_ms: None };
        let east = Row { facet: "us-eats".into(), pods: Some(3.0), latest_ms: None };
        let r = judged(Some(true), Some(Ok(vec![south, east])));
        let got: Vec<(CheckKind, Option<&str>, Outcome)> =
            r.iter().map(|c| (c.check, c.region.as_deref(), c.result)).collect();
        assert_eq!(
            got,
            [
                (CheckKind::TelemetryKey, None, Outcome::Ok),
                (CheckKind::TelemetryEndpoint, None, Outcome::Ok),
                (CheckKind::TelemetryFacet, Some("us-south"), Outcome::Ok),
                (CheckKind::TelemetryFacet, Some("us-east"), Outcome::Fail),
            ]
        );
        assert_eq!(
            r[3].fix.as_deref(),
            Some("did you mean us-eats? set environments.prod.regions.us-east.telemetry to it")
        );
        assert_eq!(r[2].detail, "us-south: 1 pod reporting");
        // No key: said once, and nothing asked.
        let r = judged(Some(false), None);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!((r[0].result, r[0].detail.as_str()), (Outcome::Missing, "NEW_RELIC_API_KEY is not set"));
        // A wrong key: the endpoint row fails, naming the variable to check.
        let r = judged(
            Some(true),
            Some(Err(Problem::new(ProblemKind::Unauthorized, "New Relic answered 401 Unauthorized"))),
        );
        assert_eq!(r.len(), 2);
        assert!(r[1].fix.as_deref().is_some_and(|f| f.contains("NEW_RELIC_API_KEY")), "{r:?}");
        // The regions' rows are not there: said so.
        assert_eq!(r[1].detail, "New Relic answered 401 Unauthorized; no region's value checked");
    }
}
