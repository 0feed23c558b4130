//! keysvc-check in a pod: the example manifests of deploy/kubernetes applied
//! to a real API server, and the tool run with no kubeconfig, only that
//! ServiceAccount's token and the cluster's CA where a pod has them
//! (`KUBERNETES_SERVICE_HOST`/`PORT` and a service account directory): the
//! Role is enough for every check and grants nothing but reads.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::case::Case;
use crate::common::{Run, cmd, run_within, runbook_text, write};
use keysvc_testenv::TestEnv;
use serde_json::Value;

const REGION: &str = "us-east";

fn manifest(name: &str, ns: &str) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes").join(name)).unwrap();
    text.replace("namespace: api", &format!("namespace: {ns}"))
}

/// kubectl as the admin of `REGION`, with `stdin`.
fn kubectl(env: &TestEnv, args: &[&str], stdin: &str) -> Output {
    let mut all = vec!["--context", REGION];
    all.extend(args);
    kubectl_with(env.kubeconfig(), &all, stdin)
}

fn kubectl_with(kubeconfig: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Namespace `ns` with healthy pods, the manifests applied there, and a
/// service account directory (`serviceaccount` in the case's directory)
/// holding a token of the ServiceAccount. The runbook's contexts are
/// placeholders: in a pod, no context is used.
fn pod(ns: &str) -> Case {
    let c = Case::new(ns).contexts(|r| format!("prod-{r}.example")).build();
    let env = &c.env;
    kubectl(env, &["apply", "-f", "-"], &manifest("rbac.yaml", ns));
    // The API server of the test environment is 1.20, which serves CronJob
    // as batch/v1beta1 only (batch/v1 from 1.21); the rest is checked as written.
    let cronjob = manifest("cronjob.yaml", ns).replace("apiVersion: batch/v1\n", "apiVersion: batch/v1beta1\n");
    kubectl(env, &["apply", "--dry-run=server", "-f", "-"], &cronjob);
    // A pod's token, as the kubelet would mount it (TokenRequest: the test
    // environment runs no controller-manager to make token Secrets).
    let request =
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":3600}}"#;
    let out = kubectl(
        env,
        &["create", "--raw", &format!("/api/v1/namespaces/{ns}/serviceaccounts/keysvc-check/token"), "-f", "-"],
        request,
    );
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = reply["status"]["token"].as_str().expect("a token").to_string();
    let sa = c.dir.path().join("serviceaccount");
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), token).unwrap();
    std::fs::copy(&env.state.ca, sa.join("ca.crt")).unwrap();
    c
}

/// How these tests run the binary: as in the pod.
trait InCluster {
    fn run(&self, args: &[&str]) -> Run;
    fn run_on(&self, runbook: &Path, args: &[&str]) -> Run;
}

impl InCluster for Case {
    /// keysvc-check as in the pod: no kubeconfig (HOME has none), the
    /// Kubernetes service's address and the service account directory.
    fn run(&self, args: &[&str]) -> Run {
        self.run_on(&self.runbook, args)
    }

    fn run_on(&self, runbook: &Path, args: &[&str]) -> Run {
        let addr = self.env.apiserver_addr(REGION).unwrap();
        let mut c = self.line(args).runbook(runbook).no_kubeconfig().command();
        c.env("KUBERNETES_SERVICE_HOST", addr.ip().to_string())
            .env("KUBERNETES_SERVICE_PORT", addr.port().to_string())
            .env("KEYSVC_SERVICE_ACCOUNT_DIR", self.dir.path().join("serviceaccount"));
        run_within(c, Duration::from_secs(40))
    }
}

