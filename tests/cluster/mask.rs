//! Credentials the service logs never reach a report unless `--no-mask` is
//! given: end to end against the test environment, in a namespace of its own.

use crate::common;

use crate::common::Run;
use crate::common::case::Case;
use keysvc_testenv::{Behavior, HealthzServer, LogSpec};

const JWT_1: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMtcGF5bWVudHMifQ.UGF5bWVudHNTaWduYXR1cmVPbmU";
const JWT_2: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMtYmlsbGluZyJ9.QmlsbGluZ1NpZ25hdHVyZVR3bw";
const BEARER: &str = "sk-LiveBearer0123456789";
const API_KEY: &str = "AKsecretApiKey987";
const PASSWORD: &str = "hunter2";

/// Every secret part: the JWTs' payloads and signatures (their shared header
/// is what is kept), the bearer token, the API key and the password.
const SECRETS: [&str; 7] = [
    "eyJzdWIiOiJzdmMtcGF5bWVudHMifQ",
    "UGF5bWVudHNTaWduYXR1cmVPbmU",
    "eyJzdWIiOiJzdmMtYmlsbGluZyJ9",
    "QmlsbGluZ1NpZ25hdHVyZVR3bw",
    BEARER,
    API_KEY,
    PASSWORD,
];

/// Namespace `t-mask` healthy everywhere; one eu-de pod (returned) logs credentials.
fn case() -> (Case, String) {
    let c = Case::new("t-mask").extra("logs:\n  error_threshold: 0\n").build();
    let pod = c.pods[2][0].clone();
    let spec = LogSpec::lines([
        (120.0, format!("ERROR rejected token {JWT_1} for kid=key-1")),
        (110.0, format!("ERROR rejected token {JWT_2} for kid=key-1")),
        (100.0, format!("WARN upstream call failed Authorization: Bearer {BEARER}")),
        (90.0, format!("INFO GET /v1/keys?api_key={API_KEY}&limit=5 200 3ms")),
        (80.0, format!("ERROR cannot connect postgres://svc:{PASSWORD}@db-7.internal:5432/keys: connection refused")),
    ]);
    c.env.set_logs("eu-de", "t-mask", &pod, &spec).unwrap();
    (c, pod)
}

/// How these tests run the binary: `ARGS --env test --region eu-de --runbook R --kubeconfig K`.
trait Runs {
    fn run(&self, args: &[&str]) -> Run;
}

impl Runs for Case {
    fn run(&self, args: &[&str]) -> Run {
        let r = self.line(args).flags(&["--region", "eu-de"]).run();
        assert_eq!(r.code, 1, "{args:?}: error lines degrade the region\n{}\n{}", r.stdout, r.stderr);
        r
    }
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what}: {s} shown in\n{text}");
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn credentials_in_logs_are_masked_in_every_output_unless_no_mask() {
    let (c, pod) = case();
    // The two JWT lines differ only in their token: one group, the most frequent.
    let most_frequent = "ERROR rejected token eyJhbGc…[masked] for kid=key-1";
    let dsn = "postgres://svc:[masked]@db-7.internal:5432/keys";

    let t = c.run(&["diagnose"]);
    assert_no_secret("diagnose", &t.stdout);
    assert!(
        t.stdout.lines().any(|l| l.contains("most frequent") && l.contains("error (2×") && l.ends_with(most_frequent)),
        "{}",
        t.stdout
    );

    let j = c.run(&["diagnose", "-o", "json"]);
    assert_no_secret("diagnose -o json", &j.stdout);
    let report = j.json();
    let pods = report["regions"][0]["logs"]["pods"].as_array().unwrap();
    let p = pods.iter().find(|p| p["pod"] == pod.as_str()).unwrap();
    assert_eq!(p["error_lines"], 3);
    assert_eq!(p["top_errors"][0]["count"], 2);
    assert_eq!(p["top_errors"][0]["example"], format!("ERROR rejected token eyJhbGc…[masked] for kid=key-1"));
    assert!(p["top_errors"].to_string().contains(dsn), "{}", p["top_errors"]);

    let l = c.run(&["logs"]);
    assert_no_secret("logs", &l.stdout);
    for shown in [
        most_frequent,
        "WARN upstream call failed Authorization: Bearer [masked]",
        "INFO GET /v1/keys?api_key=[masked]&limit=5 200 3ms",
        &format!("ERROR cannot connect {dsn}: connection refused"),
    ] {
        assert!(l.stdout.contains(&format!("eu-de {} │ {shown}", pod)), "line {shown:?} not in\n{}", l.stdout);
    }
    // The summary groups the two token lines (unmasked, they would differ).
    assert!(
        l.stdout.lines().any(|l| !l.starts_with("eu-de ") && l.contains("2× ERROR rejected token")),
        "{}",
        l.stdout
    );

    let lj = c.run(&["logs", "-o", "json"]);
    assert_no_secret("logs -o json", &lj.stdout);
    let p = &lj.json()["regions"][0]["logs"]["pods"];
    let p = p.as_array().unwrap().iter().find(|p| p["pod"] == pod.as_str()).unwrap();
    assert_eq!(p["top_errors"][0]["pattern"], "rejected token eyJhbGc…[masked] for kid=<*>");

    // --no-mask shows them as logged.
    let raw = [c.run(&["logs", "--no-mask"]).stdout, c.run(&["diagnose", "-o", "json", "--no-mask"]).stdout];
    for s in SECRETS {
        assert!(raw[0].contains(s), "logs --no-mask lacks {s}:\n{}", raw[0]);
    }
    assert!(!raw[0].contains("[masked]"), "{}", raw[0]);
    assert!(raw[1].contains(JWT_1) || raw[1].contains(JWT_2), "{}", raw[1]);
    assert!(raw[1].contains(&format!("svc:{PASSWORD}@db-7")), "{}", raw[1]);
}

