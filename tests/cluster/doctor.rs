//! `keysvc-check doctor` end to end: against the real three-region test
//! environment (tests/run-all.sh brings it up) as users with different
//! roles, with a missing context and an unreachable or hanging region; and,
//! without a cluster, with the embedded runbook's placeholders.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::case::Case;
use crate::common::{Run, cmd, run_within, runbook_text, write};
use keysvc_testenv::{Fault, TestEnv};
use serde_json::Value;

/// The healthz URL of the test runbooks: a host name that resolves
/// everywhere. Doctor only checks that it is usable, never requests it.
const HEALTHZ_URL: &str = "http://localhost:9/healthz";

/// How these tests run the binary: `doctor --env test --runbook R --kubeconfig K ARGS`.
trait Doctor {
    fn doctor(&self, args: &[&str]) -> Run;
    fn doctor_within(&self, args: &[&str], limit: Duration) -> Run;
    fn doctor_json(&self, args: &[&str]) -> (Run, Value);
}

impl Doctor for Case {
    fn doctor(&self, args: &[&str]) -> Run {
        self.doctor_within(args, Duration::from_secs(40))
    }

    fn doctor_within(&self, args: &[&str], limit: Duration) -> Run {
        self.line(&["doctor"]).after(args).run_within(limit)
    }

    fn doctor_json(&self, args: &[&str]) -> (Run, Value) {
        let mut all = vec!["-o", "json"];
        all.extend(args);
        let r = self.doctor(&all);
        let j = r.json();
        (r, j)
    }
}

/// The row of `check` (`context`, `cluster`, `healthz_url`, or a
/// permission as `get pods/log`) in `region` (`None`: the environment).
fn row<'a>(j: &'a Value, check: &str, region: Option<&str>) -> &'a Value {
    let label = |c: &Value| match c["check"].as_str() {
        Some("permission") => {
            let p = &c["permission"];
            let mut r = p["resource"].as_str().unwrap().to_string();
            if p["group"] != "" {
                r = format!("{r}.{}", p["group"].as_str().unwrap());
            }
            if let Some(s) = p["subresource"].as_str() {
                r = format!("{r}/{s}");
            }
            format!("{} {r}", p["verb"].as_str().unwrap())
        }
        Some(other) => other.to_string(),
        None => panic!("a check without a kind: {c}"),
    };
    j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| label(c) == check && c["region"].as_str() == region)
        .unwrap_or_else(|| panic!("no {check} row for {region:?} in {j:#}"))
}

fn rows_of<'a>(j: &'a Value, region: &str) -> Vec<&'a Value> {
    j["checks"].as_array().unwrap().iter().filter(|c| c["region"] == region).collect()
}

const REGIONS: [&str; 3] = ["us-south", "us-east", "eu-de"];
const REQUIRED: [&str; 3] = ["list pods", "get pods", "get pods/log"];
const OPTIONAL: [&str; 5] =
    ["list events", "get replicasets.apps", "list replicasets.apps", "get deployments.apps", "list deployments.apps"];

