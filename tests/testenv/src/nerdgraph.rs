//! A stand-in for New Relic's NerdGraph API (`POST /graphql`) answering NRQL
//! queries from the environment's exporters, probed when asked: a facet per
//! region with a target answering, `latest.*` now, `uniqueCount.*` and
//! `count` the targets answering. Replies are shaped as NerdGraph's: 401 with
//! a JSON `errors` body without the right `API-Key`, 200 with GraphQL
//! `errors` for a query it cannot read.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::server::{self, Body};
use crate::telemetry::http_get;

/// What the stand-in answers for.
pub struct Config {
    pub api_key: String,
    pub account_id: u64,
    /// Each region's target ports.
    pub targets: Vec<(String, Vec<u16>)>,
}

/// Serves on a free port of 127.0.0.1 until killed; writes its URL to `url_file`.
pub async fn run(config: Config, url_file: &std::path::Path) -> Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/graphql", listener.local_addr()?);
    let tmp = url_file.with_extension("tmp");
    std::fs::write(&tmp, &url)?;
    std::fs::rename(&tmp, url_file)?;
    let config = Arc::new(config);
    server::serve(listener, None, move |req| {
        let config = config.clone();
        async move { respond(&config, req).await }
    })
    .await;
    Ok(())
}

fn errors(status: u16, message: &str) -> hyper::Response<Body> {
    server::full(status, "application/json", json!({"errors": [{"message": message}]}).to_string())
}

/// A GraphQL error about the `nrql` field, as NerdGraph answers a bad query.
fn nrql_error(message: &str) -> hyper::Response<Body> {
    let body = json!({
        "data": {"actor": {"account": {"nrql": null}}},
        "errors": [{"message": message, "path": ["actor", "account", "nrql"]}],
    });
    server::full(200, "application/json", body.to_string())
}

async fn respond(config: &Config, req: Request<Incoming>) -> hyper::Response<Body> {
    if req.uri().path() != "/graphql" {
        return errors(404, "Not found");
    }
    if req.method() != hyper::Method::POST {
        return errors(405, "Use POST");
    }
    let key = req.headers().get("api-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if key != config.api_key {
        return errors(401, "Invalid API key or insufficient scope.");
    }
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return errors(400, "Could not read the request body");
    };
    let graphql = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => v["query"].as_str().map(str::to_string),
        Err(_) => None,
    };
    let Some(graphql) = graphql else {
        return errors(400, "The body is not JSON with a `query` string");
    };
    let (account, nrql) = match read_graphql(&graphql) {
        Ok(q) => q,
        Err(e) => return errors(200, &format!("GraphQL parse error: {e}")),
    };
    if account != config.account_id {
        return nrql_error(&format!("Not authorized to access account {account}"));
    }
    let query = match Nrql::parse(&nrql) {
        Ok(q) => q,
        Err(e) => return nrql_error(&format!("NRQL Syntax Error: {e}")),
    };
    let mut rows = vec![];
    for (region, ports) in &config.targets {
        let answering = answering(ports).await;
        if answering > 0 {
            rows.push(query.row(region, answering));
        }
    }
    let body = json!({"data": {"actor": {"account": {"nrql": {"results": rows}}}}});
    server::full(200, "application/json", body.to_string())
}

/// The targets answering `/metrics` with 200 now.
async fn answering(ports: &[u16]) -> usize {
    let probes = ports.iter().map(|p| http_get(*p, "/metrics", Duration::from_secs(1)));
    futures_util::future::join_all(probes).await.into_iter().filter(|r| matches!(r, Ok((200, _)))).count()
}

/// The account id and NRQL of `{ actor { account(id: N) { nrql(query: "…") { results } } } }`.
pub fn read_graphql(q: &str) -> Result<(u64, String)> {
    let after = |s: &str, word: &str| s.find(word).map(|i| s[i + word.len()..].trim_start().to_string());
    let account = after(q, "account(").context("no `account(id: N)`")?;
    let id = after(&account, "id:").context("no `account(id: N)`")?;
    let digits: String = id.chars().take_while(char::is_ascii_digit).collect();
    let id = digits.parse().context("the account id is not a number")?;
    let nrql = after(q, "nrql(").and_then(|s| after(&s, "query:")).context("no `nrql(query: \"…\")`")?;
    anyhow::ensure!(nrql.starts_with('"'), "the NRQL is not a string");
    let mut end = None;
    let mut escaped = false;
    for (i, c) in nrql.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let end = end.context("the NRQL string is not closed")?;
    let text: String = serde_json::from_str(&nrql[..=end]).context("the NRQL string has a bad escape")?;
    anyhow::ensure!(q[q.len() - nrql.len() + end..].contains("results"), "no `results` asked for");
    Ok((id, text))
}