#[test]
#[ignore = "needs the test cluster"]
fn the_example_role_is_enough_in_cluster_and_only_reads() {
    let p = pod("incluster");

    let doctor = p.run(&["doctor", "--region", REGION, "-o", "json"]);
    assert_eq!(doctor.code, 0, "{}{}", doctor.stdout, doctor.stderr);
    let d = doctor.json();
    assert_eq!(d["ok"], true, "{d:#}");
    let checks = d["checks"].as_array().expect("checks");
    let context = checks.iter().find(|c| c["check"] == "context").expect("a context row");
    let addr = p.env.apiserver_addr(REGION).unwrap();
    assert_eq!(
        context["detail"],
        format!("no kubeconfig: this pod's service account, API server https://{addr}"),
        "{context:#}"
    );
    // Every permission the checks use, required and optional, is granted.
    assert_eq!(checks.iter().filter(|c| c["check"] == "permission").count(), 8, "{d:#}");
    for c in checks {
        assert_eq!((&c["result"], &c["fix"]), (&Value::from("ok"), &Value::Null), "{c:#}");
    }

    let diagnose = p.run(&["diagnose", "--region", REGION, "-o", "json"]);
    let j = diagnose.json();
    assert_eq!(diagnose.code, 0, "{}{}", diagnose.stdout, diagnose.stderr);
    assert_eq!(j["service"]["verdict"], "healthy", "{j:#}");
    let r = common::region(&j, REGION);
    assert_eq!((&r["pods"]["ready"], &r["pods"]["status"]), (&Value::from(3), &Value::from("pass")), "{r:#}");
    assert_eq!(r["logs"]["status"], "pass", "{r:#}");
    assert_eq!(r["events"]["status"], "pass", "{r:#}");
    assert_eq!(r["rollout"]["status"], "pass", "{r:#}");
    assert!(common::kinds(&j).iter().all(|k| k != "placeholder" && k != "permission"), "{j:#}");

    // Asked as the ServiceAccount (a kubeconfig with its token alone): no
    // verb but get and list on anything.
    let sa = p.dir.path().join("serviceaccount");
    let addr = p.env.apiserver_addr(REGION).unwrap();
    let kubeconfig = write(
        p.dir.path(),
        "sa.kubeconfig",
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "sa",
            "clusters": [{"name": "c", "cluster": {"server": format!("https://{addr}"),
                "certificate-authority": sa.join("ca.crt")}}],
            "users": [{"name": "sa", "user": {"tokenFile": sa.join("token")}}],
            "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}],
        })
        .to_string(),
    );
    let review =
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{"namespace":"incluster"}}"#;
    let out = kubectl_with(
        &kubeconfig,
        &["create", "--raw", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", "-f", "-"],
        review,
    );
    let rules: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut granted = vec![];
    for rule in rules["status"]["resourceRules"].as_array().unwrap() {
        for verb in rule["verbs"].as_array().unwrap() {
            let resources: Vec<&str> = rule["resources"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            granted.push((verb.as_str().unwrap().to_string(), resources.join(",")));
        }
    }
    // The API server grants every account the reviews it asks itself.
    granted.retain(|(_, r)| !r.contains("selfsubject"));
    assert!(granted.iter().any(|(_, r)| r.contains("pods/log")), "{granted:?}");
    for (verb, resources) in &granted {
        assert!(verb == "get" || verb == "list", "{verb} {resources} is granted");
    }
}

#[test]
#[ignore = "needs the test cluster"]
fn in_cluster_checks_one_region_and_says_so_otherwise() {
    let p = pod("incluster-regions");
    // Every region of the environment from one cluster: refused before anything runs.
    for verb in ["diagnose", "pods", "doctor"] {
        let all = p.run(&[verb]);
        assert_eq!(all.code, 64, "{verb}: {}{}", all.stdout, all.stderr);
        assert!(all.stderr.contains("--region"), "{}", all.stderr);
        assert_eq!(all.stderr.trim().lines().filter(|l| l.contains("error")).count(), 1, "{}", all.stderr);
    }
    // An environment of one region is that region.
    let one = runbook_text("incluster-regions", &p.healthz.url, &|r| format!("prod-{r}.example"), "")
        .lines()
        .filter(|l| !l.contains("us-south") && !l.contains("eu-de"))
        .collect::<Vec<_>>()
        .join("\n");
    let one = write(p.dir.path(), "one-region.yaml", &one);
    let single = p.run_on(&one, &["pods", "-o", "json"]);
    assert_eq!(single.code, 0, "{}{}", single.stdout, single.stderr);
    assert_eq!(common::region(&single.json(), REGION)["pods"]["ready"], 3, "{}", single.stdout);
    // healthz reads no cluster: no region needed.
    let healthz = p.run(&["healthz"]);
    assert_eq!(healthz.code, 0, "{}{}", healthz.stdout, healthz.stderr);
    // A kubeconfig, when there is one, wins as it does for kubectl.
    let mut c = cmd();
    c.args(["pods", "--env", "test", "--runbook"])
        .arg(&p.runbook)
        .arg("--kubeconfig")
        .arg(p.env.kubeconfig())
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", "1")
        .env("KEYSVC_SERVICE_ACCOUNT_DIR", p.dir.path().join("serviceaccount"));
    let with_kubeconfig = run_within(c, Duration::from_secs(40));
    assert!(with_kubeconfig.stdout.contains("prod-us-east.example"), "{}", with_kubeconfig.stdout);
    assert_eq!(with_kubeconfig.code, 78, "{}{}", with_kubeconfig.stdout, with_kubeconfig.stderr);
    drop(p.healthz);
}

#[test]
#[ignore = "needs the test cluster"]
fn in_cluster_the_context_is_none_and_suggested_commands_run_as_the_pod() {
    let ns = "incluster-steps";
    let p = pod(ns);
    p.env.scenarios(ns, &[(REGION, keysvc_testenv::Scenario::CrashLoop)]).unwrap();
    let diagnose = p.run(&["diagnose", "--region", REGION, "-o", "json"]);
    let j = diagnose.json();
    let r = common::region(&j, REGION);
    assert_eq!(r["context"], "in-cluster", "{r:#}");
    assert!(!diagnose.stdout.contains("prod-us-east.example"), "{}", diagnose.stdout);
    // kubectl in the pod: its service account, no context (a kubeconfig of
    // the token alone stands for what kubectl finds in a pod).
    let sa = p.dir.path().join("serviceaccount");
    let addr = p.env.apiserver_addr(REGION).unwrap();
    let kubeconfig = write(
        p.dir.path(),
        "pod.kubeconfig",
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "pod",
            "clusters": [{"name": "c", "cluster": {"server": format!("https://{addr}"),
                "certificate-authority": sa.join("ca.crt")}}],
            "users": [{"name": "sa", "user": {"tokenFile": sa.join("token")}}],
            "contexts": [{"name": "pod", "context": {"cluster": "c", "user": "sa"}}],
        })
        .to_string(),
    );
    let mut ran = 0;
    for step in j["next_steps"].as_array().unwrap() {
        let Some(command) = step["command"].as_str().filter(|c| c.starts_with("kubectl ")) else { continue };
        assert!(!command.contains("--context"), "{command}");
        let out = Command::new("sh").arg("-c").arg(command).env("KUBECONFIG", &kubeconfig).output().unwrap();
        assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
        ran += 1;
    }
    assert!(ran > 0, "no kubectl command in {}", j["next_steps"]);
}
