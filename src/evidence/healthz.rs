//! Step 1: GET a healthz URL and check its reply against the runbook: the
//! status, a JSON body with the expected `code`, and `href` and
//! `description`. No reply, another status, a body that is not the JSON
//! object or another code fail; a reply that answers as operational but names
//! another `href` (an alias, a load balancer, a port-forward) or description
//! is a warning, never an outage, and so is one that carries an unrendered
//! template placeholder (`{{site.url}}`: a misconfigured deployment, which
//! the verdict rules count as degraded). TLS is verified, redirects are reported
//! rather than followed, the body is capped, and the whole request has a
//! timeout. Other APIs' healthz ("peers") are probed the same way, 2xx = up.

use std::time::{Duration, Instant};

use crate::kube::neterr;
use crate::mask;
use crate::report::{HealthzCheck, PeerCheck, Problem, ProblemKind, Status};
use crate::runbook::HealthzSpec;
use crate::sanitize;

/// Longest body excerpt kept in a report.
const EXCERPT_CHARS: usize = 200;

pub fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .user_agent(concat!("keysvc-check/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// A result for `url` with nothing checked yet (status fail until passed).
pub fn blank(url: &str) -> HealthzCheck {
    HealthzCheck {
        url: mask::url(url),
        status: Status::Fail,
        http_status: None,
        latency_ms: None,
        reply: None,
        body_excerpt: None,
        problems: vec![],
        mismatches: vec![],
        unrendered: vec![],
        error: None,
    }
}

/// Checks one URL; never fails, the outcome is in the result.
pub async fn check(client: &reqwest::Client, url: &str, spec: &HealthzSpec, timeout: Duration) -> HealthzCheck {
    let mut out = blank(url);
    let started = Instant::now();
    let fetched = tokio::time::timeout(timeout, fetch(client, url, spec.max_body_bytes)).await;
    out.latency_ms = Some(started.elapsed().as_millis() as u64);
    tracing::debug!(url = %out.url, latency_ms = out.latency_ms, "healthz answered or failed");
    let (status, location, body, too_big) = match fetched {
        Err(_) => {
            out.error = Some(Problem::new(
                ProblemKind::Timeout,
                format!("no complete reply within {}", humantime::format_duration(timeout)),
            ));
            return out;
        }
        Ok(Err(e)) => {
            let (kind, msg) = neterr::classify(&e);
            let (kind, msg) = if e.is_timeout() {
                (ProblemKind::Timeout, format!("no complete reply within {}", humantime::format_duration(timeout)))
            } else if e.is_builder() {
                (ProblemKind::Other, format!("cannot request this URL: {e}"))
            } else {
                (kind, msg)
            };
            if e.is_builder() {
                out.status = Status::Error;
            }
            out.error = Some(Problem::new(kind, msg.replace(url, &out.url)));
            return out;
        }
        Ok(Ok(r)) => r,
    };
    evaluate(&mut out, status, location, &body, too_big, url, spec);
    out
}

/// Judges a reply that arrived: status, redirect, size, and the JSON body.
/// Pure, so it can be tested and fuzzed without a server.
pub fn evaluate(
    out: &mut HealthzCheck,
    status: u16,
    location: Option<String>,
    body: &[u8],
    too_big: bool,
    url: &str,
    spec: &HealthzSpec,
) {
    out.http_status = Some(status);
    if (300..400).contains(&status) {
        out.problems.push(format!(
            "redirected ({status}) to {}; redirects are not followed, fix the healthz URL",
            sanitize::clean(&location.unwrap_or_else(|| "nowhere".into()), 200)
        ));
        return;
    }
    if status != spec.status {
        out.problems.push(format!("HTTP status {status}, expected {}", spec.status));
    }
    if too_big {
        out.problems.push(format!("the body is larger than {} bytes; stopped reading", spec.max_body_bytes));
        out.body_excerpt = Some(excerpt(body));
        return;
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v.is_object() => {
            check_reply(&v, url, spec, &mut out.problems, &mut out.mismatches);
            unrendered(&v, "", &mut out.unrendered);
            out.reply = Some(sanitize_json(v));
        }
        Ok(_) | Err(_) => {
            let what = if std::str::from_utf8(body).is_err() {
                "the body is not UTF-8 text"
            } else if body.is_empty() {
                "the body is empty"
            } else {
                "the body is not a JSON object"
            };
            out.problems.push(format!("{what}; expected {{\"href\":…,\"code\":{},\"description\":…}}", spec.code));
            out.body_excerpt = Some(excerpt(body));
        }
    }
    if out.problems.is_empty() {
        out.status = if out.mismatches.is_empty() && out.unrendered.is_empty() { Status::Pass } else { Status::Warn };
    }
}

/// The start of a body, on one line: its line breaks and runs of
/// whitespace (an HTML page's indentation) become one space, then it is
/// made safe like any outside text.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    sanitize::clean(&one_line, EXCERPT_CHARS)
}

/// The URL as it names a place, without user name or password.
fn without_credentials(u: &reqwest::Url) -> String {
    let mut u = u.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// Whether two URLs name the same place: credentials, a default port, the
/// host's case and a trailing slash do not matter.
fn same_place(a: &str, b: &str) -> bool {
    let place = |s: &str| {
        let s = s.trim();
        let named = reqwest::Url::parse(s).map_or_else(|_| s.to_string(), |u| without_credentials(&u));
        named.trim_end_matches('/').to_string()
    };
    place(a) == place(b)
}

/// An unrendered template placeholder in `s`, as Go/Jinja/Liquid/Helm
/// (`{{…}}`, `{%…%}`), shell/Spring (`${…}`), Python (`%(name)s`) or ERB
/// (`<%= … %>`) leave it when the values were never filled in.
pub fn template_placeholder(s: &str) -> Option<&str> {
    static TEMPLATE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\{\{.*?\}\}|\{%.*?%\}|\$\{[^{}]+\}|%\([A-Za-z_][A-Za-z0-9_.-]*\)[sdifr]|<%=?.*?%>")
            .expect("the template pattern is valid")
    });
    TEMPLATE.find(s).map(|m| m.as_str())
}

