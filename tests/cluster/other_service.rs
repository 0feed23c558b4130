//! A second service's runbook, with names of its own (service, namespace,
//! selector, container) and no `guidance`, against the real three-region
//! test environment (tests/run-all.sh brings it up): its pods run a
//! container `token-issuer` labelled `tier=tokens,component=issuer`. Every
//! command its reports suggest is pasted and must work.

use std::path::PathBuf;
use std::process::Command;

use keysvc_testenv::kubelet::{self, LogSpec};
use keysvc_testenv::scenario::RawPod;
use serde_json::{Value, json};

use crate::common::case::Case;
use crate::common::{paste_every_command, region, texts, write};

const REGIONS: [&str; 3] = ["us-south", "us-east", "eu-de"];
const CONTAINER: &str = "token-issuer";
const SELECTOR: &str = "tier=tokens,component=issuer";

/// RFC 3339, `secs` seconds ago.
fn ago(secs: i64) -> String {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs);
    format!("{t:.0}")
}

fn ready_status() -> Value {
    let started = ago(7200);
    json!({"phase": "Running", "hostIP": "127.0.0.1", "podIP": "10.244.0.20", "startTime": started,
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started},
                       {"type": "PodScheduled", "status": "True", "lastTransitionTime": started}],
        "containerStatuses": [{"name": CONTAINER, "ready": true, "started": true, "restartCount": 0,
            "image": "iam/token-issuer:2.1", "imageID": "", "state": {"running": {"startedAt": started}}}]})
}

fn crash_status() -> Value {
    let started = ago(7200);
    json!({"phase": "Running", "hostIP": "127.0.0.1", "podIP": "10.244.0.21", "startTime": started,
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": started},
                       {"type": "PodScheduled", "status": "True", "lastTransitionTime": started}],
        "containerStatuses": [{"name": CONTAINER, "ready": false, "started": false, "restartCount": 5,
            "image": "iam/token-issuer:2.1", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ago(300), "finishedAt": ago(200)}}}]})
}

