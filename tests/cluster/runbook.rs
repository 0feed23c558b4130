//! A runbook that names what the clusters do not have — a container the
//! pods lack, a selector that matches no pod, a namespace that does not
//! exist, a context that is not in the kubeconfig — against the real
//! three-region test environment (tests/run-all.sh brings it up). Each is
//! the runbook's fault, said with the key and line to fix, never an outage
//! nor a pass.

use std::time::Duration;

use crate::common::case::Case;
use crate::common::{Run, cmd, kinds, region, run_suggested_commands, run_within, texts};
use serde_json::Value;

const REGIONS: [&str; 3] = ["us-south", "us-east", "eu-de"];

/// How these tests run the binary: `ARGS --env test --runbook R --kubeconfig K`.
trait Runs {
    fn run(&self, args: &[&str]) -> Run;
    fn json(&self, args: &[&str]) -> (Run, Value);
}

impl Runs for Case {
    fn run(&self, args: &[&str]) -> Run {
        self.line(args).run()
    }

    fn json(&self, args: &[&str]) -> (Run, Value) {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let r = self.run(&all);
        let j = r.json();
        (r, j)
    }
}

fn finding<'a>(j: &'a Value, kind: &str) -> &'a Value {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} finding:\n{}", texts(&j["findings"])))
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_container_the_pods_do_not_have_fails_the_logs_step_and_names_the_runbook_key() {
    let c = Case::new("t-rb-container").replace("container: api-key-service", "container: api-keyservice").build();
    let (r, j) = c.json(&["diagnose"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["service"]["verdict"], "unknown");
    for name in REGIONS {
        let reg = region(&j, name);
        assert_eq!(reg["verdict"], "unknown", "{reg}");
        assert_eq!(reg["pods"]["status"], "pass", "{reg}");
        assert_eq!(reg["logs"]["status"], "error", "{reg}");
        assert_eq!(reg["logs"]["error"]["kind"], "runbook_mismatch", "{reg}");
        assert_eq!(
            reg["logs"]["error"]["message"],
            "the pods have no container `api-keyservice` (they have: api-key-service)"
        );
    }
    // Said once for every region, naming the key, its line and the fix.
    let f = finding(&j, "runbook_mismatch");
    assert_eq!(f["region"], Value::Null, "{f}");
    let text = f["text"].as_str().unwrap();
    assert!(text.contains("`container` on line 4 of "), "{text}");
    assert!(text.contains(": did you mean api-key-service?"), "{text}");
    let steps = texts(&j["next_steps"]);
    assert!(steps.contains("fix `container` on line 4"), "{steps}");

    // The logs command: not HEALTHY, the same exit code.
    let r = c.run(&["logs", "--region", "us-south"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(!r.stdout.contains("HEALTHY") && r.stdout.contains("UNKNOWN"), "{}", r.stdout);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_container_known_wrong_is_not_named_in_the_commands_suggested() {
    let c = Case::new("t-rb-ctr-cmd")
        .scenario("us-east", keysvc_testenv::Scenario::CrashLoop)
        .replace("container: api-key-service", "container: api-keyservice")
        .build();
    let (r, j) = c.json(&["diagnose"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let commands: Vec<&str> =
        j["next_steps"].as_array().unwrap().iter().filter_map(|s| s["command"].as_str()).collect();
    assert!(!commands.iter().any(|c| c.contains("api-keyservice")), "{commands:?}");
    // The likely one instead, in both logs commands, which work pasted.
    let logs: Vec<&&str> = commands.iter().filter(|c| c.contains(" logs ")).collect();
    assert_eq!(logs.len(), 2, "{commands:?}");
    assert!(logs.iter().all(|c| c.contains(" -c api-key-service ")), "{logs:?}");
    crate::common::paste_every_command(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_selector_that_matches_no_pod_anywhere_while_healthz_passes_is_the_runbooks_not_an_outage() {
    let c = Case::new("t-rb-selector").replace("selector: app=api-key-service", "selector: app=api-key-servce").build();
    let (r, j) = c.json(&["diagnose"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["service"]["verdict"], "unknown");
    assert_eq!(j["service"]["impact"], Value::Null);
    for name in REGIONS {
        let reg = region(&j, name);
        assert_eq!(reg["verdict"], "unknown", "{reg}");
        assert_eq!(reg["pods"]["status"], "error", "{reg}");
        assert_eq!(reg["pods"]["error"]["kind"], "runbook_mismatch", "{reg}");
        assert_eq!(reg["pods"]["other_labels"], serde_json::json!(["app=api-key-service"]), "{reg}");
    }
    let f = finding(&j, "runbook_mismatch");
    let text = f["text"].as_str().unwrap();
    assert!(text.contains("the namespace's pods have app=api-key-service"), "{text}");
    assert!(
        text.contains("`selector` on line 3 of ") && text.contains(": did you mean app=api-key-service?"),
        "{text}"
    );
    assert!(!kinds(&j).contains(&"no_pods".to_string()), "{}", texts(&j["findings"]));
    run_suggested_commands(&j);
    let t = c.run(&["diagnose"]);
    assert_eq!(t.code, 3);
    assert!(!t.stdout.contains("Impact:") && !t.stdout.contains("DOWN"), "{}", t.stdout);

    // One region alone without pods while the service answers may be that
    // region's own trouble: down, with the labels as a hint.
    let (r, j) = c.json(&["diagnose", "--region", "us-east"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(region(&j, "us-east")["verdict"], "down");
    let f = finding(&j, "no_pods");
    assert!(f["text"].as_str().unwrap().contains("the namespace's pods have app=api-key-service"), "{f}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_typo_in_one_term_of_a_selector_of_several_gets_the_whole_selector_meant() {
    let typo = "selector: app=api-key-servce,tier=api";
    let c = Case::new("t-rb-selector2").replace("selector: app=api-key-service", typo).build();
    for r in REGIONS {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&c.kubeconfig)
            .args(["--context", r, "-n", &c.ns, "label", "pods", "--all", "tier=api"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (r, j) = c.json(&["diagnose"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let f = finding(&j, "runbook_mismatch");
    let text = f["text"].as_str().unwrap();
    assert!(text.contains(": did you mean app=api-key-service,tier=api?"), "{text}");
    run_suggested_commands(&j);
    // `doctor` says the same.
    let d = c.run(&["doctor", "-o", "json", "--region", "us-east"]);
    assert_eq!(d.code, 1, "{}", d.stdout);
    let fixes: Vec<String> =
        d.json()["checks"].as_array().unwrap().iter().filter_map(|c| c["fix"].as_str().map(String::from)).collect();
    assert!(fixes.iter().any(|f| f.ends_with(": did you mean app=api-key-service,tier=api?")), "{fixes:?}");
    // The selector meant matches the pods: with it, every region passes.
    let text = std::fs::read_to_string(&c.runbook).unwrap().replace(typo, "selector: app=api-key-service,tier=api");
    let fixed = crate::common::write(c.dir.path(), "fixed.yaml", &text);
    let r = c.line(&["diagnose", "-o", "json"]).runbook(&fixed).run();
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_namespace_refused_may_not_exist_and_the_way_to_tell_is_suggested() {
    // The roles are per namespace: one that does not exist is refused alike.
    let c = Case::new("t-rb-namespace").replace("namespace: t-rb-namespace", "namespace: t-rb-namespacee").build();
    let (r, j) = c.json(&["diagnose"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(region(&j, "us-east")["pods"]["error"]["kind"], "forbidden");
    let f = finding(&j, "permission");
    assert!(f["text"].as_str().unwrap().ends_with(", or namespace t-rb-namespacee does not exist"), "{f}");
    let steps = texts(&j["next_steps"]);
    assert!(steps.contains("namespace t-rb-namespacee may not exist, or this user may not read it"), "{steps}");
    assert!(steps.contains("check `namespace` on line 2 of "), "{steps}");
    assert!(steps.contains("-n t-rb-namespacee auth can-i --list"), "{steps}");
    // What to look for in its list: `pods` among the resources, not pods in
    // the namespace.
    assert!(
        steps.contains(
            "what you may do in namespace t-rb-namespacee: if `pods` is not among the resources it lists, you have no permission there, or the namespace does not exist"
        ),
        "{steps}"
    );
    run_suggested_commands(&j);

    let r = c.run(&["doctor", "-o", "json", "--region", "us-east"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let j = r.json();
    let list = j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["permission"]["verb"] == "list" && c["permission"]["resource"] == "pods")
        .unwrap();
    let fix = list["fix"].as_str().unwrap();
    assert!(
        fix.contains("or namespace t-rb-namespacee does not exist (refused alike): check `namespace` on line 2 of "),
        "{fix}"
    );
    // Nothing listed, so neither selector nor container is checked.
    assert!(!j["checks"].as_array().unwrap().iter().any(|c| c["check"] == "selector"), "{j}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_context_not_in_the_kubeconfig_gets_a_did_you_mean_named_where_it_came_from_and_a_rerun_that_works() {
    let c = Case::new("t-rb-context").replace("context: \"oncall@us-east\"", "context: \"oncall-us-east\"").build();
    let (r, j) = c.json(&["diagnose"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(region(&j, "us-east")["pods"]["error"]["kind"], "context_missing");
    let f = finding(&j, "not_checked");
    let text = f["text"].as_str().unwrap();
    assert!(
        text.contains("did you mean oncall@us-east? fix environments.test.regions.us-east.context on line 11 of "),
        "{text}"
    );
    let rerun =
        j["next_steps"].as_array().unwrap().iter().find(|s| s["text"].as_str().unwrap().contains("re-run")).unwrap();
    let command = rerun["command"].as_str().unwrap();
    assert!(command.ends_with(" --context us-east=oncall@us-east --region us-east"), "{command}");
    // Pasted, the re-run works: the same flags, with the context it suggests.
    let words = shlex::split(command).unwrap();
    assert_eq!(words[..2], ["keysvc-check", "diagnose"]);
    let mut again = cmd();
    again.args(&words[1..]);
    let again = run_within(again, Duration::from_secs(40));
    assert_eq!(again.code, 0, "{command}\n{}\n{}", again.stdout, again.stderr);

    // From --context: the flag is what to fix, not the runbook.
    let c = Case::new("t-rb-context-flag").build();
    let (r, j) = c.json(&["diagnose", "--context", "us-east=oncall@us-eats"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    let all = format!("{}\n{}", texts(&j["findings"]), texts(&j["next_steps"]));
    assert!(all.contains("did you mean oncall@us-east? fix --context us-east=oncall@us-eats"), "{all}");
    assert!(!all.contains("fix the runbook") && !all.contains("add context oncall@us-eats"), "{all}");
    assert!(all.contains(" --context us-east=oncall@us-east --region us-east"), "{all}");
    let r = c.run(&["doctor", "-o", "json", "--context", "us-east=oncall@us-eats"]);
    let fix = r.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "context" && c["region"] == "us-east")
        .unwrap()["fix"]
        .clone();
    assert_eq!(fix, "did you mean oncall@us-east? fix --context us-east=oncall@us-eats");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn doctor_checks_that_the_selector_matches_pods_and_they_have_the_container() {
    let c =
        Case::new("t-rb-doctor-sel").replace("selector: app=api-key-service", "selector: app=api-key-servce").build();
    let (r, j) = c.json(&["doctor"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    for name in REGIONS {
        let row =
            j["checks"].as_array().unwrap().iter().find(|c| c["check"] == "selector" && c["region"] == name).unwrap();
        assert_eq!(row["result"], "fail", "{row}");
        assert!(row["detail"].as_str().unwrap().contains("the namespace's pods have app=api-key-service"), "{row}");
        let fix = row["fix"].as_str().unwrap();
        assert!(
            fix.starts_with("fix `selector` on line 3 of ") && fix.ends_with(": did you mean app=api-key-service?"),
            "{fix}"
        );
    }
    let c = Case::new("t-rb-doctor-ctr").replace("container: api-key-service", "container: api-keyservice").build();
    let (r, j) = c.json(&["doctor", "--region", "eu-de"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let row = j["checks"].as_array().unwrap().iter().find(|c| c["check"] == "container").unwrap();
    assert_eq!(row["result"], "fail", "{row}");
    assert_eq!(row["detail"], "the pods have no container `api-keyservice` (they have: api-key-service)");
    let fix = row["fix"].as_str().unwrap();
    assert!(
        fix.starts_with("fix `container` on line 4 of ") && fix.ends_with(": did you mean api-key-service?"),
        "{fix}"
    );
}
