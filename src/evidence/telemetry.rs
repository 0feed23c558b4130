//! The telemetry step: one query to the provider the runbook names
//! (Prometheus' HTTP API or New Relic's NerdGraph), faceted by region, read
//! into what each region reported: how many pods, and when last. Pushback
//! (429, 503, 504) is retried within the run's deadline as the API servers'
//! is ([`crate::kube::pushback`]'s backoff); anything else that keeps the
//! query from an answer is one problem, in the provider's own words, with
//! the key masked. What the facts mean is `judge`'s.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant as TokioInstant;

use crate::kube::{neterr, pushback};
use crate::report::{Problem, ProblemDetail, ProblemKind, RegionTelemetry, Status, TelemetryStep};
use crate::runbook::{Provider, Telemetry};
use crate::sanitize;

/// Longest body excerpt kept in a problem.
const EXCERPT_CHARS: usize = 200;
/// Most facets kept in the step.
const MAX_FACETS: usize = 20;

/// One result row: the value naming a region, its pods, its latest point.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub facet: String,
    pub pods: Option<f64>,
    /// Milliseconds since the epoch.
    pub latest_ms: Option<f64>,
}

/// What asking gave: the rows, or why there are none; and the retries.
#[derive(Debug)]
pub struct Asked {
    pub rows: Result<Vec<Row>, Problem>,
    pub retries: u32,
}

/// The key or token the provider needs, from the variable the runbook
/// names: `Err` when New Relic's is not set (Prometheus' token is optional).
pub fn key(t: &Telemetry, var: impl Fn(&str) -> Option<String>) -> Result<Option<String>, Problem> {
    let Some(name) = &t.key_env else { return Ok(None) };
    match var(name).filter(|v| !v.trim().is_empty()) {
        Some(v) => Ok(Some(v.trim().to_string())),
        None if t.provider == Provider::Prometheus => Ok(None),
        None => Err(Problem::new(
            ProblemKind::Unauthorized,
            format!("{name} is not set: {}'s API key is read from it", t.provider.display()),
        )
        .detail(ProblemDetail::EnvUnset { var: name.clone() })),
    }
}

/// Asks the provider, until `deadline`; `key` from [`key`].
pub async fn ask(client: &reqwest::Client, t: &Telemetry, key: Option<&str>, deadline: TokioInstant) -> Asked {
    let mut retries = 0;
    let url = crate::mask::url(&t.url);
    loop {
        let sent = tokio::time::timeout_at(deadline, send(client, t, key)).await;
        let (status, body, after) = match sent {
            Err(_) => return Asked { rows: Err(no_answer(t, &url)), retries },
            Ok(Err(e)) if e.is_timeout() => return Asked { rows: Err(no_answer(t, &url)), retries },
            Ok(Err(e)) => {
                let (kind, msg) = neterr::classify(&e);
                let msg = format!("cannot reach {} at {url}: {msg}", t.provider.display());
                return Asked { rows: Err(problem(kind, msg, key)), retries };
            }
            Ok(Ok(got)) => got,
        };
        if pushback::RETRIED.contains(&status) {
            let now = TokioInstant::now();
            let left = deadline.saturating_duration_since(now).saturating_sub(pushback::MARGIN);
            let wait = pushback::backoff(retries, pushback::jitter()).max(after.unwrap_or_default());
            if wait > left {
                let again = if retries == 0 { String::new() } else { format!(", still after {} retries", retries) };
                let msg = format!(
                    "throttled: {} answered {}{again}; no time was left to try again before the deadline (--timeout)",
                    t.provider.display(),
                    pushback::status_words(status)
                );
                return Asked { rows: Err(problem(ProblemKind::Throttled, msg, key)), retries };
            }
            retries += 1;
            tokio::time::sleep_until(now + wait).await;
            continue;
        }
        return Asked { rows: read(t, status, &body, key), retries };
    }
}

fn no_answer(t: &Telemetry, url: &str) -> Problem {
    Problem::new(
        ProblemKind::Timeout,
        format!("no answer from {} at {url} before the deadline (--timeout)", t.provider.display()),
    )
}

/// A problem whose words may hold the key: masked as every secret is, and
/// the key itself, whatever its shape, never shown.
fn problem(kind: ProblemKind, message: String, key: Option<&str>) -> Problem {
    let message = match key.filter(|k| k.len() >= 4) {
        Some(k) => message.replace(k, crate::mask::MASKED),
        None => message,
    };
    Problem::new(kind, message)
}