/// The service in every region: three pods, the last of `crashing`'s in
/// CrashLoopBackOff; labelled with the runbook's selector only.
fn deploy(c: &Case, crashing: &[&str]) {
    for r in REGIONS {
        let node = c.env.state.region(r).unwrap().node.clone();
        let pods: Vec<RawPod> = (0..3)
            .map(|i| {
                let crash = i == 2 && crashing.contains(&r);
                RawPod {
                    name: format!("token-issuer-7c9f-{i}"),
                    spec: json!({"nodeName": node, "containers": [{"name": CONTAINER, "image": "iam/token-issuer:2.1"}]}),
                    status: if crash { crash_status() } else { ready_status() },
                    deleted: false,
                }
            })
            .collect();
        c.env.raw_pods(r, &c.ns, &pods).unwrap();
        if crashing.contains(&r) {
            let logs_dir = c.env.state.region(r).unwrap().logs_dir.clone();
            let mut previous = LogSpec::lines([
                (290.0, "INFO issuer starting".to_string()),
                (250.0, "ERROR cannot reach the key store: timeout after 5s".to_string()),
            ]);
            previous.previous = None;
            let spec = LogSpec {
                previous: Some(Box::new(previous)),
                error: Some((400, "container is waiting to start: CrashLoopBackOff".into())),
                ..LogSpec::default()
            };
            kubelet::write_spec(&logs_dir, &c.ns, "token-issuer-7c9f-2", CONTAINER, &spec).unwrap();
        }
        // The runbook's labels (the one every test pod has stays, for the
        // next case to clear them by).
        let out = Command::new("kubectl")
            .args(["--kubeconfig"])
            .arg(&c.kubeconfig)
            .args(["--context", r, "-n", &c.ns, "label", "pods", "--all", "tier=tokens", "component=issuer"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The second service's runbook: no guidance, `container` as given.
fn runbook(c: &Case, container: &str) -> PathBuf {
    let mut text = format!(
        "service: IAM Token Issuer\nnamespace: {ns}\nselector: \"{SELECTOR}\"\ncontainer: {container}\nexpected_ready: 3\nenvironments:\n  test:\n    healthz_url: {url}\n    regions:\n",
        ns = c.ns,
        url = c.healthz.url
    );
    for r in REGIONS {
        text.push_str(&format!("      {r}: {{ context: \"issuer-{r}\" }}\n"));
    }
    write(c.dir.path(), &format!("issuer-{container}.yaml"), &text)
}

/// The environment's kubeconfig with the oncall contexts renamed
/// `issuer-REGION`, as another team names its own.
fn kubeconfig(c: &Case) -> PathBuf {
    let mut k = c.env.kubeconfig_json().unwrap();
    for ctx in k["contexts"].as_array_mut().unwrap() {
        let name = ctx["name"].as_str().unwrap().to_string();
        if let Some(r) = name.strip_prefix("oncall@") {
            ctx["name"] = Value::from(format!("issuer-{r}"));
        }
    }
    write(c.dir.path(), "issuer-kubeconfig.json", &k.to_string())
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn another_services_runbook_gets_commands_in_its_own_names_that_work_pasted() {
    let c = Case::new("o-issuer").no_scenarios().build();
    deploy(&c, &["us-east"]);
    let kc = kubeconfig(&c);
    let rb = runbook(&c, CONTAINER);
    let r = c.line(&["diagnose", "-o", "json"]).runbook(&rb).kubeconfig(&kc).run();
    let j = r.json();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(region(&j, "us-east")["verdict"], "degraded");
    assert_eq!(j["service"]["impact"], Value::Null);
    let steps = texts(&j["next_steps"]);
    assert!(steps.contains(&format!("-l {SELECTOR} -c {CONTAINER} ")), "{steps}");
    assert!(!steps.contains("api-key-service") && !steps.contains(" -n api "), "{steps}");
    paste_every_command(&j);
    let t = c.line(&["diagnose"]).runbook(&rb).kubeconfig(&kc).run();
    assert!(t.stdout.starts_with("IAM Token Issuer (test): DEGRADED"), "{}", t.stdout);

    // A container known wrong: the commands name the one the pods have.
    let typo = runbook(&c, "token-isuer");
    let r = c.line(&["diagnose", "-o", "json"]).runbook(&typo).kubeconfig(&kc).run();
    let j = r.json();
    let commands = texts(&j["next_steps"]);
    assert!(commands.contains(&format!("-c {CONTAINER} ")) && !commands.contains("-c token-isuer"), "{commands}");
    paste_every_command(&j);

    // One region, its context alone, kubectl's way; and that context given
    // to another region is caught as the other's.
    let r = c
        .line(&["diagnose", "-o", "json", "--region", "us-east"])
        .runbook(&rb)
        .kubeconfig(&kc)
        .after(&["--context", "issuer-us-east"])
        .run();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    paste_every_command(&r.json());
    let r = c
        .line(&["diagnose", "-o", "json", "--region", "eu-de"])
        .runbook(&rb)
        .kubeconfig(&kc)
        .after(&["--context", "issuer-us-east"])
        .run();
    let j = r.json();
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(region(&j, "eu-de")["pods"]["error"]["kind"], "same_cluster");
    paste_every_command(&j);

    // Every region refused alike (the oncall user has no role in this
    // namespace under another name): one step.
    let wrong_ns = write(
        c.dir.path(),
        "issuer-ns.yaml",
        &std::fs::read_to_string(&rb).unwrap().replace(&format!("namespace: {}", c.ns), "namespace: o-issuerr"),
    );
    let r = c.line(&["diagnose", "-o", "json"]).runbook(&wrong_ns).kubeconfig(&kc).run();
    let j = r.json();
    assert_eq!(r.code, 3, "{}", r.stdout);
    let access: Vec<&Value> = j["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["text"].as_str().unwrap().contains("fully checked"))
        .collect();
    assert_eq!(access.len(), 1, "{}", texts(&j["next_steps"]));
    paste_every_command(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn another_services_runbook_without_guidance_names_no_team_of_its_own() {
    let c = Case::new("o-noteam").no_scenarios().build();
    deploy(&c, &[]);
    let kc = kubeconfig(&c);
    let rb = runbook(&c, CONTAINER);
    // Healthz refused while every region's pods are ready: the way in, and
    // whom to ask about the platform, in generic words with no link.
    let refused = "http://127.0.0.1:1/health";
    let r = c.line(&["diagnose", "-o", "json"]).runbook(&rb).kubeconfig(&kc).after(&["--healthz-url", refused]).run();
    let j = r.json();
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let steps = texts(&j["next_steps"]);
    assert!(
        steps.contains(
            "Contact the platform/infrastructure team if Kubernetes or the infrastructure underneath looks at fault\n"
        ),
        "{steps}"
    );
    // Other APIs failing too: the platform first, in the same words.
    let peers = format!("    peers:\n      - {{ name: ledger-api, healthz_url: \"{refused}\" }}\n    regions:\n");
    let text = std::fs::read_to_string(&rb).unwrap().replacen("    regions:\n", &peers, 1);
    let with_peers = write(c.dir.path(), "issuer-peers.yaml", &text);
    let r = c
        .line(&["diagnose", "-o", "json"])
        .runbook(&with_peers)
        .kubeconfig(&kc)
        .after(&["--healthz-url", refused])
        .run();
    let j = r.json();
    assert_eq!(
        j["next_steps"][0]["text"],
        "Contact the platform/infrastructure team first: other APIs fail the same way"
    );
    // No team's name from anywhere but the runbook, in any output.
    let t = c.line(&["diagnose"]).runbook(&with_peers).kubeconfig(&kc).after(&["--healthz-url", refused]).run();
    for words in [&r.stdout, &t.stdout] {
        assert!(!words.contains("Foundation"), "{words}");
    }
}