/// What the stand-in reads of an NRQL query: `SELECT f(x), … FROM Type
/// [WHERE …] [FACET attr] [SINCE n unit AGO]`.
#[derive(Debug, PartialEq)]
pub struct Nrql {
    /// (result key, function) per selected aggregate.
    pub select: Vec<(String, String)>,
    pub facet: Option<String>,
}

impl Nrql {
    pub fn parse(q: &str) -> Result<Nrql> {
        let words: Vec<&str> = q.split_whitespace().collect();
        let is = |i: usize, w: &str| words.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w));
        anyhow::ensure!(is(0, "select"), "expected SELECT at the start of '{q}'");
        let from = (1..words.len()).find(|i| is(*i, "from")).context("expected FROM")?;
        anyhow::ensure!(from + 1 < words.len(), "expected an event type after FROM");
        let select = words[1..from].join(" ");
        anyhow::ensure!(!select.is_empty(), "expected something to SELECT");
        let select = select.split(',').map(aggregate).collect::<Result<Vec<_>>>()?;
        let mut i = from + 2;
        if is(i, "where") {
            i = (i + 1..words.len()).find(|j| is(*j, "facet") || is(*j, "since")).unwrap_or(words.len());
        }
        let mut facet = None;
        if is(i, "facet") {
            facet = Some(words.get(i + 1).context("expected an attribute after FACET")?.trim_matches('`').to_string());
            i += 2;
        }
        if is(i, "since") {
            let n = words.get(i + 1).and_then(|n| n.parse::<u64>().ok()).context("expected a number after SINCE")?;
            let unit = words.get(i + 2).map(|u| u.to_ascii_lowercase()).unwrap_or_default();
            let units = ["second", "seconds", "minute", "minutes", "hour", "hours", "day", "days"];
            anyhow::ensure!(n > 0 && units.contains(&unit.as_str()), "expected a duration after SINCE");
            anyhow::ensure!(is(i + 3, "ago"), "expected AGO after SINCE {n} {unit}");
            i += 4;
        }
        if let Some(w) = words.get(i) {
            anyhow::bail!("unexpected '{w}'");
        }
        Ok(Nrql { select, facet })
    }

    /// A result row for `region` with `pods` targets answering.
    fn row(&self, region: &str, pods: usize) -> Value {
        let mut row = serde_json::Map::new();
        if let Some(f) = &self.facet {
            row.insert("facet".into(), region.into());
            row.insert(f.clone(), region.into());
        }
        let now_ms = jiff::Timestamp::now().as_millisecond();
        for (key, function) in &self.select {
            let v: Value = if function == "latest" { now_ms.into() } else { pods.into() };
            row.insert(key.clone(), v);
        }
        Value::Object(row)
    }
}

/// `latest(x)` → (`latest.x`, latest); `uniqueCount(x)` → (`uniqueCount.x`,
/// uniqueCount); `count(*)` → (`count`, count).
fn aggregate(item: &str) -> Result<(String, String)> {
    let item = item.trim();
    let (function, rest) =
        item.split_once('(').with_context(|| format!("expected an aggregate function at '{item}'"))?;
    let arg = rest.strip_suffix(')').with_context(|| format!("expected ')' at '{item}'"))?.trim();
    let function = function.trim();
    anyhow::ensure!(!arg.is_empty(), "expected an argument to {function}");
    match function {
        "latest" | "uniqueCount" => Ok((format!("{function}.{arg}"), function.to_string())),
        "count" => Ok(("count".to_string(), function.to_string())),
        _ => anyhow::bail!("unknown function '{function}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_default_query_and_its_graphql() {
        let nrql = "SELECT latest(timestamp), uniqueCount(k8s.podName) FROM Metric WHERE k8s.deploymentName = 'api-key-service' FACET k8s.clusterName SINCE 10 minutes AGO";
        let q = Nrql::parse(nrql).unwrap();
        assert_eq!(q.facet.as_deref(), Some("k8s.clusterName"));
        let keys: Vec<&str> = q.select.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["latest.timestamp", "uniqueCount.k8s.podName"]);
        let graphql =
            format!("{{ actor {{ account(id: 12) {{ nrql(query: {}) {{ results }} }} }} }}", Value::from(nrql));
        assert_eq!(read_graphql(&graphql).unwrap(), (12, nrql.to_string()));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in [
            "SELEC count(*) FROM Metric",
            "SELECT count(*) FROM",
            "SELECT bogus(x) FROM Metric",
            "SELECT count(*) FROM Metric SINCE ten minutes AGO",
            "SELECT count(*) FROM Metric FACET region SINCE 10 minutes",
            "SELECT count(*) FROM Metric FACET region LIMIT",
        ] {
            assert!(Nrql::parse(bad).is_err(), "{bad}");
        }
        assert!(read_graphql("{ actor { account(id: 1) { nrql(query: \"x) { results } } } }").is_err());
    }
}