/// `kubectl auth can-i` as an independent client: "yes" or "no". A
/// subresource must be given as `--subresource=log`: `can-i get pods/log`
/// asks about a pod named `log`.
fn kubectl_can_i(kubeconfig: &std::path::Path, context: &str, question: &[&str], ns: &str) -> String {
    let out = Command::new("kubectl")
        .args(["auth", "can-i"])
        .args(question)
        .args(["-n", ns, "--context", context, "--kubeconfig"])
        .arg(kubeconfig)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run kubectl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The audit events of `user` in `region` once `ready` holds for them;
/// the API server writes its audit log after answering, so it is read
/// again until the events looked for are in it (or 20 s have passed).
fn audit_of(env: &TestEnv, region: &str, user: &str, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ours: Vec<Value> =
            env.audit_events(region).unwrap().into_iter().filter(|e| e["user"]["username"] == user).collect();
        if ready(&ours) || Instant::now() > deadline {
            return ours;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_review(e: &Value) -> bool {
    e["verb"] == "create"
        && e["objectRef"]["resource"] == "selfsubjectaccessreviews"
        && e["objectRef"]["apiGroup"] == "authorization.k8s.io"
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn oncall_has_every_required_permission_and_misses_the_optional_ones() {
    let c = Case::new("d-oncall").healthz_url(HEALTHZ_URL).build();
    let (r, j) = c.doctor_json(&[]);
    assert_eq!(r.code, 0, "optional permissions missing still pass:\n{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["schema"], "keysvc-check/doctor/v1");
    assert_eq!(j["ok"], true);
    assert_eq!(j["environment"], "test");
    assert_eq!(j["namespace"], "d-oncall");
    assert_eq!(j["runbook"]["source"], "file");
    assert_eq!(j["runbook"]["via"], "--runbook");
    assert_eq!(row(&j, "runbook", None)["result"], "ok");
    let hz = row(&j, "healthz_url", None);
    assert_eq!(hz["result"], "ok", "{hz}");
    assert!(hz["detail"].as_str().unwrap().contains("localhost:9/healthz resolves to"), "{hz}");
    for region in REGIONS {
        let ctx = row(&j, "context", Some(region));
        assert_eq!(ctx["result"], "ok", "{ctx}");
        assert!(ctx["detail"].as_str().unwrap().contains(&format!("oncall@{region}")), "{ctx}");
        let cluster = row(&j, "cluster", Some(region));
        assert_eq!(cluster["result"], "ok", "{cluster}");
        assert!(cluster["detail"].as_str().unwrap().contains("version v1.20"), "{cluster}");
        for p in REQUIRED {
            let p = row(&j, p, Some(region));
            assert_eq!((&p["result"], &p["required"]), (&"ok".into(), &true.into()), "{p}");
        }
        for p in OPTIONAL {
            let p = row(&j, p, Some(region));
            assert_eq!((&p["result"], &p["required"]), (&"missing".into(), &false.into()), "{p}");
            assert!(p["fix"].as_str().unwrap().starts_with("ask for "), "{p}");
        }
        // The runbook's selector matches the region's pods, which have its container.
        let selector = row(&j, "selector", Some(region));
        assert_eq!(selector["result"], "ok", "{selector}");
        assert_eq!(selector["detail"], format!("3 pods match app=api-key-service in namespace {}", c.ns));
        assert_eq!(row(&j, "container", Some(region))["result"], "ok");
        assert_eq!(rows_of(&j, region).len(), 2 + REQUIRED.len() + OPTIONAL.len() + 2);
    }
    assert!(j["summary"].as_str().unwrap().contains("15 optional permissions missing"), "{}", j["summary"]);

    // kubectl, asked the same questions as the same user, gives the same answers.
    let kc = &c.kubeconfig;
    assert_eq!(kubectl_can_i(kc, "oncall@us-east", &["get", "pods", "--subresource=log"], &c.ns), "yes");
    assert_eq!(kubectl_can_i(kc, "oncall@us-east", &["list", "events"], &c.ns), "no");
    assert_eq!(kubectl_can_i(kc, "oncall@us-east", &["get", "replicasets.apps"], &c.ns), "no");

    // The table: one line per check and region on a pipe, greppable.
    let t = c.doctor(&[]);
    assert_eq!(t.code, 0);
    assert!(t.stdout.starts_with("keysvc-check doctor (test, namespace d-oncall): OK — every required check passed"));
    let header = t.stdout.lines().find(|l| l.starts_with("CHECK")).unwrap();
    for col in ["REGION", "RESULT", "DETAIL", "FIX"] {
        assert!(header.contains(col), "{header}");
    }
    let line = |check: &str, region: &str| -> &str {
        t.stdout
            .lines()
            .find(|l| {
                l.starts_with(&format!("{check} "))
                    && l.split_whitespace().nth(check.split(' ').count()) == Some(region)
            })
            .unwrap_or_else(|| panic!("no {check} {region} line:\n{}", t.stdout))
    };
    assert!(line("get pods/log", "us-east").contains(" ok "), "{}", t.stdout);
    let events = line("list events", "eu-de");
    assert!(
        events.contains(" missing ")
            && events.ends_with("ask for list on events in namespace d-oncall for context oncall@eu-de"),
        "{events}"
    );

    // The audit logs: besides reading, doctor only asked access reviews.
    for region in REGIONS {
        let events = audit_of(&c.env, region, "oncall", |es| es.iter().filter(|e| is_review(e)).count() >= 8);
        assert!(events.iter().filter(|e| is_review(e)).count() >= 8, "{region}: no access reviews in the audit log");
        for e in &events {
            let verb = e["verb"].as_str().unwrap();
            // `kubectl auth can-i --list`, suggested by a next step and
            // pasted by the tests as kubectl, asks a question too.
            let pasted_rules_review = e["objectRef"]["resource"] == "selfsubjectrulesreviews"
                && e["userAgent"].as_str().is_some_and(|a| a.starts_with("kubectl/"));
            assert!(
                verb == "get" || verb == "list" || is_review(e) || pasted_rules_review,
                "{region}: oncall made a {verb} request: {e}"
            );
        }
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn evidence_user_passes_every_check() {
    let c = Case::new("d-evidence").user("evidence").healthz_url(HEALTHZ_URL).build();
    let (r, j) = c.doctor_json(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["ok"], true);
    assert_eq!(j["summary"], "every required check passed");
    let checks = j["checks"].as_array().unwrap();
    // Per region: context, cluster, the permissions, selector, container.
    assert_eq!(checks.len(), 1 + REGIONS.len() * (2 + REQUIRED.len() + OPTIONAL.len() + 2) + 1);
    for c in checks {
        assert_eq!(c["result"], "ok", "{c}");
        assert_eq!(c["fix"], Value::Null, "{c}");
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn nologs_user_misses_pods_log_and_is_told_what_to_ask_for() {
    let c = Case::new("d-nologs").user("nologs").healthz_url(HEALTHZ_URL).build();
    let (r, j) = c.doctor_json(&[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["ok"], false);
    for region in REGIONS {
        let logs = row(&j, "get pods/log", Some(region));
        assert_eq!(logs["result"], "missing", "{logs}");
        assert_eq!(logs["required"], true);
        assert_eq!(logs["fix"], format!("ask for get on pods/log in namespace d-nologs for context nologs@{region}"));
        assert_eq!(row(&j, "list pods", Some(region))["result"], "ok");
    }
    assert_eq!(kubectl_can_i(&c.kubeconfig, "nologs@us-east", &["get", "pods", "--subresource=log"], &c.ns), "no");

    let t = c.doctor(&[]);
    assert_eq!(t.code, 1);
    assert!(
        t.stdout.starts_with("keysvc-check doctor (test, namespace d-nologs): FAIL — 3 required checks did not pass")
    );
    let fix = "ask for get on pods/log in namespace d-nologs for context nologs@us-east";
    let line = t.stdout.lines().find(|l| l.contains(fix)).unwrap_or_else(|| panic!("{}", t.stdout));
    assert!(line.starts_with("get pods/log") && line.contains("us-east") && line.contains("missing"), "{line}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_missing_context_is_named_with_the_fix_and_the_override_is_honoured() {
    let c = Case::new("d-context").healthz_url(HEALTHZ_URL).build();
    let text = std::fs::read_to_string(&c.runbook).unwrap().replace("oncall@us-east", "no-such-context");
    std::fs::write(&c.runbook, text).unwrap();
    let (r, j) = c.doctor_json(&[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let ctx = row(&j, "context", Some("us-east"));
    assert_eq!(ctx["result"], "missing", "{ctx}");
    assert!(ctx["detail"].as_str().unwrap().contains("`no-such-context` is not in the kubeconfig"), "{ctx}");
    // The fix names the runbook's key and line; no kubeconfig context is near the name.
    let fix = ctx["fix"].as_str().unwrap();
    assert!(fix.starts_with("set environments.test.regions.us-east.context on line 11 of "), "{fix}");
    assert!(
        fix.ends_with(", or add no-such-context to it; --context us-east=CONTEXT overrides it for one run"),
        "{fix}"
    );
    // Nothing else is asked of a region without a context.
    assert_eq!(rows_of(&j, "us-east").len(), 1);
    assert_eq!(row(&j, "get pods/log", Some("eu-de"))["result"], "ok");

    let (r, j) = c.doctor_json(&["--context", "us-east=oncall@us-east"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(row(&j, "context", Some("us-east"))["detail"].as_str().unwrap().contains("oncall@us-east"));
    assert_eq!(row(&j, "get pods/log", Some("us-east"))["result"], "ok");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn an_unreachable_region_fails_its_cluster_check_while_the_others_are_checked() {
    let mut c = Case::new("d-unreach").healthz_url(HEALTHZ_URL).build();
    let kc = c.dir.path().join("kubeconfig");
    let port = keysvc_testenv::proxy::closed_port();
    c.env.kubeconfig_with(&kc, &[("us-east", format!("https://127.0.0.1:{port}"))]).unwrap();
    c.kubeconfig = kc;
    let (r, j) = c.doctor_json(&[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let cluster = row(&j, "cluster", Some("us-east"));
    assert_eq!(cluster["result"], "fail", "{cluster}");
    assert!(cluster["detail"].as_str().unwrap().contains("connection refused"), "{cluster}");
    assert!(cluster["fix"].as_str().unwrap().contains("reach the API server of context oncall@us-east"), "{cluster}");
    assert_eq!(row(&j, "context", Some("us-east"))["result"], "ok");
    assert_eq!(rows_of(&j, "us-east").len(), 2, "no permission is asked of a cluster that does not answer");
    for region in ["us-south", "eu-de"] {
        assert_eq!(row(&j, "get pods/log", Some(region))["result"], "ok");
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_hanging_region_is_reported_by_the_deadline() {
    let mut c = Case::new("d-hang").healthz_url(HEALTHZ_URL).build();
    let proxy = c.env.proxy("us-south", Fault::Hang).unwrap();
    let kc = c.dir.path().join("kubeconfig");
    c.env.kubeconfig_with(&kc, &[("us-south", proxy.url())]).unwrap();
    c.kubeconfig = kc;
    let r = c.doctor_within(&["-o", "json", "--timeout", "3s"], Duration::from_secs(6));
    assert_eq!(r.code, 1, "{}", r.stdout);
    let j = r.json();
    let cluster = row(&j, "cluster", Some("us-south"));
    assert_eq!(cluster["result"], "fail", "{cluster}");
    assert_eq!(row(&j, "get pods/log", Some("eu-de"))["result"], "ok");
}

/// The embedded runbook names placeholders only: doctor says which key to
/// set for each, and asks no cluster.
#[test]
fn the_embedded_runbooks_placeholders_are_rows_to_fix() {
    let mut c = cmd();
    c.args(["doctor", "--env", "prod", "-o", "json"]);
    let r = run_within(c, Duration::from_secs(20));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["runbook"]["source"], "embedded");
    assert_eq!(j["runbook"]["via"], Value::Null);
    for region in REGIONS {
        let ctx = row(&j, "context", Some(region));
        assert_eq!(ctx["result"], "placeholder", "{ctx}");
        assert_eq!(
            ctx["fix"],
            format!(
                "set environments.prod.regions.{region}.context in your runbook, or pass --context {region}=CONTEXT"
            )
        );
    }
    let hz = row(&j, "healthz_url", None);
    assert_eq!(hz["result"], "placeholder");
    assert_eq!(hz["fix"], "set environments.prod.healthz_url in your runbook");

    let mut c = cmd();
    c.args(["doctor", "--env", "prod"]);
    let t = run_within(c, Duration::from_secs(20));
    assert_eq!(t.code, 1);
    let placeholders = t.stdout.lines().filter(|l| l.contains("  placeholder  ")).count();
    assert_eq!(placeholders, 4, "{}", t.stdout);

    let mut c = cmd();
    c.args(["doctor", "--env", "prod", "-o", "markdown"]);
    let m = run_within(c, Duration::from_secs(20));
    assert_eq!(m.code, 1);
    assert!(m.stdout.starts_with("## keysvc-check doctor (prod): FAIL at "), "{}", m.stdout);
    assert!(m.stdout.contains("\n| context | us-east | placeholder | "), "{}", m.stdout);
    assert!(m.stdout.contains("\n```\nkeysvc-check doctor --env prod -o markdown\n```"), "{}", m.stdout);

    let mut c = cmd();
    c.args(["doctor", "--env", "prod", "-q"]);
    let q = run_within(c, Duration::from_secs(20));
    assert_eq!(q.code, 1);
    assert_eq!(q.stdout, "keysvc-check doctor (prod, namespace api): FAIL — 4 required checks did not pass\n");
}

#[test]
fn the_runbook_named_by_keysvc_runbook_says_so_and_a_broken_one_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = |r: &str| format!("ctx-{r}.example");
    let rb = write(dir.path(), "rb.yaml", &runbook_text("api", "https://h.example.com/healthz", &ctx, ""));
    let mut c = cmd();
    c.args(["doctor", "--env", "test", "-o", "json"]).env("KEYSVC_RUNBOOK", &rb);
    let r = run_within(c, Duration::from_secs(20));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["runbook"]["via"], "KEYSVC_RUNBOOK");
    assert_eq!(j["runbook"]["name"], rb.display().to_string());

    let broken = write(dir.path(), "broken.yaml", "service: [\n");
    let mut c = cmd();
    c.args(["doctor", "--env", "test", "--runbook"]).arg(&broken);
    let r = run_within(c, Duration::from_secs(20));
    assert_eq!(r.code, 78, "{}", r.stderr);
    assert!(r.stdout.is_empty());

    let mut c = cmd();
    c.args(["doctor", "--env", "test", "--region", "mars", "--runbook"]).arg(&rb);
    let r = run_within(c, Duration::from_secs(20));
    assert_eq!(r.code, 64, "{}", r.stderr);
}

#[test]
fn doctor_help_says_what_it_checks_and_its_one_non_read_request() {
    let r = common::run_args(&["doctor", "--help"]);
    assert_eq!(r.code, 0);
    for text in [
        "SelfSubjectAccessReviews",
        "create` on selfsubjectaccessreviews",
        "changes nothing",
        "get pods/log",
        "0   every required check passed",
        "78  runbook",
    ] {
        // Help wraps to the terminal: compare with single spaces.
        let flat = r.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&text), "{text} missing:\n{}", r.stdout);
    }
}