/// Each string of the reply (its fields by dotted path, as far as a reply
/// is shown) that holds an unrendered template: `href is {{site.url}}`.
fn unrendered(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    match v {
        Value::String(s) if template_placeholder(s).is_some() => {
            let field = if path.is_empty() { "the reply" } else { path };
            out.push(format!("{field} is {}", sanitize::clean(s, 200)));
        }
        Value::Array(a) => {
            for (i, v) in a.iter().take(20).enumerate() {
                unrendered(v, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, v) in o.iter().take(20) {
                let k = sanitize::clean(k, 60);
                unrendered(v, &if path.is_empty() { k } else { format!("{path}.{k}") }, out);
            }
        }
        _ => {}
    }
}

type Fetched = (u16, Option<String>, Vec<u8>, bool);

async fn fetch(client: &reqwest::Client, url: &str, max: u64) -> Result<Fetched, reqwest::Error> {
    let mut resp = client.get(url).header("accept", "application/json").send().await?;
    let status = resp.status().as_u16();
    let location = resp.headers().get("location").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mut body = Vec::new();
    let mut too_big = false;
    while let Some(chunk) = resp.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > max {
            body.truncate(max as usize);
            too_big = true;
            break;
        }
    }
    Ok((status, location, body, too_big))
}

/// `problems` get what makes the reply a failure (the code); `mismatches`
/// what only differs from the runbook while the service says it is fine.
fn check_reply(
    v: &serde_json::Value,
    url: &str,
    spec: &HealthzSpec,
    problems: &mut Vec<String>,
    mismatches: &mut Vec<String>,
) {
    match v.get("code").and_then(|c| c.as_i64()) {
        Some(c) if c == spec.code => {}
        Some(c) => problems.push(format!("code is {c}, expected {}", spec.code)),
        None => problems.push("the reply has no numeric `code`".into()),
    }
    let shown = mask::url(url);
    // A field holding an unrendered template is said once, as that.
    match v.get("href").and_then(|h| h.as_str()) {
        Some(h) if same_place(h, url) || template_placeholder(h).is_some() => {}
        Some(h) => mismatches.push(format!("href is {}, expected {shown}", mask::url(&sanitize::clean(h, 200)))),
        None => mismatches.push("the reply has no `href`".into()),
    }
    match v.get("description").and_then(|d| d.as_str()) {
        Some(d) if d == spec.description || template_placeholder(d).is_some() => {}
        Some(d) => mismatches.push(format!(
            "description is \"{}\", expected \"{}\"",
            sanitize::clean(d, 200),
            spec.description
        )),
        None => mismatches.push("the reply has no `description`".into()),
    }
}