type Reply = (u16, Vec<u8>, Option<Duration>);

/// One request: Prometheus' GET, or NerdGraph's POST.
async fn send(client: &reqwest::Client, t: &Telemetry, key: Option<&str>) -> Result<Reply, reqwest::Error> {
    let req = match t.provider {
        Provider::Prometheus => {
            let base = t.url.trim_end_matches('/');
            let endpoint = format!("{base}/api/v1/query");
            let mut r = match reqwest::Url::parse(&endpoint) {
                Ok(mut u) => {
                    u.query_pairs_mut().append_pair("query", &t.filled_query());
                    client.get(u)
                }
                Err(_) => client.get(endpoint),
            };
            if let Some(k) = key {
                r = r.bearer_auth(k);
            }
            r
        }
        Provider::Newrelic => {
            // Marked sensitive: never written out by a debug log of the request.
            let mut value = http::HeaderValue::from_str(key.unwrap_or_default())
                .unwrap_or_else(|_| http::HeaderValue::from_static(""));
            value.set_sensitive(true);
            client
                .post(&t.url)
                .header("API-Key", value)
                .header("Content-Type", "application/json")
                .body(nerdgraph_body(t))
        }
    };
    let resp = req.header("Accept", "application/json").send().await?;
    let status = resp.status().as_u16();
    let after = pushback::retry_after(resp.headers());
    let body = resp.bytes().await?;
    Ok((status, body.to_vec(), after))
}

/// NerdGraph's request: `{ actor { account(id: N) { nrql(query: "…") { results } } } }`.
pub fn nerdgraph_body(t: &Telemetry) -> String {
    let nrql = serde_json::to_string(&t.filled_query()).expect("a string serialises");
    let graphql =
        format!("{{ actor {{ account(id: {}) {{ nrql(query: {nrql}) {{ results }} }} }} }}", t.account_id.unwrap_or(0));
    serde_json::json!({ "query": graphql }).to_string()
}

/// A reply read into rows, or the problem it says.
pub fn read(t: &Telemetry, status: u16, body: &[u8], key: Option<&str>) -> Result<Vec<Row>, Problem> {
    let who = t.provider.display();
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let said = json.as_ref().and_then(|j| provider_message(t.provider, j)).unwrap_or_else(|| excerpt(body));
    let kind = match status {
        401 => Some(ProblemKind::Unauthorized),
        403 => Some(ProblemKind::Forbidden),
        200..=299 => None,
        400 | 422 if json.as_ref().is_some_and(|j| provider_message(t.provider, j).is_some()) => {
            Some(ProblemKind::Query)
        }
        _ => Some(ProblemKind::Other),
    };
    if let Some(kind) = kind {
        let what = if kind == ProblemKind::Query { "refused the query" } else { "answered" };
        let msg = format!("{who} {what} {}: {said}", pushback::status_words(status));
        return Err(problem(kind, msg, key));
    }
    let Some(json) = json else {
        return Err(problem(ProblemKind::Other, format!("{who}'s reply is not JSON: {said}"), key));
    };
    let rows = match t.provider {
        Provider::Prometheus => prometheus_rows(&json, &t.label),
        Provider::Newrelic => nerdgraph_rows(&json),
    };
    rows.map_err(|(kind, m)| problem(kind, format!("{who} {m}"), key))
}

/// The provider's own words about what went wrong, when it said any.
fn provider_message(p: Provider, j: &Value) -> Option<String> {
    let text = match p {
        Provider::Prometheus => {
            let e = j.get("error")?.as_str()?;
            match j.get("errorType").and_then(Value::as_str) {
                Some(t) => format!("{e} ({t})"),
                None => e.to_string(),
            }
        }
        Provider::Newrelic => {
            let errors = j.get("errors")?.as_array()?;
            let words: Vec<&str> = errors.iter().filter_map(|e| e.get("message")?.as_str()).take(3).collect();
            if words.is_empty() {
                return None;
            }
            words.join("; ")
        }
    };
    Some(sanitize::clean(&text, EXCERPT_CHARS))
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.is_empty() { "an empty body".into() } else { sanitize::clean(&one, EXCERPT_CHARS) }
}

type Bad = (ProblemKind, String);

