//! The advice around healthz and the order of next steps, end to end against
//! the real test environment: a region's own healthz failing while its pods
//! are ready, healthz answering (or failing) while no pod runs anywhere, and
//! the steps of regions that are down coming before a rollback in a region
//! still serving. Each test works in a namespace of its own.

use crate::common;

use crate::common::case::Case;
use crate::common::{region, texts, write};
use keysvc_testenv::{Behavior, HealthzServer, LogSpec, Rollout, Scenario};
use serde_json::Value;

trait Regional {
    fn regional_healthz(&mut self, region: &str, url: &str);
}

impl Regional for Case {
    /// The runbook with `region`'s own healthz URL set.
    fn regional_healthz(&mut self, region: &str, url: &str) {
        let text = std::fs::read_to_string(&self.runbook).unwrap();
        let line = format!("      {region}: {{ context: \"");
        let at = text.find(&line).expect("the region's line");
        let end = at + text[at..].find('}').unwrap();
        let text = format!("{}, healthz_url: \"{url}\" {}", &text[..end].trim_end(), &text[end..]);
        self.runbook = write(self.dir.path(), "runbook-regional.yaml", &text);
    }
}

fn findings<'a>(j: &'a Value, kind: &str) -> Vec<&'a Value> {
    j["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == kind).collect()
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_regions_own_healthz_failing_while_its_pods_are_ready_is_that_regions_route_not_the_services() {
    let mut c = Case::new("t-adv-regional").build();
    let east = HealthzServer::start(Behavior::html(503, "<html>no healthy upstream</html>"));
    c.regional_healthz("us-east", &east.url);
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["healthz"]["status"], "pass");
    assert_eq!(region(&j, "us-east")["healthz"]["status"], "fail");
    assert_eq!(region(&j, "us-east")["verdict"], "down");
    let unreachable = findings(&j, "service_unreachable");
    assert_eq!(unreachable.len(), 1, "{}", j["findings"]);
    assert_eq!(unreachable[0]["region"], "us-east", "about us-east's way in, not the service's");
    assert!(unreachable[0]["text"].as_str().unwrap().contains("the region's route, ingress"), "{}", unreachable[0]);
    // Its steps are us-east's: what answers on its URL, whom to ask; not the
    // service-wide route or other APIs.
    let steps = j["next_steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["region"] == "us-east"), "{}", texts(&j["next_steps"]));
    assert_eq!(steps[0]["command"], format!("curl -sS -i --max-time 10 {}", east.url));
    assert!(
        steps[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("Contact the platform/infrastructure team if the region's ingress")
    );
    assert!(!texts(&j["next_steps"]).contains("other APIs"), "{}", texts(&j["next_steps"]));
    common::run_suggested_commands(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn healthz_while_every_pod_crash_loops_says_what_answers_or_that_nothing_runs() {
    let set =
        [("us-south", Scenario::AllCrashLoop), ("us-east", Scenario::AllCrashLoop), ("eu-de", Scenario::AllCrashLoop)];
    let c = Case::new("t-adv-nothing").scenarios(&set).build();
    // Healthz answers as operational: not from these pods.
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["healthz"]["status"], "pass");
    let f = findings(&j, "healthz_without_pods");
    assert_eq!(f.len(), 1, "{}", j["findings"]);
    assert!(f[0]["region"].is_null());
    assert!(f[0]["text"].as_str().unwrap().contains("no pod of the service is ready in any region"), "{}", f[0]);
    let steps = j["next_steps"].as_array().unwrap();
    let last = steps.last().unwrap();
    assert_eq!(last["command"], format!("curl -sS -i --max-time 10 {}", c.healthz.url), "{}", j["next_steps"]);
    common::run_suggested_commands(&j);

    // Healthz fails: nothing runs, which is why; no steps about the way in.
    c.healthz.set(Behavior::html(503, "<html>upstream connect error</html>"));
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(findings(&j, "healthz_without_pods").is_empty(), "{}", j["findings"]);
    let next = texts(&j["next_steps"]);
    assert!(!next.contains("other APIs") && !next.contains("curl") && !next.contains("route"), "{next}");
    assert!(next.contains("describe pod"), "{next}");
    common::run_suggested_commands(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn every_pod_waiting_to_restart_gets_its_crashed_containers_logs_by_the_selector() {
    let c = Case::new("t-adv-waiting").scenario("eu-de", Scenario::AllCrashLoop).build();
    let (r, j) = c.diagnose_json();
    assert_eq!(region(&j, "eu-de")["verdict"], "down", "{}", r.stdout);
    let logs: Vec<&str> = j["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["command"].as_str())
        .filter(|c| c.contains(" logs "))
        .collect();
    // One command, every crashed container's: the current ones only wait.
    assert_eq!(logs.len(), 1, "{}", texts(&j["next_steps"]));
    assert!(
        logs[0].ends_with(" --previous --tail=-1 --prefix --ignore-errors") && logs[0].contains(" logs -l "),
        "{}",
        logs[0]
    );
    assert!(!texts(&j["next_steps"]).contains("crashed alike"), "{}", texts(&j["next_steps"]));
    // Pasted, it shows what the crashed containers logged.
    let out = std::process::Command::new("sh").arg("-c").arg(logs[0]).env_remove("KUBECONFIG").output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && shown.lines().count() >= 3, "{shown}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("waiting to start"));
    common::run_suggested_commands(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn the_steps_of_regions_that_are_down_come_before_a_rollback_in_a_region_still_serving() {
    let c = Case::new("t-adv-order")
        .scenarios(&[("us-south", Scenario::NoPods), ("eu-de", Scenario::NoNamespace)])
        .user("admin")
        .build();
    let made = c.env.deploy("us-east", "t-adv-order", &Rollout::versions(&["1.4.2", "1.4.3"])).unwrap();
    // The new revision logs an error the old one never did.
    let errors = keysvc_testenv::scenario::traffic(40, 240.0, 4, "ERROR token validation failed: signature mismatch");
    for pod in &made.pods {
        let spec = LogSpec { generators: vec![errors.clone()], ..LogSpec::default() };
        c.env.set_logs("us-east", "t-adv-order", pod, &spec).unwrap();
    }
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(region(&j, "us-east")["verdict"], "degraded");
    assert_eq!(region(&j, "us-east")["pods"]["ready"], 3);
    for name in ["us-south", "eu-de"] {
        assert_eq!(region(&j, name)["verdict"], "down");
    }
    let steps = j["next_steps"].as_array().unwrap();
    let regions: Vec<&str> = steps.iter().filter_map(|s| s["region"].as_str()).collect();
    let first_east = regions.iter().position(|r| *r == "us-east").expect("us-east has steps");
    assert!(
        regions[..first_east].contains(&"us-south") && regions[..first_east].contains(&"eu-de"),
        "the down regions first: {}",
        texts(&j["next_steps"])
    );
    assert!(regions[first_east..].iter().all(|r| *r == "us-east"), "{}", texts(&j["next_steps"]));
    let east = &steps[first_east..];
    assert!(east[0]["command"].as_str().unwrap().contains(" rollout history "), "{}", texts(&j["next_steps"]));
    let at = |what: &str| east.iter().position(|s| s["command"].as_str().is_some_and(|c| c.contains(what)));
    assert!(
        at(" rollout undo ") < at(" logs "),
        "the rollback before the region's own steps: {}",
        texts(&j["next_steps"])
    );
    common::run_suggested_commands(&j);
}