/// Probes another API's healthz: up on any 2xx. Never fails; the outcome is
/// in the result.
pub async fn probe_peer(client: &reqwest::Client, name: &str, url: &str, timeout: Duration) -> PeerCheck {
    let started = Instant::now();
    let got = tokio::time::timeout(timeout, client.get(url).send()).await;
    let latency_ms = Some(started.elapsed().as_millis() as u64);
    let (http_status, error) = match got {
        Err(_) => (
            None,
            Some(Problem::new(
                ProblemKind::Timeout,
                format!("no reply within {}", humantime::format_duration(timeout)),
            )),
        ),
        Ok(Err(e)) => {
            let (kind, msg) = neterr::classify(&e);
            (None, Some(Problem::new(kind, msg.replace(url, &mask::url(url)))))
        }
        Ok(Ok(resp)) => (Some(resp.status().as_u16()), None),
    };
    PeerCheck {
        name: sanitize::clean(name, 80),
        url: mask::url(url),
        up: http_status.is_some_and(|s| (200..300).contains(&s)),
        http_status,
        latency_ms,
        error,
    }
}

/// A string of a reply, masked as any outside text is (a DSN's password:
/// `postgres://svc:[masked]@…`, README's table); a URL's user name alone,
/// which may be a token and which the text masker leaves, is masked as in
/// every URL the tool prints (`https://[masked]@…`). `--no-mask` shows both.
fn reply_text(s: &str) -> String {
    let s = sanitize::clean(s, 200);
    match reqwest::Url::parse(&s) {
        Ok(u) if mask::enabled() && !u.username().is_empty() && u.password().is_none() => mask::url(&s),
        _ => s,
    }
}