/// Prometheus' instant vector, one sample per region label value.
fn prometheus_rows(j: &Value, label: &str) -> Result<Vec<Row>, Bad> {
    if j.get("status").and_then(Value::as_str) == Some("error") {
        let said = provider_message(Provider::Prometheus, j).unwrap_or_default();
        return Err((ProblemKind::Query, format!("refused the query: {said}")));
    }
    let data = j.get("data").ok_or((ProblemKind::Other, "answered without `data`".to_string()))?;
    let kind = data.get("resultType").and_then(Value::as_str).unwrap_or("nothing");
    let Some(result) = data.get("result").and_then(Value::as_array).filter(|_| kind == "vector") else {
        let m = format!(
            "answered a {kind}, not a vector: the query must give one sample per {label} (e.g. count by ({label}) (…))"
        );
        return Err((ProblemKind::Query, sanitize::clean(&m, EXCERPT_CHARS)));
    };
    Ok(result
        .iter()
        .filter_map(|s| {
            let facet = s.get("metric")?.get(label)?.as_str()?;
            let value = s.get("value")?.as_array()?;
            let at = value.first().and_then(Value::as_f64);
            let pods = value.get(1).and_then(Value::as_str).and_then(|v| v.parse::<f64>().ok());
            Some(Row { facet: sanitize::clean(facet, 100), pods, latest_ms: at.map(|s| s * 1000.0) })
        })
        .collect())
}

/// NerdGraph's `data.actor.account.nrql.results`, or its `errors`.
fn nerdgraph_rows(j: &Value) -> Result<Vec<Row>, Bad> {
    let results = j.pointer("/data/actor/account/nrql/results").and_then(Value::as_array);
    let Some(results) = results else {
        return Err(match provider_message(Provider::Newrelic, j) {
            Some(said) => (ProblemKind::Query, format!("refused the query: {said}")),
            None => (ProblemKind::Other, "answered without data.actor.account.nrql.results".to_string()),
        });
    };
    Ok(results.iter().filter_map(nerdgraph_row).collect())
}

/// One NRQL result row: `facet` (a list for several attributes: its first),
/// the time `latest.timestamp` (else any `latest.*` number), the pods the
/// first `uniqueCount.*` number (else `count`).
fn nerdgraph_row(r: &Value) -> Option<Row> {
    let o = r.as_object()?;
    let facet = match o.get("facet")? {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.first()?.as_str()?.to_string(),
        other => other.to_string(),
    };
    let latest_ms = o
        .get("latest.timestamp")
        .and_then(Value::as_f64)
        .or_else(|| o.iter().find(|(k, v)| k.starts_with("latest.") && v.is_number()).and_then(|(_, v)| v.as_f64()));
    let pods = o
        .iter()
        .find(|(k, v)| k.starts_with("uniqueCount.") && v.is_number())
        .map(|(_, v)| v)
        .or_else(|| o.get("count"))
        .and_then(Value::as_f64);
    Some(Row { facet: sanitize::clean(&facet, 100), pods, latest_ms })
}

/// The step's facts: whom was asked what, and what came back.
pub fn step(t: &Telemetry, asked: &Asked, duration_ms: u64) -> TelemetryStep {
    let mut facets: Vec<String> = vec![];
    for r in asked.rows.iter().flatten() {
        if !facets.contains(&r.facet) && facets.len() < MAX_FACETS {
            facets.push(r.facet.clone());
        }
    }
    TelemetryStep {
        configured: true,
        provider: Some(t.provider),
        url: Some(crate::mask::url(&t.url)),
        query: Some(sanitize::clean(&t.filled_query(), sanitize::MAX_CHARS)),
        window_secs: t.since.as_secs(),
        windowed: t.windowed(),
        facets,
        retries: asked.retries,
        error: asked.rows.as_ref().err().cloned(),
        duration_ms,
    }
}

