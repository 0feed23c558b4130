//! The optional evidence of `diagnose` end to end against the real test
//! environment: Warning events grouped by kind (probe failures, image pulls,
//! scheduling) and the Deployment's revisions (a bad rollout, a region on
//! another version), read by a user allowed to; and the minimal on-call user
//! getting the same verdicts with the evidence recorded as Forbidden. Each
//! test works in a namespace of its own.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::case::Case;
use crate::common::{Run, region};
use keysvc_testenv::scenario::{PodKind, image};
use keysvc_testenv::{EventSpec, Fault, REGIONS, Rollout, Scenario};
use serde_json::Value;

/// How these tests run the binary: `ARGS --env test --runbook R --kubeconfig K`,
/// with the runbook of a user (`oncall`, `evidence`).
trait Runs {
    fn run_as(&self, user: &str, args: &[&str]) -> Run;
    fn run_with(&self, user: &str, kubeconfig: &Path, args: &[&str], limit: Duration) -> Run;
    fn diagnose(&self, user: &str) -> (Run, Value);
    fn kubectl(&self, context: &str, args: &[&str]) -> String;
}

impl Runs for Case {
    fn run_as(&self, user: &str, args: &[&str]) -> Run {
        self.run_with(user, self.env.kubeconfig(), args, Duration::from_secs(40))
    }

    fn run_with(&self, user: &str, kubeconfig: &Path, args: &[&str], limit: Duration) -> Run {
        self.line(args).runbook(self.runbook_for(user)).kubeconfig(kubeconfig).run_within(limit)
    }

    /// `diagnose -o json` as `user`.
    fn diagnose(&self, user: &str) -> (Run, Value) {
        let r = self.run_as(user, &["diagnose", "-o", "json"]);
        let j = r.json();
        (r, j)
    }

    /// kubectl as `context`, in the case's namespace.
    fn kubectl(&self, context: &str, args: &[&str]) -> String {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.env.kubeconfig())
            .args(["--context", context, "-n", &self.ns])
            .args(args)
            .output()
            .expect("kubectl runs");
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn groups(reg: &Value) -> &Vec<Value> {
    assert_eq!(reg["events"]["status"], "pass", "{}", reg["events"]);
    reg["events"]["groups"].as_array().unwrap()
}

fn group<'a>(reg: &'a Value, reason: &str) -> &'a Value {
    groups(reg).iter().find(|g| g["reason"] == reason).unwrap_or_else(|| panic!("no {reason} group: {}", reg["events"]))
}

/// kubectl's view of the namespace's Warning events: (reason, object, count).
fn kubectl_warnings(c: &Case, region: &str) -> Vec<(String, String, u64)> {
    let out =
        c.kubectl(&format!("evidence@{region}"), &["get", "events", "--field-selector", "type=Warning", "-o", "json"]);
    let j: Value = serde_json::from_str(&out).unwrap();
    j["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let obj = format!(
                "{}/{}",
                e["involvedObject"]["kind"].as_str().unwrap().to_lowercase(),
                e["involvedObject"]["name"].as_str().unwrap()
            );
            (e["reason"].as_str().unwrap().to_string(), obj, e["count"].as_u64().unwrap_or(1))
        })
        .collect()
}

