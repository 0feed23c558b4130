//! Step 1 against a real HTTP server on 127.0.0.1, for every way a healthz
//! endpoint can be wrong. Each run must end by its deadline.

mod common;

use std::time::Duration;

use common::{Run, cmd, run_within};
use keysvc_testenv::{Behavior, HealthzServer};
use serde_json::json;

fn healthz(url: &str, timeout: &str) -> Run {
    let mut c = cmd();
    c.args(["healthz", "--env", "prod", "-o", "json", "--healthz-url", url, "--timeout", timeout]);
    let limit = keysvc_check::duration::parse_duration(timeout).unwrap() + Duration::from_secs(3);
    run_within(c, limit)
}

/// The healthz step with the runbook's own healthz timeout set to `timeout`
/// (and the run's `--timeout` well above it): the service's slowness, not
/// the run's deadline, is what ends the request.
fn healthz_with_own_timeout(url: &str, timeout: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let text = keysvc_check::runbook::EMBEDDED.replace("  timeout: 10s\n", &format!("  timeout: {timeout}\n"));
    let rb = common::write(dir.path(), "rb.yaml", &text);
    let mut c = cmd();
    c.args(["healthz", "--env", "prod", "-o", "json", "--healthz-url", url, "--timeout", "20s"])
        .arg("--runbook")
        .arg(&rb);
    run_within(c, keysvc_check::duration::parse_duration(timeout).unwrap() + Duration::from_secs(5))
}

fn check(b: Behavior) -> (Run, serde_json::Value) {
    let server = HealthzServer::start(b);
    let r = healthz(&server.url, "3s");
    let j = r.json();
    (r, j["healthz"].clone())
}

#[test]
fn healthy_reply_passes() {
    let (r, h) = check(Behavior::Healthy);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(h["status"], "pass");
    assert_eq!(h["http_status"], 200);
    assert!(h["latency_ms"].as_u64().is_some());
    assert_eq!(h["reply"]["code"], 0);
    assert_eq!(h["problems"], json!([]));
}

#[test]
fn table_output_shows_url_status_and_latency() {
    let server = HealthzServer::start(Behavior::Healthy);
    let mut c = cmd();
    c.args(["healthz", "--env", "prod", "--healthz-url", &server.url]);
    let r = common::run(c);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains(&server.url) && r.stdout.contains("200") && r.stdout.contains(" ms"), "{}", r.stdout);
    assert!(r.stdout.contains("HEALTHY"), "{}", r.stdout);
    assert!(!r.stdout.contains('\u{1b}'), "no colour when stdout is not a terminal");
    // One step passing is not the whole runbook.
    assert!(r.stdout.contains("The healthz step passed; diagnose runs every step"), "{}", r.stdout);
    // The suggested command keeps the user's flags.
    assert!(
        r.stdout.contains(&format!("keysvc-check diagnose --env prod --healthz-url {}", server.url)),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("Every check passed"));
}

fn assert_fail(b: Behavior, needle: &str) -> serde_json::Value {
    let (r, h) = check(b);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(h["status"], "fail", "{h}");
    let text = h.to_string();
    assert!(text.contains(needle), "expected {needle:?} in {text}");
    h
}

#[test]
fn non_200_with_html_fails() {
    let h = assert_fail(Behavior::html(503, "<html><body>Service Unavailable</body></html>"), "HTTP status 503");
    assert!(h["body_excerpt"].as_str().unwrap().contains("Service Unavailable"));
}

#[test]
fn html_with_200_fails() {
    assert_fail(Behavior::html(200, "<html>ok</html>"), "not a JSON object");
}

#[test]
fn nonzero_code_fails() {
    assert_fail(
        Behavior::json(200, json!({"href": "x", "code": 3, "description": "The API is available and operational."})),
        "code is 3",
    );
}

/// A reply that says the service is operational, through an alias: a
/// warning with the mismatch as a finding, never "down".
fn assert_mismatch(b: Behavior, needle: &str) {
    let server = HealthzServer::start(b);
    let r = healthz(&server.url, "3s");
    let j = r.json();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["service"]["verdict"], "healthy");
    assert_eq!(j["healthz"]["status"], "warn", "{}", j["healthz"]);
    assert_eq!(j["healthz"]["problems"], json!([]));
    let f =
        j["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "healthz_mismatch").expect("a mismatch finding");
    assert_eq!(f["severity"], "warn");
    assert!(f["text"].as_str().unwrap().contains(needle), "{f}");
    assert!(f["text"].as_str().unwrap().contains("answers as operational"), "{f}");
}

