//! Nothing answering from here (off the VPN, another kubeconfig) is unknown,
//! never down; the same healthz unanswered while a region answers is judged
//! as ever (README, "Verdicts").

use crate::common::case::{Case, Line};
use crate::common::{kinds, paste_every_command, region, texts};
use keysvc_testenv::{Behavior, HealthzServer, REGIONS, Scenario};
use serde_json::Value;

/// A host that does not resolve. Not on a reserved placeholder name
/// (`.invalid`, `.example`), which the tool does not request at all.
const UNRESOLVABLE: &str = "https://key-service.no-such-tld-zq/healthz";

const IMPACT: &str = "guidance:\n  impact: Customers cannot create or read keys.\n";

/// Every region's pods crash-looping, the healthz host unresolvable, and the
/// runbook's contexts in no kubeconfig (`keysvc-prod-REGION`).
fn case(ns: &str) -> Case {
    let down = REGIONS.map(|r| (r, Scenario::AllCrashLoop));
    Case::new(ns)
        .scenarios(&down)
        .healthz_url(UNRESOLVABLE)
        .contexts(|r| format!("keysvc-prod-{r}"))
        .extra(IMPACT)
        .build()
}

/// The line with each region's context the environment's own.
fn reachable(line: Line) -> Line {
    let flags: Vec<String> = REGIONS.iter().map(|r| format!("{r}=oncall@{r}")).collect();
    let flags: Vec<&str> = flags.iter().flat_map(|f| ["--context", f.as_str()]).collect();
    line.flags(&flags)
}

/// The case's runbook (as built) with `peers` under its environment.
fn with_peers(c: &mut Case, urls: &[&str]) {
    let text = std::fs::read_to_string(&c.runbooks[0].1).unwrap();
    let mut list = "    peers:\n".to_string();
    for (i, url) in urls.iter().enumerate() {
        list.push_str(&format!("      - {{ name: api-{i}, healthz_url: \"{url}\" }}\n"));
    }
    let text = text.replacen("    regions:\n", &format!("{list}    regions:\n"), 1);
    c.runbook = crate::common::write(c.dir.path(), "runbook-peers.yaml", &text);
}

fn assert_unknown_from_here(j: &Value, stdout: &str) {
    assert_eq!(j["service"]["verdict"], "unknown", "{stdout}");
    assert_eq!(j["service"]["impact"], Value::Null);
    assert_eq!(j["healthz"]["status"], "error", "{}", j["healthz"]);
    assert_eq!(j["healthz"]["error"]["kind"], "dns", "{}", j["healthz"]);
    for name in REGIONS {
        let reg = region(j, name);
        assert_eq!(reg["verdict"], "unknown", "{reg}");
        assert_eq!(reg["pods"]["error"]["kind"], "context_missing", "{reg}");
    }
    let k = kinds(j);
    assert_eq!(k[0], "nothing_reached", "{}", texts(&j["findings"]));
    assert_eq!(k.iter().filter(|k| *k == "nothing_reached").count(), 1);
    for outage in ["healthz_failed", "platform_outage", "service_unreachable"] {
        assert!(!k.contains(&outage.to_string()), "{outage}: {}", texts(&j["findings"]));
    }
    let text = j["findings"][0]["text"].as_str().unwrap();
    assert!(text.contains("this machine's network, VPN or kubeconfig rather than an outage"), "{text}");
    let first = &j["next_steps"][0];
    assert!(first["command"].as_str().unwrap().starts_with("keysvc-check doctor --env test "), "{first}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn nothing_answering_from_here_is_unknown_and_the_same_healthz_with_the_regions_answering_is_down() {
    let c = case("t-reach");
    let r = c.line(&["diagnose", "-o", "json"]).run();
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_unknown_from_here(&j, &r.stdout);
    // Pasted, `doctor` runs and says what this machine does not reach.
    let pasted = paste_every_command(&j);
    let (_, doctor) = pasted.iter().find(|(c, _)| c.starts_with("keysvc-check doctor")).expect("the doctor step");
    assert!(
        doctor.stdout.contains("does not resolve") && doctor.stdout.contains("keysvc-prod-us-east"),
        "{}",
        doctor.stdout
    );
    let t = c.line(&["diagnose"]).run();
    assert_eq!(t.code, 3, "{}", t.stdout);
    assert!(t.stdout.contains("UNKNOWN") && t.stdout.contains("(nothing answered from here)"), "{}", t.stdout);
    assert!(!t.stdout.contains("Impact:") && !t.stdout.contains("DOWN"), "{}", t.stdout);

    // The same healthz, the regions reachable and their pods down: down,
    // with the impact.
    let r = reachable(c.line(&["diagnose", "-o", "json"])).run();
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["service"]["verdict"], "down");
    assert_eq!(j["service"]["impact"], "Customers cannot create or read keys.");
    assert_eq!(j["healthz"]["status"], "fail");
    assert!(REGIONS.iter().all(|n| region(&j, n)["verdict"] == "down"), "{}", r.stdout);
    assert!(!kinds(&j).contains(&"nothing_reached".to_string()), "{}", texts(&j["findings"]));
    let t = reachable(c.line(&["diagnose"])).run();
    assert_eq!(t.code, 2);
    assert!(t.stdout.contains("DOWN") && t.stdout.contains("Impact: Customers cannot"), "{}", t.stdout);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn other_apis_unreachable_too_is_still_nothing_answering_and_one_answering_is_not() {
    let mut c = case("t-reach-peers");
    with_peers(&mut c, &["https://iam.no-such-tld-zq/healthz", "https://billing.no-such-tld-zq/healthz"]);
    let r = c.line(&["diagnose", "-o", "json"]).run();
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_unknown_from_here(&j, &r.stdout);
    assert!(j["findings"][0]["text"].as_str().unwrap().contains("nor did the other APIs probed (api-0, api-1)"));

    // Another API answers from here: this machine reaches the network, so
    // the healthz that gets no reply is the service's.
    let iam = HealthzServer::start(Behavior::Healthy);
    with_peers(&mut c, &[&iam.url, "https://billing.no-such-tld-zq/healthz"]);
    let r = c.line(&["diagnose", "-o", "json"]).run();
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["service"]["verdict"], "down");
    assert!(!kinds(&j).contains(&"nothing_reached".to_string()), "{}", texts(&j["findings"]));
}
