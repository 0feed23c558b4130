//! Faults on one region while the others stay healthy: every one must end by
//! the deadline with the region `unknown`, its reason in plain words, the
//! right exit code, and no panic. Each test has its own namespace, proxy and
//! kubeconfig, so they run in parallel.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use crate::common::case::Case;
use crate::common::{Run, cmd, region, run_within, write};
use keysvc_testenv::Fault;
use serde_json::Value;

/// How these tests run the binary, with kubeconfigs of their own.
trait Faults {
    fn kubeconfig(&self, edit: impl Fn(&mut Value)) -> PathBuf;
    fn diagnose(&self, kubeconfig: &std::path::Path, timeout: &str, extra: &[&str]) -> (Run, Value);
}

impl Faults for Case {
    /// A kubeconfig whose `region` cluster/user/context is changed by `edit`.
    fn kubeconfig(&self, edit: impl Fn(&mut Value)) -> PathBuf {
        let mut kc = self.env.kubeconfig_json().unwrap();
        edit(&mut kc);
        let path = self.dir.path().join(format!("kubeconfig-{}", rand_suffix()));
        std::fs::write(&path, serde_json::to_vec_pretty(&kc).unwrap()).unwrap();
        path
    }

    /// `diagnose --env test -o json --timeout TIMEOUT --runbook R --kubeconfig KUBECONFIG EXTRA`.
    fn diagnose(&self, kubeconfig: &std::path::Path, timeout: &str, extra: &[&str]) -> (Run, Value) {
        let limit = keysvc_check::duration::parse_duration(timeout).unwrap() + Duration::from_millis(1500);
        let line = self.line(&["diagnose"]).flags(&["-o", "json", "--timeout", timeout]);
        let r = line.kubeconfig(kubeconfig).after(extra).run_within(limit);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        let j = r.json();
        (r, j)
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// `region` is unknown for `kind` and the other two are healthy; exit 3.
fn assert_only_unknown(r: &Run, j: &Value, name: &str, kinds: &[&str]) -> String {
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let reg = region(j, name);
    assert_eq!(reg["verdict"], "unknown", "{reg}");
    let kind = reg["pods"]["error"]["kind"].as_str().unwrap_or_default().to_string();
    assert!(kinds.contains(&kind.as_str()), "kind {kind} not in {kinds:?}: {}", reg["pods"]);
    for other in ["us-south", "us-east", "eu-de"].into_iter().filter(|r| *r != name) {
        assert_eq!(region(j, other)["verdict"], "healthy", "{}", region(j, other));
    }
    reg["pods"]["error"]["message"].as_str().unwrap().to_string()
}

fn server(kc: &mut Value, region: &str, url: &str) {
    for c in kc["clusters"].as_array_mut().unwrap() {
        if c["name"] == region {
            c["cluster"]["server"] = Value::String(url.into());
        }
    }
}

fn cluster_field(kc: &mut Value, region: &str, key: &str, value: Value) {
    for c in kc["clusters"].as_array_mut().unwrap() {
        if c["name"] == region {
            c["cluster"][key] = value.clone();
        }
    }
}

/// Points `user@region`'s context at a new user entry.
fn user(kc: &mut Value, context: &str, user: Value) {
    let name = format!("custom-{context}");
    kc["users"].as_array_mut().unwrap().push(serde_json::json!({"name": name, "user": user}));
    for c in kc["contexts"].as_array_mut().unwrap() {
        if c["name"] == context {
            c["context"]["user"] = Value::String(name.clone());
        }
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn connection_reset() {
    let s = Case::new("f-reset").build();
    let proxy = s.env.proxy("us-east", Fault::Reset).unwrap();
    let kc = s.kubeconfig(|kc| server(kc, "us-east", &proxy.url()));
    let (r, j) = s.diagnose(&kc, "10s", &[]);
    let msg = assert_only_unknown(&r, &j, "us-east", &["reset", "tls"]);
    assert!(msg.contains("reset") || msg.contains("TLS"), "{msg}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn slow_server_just_under_and_over_the_timeout() {
    let s = Case::new("f-slow").build();
    let proxy = s.env.proxy("eu-de", Fault::Delay(Duration::from_millis(800))).unwrap();
    let kc = s.kubeconfig(|kc| server(kc, "eu-de", &proxy.url()));
    let (r, j) = s.diagnose(&kc, "6s", &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(region(&j, "eu-de")["verdict"], "healthy");
    proxy.set(Fault::Delay(Duration::from_secs(8)));
    let (r, j) = s.diagnose(&kc, "2s", &[]);
    assert_only_unknown(&r, &j, "eu-de", &["timeout", "deadline"]);
    assert!(j["partial"].as_bool().unwrap() || region(&j, "eu-de")["pods"]["error"]["kind"] == "timeout");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn plain_http_where_tls_is_expected() {
    let s = Case::new("f-plain").build();
    let proxy = s.env.proxy("us-south", Fault::PlainHttp).unwrap();
    let kc = s.kubeconfig(|kc| server(kc, "us-south", &proxy.url()));
    let (r, j) = s.diagnose(&kc, "10s", &[]);
    let msg = assert_only_unknown(&r, &j, "us-south", &["tls"]);
    assert!(msg.starts_with("TLS failure"), "{msg}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn wrong_ca_and_certificate_for_another_host() {
    let s = Case::new("f-tls").build();
    let other = keysvc_testenv::certs::Ca::create(s.dir.path(), "other-ca").unwrap();
    let kc = s.kubeconfig(|kc| {
        cluster_field(kc, "us-east", "certificate-authority", other.cert.display().to_string().into())
    });
    let (r, j) = s.diagnose(&kc, "10s", &[]);
    let msg = assert_only_unknown(&r, &j, "us-east", &["tls"]);
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");
    let kc = s.kubeconfig(|kc| cluster_field(kc, "us-east", "tls-server-name", "api.other-host.example".into()));
    let (r, j) = s.diagnose(&kc, "10s", &[]);
    assert_only_unknown(&r, &j, "us-east", &["tls"]);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn unknown_or_expired_client_certificate_and_rejected_token_are_401() {
    let s = Case::new("f-401").build();
    let other = keysvc_testenv::certs::Ca::create(s.dir.path(), "rogue-ca").unwrap();
    let rogue = other.client("rogue", "oncall", &[]).unwrap();
    let kc = s.kubeconfig(|kc| {
        user(
            kc,
            "oncall@eu-de",
            serde_json::json!({"client-certificate": rogue.cert.display().to_string(), "client-key": rogue.key.display().to_string()}),
        )
    });
    let (r, j) = s.diagnose(&kc, "10s", &[]);
    let msg = assert_only_unknown(&r, &j, "eu-de", &["unauthorized"]);
    assert!(msg.contains("401"), "{msg}");
    let expired = s.env.expired_client_cert("oncall").unwrap();
    let kc = s.kubeconfig(|kc| {
        user(
            kc,
            "oncall@eu-de",
            serde_json::json!({"client-certificate": expired.cert.display().to_string(), "client-key": expired.key.display().to_string()}),
        )
    });
    let (r, j) = s.diagnose(&kc, "10s", &[]);
    assert_only_unknown(&r, &j, "eu-de", &["unauthorized"]);
    let secret_token = "kc-rejected-token-0d1e2f3a4b5c";
    let kc = s.kubeconfig(|kc| user(kc, "oncall@eu-de", serde_json::json!({"token": secret_token})));
    let (r, j) = s.diagnose(&kc, "10s", &["-vv"]);
    assert_only_unknown(&r, &j, "eu-de", &["unauthorized"]);
    assert!(!r.stdout.contains(secret_token) && !r.stderr.contains(secret_token), "the token leaked");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn exec_credential_plugins_that_fail_hang_or_are_missing() {
    let s = Case::new("f-exec").build();
    let exec = |command: &str, args: &[&str]| serde_json::json!({"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command, "args": args, "interactiveMode": "Never"}});
    let kc = s.kubeconfig(|kc| user(kc, "oncall@us-south", exec("/bin/false", &[])));
    let (r, j) = s.diagnose(&kc, "10s", &[]);
    assert_only_unknown(&r, &j, "us-south", &["kubeconfig", "unauthorized"]);

    let kc = s.kubeconfig(|kc| user(kc, "oncall@us-south", exec("keysvc-no-such-plugin", &[])));
    let (r, j) = s.diagnose(&kc, "10s", &[]);
    let msg = assert_only_unknown(&r, &j, "us-south", &["kubeconfig", "unauthorized"]);
    assert_eq!(
        msg,
        "credential plugin keysvc-no-such-plugin not found on PATH: install it or fix the kubeconfig's user.exec.command"
    );
    let steps = common::texts(&j["next_steps"]);
    assert!(steps.contains("install the credential plugin keysvc-no-such-plugin"), "{steps}");
    assert!(!steps.contains("refresh your credentials"), "{steps}");

    // A plugin that fails says why, first: what it printed, not the exec
    // request it was given, within the length cap.
    let plugin = write(
        s.dir.path(),
        "plugin.sh",
        &format!(
            "#!/bin/sh\necho 'warning: {}' >&2\necho \"Run 'ibmcloud login --sso' to sign in again.\" >&2\nexit 1\n",
            "x".repeat(150)
        ),
    );
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let plugin = plugin.display().to_string();
    let kc = s.kubeconfig(|kc| user(kc, "oncall@us-south", exec(&plugin, &[])));
    let (r, j) = s.diagnose(&kc, "10s", &[]);
    let msg = assert_only_unknown(&r, &j, "us-south", &["kubeconfig", "unauthorized"]);
    assert!(msg.starts_with(&format!("credential plugin {plugin} exited 1: warning: xxx")), "{msg}");
    assert!(msg.ends_with("Run 'ibmcloud login --sso' to sign in again."), "{msg}");
    assert!(!msg.contains("KUBERNETES_EXEC_INFO") && !msg.contains("ExitStatus"), "{msg}");
    // doctor says the same, and its kubectl command reaches the same
    // kubeconfig: pasted, it shows the plugin's error, not a missing context.
    let mut c = cmd();
    c.args(["doctor", "--env", "test", "-o", "json", "--region", "us-south", "--runbook"])
        .arg(&s.runbook)
        .arg("--kubeconfig")
        .arg(&kc);
    let d = run_within(c, Duration::from_secs(40)).json();
    let row = d["checks"].as_array().unwrap().iter().find(|c| c["check"] == "context").unwrap();
    assert_eq!(row["detail"].as_str().unwrap(), format!("{msg}; cluster and permissions not checked"), "{row:#}");
    let fix = row["fix"].as_str().unwrap();
    let kubectl = fix.split_once("(kubectl ").map(|(_, k)| format!("kubectl {}", k.trim_end_matches(')'))).unwrap();
    assert!(kubectl.contains(&format!("--kubeconfig {}", kc.display())), "{fix}");
    let out = std::process::Command::new("sh").arg("-c").arg(&kubectl).env_remove("KUBECONFIG").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&plugin) && !err.contains("does not exist"), "{kubectl}: {err}");

    let kc = s.kubeconfig(|kc| user(kc, "oncall@us-south", exec("/bin/sleep", &["600"])));
    let (r, j) = s.diagnose(&kc, "3s", &[]);
    assert_only_unknown(&r, &j, "us-south", &["timeout", "deadline"]);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn forbidden_to_list_pods_names_the_permission() {
    let s = Case::new("f-forbid").build();
    let text = std::fs::read_to_string(&s.runbook).unwrap().replace("oncall@us-east", "nobody@us-east");
    std::fs::write(&s.runbook, text).unwrap();
    let (r, j) = s.diagnose(s.env.kubeconfig(), "10s", &[]);
    let msg = assert_only_unknown(&r, &j, "us-east", &["forbidden"]);
    assert!(msg.contains("list pods in namespace f-forbid"), "{msg}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn missing_ca_file_in_kubeconfig() {
    let s = Case::new("f-nocafile").build();
    let kc = s.kubeconfig(|kc| cluster_field(kc, "eu-de", "certificate-authority", "/nonexistent/ca.crt".into()));
    let (r, j) = s.diagnose(&kc, "10s", &[]);
    let msg = assert_only_unknown(&r, &j, "eu-de", &["kubeconfig"]);
    assert!(msg.contains("/nonexistent/ca.crt"), "{msg}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn client_keys_never_reach_the_output() {
    let s = Case::new("f-secrets").build();
    let kc_json = s.env.kubeconfig_json().unwrap();
    let key_path =
        kc_json["users"].as_array().unwrap().iter().find(|u| u["name"] == "oncall").unwrap()["user"]["client-key"]
            .as_str()
            .unwrap()
            .to_string();
    let key = std::fs::read_to_string(key_path).unwrap();
    let secret_line = key.lines().nth(1).unwrap().to_string();
    for extra in [vec!["-vv"], vec!["-v", "-o", "table"]] {
        let mut c = cmd();
        c.args(["diagnose", "--env", "test"])
            .arg("--runbook")
            .arg(&s.runbook)
            .arg("--kubeconfig")
            .arg(s.env.kubeconfig())
            .args(&extra);
        let r = common::run(c);
        assert!(!r.stdout.contains(&secret_line) && !r.stderr.contains(&secret_line), "the client key leaked");
        assert!(!r.stderr.to_lowercase().contains("authorization: bearer"), "{}", r.stderr);
    }
}

/// keysvc-check `args` (with a case's runbook) against a us-east that never
/// answers, sent SIGINT once the run is under way (the hung region has
/// connected, polled): the case and the hanging proxy, kept until the test
/// ends, the child, and when the signal was sent.
fn interrupted_while_us_east_hangs(
    ns: &str,
    args: &[&str],
) -> (Case, impl Sized, std::process::Child, std::time::Instant) {
    let s = Case::new(ns).build();
    let proxy = s.env.proxy("us-east", Fault::Hang).unwrap();
    let kc = s.kubeconfig(|kc| server(kc, "us-east", &proxy.url()));
    let mut c = cmd();
    c.args(args)
        .arg("--runbook")
        .arg(&s.runbook)
        .arg("--kubeconfig")
        .arg(&kc)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while proxy.accepted() == 0 {
        assert!(std::time::Instant::now() < deadline, "keysvc-check never reached the region");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = std::time::Instant::now();
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    (s, proxy, child, sent)
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn ctrl_c_during_logs_names_every_step_it_cut_and_asks_only_for_a_rerun() {
    let (_case, _proxy, child, _) = interrupted_while_us_east_hangs(
        "f-ctrlc-logs",
        &["logs", "--env", "test", "--region", "us-east", "-o", "json", "--timeout", "60s"],
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let j = common::json(&String::from_utf8_lossy(&out.stdout));
    let east = region(&j, "us-east");
    assert_eq!(
        (east["pods"]["error"]["kind"].as_str(), east["logs"]["error"]["kind"].as_str()),
        (Some("interrupted"), Some("interrupted"))
    );
    // The finding names both steps it cut, as the table's row may name either.
    let texts = common::texts(&j["findings"]);
    assert!(
        texts.contains("us-east: not checked: the run was interrupted before listing pods and reading logs finished"),
        "{texts}"
    );
    // Nothing to fix first: re-run, with no "then".
    let steps = common::texts(&j["next_steps"]);
    assert!(
        steps.contains("us-east: could not be fully checked: the run was interrupted before it finished; re-run\n"),
        "{steps}"
    );
    assert!(!steps.contains("then"), "{steps}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn ctrl_c_prints_what_finished_and_exits_130() {
    let (_case, _proxy, mut child, sent) =
        interrupted_while_us_east_hangs("f-ctrlc", &["diagnose", "--env", "test", "-o", "json", "--timeout", "60s"]);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(sent.elapsed() < Duration::from_millis(1500), "still running after Ctrl-C");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130));
    let out = child.wait_with_output().unwrap();
    let j = common::json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(j["partial"], true);
    assert_ne!(j["service"]["verdict"], "healthy");
    let east = region(&j, "us-east");
    assert_eq!(east["verdict"], "unknown");
    assert!(east.to_string().contains("interrupted"), "{east}");
}