#[test]
fn an_alias_href_or_another_description_is_a_warning_not_down() {
    assert_mismatch(
        Behavior::json(
            200,
            json!({"href": "https://other/healthz", "code": 0, "description": "The API is available and operational."}),
        ),
        "href is https://other/healthz",
    );
    assert_mismatch(Behavior::json(200, json!({"href": "x", "code": 0, "description": "degraded"})), "description is");
}

#[test]
fn localhost_alias_of_the_checked_url_is_not_down() {
    // The service names itself 127.0.0.1; the user reaches it as localhost.
    let server = HealthzServer::start(Behavior::Healthy);
    let alias = server.url.replace("127.0.0.1", "localhost");
    let r = healthz(&alias, "3s");
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.json()["healthz"]["status"], "warn");
}

#[test]
fn an_unrendered_template_in_the_reply_is_a_misconfigured_deployment_not_healthy() {
    let reply = json!({"href": "{{site.data[site.target].url}}", "code": 0, "description": "The API is available and operational."});
    let server = HealthzServer::start(Behavior::json(200, reply));
    let r = healthz(&server.url, "3s");
    let j = r.json();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["service"]["verdict"], "degraded");
    assert_eq!(j["healthz"]["status"], "warn");
    assert_eq!(j["healthz"]["unrendered"], json!(["href is {{site.data[site.target].url}}"]));
    assert_eq!(j["healthz"]["mismatches"], json!([]), "said once, as a template");
    let kinds = common::kinds(&j);
    assert_eq!(kinds, ["healthz_misconfigured"], "{}", j["findings"]);
    let text = j["findings"][0]["text"].as_str().unwrap();
    assert!(text.contains("unrendered template") && text.contains("a misconfigured deployment"), "{text}");
    assert!(!text.contains("alias"), "{text}");
    let mut c = cmd();
    c.args(["healthz", "--env", "prod", "--healthz-url", &server.url]);
    let t = common::run(c);
    assert_eq!(t.code, 1);
    assert!(t.stdout.starts_with("Key Service API (prod): DEGRADED — healthz warn"), "{}", t.stdout);
    assert!(!t.stdout.contains("passed"), "a warning is not a pass:\n{}", t.stdout);
    assert!(t.stdout.contains(&format!("curl -sS -i --max-time 10 {}", server.url)), "{}", t.stdout);
}

#[test]
fn an_alias_answering_is_never_said_to_have_passed() {
    let server = HealthzServer::start(Behavior::Healthy);
    let alias = server.url.replace("127.0.0.1", "localhost");
    let mut c = cmd();
    c.args(["healthz", "--env", "prod", "--healthz-url", &alias]);
    let t = common::run(c);
    assert_eq!(t.code, 0, "{}", t.stdout);
    assert!(!t.stdout.contains("passed"), "{}", t.stdout);
    assert!(t.stdout.contains("Healthz answered as operational, with the mismatch above"), "{}", t.stdout);
}

#[test]
fn credentials_in_the_url_checked_are_no_href_mismatch() {
    // The service names itself without the credentials it is reached with.
    let server = HealthzServer::start(Behavior::Healthy);
    let url = server.url.replace("http://", "http://user:s3cr3t-pw@");
    let r = healthz(&url, "3s");
    let j = r.json();
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(j["healthz"]["status"], "pass", "{}", j["healthz"]);
    assert_eq!(j["healthz"]["mismatches"], json!([]));
    assert_eq!(j["healthz"]["url"], server.url.replace("http://", "http://[masked]@"));
}

#[test]
fn truncated_and_non_utf8_bodies_fail() {
    let (r, h) = check(Behavior::Truncated);
    assert_eq!(r.code, 2);
    assert_eq!(h["status"], "fail");
    assert_fail(
        Behavior::Raw { status: 200, content_type: "application/json".into(), body: vec![0xff, 0xfe, b'{', 0x80] },
        "not UTF-8",
    );
}