/// The reply with every string made safe to show. A field's name and value
/// arrive apart here, so a secret-named field (`"token": "…"`) is masked by
/// its name; the text masker sees only the value.
fn sanitize_json(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(reply_text(&s)),
        Value::Array(a) => Value::Array(a.into_iter().take(20).map(sanitize_json).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .take(20)
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(_) if mask::enabled() && mask::is_secret_key(&k) => mask::MASKED.into(),
                        v => sanitize_json(v),
                    };
                    (sanitize::clean(&k, 60), v)
                })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(status: u16, body: &[u8]) -> HealthzCheck {
        let mut out = blank("https://h/healthz");
        evaluate(&mut out, status, None, body, false, "https://h/healthz", &HealthzSpec::default());
        out
    }

    #[test]
    fn the_runbook_reply_passes_and_trailing_slashes_do_not_matter() {
        let ok = br#"{"href":"https://h/healthz/","code":0,"description":"The API is available and operational."}"#;
        assert_eq!(judge(200, ok).status, Status::Pass);
        assert_eq!(judge(201, ok).status, Status::Fail);
    }

    #[test]
    fn every_wrong_field_is_named() {
        let out = judge(200, br#"{"href":"https://x","code":"0"}"#);
        assert_eq!(out.status, Status::Fail);
        let all = [out.problems.join("\n"), out.mismatches.join("\n")].join("\n");
        assert!(
            all.contains("href is https://x") && all.contains("no numeric `code`") && all.contains("no `description`"),
            "{all}"
        );
        assert!(judge(200, b"[1,2]").problems[0].contains("not a JSON object"));
        assert!(judge(200, b"").problems[0].contains("empty"));
    }

    #[test]
    fn an_operational_reply_through_an_alias_is_a_warning_not_a_failure() {
        let alias = br#"{"href":"http://localhost:8080/healthz","code":0,"description":"The API is available and operational."}"#;
        let out = judge(200, alias);
        assert_eq!(out.status, Status::Warn);
        assert!(out.problems.is_empty());
        assert!(out.mismatches[0].contains("href is http://localhost:8080/healthz"), "{:?}", out.mismatches);
        let other = br#"{"href":"https://h/healthz","code":0,"description":"Operational."}"#;
        assert_eq!(judge(200, other).status, Status::Warn);
        // Down stays down: another code, another status, not the JSON object.
        let bad = br#"{"href":"https://h/healthz","code":3,"description":"The API is available and operational."}"#;
        assert_eq!(judge(200, bad).status, Status::Fail);
        assert_eq!(judge(503, alias).status, Status::Fail);
        assert_eq!(judge(200, b"<html>ok</html>").status, Status::Fail);
    }

    #[test]
    fn secret_named_fields_of_the_reply_are_masked() {
        let body = br#"{"href":"https://h/healthz","code":3,"description":"x","debug":{"db_password":"hunter2","note":"Bearer Zm9vYmFyYmF6"},"token_count":5}"#;
        let reply = judge(200, body).reply.expect("a JSON object");
        assert_eq!(reply["debug"]["db_password"], "[masked]");
        assert_eq!(reply["debug"]["note"], "Bearer [masked]");
        assert_eq!(reply["token_count"], 5);
        let text = judge(503, b"<pre>dsn=postgres://svc:hunter2@db/keys</pre>").body_excerpt.unwrap();
        assert_eq!(text, "<pre>dsn=postgres://svc:[masked]@db/keys</pre>");
    }

    #[test]
    fn a_body_excerpt_is_one_line() {
        let out = judge(503, b"<html>\n  <body>\n    upstream connect error\n  </body>\n</html>\n");
        assert_eq!(out.body_excerpt.as_deref(), Some("<html> <body> upstream connect error </body> </html>"));
    }

    #[test]
    fn a_url_in_a_reply_is_masked_as_in_any_text() {
        // The same as the masker shows a DSN in a log line or a body.
        let dsn = "postgres://svc:hunter2@db-7.internal:5432/keys";
        let reply = format!(r#"{{"href":"https://h/healthz","code":3,"db":"{dsn}","cb":"https://ghp_t0ken@h/x"}}"#);
        let reply = judge(200, reply.as_bytes()).reply.unwrap();
        assert_eq!(reply["db"], mask::mask(dsn).as_ref());
        assert_eq!(reply["db"], "postgres://svc:[masked]@db-7.internal:5432/keys");
        assert_eq!(reply["cb"], "https://[masked]@h/x", "a user name alone may be a token");
    }

    #[test]
    fn the_href_is_compared_without_the_credentials_of_the_url_checked() {
        let mut out = blank("https://u:pw@h/healthz");
        let ok = br#"{"href":"https://h/healthz","code":0,"description":"The API is available and operational."}"#;
        evaluate(&mut out, 200, None, ok, false, "https://u:pw@h/healthz", &HealthzSpec::default());
        assert_eq!((out.status, out.mismatches.len()), (Status::Pass, 0), "{:?}", out.mismatches);
        assert!(same_place("https://H:443/healthz/", "https://h/healthz"));
        assert!(!same_place("https://h/healthz", "https://other/healthz"));
    }

    #[test]
    fn an_unrendered_template_in_the_reply_is_named_not_taken_for_an_alias() {
        for template in ["{{site.data[site.target].url}}", "${KEYSVC_URL}", "%(base_url)s/healthz", "<%= @url %>"] {
            let body = serde_json::json!({"href": template, "code": 0, "description": "The API is available and operational."});
            let out = judge(200, body.to_string().as_bytes());
            assert_eq!(out.status, Status::Warn, "{template}");
            assert_eq!(out.unrendered, [format!("href is {template}")]);
            assert!(out.mismatches.is_empty(), "said once, as a template: {:?}", out.mismatches);
        }
        let nested = br#"{"href":"https://h/healthz","code":0,"description":"The API is available and operational.","links":{"keys":"{{ .Values.keysUrl }}"}}"#;
        assert_eq!(judge(200, nested).unrendered, ["links.keys is {{ .Values.keysUrl }}"]);
        // Braces and percent signs that are no template.
        for text in ["{\"a\": 1}", "100% up", "$5", "{x}"] {
            assert_eq!(template_placeholder(text), None, "{text}");
        }
    }
}
