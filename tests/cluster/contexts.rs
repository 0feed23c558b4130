//! Contexts and re-runs as a kubectl user has them: a context the runbook
//! gives another region is never suggested nor checked as this one's, a
//! re-run is complete or not printed, one failure everywhere is one step,
//! against the real three-region test environment (tests/run-all.sh brings
//! it up). Every command the reports suggest is pasted.

use std::path::PathBuf;

use keysvc_testenv::Scenario;
use serde_json::Value;

use crate::common::case::Case;
use crate::common::{kinds, paste_every_command, region, texts, write};

/// The case's kubeconfig with only the contexts `keep` (renamed `to`), the
/// first the current one.
fn kubeconfig_with_contexts(c: &Case, name: &str, keep: &[(&str, &str)]) -> PathBuf {
    let mut k = c.env.kubeconfig_json().unwrap();
    let contexts: Vec<Value> = keep
        .iter()
        .map(|(from, to)| {
            let mut ctx = k["contexts"].as_array().unwrap().iter().find(|x| x["name"] == *from).unwrap().clone();
            ctx["name"] = Value::from(*to);
            ctx
        })
        .collect();
    k["contexts"] = Value::from(contexts);
    k["current-context"] = Value::from(keep[0].1);
    write(c.dir.path(), name, &k.to_string())
}