#[test]
fn huge_body_is_capped() {
    let (r, h) = check(Behavior::Endless);
    assert_eq!(r.code, 2);
    assert!(h["problems"].to_string().contains("larger than"), "{h}");
    assert!(r.stdout.len() < 10_000, "the report stays small");
}

#[test]
fn slow_reply_is_a_timeout_within_the_deadline() {
    let server = HealthzServer::start(Behavior::Slow(Duration::from_secs(30)));
    let r = healthz_with_own_timeout(&server.url, "1s");
    assert_eq!(r.code, 2);
    let h = &r.json()["healthz"];
    assert_eq!(h["error"]["kind"], "timeout", "{h}");
    // Just under the timeout still passes.
    server.set(Behavior::Slow(Duration::from_millis(300)));
    let r = healthz(&server.url, "2s");
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn hang_and_trickle_end_by_the_deadline() {
    for b in [Behavior::Hang, Behavior::Trickle(Duration::from_millis(200))] {
        let server = HealthzServer::start(b);
        let r = healthz_with_own_timeout(&server.url, "1s");
        assert_eq!(r.code, 2, "{}", r.stdout);
        assert_eq!(r.json()["healthz"]["error"]["kind"], "timeout");
    }
}

#[test]
fn a_run_deadline_shorter_than_the_healthz_timeout_is_not_an_outage() {
    // The service answers in 3 s, within the runbook's 10 s; the run allows 1 s.
    let server = HealthzServer::start(Behavior::Slow(Duration::from_secs(3)));
    let r = healthz(&server.url, "1s");
    assert_eq!(r.code, 3, "could not be checked, not down: {}", r.stdout);
    let j = r.json();
    assert_eq!(j["healthz"]["status"], "error");
    assert_eq!(j["healthz"]["error"]["kind"], "deadline", "{}", j["healthz"]);
    assert_eq!(j["partial"], true);
    assert!(j["service"]["impact"].is_null());
}

#[test]
fn redirect_is_reported_not_followed() {
    assert_fail(Behavior::RedirectLoop, "redirects are not followed");
}

#[test]
fn refused_connection_fails_in_plain_words() {
    let port = keysvc_testenv::proxy::closed_port();
    let r = healthz(&format!("http://127.0.0.1:{port}/healthz"), "3s");
    assert_eq!(r.code, 2);
    let h = &r.json()["healthz"];
    assert_eq!(h["error"]["kind"], "refused");
    assert_eq!(h["error"]["message"], "connection refused");
}

#[test]
fn dns_failure_fails_in_plain_words() {
    let r = healthz("http://keysvc-check-test.no-such-tld-zq/healthz", "5s");
    assert_eq!(r.code, 2);
    let h = &r.json()["healthz"];
    assert_eq!(h["error"]["kind"], "dns", "{h}");
}

#[test]
fn a_placeholder_url_is_not_checked_and_not_down() {
    let r = healthz("http://keysvc-check-test.invalid/healthz", "5s");
    assert_eq!(r.code, 78, "nothing real was checked: {}", r.stdout);
    let j = r.json();
    assert_eq!(j["healthz"]["error"]["kind"], "placeholder");
    assert_ne!(j["service"]["verdict"], "down");
    assert!(common::kinds(&j).contains(&"placeholder".to_string()));
    assert!(common::texts(&j["findings"]).contains("--healthz-url is the placeholder"), "{}", j["findings"]);
}

#[test]
fn untrusted_certificate_is_a_tls_failure() {
    let dir = tempfile::tempdir().unwrap();
    let ca = keysvc_testenv::certs::Ca::create(dir.path(), "ca").unwrap();
    let pair = ca.server("srv").unwrap();
    let server = HealthzServer::start_tls(Behavior::Healthy, &pair);
    let r = healthz(&server.url, "3s");
    assert_eq!(r.code, 2);
    let h = &r.json()["healthz"];
    assert_eq!(h["error"]["kind"], "tls", "{h}");
}

#[test]
fn escape_sequences_in_the_body_are_neutralised() {
    let body = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mSERVICE DOWN\u{0}";
    let server = HealthzServer::start(Behavior::html(500, body));
    for output in ["json", "table"] {
        let mut c = cmd();
        c.args(["healthz", "--env", "prod", "-o", output, "--healthz-url", &server.url]);
        let r = common::run(c);
        assert_eq!(r.code, 2);
        assert!(
            !r.stdout.contains('\u{1b}') && !r.stdout.contains('\u{7}') && !r.stdout.contains('\u{0}'),
            "{output}: {:?}",
            r.stdout
        );
        assert!(r.stdout.contains("SERVICE DOWN"));
    }
}

#[test]
fn credentials_in_the_body_are_masked_unless_no_mask() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrZXlzdmMifQ.c2lnbmF0dXJlLXNlY3JldA";
    let html = format!(
        "<pre>connect postgres://svc:hunter2@db-7.internal:5432/keys refused; Authorization: Bearer {jwt}</pre>"
    );
    let reply = json!({"code": 3, "description": "down", "debug": {"db_password": "pw-in-json", "last": format!("?api_key=k3y-in-json"), "db": "postgres://svc:dsn-in-json@db-7.internal:5432/keys"}});
    let secrets = ["hunter2", "c2lnbmF0dXJlLXNlY3JldA", "pw-in-json", "k3y-in-json", "dsn-in-json"];
    for (behavior, raw) in [
        (Behavior::html(503, &html), vec!["hunter2", jwt]),
        (Behavior::json(200, reply.clone()), secrets[2..].to_vec()),
    ] {
        let server = HealthzServer::start(behavior);
        for output in ["json", "table"] {
            let mut c = cmd();
            c.args(["healthz", "--env", "prod", "-o", output, "--healthz-url", &server.url]);
            let r = common::run(c);
            assert_eq!(r.code, 2, "{}", r.stdout);
            for s in secrets {
                assert!(!r.stdout.contains(s), "{output}: {s} shown in {}", r.stdout);
            }
            assert!(r.stdout.contains("[masked]"), "{output}: {}", r.stdout);
        }
        let mut c = cmd();
        c.args(["healthz", "--env", "prod", "-o", "json", "--no-mask", "--healthz-url", &server.url]);
        let r = common::run(c);
        assert!(!r.stdout.contains("[masked]"), "{}", r.stdout);
        for s in raw {
            assert!(r.stdout.contains(s), "--no-mask: {s} not shown in {}", r.stdout);
        }
    }
    // Recognisable: what kind of secret it was and where it went, the same
    // in a body and in a reply (and in README's table).
    let server = HealthzServer::start(Behavior::html(503, &html));
    let h = healthz(&server.url, "3s").json();
    assert_eq!(
        h["healthz"]["body_excerpt"],
        "<pre>connect postgres://svc:[masked]@db-7.internal:5432/keys refused; Authorization: Bearer [masked]</pre>"
    );
    let server = HealthzServer::start(Behavior::json(503, reply));
    let h = healthz(&server.url, "3s").json();
    assert_eq!(h["healthz"]["reply"]["debug"]["db"], "postgres://svc:[masked]@db-7.internal:5432/keys");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("| `postgres://svc:[masked]@db-7.internal:5432/keys` |"), "README's masking table");
}

#[test]
fn passwords_in_urls_never_reach_the_output() {
    let server = HealthzServer::start(Behavior::html(500, "no"));
    let url = server.url.replace("http://", "http://user:s3cr3t-pw@");
    for output in ["json", "table"] {
        let mut c = cmd();
        c.args(["healthz", "--env", "prod", "-o", output, "-v", "--healthz-url", &url]);
        let r = common::run(c);
        assert!(
            !r.stdout.contains("s3cr3t-pw") && !r.stderr.contains("s3cr3t-pw"),
            "{output}:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
}

#[test]
fn verbose_traces_go_to_stderr_only() {
    let server = HealthzServer::start(Behavior::Healthy);
    let mut c = cmd();
    c.args(["healthz", "--env", "prod", "-o", "json", "-v", "--healthz-url", &server.url]);
    let r = common::run(c);
    assert_eq!(r.code, 0);
    assert_eq!(r.json()["healthz"]["status"], "pass", "stdout holds only the report");
    assert!(r.stderr.contains("DEBUG") && r.stderr.contains("healthz"), "{}", r.stderr);
    let mut c = cmd();
    c.args(["healthz", "--env", "prod", "-o", "json", "--healthz-url", &server.url]);
    assert!(common::run(c).stderr.is_empty());
}