/// `sh -c command` with `KEYSVC_HEALTHZ_URL` set to `url`, or unset.
fn sh(command: &str, url: Option<&str>) -> std::process::Output {
    let mut c = std::process::Command::new("sh");
    c.arg("-c").arg(command).env_remove("KEYSVC_HEALTHZ_URL").stdin(std::process::Stdio::null());
    if let Some(u) = url {
        c.env("KEYSVC_HEALTHZ_URL", u);
    }
    c.output().unwrap()
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn secrets_in_a_healthz_url_are_masked_everywhere_and_commands_take_it_from_the_environment() {
    let c = Case::new("t-mask-url").build();
    let healthz = &c.healthz;
    let run = |url: &str, args: &[&str]| c.line(args).after(&["--healthz-url", url]).run();
    // A key and a JWT in the query: every output and doctor mask both.
    let query = format!("{}?api_key={API_KEY}&access_token={JWT_1}", healthz.url);
    let masked = format!("{}?api_key=[masked]&access_token=[masked]", healthz.url);
    for args in [
        vec!["healthz"],
        vec!["healthz", "-o", "json"],
        vec!["diagnose"],
        vec!["diagnose", "-o", "json"],
        vec!["diagnose", "-o", "markdown"],
        vec!["doctor"],
        vec!["doctor", "-o", "json"],
        vec!["doctor", "-o", "markdown"],
    ] {
        let r = run(&query, &args);
        assert_no_secret(&format!("{args:?}"), &format!("{}{}", r.stdout, r.stderr));
        let shown = if args.contains(&"markdown") { r.stdout.replace('\\', "") } else { r.stdout.clone() };
        assert!(shown.contains(&masked), "{args:?}: the URL is not shown masked in\n{}", r.stdout);
    }
    let j = run(&query, &["diagnose", "-o", "json"]).json();
    assert!(common::kinds(&j).contains(&"healthz_mismatch".to_string()), "{j:#}");

    // A password: the re-run command works when pasted, with the URL set
    // in the environment, and says what to set when it is not.
    let with_user = healthz.url.replacen("http://", &format!("http://svc:{PASSWORD}@"), 1);
    let r = run(&with_user, &["healthz", "-o", "json"]);
    assert_no_secret("healthz with a password", &r.stdout);
    let j = r.json();
    let rerun = j["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| s["command"].as_str().filter(|c| c.starts_with("keysvc-check ")))
        .unwrap_or_else(|| panic!("no re-run command in {j:#}"))
        .to_string();
    assert!(rerun.contains(r#"--healthz-url "${KEYSVC_HEALTHZ_URL:?"#) && !rerun.contains("***"), "{rerun}");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_keysvc-check"));
    let pasted = rerun.replacen("keysvc-check ", &format!("{} ", bin.display()), 1);
    let pasted = format!("{pasted} -q");
    let unset = sh(&pasted, None);
    assert!(!unset.status.success());
    assert!(
        String::from_utf8_lossy(&unset.stderr).contains("KEYSVC_HEALTHZ_URL: set it to the healthz URL"),
        "{unset:?}"
    );
    let set = sh(&pasted, Some(&with_user));
    assert!(set.status.success(), "{pasted}: {set:?}");

    // A failing healthz URL with a password: the curl step, pasted, reaches it.
    let down =
        HealthzServer::start(Behavior::Raw { status: 503, content_type: "text/plain".into(), body: b"down".to_vec() });
    let down_user = down.url.replacen("http://", &format!("http://svc:{PASSWORD}@"), 1);
    let r = run(&down_user, &["diagnose", "-o", "json"]);
    assert_no_secret("diagnose, healthz down", &r.stdout);
    let j = r.json();
    let curl = j["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| s["command"].as_str().filter(|c| c.starts_with("curl ")))
        .unwrap_or_else(|| panic!("no curl step in {j:#}"))
        .to_string();
    let out = sh(&curl, Some(&down_user));
    assert!(String::from_utf8_lossy(&out.stdout).contains("503"), "{curl}: {out:?}");
    assert!(!sh(&curl, None).status.success(), "{curl}");
}