fn all_words(j: &Value) -> String {
    format!("{}\n{}", texts(&j["findings"]), texts(&j["next_steps"]))
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_context_the_runbook_gives_another_region_is_never_suggested_nor_checked_as_this_ones() {
    let c = Case::new("t-ctx-taken")
        .scenario("us-east", Scenario::CrashLoop)
        .contexts(|r| format!("oncall-prod-{r}"))
        .build();
    // Only us-east's context, and current: the names of the others are
    // near it, but it is us-east's.
    let kc = kubeconfig_with_contexts(&c, "east-only.json", &[("oncall@us-east", "oncall-prod-us-east")]);
    let r = c.line(&["diagnose", "-o", "json"]).kubeconfig(&kc).run();
    let j = r.json();
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(region(&j, "us-south")["pods"]["error"]["kind"], "context_missing");
    let words = all_words(&j);
    assert!(!words.contains("did you mean oncall-prod-us-east"), "{words}");
    assert!(!words.contains("us-south=oncall-prod-us-east") && !words.contains("eu-de=oncall-prod-us-east"), "{words}");
    paste_every_command(&j);
    let d = c.line(&["doctor", "-o", "json"]).kubeconfig(&kc).run().json();
    for check in d["checks"].as_array().unwrap().iter().filter(|x| x["check"] == "context" && x["region"] != "us-east")
    {
        assert!(!check["fix"].as_str().unwrap().contains("oncall-prod-us-east"), "{check}");
    }

    // Given to us-south for one region's run, us-east's context is caught
    // as us-east's: not checked as us-south, us-east's crash loop is not
    // us-south's.
    let r = c
        .line(&["diagnose", "-o", "json", "--region", "us-south"])
        .kubeconfig(&kc)
        .after(&["--context", "us-south=oncall-prod-us-east"])
        .run();
    let j = r.json();
    assert_eq!(r.code, 3, "{}", r.stdout);
    let south = region(&j, "us-south");
    assert_eq!(
        (south["verdict"].as_str(), south["pods"]["error"]["kind"].as_str()),
        (Some("unknown"), Some("same_cluster"))
    );
    let text = south["pods"]["error"]["message"].as_str().unwrap();
    assert!(text.contains("context `oncall-prod-us-east` is us-east's context"), "{text}");
    assert!(!kinds(&j).iter().any(|k| k == "crash_loop" || k == "oom_killed"), "{}", j["findings"]);
    paste_every_command(&j);
    let d = c
        .line(&["doctor", "-o", "json", "--region", "us-south"])
        .kubeconfig(&kc)
        .after(&["--context", "us-south=oncall-prod-us-east"])
        .run();
    assert_eq!(d.code, 1, "{}", d.stdout);
    let row = d.json()["checks"].as_array().unwrap().iter().find(|x| x["check"] == "context").unwrap().clone();
    assert_eq!(row["result"], "fail", "{row}");
}

/// The steps that say what kept regions from being checked.
fn access_steps(j: &Value) -> Vec<&Value> {
    j["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["text"].as_str().unwrap().contains("fully checked"))
        .collect()
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn the_same_failure_in_every_region_is_one_step() {
    // A credential plugin missing, then failing, for every region's user.
    let c = Case::new("t-ctx-alike").build();
    for command in ["keysvc-no-such-plugin", "/bin/false"] {
        let mut k = c.env.kubeconfig_json().unwrap();
        let exec = serde_json::json!({"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command, "interactiveMode": "Never"}});
        k["users"].as_array_mut().unwrap().push(serde_json::json!({"name": "sso", "user": exec}));
        for ctx in k["contexts"].as_array_mut().unwrap() {
            ctx["context"]["user"] = Value::from("sso");
        }
        let kc = write(c.dir.path(), "sso.json", &k.to_string());
        let r = c.line(&["diagnose", "-o", "json"]).kubeconfig(&kc).run();
        let j = r.json();
        assert_eq!(r.code, 3, "{}", r.stdout);
        let steps = access_steps(&j);
        assert_eq!(steps.len(), 1, "{command}: {}", texts(&j["next_steps"]));
        assert_eq!(steps[0]["region"], Value::Null, "{}", steps[0]);
        let reruns = paste_every_command(&j);
        assert_eq!(reruns.len(), 1, "{}", texts(&j["next_steps"]));
    }
    // A namespace that is not there, with roles per namespace: refused
    // alike in every region.
    let c = Case::new("t-ctx-ns").replace("namespace: t-ctx-ns", "namespace: t-ctx-nss").build();
    let r = c.line(&["diagnose", "-o", "json"]).run();
    let j = r.json();
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(access_steps(&j).len(), 1, "{}", texts(&j["next_steps"]));
    paste_every_command(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn more_pods_ready_than_expected_reads_as_ready_over_expected_and_is_not_a_fault() {
    let c = Case::new("t-ctx-more").replace("expected_ready: 3", "expected_ready: 2").build();
    let r = c.line(&["diagnose", "-o", "json"]).run();
    let j = r.json();
    assert_eq!(r.code, 0, "{}", r.stdout);
    for name in ["us-south", "us-east", "eu-de"] {
        let reg = region(&j, name);
        assert_eq!((reg["verdict"].as_str(), reg["pods"]["status"].as_str()), (Some("healthy"), Some("pass")), "{reg}");
        assert_eq!((reg["pods"]["ready"].as_u64(), reg["pods"]["expected"].as_u64()), (Some(3), Some(2)), "{reg}");
    }
    let more: Vec<&Value> = j["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "more_ready").collect();
    assert_eq!(more.len(), 3, "{}", j["findings"]);
    assert!(more.iter().all(|f| f["severity"] == "info"), "{more:?}");
    let text = more[0]["text"].as_str().unwrap();
    assert!(text.starts_with("3/2 pods ready: 1 more than expected_ready (2)"), "{text}");
    // The table and markdown say it the same way.
    let t = c.line(&["diagnose"]).run();
    let row = t.stdout.lines().find(|l| l.contains("us-east")).unwrap();
    assert!(row.contains(" 3/2 ") && row.contains("healthy"), "{row}");
    assert!(t.stdout.contains("3/2 pods ready: 1 more than expected_ready (2)"), "{}", t.stdout);
    let m = c.line(&["diagnose", "-o", "markdown"]).run();
    assert!(m.stdout.contains("| us-east | - | 3/2 | 0 | 0 | healthy |"), "{}", m.stdout);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_context_alone_for_one_region_and_a_region_without_one_uses_the_current_context_as_kubectl() {
    let c = Case::new("t-ctx-kubectl")
        .scenario("us-east", Scenario::CrashLoop)
        .replace("us-east: { context: \"oncall@us-east\" }", "us-east: {}")
        .build();
    let text = std::fs::read_to_string(&c.runbook).unwrap();
    let mut validate = crate::common::cmd();
    validate.args(["runbook", "validate"]).arg(&c.runbook);
    let check = crate::common::run(validate);
    assert_eq!(check.code, 0, "{text}\n{}{}", check.stdout, check.stderr);
    let kc = kubeconfig_with_contexts(
        &c,
        "current-east.json",
        &[
            ("oncall@us-east", "oncall@us-east"),
            ("oncall@us-south", "oncall@us-south"),
            ("oncall@eu-de", "oncall@eu-de"),
        ],
    );
    // us-east without a context: the kubeconfig's current one, said so.
    let r = c.line(&["diagnose", "-o", "json"]).kubeconfig(&kc).run();
    let j = r.json();
    assert_eq!(r.code, 1, "{}", r.stdout);
    let east = region(&j, "us-east");
    assert_eq!((east["context"].as_str(), east["current_context"].as_bool()), (Some("oncall@us-east"), Some(true)));
    assert_eq!(east["verdict"], "degraded", "{east}");
    assert_eq!(region(&j, "us-south")["current_context"], false);
    paste_every_command(&j);
    let t = c.line(&["diagnose"]).kubeconfig(&kc).run();
    assert!(
        t.stdout.contains("\nContext: current (oncall@us-east) for us-east: the runbook gives it none\n"),
        "{}",
        t.stdout
    );
    let d = c.line(&["doctor", "-o", "json", "--region", "us-east"]).kubeconfig(&kc).run().json();
    let row = d["checks"].as_array().unwrap().iter().find(|x| x["check"] == "context").unwrap().clone();
    assert_eq!(row["detail"], "current context `oncall@us-east` found (the runbook gives us-east none)", "{row}");

    // The current context is eu-de's: us-east, which the runbook gives
    // none, is not checked as a second eu-de; eu-de, named, is.
    let mut k: Value = serde_json::from_str(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    k["current-context"] = Value::from("oncall@eu-de");
    let de = write(c.dir.path(), "current-de.json", &k.to_string());
    let r = c.line(&["diagnose", "-o", "json"]).kubeconfig(&de).run();
    let j = r.json();
    let east = region(&j, "us-east");
    assert_eq!(east["pods"]["error"]["kind"], "same_cluster", "{east}");
    assert!(east["pods"]["error"]["message"].as_str().unwrap().contains("is eu-de's context"), "{east}");
    assert_eq!(region(&j, "eu-de")["verdict"], "healthy");
    paste_every_command(&j);

    // No current context: not checked, said, and nothing to fill in.
    let mut k: Value = serde_json::from_str(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    k.as_object_mut().unwrap().remove("current-context");
    let none = write(c.dir.path(), "no-current.json", &k.to_string());
    let r = c.line(&["diagnose", "-o", "json"]).kubeconfig(&none).run();
    let j = r.json();
    let east = region(&j, "us-east");
    assert_eq!(
        (east["verdict"].as_str(), east["pods"]["error"]["kind"].as_str()),
        (Some("unknown"), Some("context_missing"))
    );
    paste_every_command(&j);
    let t = c.line(&["diagnose"]).kubeconfig(&none).run();
    assert!(t.stdout.contains("no context"), "{}", t.stdout);

    // A context alone, kubectl's way, for the one region checked.
    let r = c.line(&["diagnose", "-o", "json", "--region", "eu-de"]).after(&["--context", "oncall@eu-de"]).run();
    let j = r.json();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(region(&j, "eu-de")["context"], "oncall@eu-de");
    // Several regions: which one it is for cannot be guessed.
    let r = c.line(&["diagnose"]).after(&["--context", "oncall@eu-de"]).run();
    assert_eq!(r.code, 64, "{}", r.stdout);
    assert!(r.stderr.contains("say which, --context REGION=oncall@eu-de, or check one with --region"), "{}", r.stderr);
}

/// Every `kubectl … config get-contexts` quoted in `text` (between
/// backquotes), run as pasted: each one's output.
fn pasted_get_contexts(text: &str) -> Vec<String> {
    text.split('`')
        .filter(|w| w.starts_with("kubectl ") && w.ends_with(" config get-contexts"))
        .map(|command| {
            let words = shlex::split(command).unwrap();
            let out =
                std::process::Command::new(&words[0]).args(&words[1..]).env_remove("KUBECONFIG").output().unwrap();
            assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect()
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn no_regions_context_in_the_kubeconfig_is_one_finding_and_one_step_and_the_list_command_reads_that_kubeconfig() {
    let c = Case::new("t-ctx-none").build();
    // Neither of its contexts is a region's, nor near one's name.
    let kc =
        kubeconfig_with_contexts(&c, "others.json", &[("oncall@us-east", "staging-a"), ("oncall@eu-de", "staging-b")]);
    let r = c.line(&["diagnose", "-o", "json"]).kubeconfig(&kc).run();
    let j = r.json();
    assert_eq!(r.code, 3, "{}", r.stdout);
    for name in ["us-south", "us-east", "eu-de"] {
        assert_eq!(region(&j, name)["pods"]["error"]["kind"], "context_missing");
    }
    // The kubeconfig's contexts listed once, in one finding for every region.
    let words = all_words(&j);
    assert_eq!(words.matches("staging-a").count(), 1, "{words}");
    let f: Vec<&Value> = j["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "not_checked").collect();
    assert_eq!(f.len(), 1, "{}", texts(&j["findings"]));
    assert_eq!((f[0]["region"].clone(), f[0]["regions"].as_array().unwrap().len()), (Value::Null, 3));
    // One step, whose command lists this kubeconfig's contexts.
    let steps = access_steps(&j);
    assert_eq!(steps.len(), 1, "{}", texts(&j["next_steps"]));
    assert_eq!(steps[0]["region"], Value::Null);
    let text = steps[0]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("`kubectl --kubeconfig {} config get-contexts` lists yours", kc.display())),
        "{text}"
    );
    let listed = pasted_get_contexts(text);
    assert_eq!(listed.len(), 1, "{text}");
    assert!(listed[0].contains("staging-a") && listed[0].contains("staging-b"), "{}", listed[0]);
    paste_every_command(&j);

    // One region's context there: each missing one's step names the
    // command that lists that kubeconfig's, not $KUBECONFIG's.
    let kc = kubeconfig_with_contexts(&c, "east.json", &[("oncall@us-east", "oncall@us-east")]);
    let r = c.line(&["diagnose", "-o", "json"]).kubeconfig(&kc).run();
    let j = r.json();
    let steps = access_steps(&j);
    assert_eq!(steps.len(), 2, "{}", texts(&j["next_steps"]));
    for s in steps {
        let listed = pasted_get_contexts(s["text"].as_str().unwrap());
        assert_eq!(listed.len(), 1, "{s}");
        assert!(listed[0].contains("oncall@us-east") && !listed[0].contains("oncall@us-south"), "{}", listed[0]);
    }
    // doctor says it the same way.
    let d = c.line(&["doctor", "-o", "json"]).kubeconfig(&kc).run().json();
    let south = d["checks"].as_array().unwrap().iter().find(|x| x["check"] == "context" && x["region"] == "us-south");
    let fix = south.unwrap()["fix"].as_str().unwrap();
    assert_eq!(pasted_get_contexts(fix).len(), 1, "{fix}");
}
