//! Regions that are not what they seem, against the real test environment:
//! two regions whose contexts reach one API server, a namespace the user may
//! not look up, and API servers that refuse or never answer. Each test has
//! its own namespace (and kubeconfig where it changes one), so they run in
//! parallel.

use crate::common;

use std::process::Command;
use std::time::Duration;

use crate::common::case::Case;
use crate::common::{Run, region};
use keysvc_testenv::{Fault, Scenario, TestEnv};
use serde_json::Value;

/// How these tests run the binary: `ARGS --env test --timeout T --runbook R --kubeconfig K`.
trait Runs {
    fn run(&self, args: &[&str], timeout: &str) -> Run;
    fn diagnose(&self, extra: &[&str]) -> (Run, Value);
}

impl Runs for Case {
    fn run(&self, args: &[&str], timeout: &str) -> Run {
        let limit = keysvc_check::duration::parse_duration(timeout).unwrap() + Duration::from_secs(5);
        let r = self.line(args).flags(&["--timeout", timeout]).run_within(limit);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        r
    }

    fn diagnose(&self, extra: &[&str]) -> (Run, Value) {
        let mut args = vec!["diagnose", "-o", "json"];
        args.extend_from_slice(extra);
        let r = self.run(&args, "20s");
        let j = r.json();
        (r, j)
    }
}

/// The test environment's API server of `region`, as its kubeconfig names it.
fn server(env: &TestEnv, region: &str) -> String {
    format!("https://{}", env.apiserver_addr(region).unwrap())
}

/// Runs a suggested command as a user pasting it would.
fn sh(command: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(command)
        .env_remove("KUBECONFIG")
        .env("HOME", "/nonexistent-home")
        .output()
        .unwrap()
}