/// What the rows say of `region`, at `now` (the clock is passed in). The
/// status is left to `judge`: `error` when the provider was not asked or
/// did not answer, else `pass` until judged.
pub fn region(
    t: &Telemetry,
    rows: &Result<Vec<Row>, Problem>,
    region: &str,
    expected: u32,
    now: jiff::Timestamp,
) -> RegionTelemetry {
    let facet = t.facet(region).to_string();
    let mut out = RegionTelemetry {
        status: Status::Pass,
        facet: facet.clone(),
        expected,
        pods_reporting: None,
        latest: None,
        latest_secs_ago: None,
        window_secs: t.since.as_secs(),
        error: None,
    };
    let rows = match rows {
        Err(p) => {
            out.status = Status::Error;
            out.error = Some(p.clone());
            return out;
        }
        Ok(rows) => rows,
    };
    let mine: Vec<&Row> = rows.iter().filter(|r| r.facet == facet).collect();
    let pods: f64 = mine.iter().filter_map(|r| r.pods).filter(|p| p.is_finite() && *p > 0.0).sum();
    if !mine.is_empty() {
        out.pods_reporting = Some(pods.round().min(f64::from(u32::MAX)) as u32);
    }
    let latest = mine
        .iter()
        .filter_map(|r| r.latest_ms)
        .filter(|m| m.is_finite())
        .fold(None, |a: Option<f64>, m| Some(a.map_or(m, |a| a.max(m))));
    if let Some(ts) = latest.and_then(|ms| jiff::Timestamp::from_millisecond(ms as i64).ok()) {
        out.latest = Some(ts);
        out.latest_secs_ago = Some(now.duration_since(ts).as_secs().max(0) as u64);
    }
    out
}

#[cfg(test)]
mod tests {
    //! Each wire format's edge cases against a small local HTTP server.

    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    const KEY: &str = "NRAK-ABCDEFGHIJKLMNOPQRSTUVWXY12";

    /// A canned answer: status, extra headers, body, and a delay before it.
    #[derive(Clone)]
    struct Canned {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
        delay: Duration,
    }

    fn canned(status: u16, body: &str) -> Canned {
        Canned { status, headers: vec![], body: body.into(), delay: Duration::ZERO }
    }

    /// What the server received: the request line, headers and body of each request.
    type Seen = Arc<Mutex<Vec<String>>>;