const NEEDS: &str = "needs the test cluster (tests/run-all.sh)";

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn readiness_probe_failing_is_grouped_from_the_pods_events() {
    let _ = NEEDS;
    let c = Case::new("t-ev-probe").scenario("us-east", Scenario::ProbeFailing).users(&["oncall", "evidence"]).build();
    let (r, j) = c.diagnose("evidence");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["steps"], serde_json::json!(["healthz", "pods", "logs", "events", "rollout"]));
    let east = region(&j, "us-east");
    assert_eq!(east["verdict"], "degraded");
    let not_ready = east["pods"]["pods"].as_array().unwrap().iter().find(|p| p["is_ready"] == false).unwrap();
    assert_eq!(not_ready["status"], "Running");
    let g = group(east, "Unhealthy");
    assert_eq!(g["kind"], "probe_failing");
    assert_eq!(g["count"], 14);
    assert_eq!(g["message"], "Readiness probe failed: HTTP probe failed with statuscode: 503");
    assert_eq!(g["objects"], serde_json::json!([format!("pod/{}", not_ready["name"].as_str().unwrap())]));
    assert!(g["last_seen_secs_ago"].as_u64().unwrap() < 60, "{g}");
    assert!(g["first_seen_secs_ago"].as_u64().unwrap() >= 280, "{g}");
    assert_eq!(groups(east).len(), 1, "{}", east["events"]);
    // The advice: why the pod is not ready, from the events, and commands that work.
    assert!(common::kinds(&j).contains(&"probe_failing".to_string()), "{}", j["findings"]);
    let findings = common::texts(&j["findings"]);
    assert!(
        findings.contains("us-east: 2/3 pods ready: probe failing (Unhealthy ×14): Readiness probe failed"),
        "{findings}"
    );
    assert_eq!(j["next_steps"][0]["region"], "us-east", "{}", j["next_steps"]);
    common::run_suggested_commands(&j);
    // kubectl sees the same events the tool grouped.
    let seen = kubectl_warnings(&c, "us-east");
    let total: u64 = seen.iter().filter(|(reason, _, _)| reason == "Unhealthy").map(|s| s.2).sum();
    assert_eq!(total, 14, "{seen:?}");
    for name in ["us-south", "eu-de"] {
        let reg = region(&j, name);
        assert_eq!(reg["verdict"], "healthy");
        assert!(groups(reg).is_empty(), "{}", reg["events"]);
        // Pods not made by a Deployment: nothing to say about rollouts, and that is no error.
        assert_eq!(reg["rollout"]["status"], "pass");
        assert_eq!(reg["rollout"]["note"], "the pods are not owned by a ReplicaSet");
    }
    // The single-step commands read no optional evidence.
    for command in ["pods", "logs", "healthz"] {
        let r = c.run_as("evidence", &[command, "-o", "json"]);
        let j = r.json();
        assert!(!j["steps"].as_array().unwrap().contains(&"events".into()), "{command}: {}", j["steps"]);
        for reg in j["regions"].as_array().unwrap() {
            assert_eq!((&reg["events"], &reg["rollout"]), (&Value::Null, &Value::Null), "{command}");
        }
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn image_pull_failure_is_grouped_as_image_pull() {
    let c = Case::new("t-ev-pull").scenario("eu-de", Scenario::ImagePull).users(&["oncall", "evidence"]).build();
    let (r, j) = c.diagnose("evidence");
    assert_eq!(r.code, 1, "{}", r.stdout);
    let eu = region(&j, "eu-de");
    assert_eq!(eu["verdict"], "degraded");
    let pulling = eu["pods"]["pods"].as_array().unwrap().iter().find(|p| p["status"] == "ImagePullBackOff");
    assert!(pulling.is_some_and(|p| p["pending"] == true), "{}", eu["pods"]);
    // The kubelet reports a failed pull under two reasons; both are image pulls.
    let failed = group(eu, "Failed");
    assert_eq!((failed["kind"].as_str(), failed["count"].as_u64()), (Some("image_pull"), Some(4 + 4 + 9)));
    // The message that says why, not the later `Error: ImagePullBackOff` that only restates the status.
    let message = failed["message"].as_str().unwrap();
    assert!(message.starts_with("Failed to pull image \""), "{failed}");
    assert!(message.ends_with(": not found"), "{failed}");
    assert!(
        failed["last_seen_secs_ago"].as_u64().unwrap() < 30,
        "the group's latest event is the bare status: {failed}"
    );
    let backoff = group(eu, "BackOff");
    assert_eq!((backoff["kind"].as_str(), backoff["count"].as_u64()), (Some("image_pull"), Some(9)));
    assert!(backoff["message"].as_str().unwrap().starts_with("Back-off pulling image"), "{backoff}");
    let seen = kubectl_warnings(&c, "eu-de");
    assert_eq!(seen.iter().map(|s| s.2).sum::<u64>(), 4 + 4 + 9 + 9, "{seen:?}");
    let f =
        j["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "image_pull").expect("an image_pull finding");
    assert_eq!((f["region"].as_str(), f["severity"].as_str()), (Some("eu-de"), Some("fail")), "{f}");
    assert!(
        common::texts(&j["findings"]).contains("eu-de: 2/3 pods ready: image cannot be pulled"),
        "{}",
        j["findings"]
    );
    assert!(common::texts(&j["findings"]).contains("Failed ×17 on pod/"), "{}", j["findings"]);
    assert!(common::texts(&j["findings"]).contains(": not found"), "{}", j["findings"]);
    common::run_suggested_commands(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn unschedulable_pod_is_grouped_from_the_schedulers_event() {
    let c =
        Case::new("t-ev-sched").scenario("us-south", Scenario::Unschedulable).users(&["oncall", "evidence"]).build();
    let (r, j) = c.diagnose("evidence");
    assert_eq!(r.code, 1, "{}", r.stdout);
    let south = region(&j, "us-south");
    assert_eq!(south["verdict"], "degraded");
    let pending = south["pods"]["pods"].as_array().unwrap().iter().find(|p| p["status"] == "Pending").unwrap();
    assert_eq!(pending["node"], Value::Null);
    let g = group(south, "FailedScheduling");
    assert_eq!(g["kind"], "unschedulable");
    assert_eq!(g["count"], 6);
    assert_eq!(g["message"], "0/1 nodes are available: 1 Insufficient memory.");
    assert_eq!(g["objects"][0], format!("pod/{}", pending["name"].as_str().unwrap()));
    // A pod that never got a node has no logs to read; that is not an error.
    assert_eq!(south["logs"]["status"], "pass", "{}", south["logs"]);
    assert!(common::kinds(&j).contains(&"unschedulable".to_string()), "{}", j["findings"]);
    assert!(
        common::texts(&j["findings"]).contains("us-south: 2/3 pods ready: cannot be scheduled (FailedScheduling ×6)"),
        "{}",
        j["findings"]
    );
    common::run_suggested_commands(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn bad_rollout_names_the_new_and_previous_revision_and_their_images() {
    let c = Case::new("t-ev-rollout").users(&["oncall", "evidence"]).build();
    let rollout =
        Rollout::versions(&["1.4.2", "1.4.3"]).pods(&[PodKind::Ready, PodKind::ProbeFailing, PodKind::ProbeFailing]);
    let made = c.env.deploy("us-east", &c.ns, &rollout).unwrap();
    // Events of the ReplicaSet and Deployment are the service's too.
    let rs_event = EventSpec::warning(
        "ReplicaSet",
        &made.replica_sets[1],
        "FailedCreate",
        "pods \"x\" is forbidden: exceeded quota",
    )
    .count(2)
    .seen(90, 30);
    c.env.event("us-east", &c.ns, &rs_event).unwrap();
    let deploy_event =
        EventSpec::warning("Deployment", "api-key-service", "ProgressDeadlineExceeded", "progress deadline exceeded");
    c.env.event("us-east", &c.ns, &deploy_event).unwrap();

    let (r, j) = c.diagnose("evidence");
    assert_eq!(r.code, 1, "{}", r.stdout);
    let east = region(&j, "us-east");
    assert_eq!(east["verdict"], "degraded");
    let ro = &east["rollout"];
    assert_eq!(ro["status"], "pass", "{ro}");
    assert_eq!(ro["deployment"], "api-key-service");
    assert_eq!(ro["revision"], 2);
    assert_eq!(ro["replica_set"], made.replica_sets[1].as_str());
    assert_eq!(ro["images"], serde_json::json!([image("1.4.3")]));
    // Created by this test: rolled out seconds ago.
    assert!(ro["rolled_out_secs_ago"].as_u64().unwrap() < 60, "{ro}");
    assert_eq!(
        ro["previous"],
        serde_json::json!({"revision": 1, "replica_set": made.replica_sets[0], "images": [image("1.4.2")]})
    );
    let probe = group(east, "Unhealthy");
    assert_eq!((probe["count"].as_u64(), probe["objects_total"].as_u64()), (Some(28), Some(2)));
    assert_eq!(group(east, "FailedCreate")["objects"][0], format!("replicaset/{}", made.replica_sets[1]));
    assert_eq!(group(east, "ProgressDeadlineExceeded")["objects"][0], "deployment/api-key-service");
    // kubectl reads the same history.
    let history = c.kubectl("us-east", &["rollout", "history", "deployment/api-key-service", "--revision=2"]);
    assert!(history.contains(&image("1.4.3")), "{history}");
    // What changed, and the rollback first, ready to paste (suggested, never run by the tool).
    let f = j["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "rollout").expect("a rollout finding");
    assert_eq!(f["region"], "us-east");
    let text = f["text"].as_str().unwrap();
    assert!(text.starts_with(&format!("rolled out revision 2 ({})", image("1.4.3"))), "{text}");
    assert!(text.ends_with(&format!("; revision 1 ({}) before", image("1.4.2"))), "{text}");
    // What changed: the two revisions' templates, before and now; each
    // shows its own image.
    for (i, (rev, version)) in [(1, "1.4.2"), (2, "1.4.3")].into_iter().enumerate() {
        let step = &j["next_steps"][i];
        let command = step["command"].as_str().unwrap();
        assert!(command.ends_with(&format!("rollout history deployment/api-key-service --revision={rev}")), "{step}");
        let history =
            c.kubectl("us-east", &["rollout", "history", "deployment/api-key-service", &format!("--revision={rev}")]);
        assert!(history.contains(&image(version)), "{history}");
    }
    let first = &j["next_steps"][2];
    assert_eq!(first["region"], "us-east", "{}", j["next_steps"]);
    assert!(
        first["command"].as_str().unwrap().ends_with(&format!(
            "--context evidence@us-east -n {} rollout undo deployment/api-key-service --to-revision=1",
            c.ns
        )),
        "{first}"
    );
    common::run_suggested_commands(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn version_drift_shows_as_different_images_in_one_region() {
    let c = Case::new("t-ev-drift").users(&["oncall", "evidence"]).build();
    for region in REGIONS {
        let versions: &[&str] = if region == "eu-de" { &["1.4.2"] } else { &["1.4.2", "1.4.3"] };
        c.env.deploy(region, &c.ns, &Rollout::versions(versions)).unwrap();
    }
    let (r, j) = c.diagnose("evidence");
    assert_eq!(r.code, 0, "{}", r.stdout);
    let images = |name: &str| region(&j, name)["rollout"]["images"].clone();
    assert_eq!(images("us-south"), serde_json::json!([image("1.4.3")]));
    assert_eq!(images("us-south"), images("us-east"));
    assert_eq!(images("eu-de"), serde_json::json!([image("1.4.2")]));
    assert_eq!(region(&j, "eu-de")["rollout"]["revision"], 1);
    assert_eq!(region(&j, "eu-de")["rollout"]["previous"], Value::Null);
    // Every region healthy: the drift and the fresh rollouts are said, as information.
    let drift: Vec<&Value> =
        j["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "version_drift").collect();
    assert_eq!(drift.len(), 1, "{}", j["findings"]);
    assert_eq!((drift[0]["region"].as_str(), drift[0]["severity"].as_str()), (Some("eu-de"), Some("info")));
    assert!(drift[0]["text"].as_str().unwrap().contains("while us-south, us-east run"), "{}", drift[0]);
    assert!(j["findings"].as_array().unwrap().iter().all(|f| f["severity"] == "info"), "{}", j["findings"]);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn the_minimal_user_gets_the_same_verdicts_and_the_evidence_is_recorded_as_forbidden() {
    let c = Case::new("t-ev-minimal").scenario("eu-de", Scenario::ImagePull).users(&["oncall", "evidence"]).build();
    let rollout = Rollout::versions(&["1.4.2", "1.4.3"]).pods(&[PodKind::ProbeFailing; 3]);
    c.env.deploy("us-east", &c.ns, &rollout).unwrap();
    let (full_run, full) = c.diagnose("evidence");
    let (min_run, min) = c.diagnose("oncall");
    assert_eq!(min_run.code, full_run.code, "{}\n{}", min_run.stdout, full_run.stdout);
    // us-east has no ready pod (down), eu-de one pod pulling (degraded): degraded, exit 1.
    assert_eq!(min_run.code, 1, "{}", min_run.stdout);
    assert_eq!(region(&min, "us-east")["verdict"], "down");
    assert_eq!(min["service"]["verdict"], full["service"]["verdict"]);
    for name in REGIONS {
        let (m, f) = (region(&min, name), region(&full, name));
        assert_eq!(m["verdict"], f["verdict"], "{name}");
        for step in ["pods", "logs"] {
            assert_eq!(m[step]["status"], f[step]["status"], "{name} {step}");
        }
        assert_eq!(f["events"]["status"], "pass", "{name}");
        assert_eq!(f["rollout"]["status"], "pass", "{name}");
        let (ev, ro) = (&m["events"], &m["rollout"]);
        assert_eq!((ev["status"].as_str(), ev["error"]["kind"].as_str()), (Some("error"), Some("forbidden")), "{ev}");
        assert!(ev["error"]["message"].as_str().unwrap().contains("missing permission to list events"), "{ev}");
        assert_eq!((ro["status"].as_str(), ro["error"]["kind"].as_str()), (Some("error"), Some("forbidden")), "{ro}");
        assert!(ro["error"]["message"].as_str().unwrap().contains("list replicasets.apps"), "{ro}");
    }
    assert_eq!(region(&full, "us-east")["rollout"]["revision"], 2);
    assert!(!groups(region(&full, "eu-de")).is_empty());
    assert_eq!(min["partial"], false);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_hanging_region_reports_its_evidence_as_cut_short_and_the_others_in_full() {
    let c = Case::new("t-ev-hang").users(&["oncall", "evidence"]).build();
    for region in REGIONS {
        c.env.deploy(region, &c.ns, &Rollout::versions(&["1.4.3"])).unwrap();
    }
    let proxy = c.env.proxy("us-south", Fault::Hang).unwrap();
    let kc = c.dir.path().join("kubeconfig");
    c.env.kubeconfig_with(&kc, &[("us-south", proxy.url())]).unwrap();
    let r = c.run_with("evidence", &kc, &["diagnose", "-o", "json", "--timeout", "3s"], Duration::from_secs(5));
    assert_eq!(r.code, 3, "{}", r.stdout);
    let j = r.json();
    let south = region(&j, "us-south");
    assert_eq!(south["verdict"], "unknown");
    for step in ["events", "rollout"] {
        assert_eq!(south[step]["status"], "error", "{step}: {}", south[step]);
        assert!(matches!(south[step]["error"]["kind"].as_str(), Some("timeout" | "deadline")), "{}", south[step]);
    }
    for name in ["us-east", "eu-de"] {
        let reg = region(&j, name);
        assert_eq!(reg["verdict"], "healthy");
        assert_eq!(reg["events"]["status"], "pass");
        assert_eq!(reg["rollout"]["revision"], 1, "{}", reg["rollout"]);
    }
}

/// The pods of the case's namespace in `region`, by name.
fn pod_names(c: &Case, region: &str) -> Vec<String> {
    let out = c.kubectl(region, &["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"]);
    out.split_whitespace().map(str::to_string).collect()
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_selector_that_no_longer_matches_gets_the_labels_step_whatever_the_user_may_read() {
    let c = Case::new("t-ev-labels").users(&["oncall", "evidence"]).build();
    c.kubectl("us-south", &["label", "pods", "--all", "--overwrite", "app=key-service"]);
    for user in ["evidence", "oncall"] {
        let (r, j) = c.diagnose(user);
        assert_eq!(r.code, 1, "{user}: {}", r.stdout);
        let south = region(&j, "us-south");
        assert_eq!((south["verdict"].as_str(), south["pods"]["total"].as_u64()), (Some("down"), Some(0)), "{user}");
        let steps: Vec<&Value> =
            j["next_steps"].as_array().unwrap().iter().filter(|s| s["region"] == "us-south").collect();
        let labels = steps
            .iter()
            .find(|s| s["command"].as_str().is_some_and(|c| c.ends_with(" get pods --show-labels")))
            .unwrap_or_else(|| panic!("{user}: no labels step in {steps:?}"));
        if user == "evidence" {
            // The Deployment and ReplicaSet lists were read, and empty: said, and not suggested again.
            assert!(labels["text"].as_str().unwrap().contains("no Deployment or ReplicaSet does either"), "{labels}");
            assert_eq!(steps.len(), 1, "nothing that would print `No resources found`: {steps:?}");
        }
        // Pasted, it shows the label the pods have now.
        let command = labels["command"].as_str().unwrap();
        let out = Command::new("sh").arg("-c").arg(command).env_remove("KUBECONFIG").output().unwrap();
        assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(shown.contains("app=key-service"), "{shown}");
        common::run_suggested_commands(&j);
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_deployment_scaled_to_zero_is_named_with_who_scaled_it_and_the_commands_that_show_and_undo_it() {
    let c = Case::new("t-ev-zero").users(&["oncall", "evidence"]).build();
    let made = c.env.deploy("eu-de", &c.ns, &Rollout::versions(&["1.4.2"])).unwrap();
    // No Deployment controller runs: scale both, and delete the pods, as it
    // would. A patch, not `kubectl scale`: an API server before 1.22 records
    // no field manager for a change through the scale subresource.
    c.kubectl("eu-de", &["patch", "deployment/api-key-service", "--type=merge", "-p", r#"{"spec":{"replicas":0}}"#]);
    c.kubectl("eu-de", &["scale", &format!("replicaset/{}", made.replica_sets[0]), "--replicas=0"]);
    for pod in &made.pods {
        c.kubectl("eu-de", &["delete", "pod", pod, "--grace-period=0", "--force"]);
    }
    let (r, j) = c.diagnose("evidence");
    assert_eq!(r.code, 1, "{}", r.stdout);
    let eu = region(&j, "eu-de");
    assert_eq!(eu["verdict"], "down");
    assert_eq!(eu["rollout"]["replicas"], 0, "{}", eu["rollout"]);
    let set = &eu["rollout"]["replicas_set"];
    assert_eq!(set["by"], "kubectl-patch", "{set}");
    assert!(set["secs_ago"].as_u64().unwrap() < 60, "{set}");
    let f = j["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "scaled_down").expect("scaled_down");
    assert_eq!((f["region"].as_str(), f["severity"].as_str()), (Some("eu-de"), Some("fail")), "{f}");
    let text = f["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "the Deployment api-key-service is scaled to 0 replicas (spec.replicas, last written by kubectl-patch "
        ),
        "{text}"
    );
    // The rollout is a fact here, not the suspect.
    let rollout = j["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "rollout").unwrap();
    assert_eq!(rollout["severity"], "info", "{rollout}");
    let commands: Vec<&str> =
        j["next_steps"].as_array().unwrap().iter().filter_map(|s| s["command"].as_str()).collect();
    assert!(commands.iter().any(|c| c.ends_with(" describe deployment/api-key-service")), "{commands:?}");
    assert!(commands.iter().any(|c| c.ends_with(" scale deployment/api-key-service --replicas=3")), "{commands:?}");
    // What `describe` shows says the same.
    let described = c.kubectl("evidence@eu-de", &["describe", "deployment/api-key-service"]);
    assert!(described.lines().any(|l| l.starts_with("Replicas:") && l.contains("0 desired")), "{described}");
    common::run_suggested_commands(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_warning_event_in_a_healthy_region_gets_the_step_that_shows_it() {
    let c = Case::new("t-ev-mount").users(&["oncall", "evidence"]).build();
    let pod = pod_names(&c, "eu-de").remove(0);
    let message =
        "MountVolume.SetUp failed for volume \"signing-keys\" : secret \"api-key-service-signing-keys\" not found";
    c.env
        .event("eu-de", &c.ns, &EventSpec::warning("Pod", &pod, "FailedMount", message).count(3).seen(200, 20))
        .unwrap();
    let (r, j) = c.diagnose("evidence");
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(region(&j, "eu-de")["verdict"], "healthy");
    let step = j["next_steps"].as_array().unwrap().iter().find(|s| s["region"] == "eu-de").expect("a step for eu-de");
    assert!(step["text"].as_str().unwrap().starts_with(&format!("see the FailedMount events of pod/{pod}")), "{step}");
    let command = step["command"].as_str().unwrap();
    assert!(command.ends_with(&format!(" describe pod/{pod}")), "{command}");
    let out = Command::new("sh").arg("-c").arg(command).env_remove("KUBECONFIG").output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && shown.contains("api-key-service-signing-keys"), "{shown}");
    common::run_suggested_commands(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_pod_not_ready_says_since_when_and_under_the_grace_is_information() {
    let c = Case::new("t-ev-flap").users(&["oncall", "evidence"]).build();
    let pod = pod_names(&c, "us-east").remove(1);
    let not_ready_since = |secs: i64| {
        let since = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs);
        let patch = serde_json::json!({"status": {
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                            "lastTransitionTime": format!("{since:.0}")}],
            "containerStatuses": [{"name": "api-key-service", "ready": false}]}});
        c.kubectl(
            "us-east",
            &["patch", "pod", &pod, "--subresource=status", "--type=strategic", "-p", &patch.to_string()],
        );
    };
    // 20s, under not_ready_grace (30s by default): noted, not a warning.
    not_ready_since(20);
    let (r, j) = c.diagnose("evidence");
    assert_eq!(r.code, 0, "{}", r.stdout);
    let east = region(&j, "us-east");
    assert_eq!((east["verdict"].as_str(), east["pods"]["status"].as_str()), (Some("healthy"), Some("pass")));
    let p = east["pods"]["pods"].as_array().unwrap().iter().find(|p| p["name"] == pod.as_str()).unwrap();
    let secs = p["not_ready_secs_ago"].as_u64().unwrap();
    assert!((20..30).contains(&secs), "{p}");
    let f = j["findings"].as_array().unwrap().iter().find(|f| f["pod"] == pod.as_str()).expect("a finding for the pod");
    assert_eq!(f["severity"], "info", "{f}");
    assert!(
        f["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{pod} Running, not ready for {secs}s (less than not_ready_grace, 30s")),
        "{f}"
    );
    // 90s: a warning, saying for how long; the NOTE says "not ready", not "Running".
    not_ready_since(90);
    let (r, j) = c.diagnose("evidence");
    assert_eq!(r.code, 1, "{}", r.stdout);
    let f = j["findings"].as_array().unwrap().iter().find(|f| f["pod"] == pod.as_str()).expect("a finding for the pod");
    assert_eq!(f["severity"], "warn", "{f}");
    assert!(f["text"].as_str().unwrap().starts_with(&format!("{pod} Running, not ready for 9")), "{f}");
    let table = c.run_as("evidence", &["diagnose"]);
    let row = table.stdout.lines().find(|l| l.contains("us-east") && l.starts_with('│')).unwrap();
    assert!(row.contains("degraded") && row.contains("not ready") && !row.contains("Running"), "{row}");
    common::run_suggested_commands(&j);
}

/// The audit IDs of `region`'s API server so far.
fn audit_ids(c: &Case, region: &str) -> std::collections::HashSet<String> {
    let events = c.env.audit_events(region).unwrap();
    events.iter().map(|e| e["auditID"].as_str().unwrap_or_default().to_string()).collect()
}

/// The API requests `user` made in `ns` of `region`'s API server, one per
/// audit ID and none of `before`, once `logs` log reads are in the audit log
/// (polled with a deadline).
fn requests(c: &Case, region: &str, user: &str, before: &std::collections::HashSet<String>, logs: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut seen = before.clone();
        let ours: Vec<Value> = c
            .env
            .audit_events(region)
            .unwrap()
            .into_iter()
            .filter(|e| e["user"]["username"] == user && e["objectRef"]["namespace"] == c.ns.as_str())
            .filter(|e| seen.insert(e["auditID"].as_str().unwrap_or_default().to_string()))
            .collect();
        let reads = ours.iter().filter(|e| e["objectRef"]["subresource"] == "log").count();
        if reads >= logs || std::time::Instant::now() > deadline {
            return ours;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_healthy_region_costs_one_log_read_per_pod_and_four_more_requests_at_most() {
    let c = Case::new("t-ev-reads").users(&["oncall", "evidence"]).no_scenarios().build();
    let rollout = Rollout::versions(&["1.4.2"]).pods(&[PodKind::Ready, PodKind::Ready, PodKind::Ready]);
    for name in REGIONS {
        c.env.deploy(name, &c.ns, &rollout).unwrap();
    }
    let before: Vec<_> = REGIONS.iter().map(|name| audit_ids(&c, name)).collect();
    let (r, j) = c.diagnose("evidence");
    assert_eq!(r.code, 0, "{}", r.stdout);
    for (name, before) in REGIONS.iter().zip(&before) {
        let reg = region(&j, name);
        assert_eq!(reg["rollout"]["status"], "pass", "{reg}");
        assert!(reg["logs"]["pods"].as_array().unwrap().iter().all(|p| p["baseline"]["cut"] == false), "{reg}");
        let ours = requests(&c, name, "evidence", before, 3);
        let what: Vec<String> =
            ours.iter().map(|e| format!("{} {}", e["verb"], e["requestURI"].as_str().unwrap_or_default())).collect();
        let reads = ours.iter().filter(|e| e["objectRef"]["subresource"] == "log").count();
        // One read per pod: the baseline with the window after it.
        assert_eq!(reads, 3, "{name}: {what:#?}");
        // The pods, events and ReplicaSets lists and the Deployment.
        assert_eq!(ours.len(), 3 + 4, "{name}: {what:#?}");
    }
}