fn step_commands(j: &Value) -> Vec<String> {
    j["next_steps"].as_array().unwrap().iter().filter_map(|s| s["command"].as_str().map(str::to_string)).collect()
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn two_regions_on_one_api_server_count_once_and_say_so() {
    let c = Case::new("r-same").scenario("us-east", Scenario::AllCrashLoop).user("evidence").build();
    let south = server(&c.env, "us-south");

    // A context copied from another region: us-east is really down, and
    // the copy must not show it as a second healthy region.
    let (r, j) = c.diagnose(&["--context", "us-east=evidence@us-south"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(j["service"]["verdict"], "unknown");
    assert_eq!(region(&j, "us-south")["verdict"], "healthy");
    let east = region(&j, "us-east");
    assert_eq!(east["verdict"], "unknown");
    assert_eq!(east["pods"]["error"]["kind"], "same_cluster");
    let message = east["pods"]["error"]["message"].as_str().unwrap();
    for part in ["`evidence@us-south`", "us-south's context", &south, &format!("namespace {}", c.ns)] {
        assert!(message.contains(part), "{part} not in {message}");
    }
    let finding = j["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "same_cluster").unwrap();
    assert_eq!(finding["region"], "us-east");
    // Its own context only the user can name: said, not a command with a
    // word to fill in.
    let commands = step_commands(&j);
    assert!(!commands.iter().any(|c| c.starts_with("keysvc-check ")), "{commands:?}");
    common::paste_every_command(&j);
    // The table says it too, and the quiet line is not healthy.
    let q = c.run(&["diagnose", "-q", "--context", "us-east=evidence@us-south"], "20s");
    assert_eq!(q.code, 3, "{}", q.stdout);
    assert!(q.stdout.contains("1/3 regions unknown"), "{}", q.stdout);

    // The region whose context the runbook gives stands for the cluster;
    // the copied `--context` is the one not counted, whichever comes first.
    let (r, j) = c.diagnose(&["--context", "us-south=evidence@us-east"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(region(&j, "us-south")["pods"]["error"]["kind"], "same_cluster");
    assert_eq!(region(&j, "us-east")["verdict"], "down");

    // doctor: the row that says why, naming both regions and the server.
    let d = c.run(&["doctor", "-o", "json", "--context", "us-east=evidence@us-south"], "20s");
    assert_eq!(d.code, 1, "{}", d.stdout);
    let dj = d.json();
    let row =
        dj["checks"].as_array().unwrap().iter().find(|r| r["region"] == "us-east" && r["check"] == "context").unwrap();
    assert_eq!(row["result"], "fail", "{row}");
    let detail = row["detail"].as_str().unwrap();
    assert!(detail.contains("us-south's context") && detail.contains(&south), "{detail}");
    assert!(!dj["checks"].as_array().unwrap().iter().any(|r| r["region"] == "us-east" && r["check"] == "permission"));
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn two_names_for_one_cluster_are_one_cluster() {
    let mut c = Case::new("r-alias").scenario("us-east", Scenario::AllCrashLoop).user("evidence").build();
    // Two context names on one cluster entry (the runbook's), and a second
    // cluster entry whose server is the same URL written another way.
    let mut kc = c.env.kubeconfig_json().unwrap();
    let south = server(&c.env, "us-south");
    let clusters = kc["clusters"].as_array_mut().unwrap();
    let mut alias = clusters.iter().find(|c| c["name"] == "us-south").unwrap().clone();
    alias["name"] = "us-south-alias".into();
    alias["cluster"]["server"] = format!("{}/", south.replace("https://", "HTTPS://")).into();
    clusters.push(alias);
    let contexts = kc["contexts"].as_array_mut().unwrap();
    let mut ctx = contexts.iter().find(|c| c["name"] == "evidence@us-south").unwrap().clone();
    ctx["name"] = "alias@us-south".into();
    ctx["context"]["cluster"] = "us-south-alias".into();
    contexts.push(ctx);
    let path = c.dir.path().join("kubeconfig-alias");
    std::fs::write(&path, serde_json::to_vec_pretty(&kc).unwrap()).unwrap();
    c.kubeconfig = path;

    let text = std::fs::read_to_string(&c.runbook).unwrap().replace("evidence@us-east", "oncall@us-south");
    std::fs::write(&c.runbook, text).unwrap();
    let (r, j) = c.diagnose(&[]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(region(&j, "us-east")["pods"]["error"]["kind"], "same_cluster");
    let fix = j["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["region"] == "us-east" && s["text"].as_str().unwrap().contains("fully checked"))
        .unwrap();
    assert!(fix["text"].as_str().unwrap().contains("set environments.test.regions.us-east.context in"), "{fix}");

    let (r, j) = c.diagnose(&["--context", "eu-de=alias@us-south"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    let de = region(&j, "eu-de");
    assert_eq!(de["pods"]["error"]["kind"], "same_cluster", "{de}");
    assert!(de["pods"]["error"]["message"].as_str().unwrap().contains("us-south's context"), "{de}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_namespace_the_user_may_not_look_up_may_not_exist() {
    // The namespace existed (the user's RoleBinding in it is what the
    // API server still finds) and is gone now.
    let c = Case::new("r-nons").build();
    c.env.scenario("eu-de", &c.ns, Scenario::NoNamespace).unwrap();
    let (r, j) = c.diagnose(&[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let de = region(&j, "eu-de");
    assert_eq!(de["verdict"], "down");
    let note = de["pods"]["note"].as_str().unwrap();
    assert_eq!(
        note,
        "no pods match app=api-key-service in namespace r-nons, or namespace r-nons does not exist: this user may not get namespaces to tell"
    );
    // What tells, with a context that may run it (the user's was refused):
    // in words, as only the user knows such a context; no command with a
    // word to fill in.
    let step = j["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["text"].as_str().unwrap().contains("kubectl get namespace r-nons"))
        .unwrap_or_else(|| panic!("{}", j["next_steps"]));
    assert_eq!((step["region"].as_str(), &step["command"]), (Some("eu-de"), &serde_json::Value::Null), "{step}");
    assert!(!step_commands(&j).iter().any(|c| c.contains("CONTEXT")), "{:?}", step_commands(&j));
    let kc = c.kubeconfig.display().to_string();
    let command = format!("kubectl --kubeconfig {kc} --context CONTEXT get namespace r-nons");
    let out = sh(&command.replace("CONTEXT", "eu-de"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("namespaces \"r-nons\" not found"), "{out:?}");
    let out = sh(&command.replace("CONTEXT", "eu-de").replace(" r-nons", " default"));
    assert!(out.status.success(), "{out:?}");
    // Where the user may look, no such step: the note says what is so.
    let admin = c.run(&["diagnose", "-o", "json", "--context", "eu-de=eu-de"], "20s").json();
    assert_eq!(region(&admin, "eu-de")["pods"]["note"], "namespace r-nons does not exist");
    assert!(!step_commands(&admin).iter().any(|c| c.contains("get namespace")));
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn api_servers_that_refuse_or_never_answer_get_a_command_that_shows_it() {
    let mut c = Case::new("r-unreach").build();
    let hang = c.env.proxy("eu-de", Fault::Hang).unwrap();
    let port = keysvc_testenv::proxy::closed_port();
    let refused = format!("https://127.0.0.1:{port}");
    let kc = c.dir.path().join("kubeconfig");
    c.env.kubeconfig_with(&kc, &[("us-east", refused.clone()), ("eu-de", hang.url())]).unwrap();
    c.kubeconfig = kc.clone();
    let r = c.run(&["diagnose", "-o", "json"], "3s");
    assert_eq!(r.code, 3, "{}", r.stdout);
    let j = r.json();
    let de = region(&j, "eu-de");
    assert_eq!(de["pods"]["error"]["kind"], "timeout", "{de}");
    assert_eq!(
        de["pods"]["error"]["message"],
        format!("no answer from {} to the pods list within 3s (--timeout)", hang.url())
    );
    assert_eq!(region(&j, "us-east")["pods"]["error"]["message"], format!("connection refused ({refused})"));
    let steps = j["next_steps"].as_array().unwrap();
    let readyz = |ctx: &str| {
        format!("kubectl --kubeconfig {} --context {ctx} get --raw /readyz --request-timeout=5s", kc.display())
    };
    for (name, why) in [("us-east", "nothing accepts connections"), ("eu-de", "did not answer within --timeout")] {
        let mine: Vec<&Value> = steps.iter().filter(|s| s["region"] == name).collect();
        assert_eq!(mine.len(), 2, "{mine:?}");
        // What to look at first, then the re-run once it answers.
        assert_eq!(mine[0]["command"], readyz(&format!("oncall@{name}")), "{mine:?}");
        assert!(mine[1]["text"].as_str().unwrap().contains(why), "{mine:?}");
        assert!(mine[1]["command"].as_str().unwrap().ends_with(&format!("--region {name}")), "{mine:?}");
    }
    assert!(!common::texts(&j["next_steps"]).contains("check that the cluster is reachable"));
    // The command says what is wrong where it is wrong, and "ok" where the
    // API server answers: the user's own credentials may ask it.
    let out = sh(&readyz("oncall@us-east"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"), "{out:?}");
    let out = sh(&readyz("oncall@us-south"));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
}