    /// Serves `answers` in order (the last again when they run out) on a free port.
    async fn serve(answers: Vec<Canned>) -> (String, Seen) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seen = Arc::new(Mutex::new(vec![]));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let a = answers[n.min(answers.len() - 1)].clone();
                n += 1;
                let log = log.clone();
                tokio::spawn(async move {
                    let request = read_request(&mut sock).await;
                    log.lock().unwrap().push(request);
                    tokio::time::sleep(a.delay).await;
                    let mut head =
                        format!("HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n", a.status, a.body.len());
                    for (k, v) in &a.headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    let _ = sock.write_all(format!("{head}\r\n{}", a.body).as_bytes()).await;
                });
            }
        });
        (url, seen)
    }

    async fn read_request(sock: &mut tokio::net::TcpStream) -> String {
        let mut buf = vec![];
        let mut chunk = [0u8; 4096];
        while let Ok(n) = sock.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    break;
                }
            }
        }
        String::from_utf8_lossy(&buf).to_string()
    }

    fn telemetry(provider: Provider, url: &str) -> Telemetry {
        let text = match provider {
            Provider::Prometheus => format!("provider: prometheus\n  url: {url}\n  token_env: PROM_TOKEN"),
            Provider::Newrelic => format!("provider: newrelic\n  account_id: 1234567\n  url: {url}/graphql"),
        };
        let rb = crate::runbook::parse(&crate::runbook::Source {
            name: "rb.yaml".into(),
            text: format!(
                "service: S\nnamespace: api\nselector: app=x\ncontainer: api-key-service\ntelemetry:\n  {text}\nenvironments:\n  prod:\n    healthz_url: https://h/healthz\n    regions:\n      us-south: {{ context: a }}\n      us-east: {{ context: b, telemetry: prod-us-east }}\n"
            ),
        })
        .unwrap();
        rb.telemetry_for("prod").unwrap()
    }

    async fn asked(t: &Telemetry, key: Option<&str>, within: Duration) -> Asked {
        crate::install_crypto();
        let client = crate::evidence::healthz::client(within).unwrap();
        ask(&client, t, key, TokioInstant::now() + within).await
    }

    fn now() -> jiff::Timestamp {
        "2026-12-04T17:00:00Z".parse().unwrap()
    }

    #[tokio::test]
    async fn nerdgraph_is_asked_as_documented_and_its_rows_read_per_region() {
        let ms = now().as_millisecond() - 30_000;
        let body = serde_json::json!({"data": {"actor": {"account": {"nrql": {"results": [
            {"facet": "us-south", "k8s.clusterName": "us-south", "latest.timestamp": ms, "uniqueCount.k8s.podName": 3},
            {"facet": ["prod-us-east"], "latest.timestamp": ms, "uniqueCount.k8s.podName": 1}
        ]}}}}});
        let (url, seen) = serve(vec![canned(200, &body.to_string())]).await;
        let t = telemetry(Provider::Newrelic, &url);
        let a = asked(&t, Some(KEY), Duration::from_secs(5)).await;
        let request = seen.lock().unwrap()[0].clone();
        assert!(request.starts_with("POST /graphql HTTP/1.1"), "{request}");
        assert!(request.to_ascii_lowercase().contains(&format!("api-key: {}", KEY.to_ascii_lowercase())), "{request}");
        let sent: Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(
            sent["query"],
            "{ actor { account(id: 1234567) { nrql(query: \"SELECT latest(timestamp), uniqueCount(k8s.podName) FROM Metric WHERE k8s.deploymentName = 'api-key-service' FACET k8s.clusterName SINCE 10 minutes AGO\") { results } } } }"
        );
        let south = region(&t, &a.rows, "us-south", 3, now());
        assert_eq!(
            (south.pods_reporting, south.latest_secs_ago, south.facet.as_str()),
            (Some(3), Some(30), "us-south")
        );
        let east = region(&t, &a.rows, "us-east", 3, now());
        assert_eq!((east.pods_reporting, east.facet.as_str()), (Some(1), "prod-us-east"), "a facet list's first value");
    }

    #[tokio::test]
    async fn prometheus_is_asked_with_the_query_and_token_and_a_missing_region_has_no_data() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"region":"us-south"},"value":[1733300000.123,"3"]}]}}"#;
        let (url, seen) = serve(vec![canned(200, body)]).await;
        let t = telemetry(Provider::Prometheus, &url);
        let a = asked(&t, Some("t0ken-123"), Duration::from_secs(5)).await;
        let request = seen.lock().unwrap()[0].clone();
        assert!(request.starts_with("GET /api/v1/query?query=count+by+%28region%29"), "{request}");
        assert!(request.contains("authorization: Bearer t0ken-123"), "{request}");
        let south = region(&t, &a.rows, "us-south", 3, now());
        assert_eq!(south.pods_reporting, Some(3));
        assert_eq!(south.latest, Some(jiff::Timestamp::from_millisecond(1_733_300_000_123).unwrap()));
        let east = region(&t, &a.rows, "us-east", 3, now());
        assert_eq!(
            (east.pods_reporting, east.status, &east.error),
            (None, Status::Pass, &None),
            "no data, judged later"
        );
        assert_eq!(step(&t, &a, 1).facets, ["us-south"]);
    }

    #[tokio::test]
    async fn a_401_is_unauthorized_in_the_providers_words_with_the_key_masked() {
        let body = format!(r#"{{"errors":[{{"message":"Invalid API key: {KEY}"}}]}}"#);
        let (url, _) = serve(vec![canned(401, &body)]).await;
        let t = telemetry(Provider::Newrelic, &url);
        let p = asked(&t, Some(KEY), Duration::from_secs(5)).await.rows.unwrap_err();
        assert_eq!(p.kind, ProblemKind::Unauthorized);
        assert_eq!(p.message, "New Relic answered 401 Unauthorized: Invalid API key: NRAK-[masked]");
        // A key of another shape is never shown either.
        let (url, _) = serve(vec![canned(401, r#"{"errors":[{"message":"bad key plainsecret99"}]}"#)]).await;
        let t = telemetry(Provider::Newrelic, &url);
        let p = asked(&t, Some("plainsecret99"), Duration::from_secs(5)).await.rows.unwrap_err();
        assert!(!p.message.contains("plainsecret99"), "{}", p.message);
    }

    #[tokio::test]
    async fn graphql_errors_and_prometheus_errors_are_the_query_refused() {
        let body = r#"{"data":{"actor":{"account":{"nrql":null}}},"errors":[{"message":"NRQL Syntax Error: Error at line 1 position 8","path":["actor","account","nrql"]}]}"#;
        let (url, _) = serve(vec![canned(200, body)]).await;
        let p = asked(&telemetry(Provider::Newrelic, &url), Some(KEY), Duration::from_secs(5)).await.rows.unwrap_err();
        assert_eq!(
            (p.kind, p.message.as_str()),
            (ProblemKind::Query, "New Relic refused the query: NRQL Syntax Error: Error at line 1 position 8")
        );
        let body = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        let (url, _) = serve(vec![canned(400, body)]).await;
        let p = asked(&telemetry(Provider::Prometheus, &url), None, Duration::from_secs(5)).await.rows.unwrap_err();
        assert_eq!(
            (p.kind, p.message.as_str()),
            (ProblemKind::Query, "Prometheus refused the query 400 Bad Request: parse error at char 5 (bad_data)")
        );
    }

    #[tokio::test]
    async fn a_reply_that_is_not_json_or_not_a_vector_says_so() {
        let (url, _) = serve(vec![canned(200, "<html>proxy login</html>")]).await;
        let p = asked(&telemetry(Provider::Newrelic, &url), Some(KEY), Duration::from_secs(5)).await.rows.unwrap_err();
        assert_eq!(
            (p.kind, p.message.as_str()),
            (ProblemKind::Other, "New Relic's reply is not JSON: <html>proxy login</html>")
        );
        let (url, _) =
            serve(vec![canned(200, r#"{"status":"success","data":{"resultType":"scalar","result":[1,"3"]}}"#)]).await;
        let p = asked(&telemetry(Provider::Prometheus, &url), None, Duration::from_secs(5)).await.rows.unwrap_err();
        assert_eq!(p.kind, ProblemKind::Query);
        assert!(p.message.contains("answered a scalar, not a vector"), "{}", p.message);
    }

    #[tokio::test]
    async fn pushback_is_retried_and_a_slow_or_absent_provider_ends_by_the_deadline() {
        let ok = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        let mut busy = canned(429, "slow down");
        busy.headers.push(("retry-after", "0".into()));
        let (url, seen) = serve(vec![busy, canned(503, ""), canned(200, ok)]).await;
        let a = asked(&telemetry(Provider::Prometheus, &url), None, Duration::from_secs(10)).await;
        assert_eq!((a.rows.as_ref().map(Vec::len), a.retries, seen.lock().unwrap().len()), (Ok(0), 2, 3));
        // Pushed back to the end: throttled, said so, within the deadline.
        let (url, _) = serve(vec![canned(503, "")]).await;
        let started = std::time::Instant::now();
        let a = asked(&telemetry(Provider::Prometheus, &url), None, Duration::from_secs(2)).await;
        let p = a.rows.unwrap_err();
        assert_eq!(p.kind, ProblemKind::Throttled, "{}", p.message);
        assert!(p.message.starts_with("throttled: Prometheus answered 503 Service Unavailable"), "{}", p.message);
        assert!(started.elapsed() < Duration::from_secs(3));
        // Slow past the deadline.
        let mut slow = canned(200, ok);
        slow.delay = Duration::from_secs(30);
        let (url, _) = serve(vec![slow]).await;
        let started = std::time::Instant::now();
        let p = asked(&telemetry(Provider::Prometheus, &url), None, Duration::from_millis(800)).await.rows.unwrap_err();
        assert_eq!(p.kind, ProblemKind::Timeout, "{}", p.message);
        assert!(p.message.starts_with("no answer from Prometheus at http://127.0.0.1:"), "{}", p.message);
        assert!(started.elapsed() < Duration::from_secs(5));
        // Nobody listening.
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let t = telemetry(Provider::Newrelic, &format!("http://127.0.0.1:{port}"));
        let p = asked(&t, Some(KEY), Duration::from_secs(5)).await.rows.unwrap_err();
        assert_eq!(p.kind, ProblemKind::Refused, "{}", p.message);
        assert!(p.message.starts_with("cannot reach New Relic at http://127.0.0.1:"), "{}", p.message);
    }

    #[test]
    fn new_relics_key_must_be_set_and_prometheus_token_is_optional() {
        let t = telemetry(Provider::Newrelic, "http://x");
        let p = key(&t, |_| None).unwrap_err();
        assert_eq!(p.message, "NEW_RELIC_API_KEY is not set: New Relic's API key is read from it");
        assert_eq!(p.detail, ProblemDetail::EnvUnset { var: "NEW_RELIC_API_KEY".into() });
        assert_eq!(key(&t, |_| Some(format!(" {KEY}\n"))).unwrap().as_deref(), Some(KEY));
        assert_eq!(key(&telemetry(Provider::Prometheus, "http://x"), |_| None).unwrap(), None);
    }
}
