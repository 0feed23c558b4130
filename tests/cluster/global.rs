//! Faults that take down a whole region's process (its API server, its
//! kubelet stand-in). The case is exclusive: no other test's case is alive
//! while a region is down.

use std::time::Duration;

use crate::common::case::Case;
use crate::common::region;

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn stopped_kubelet_and_stopped_api_server() {
    let mut c = Case::new("g-stop").exclusive().build();
    let diagnose = |c: &Case| {
        let line = c.line(&["diagnose"]).flags(&["-o", "json", "--timeout", "10s"]);
        let r = line.run_within(Duration::from_secs(12));
        let j = r.json();
        (r, j)
    };

    // Kubelet stand-in down: pods are fine, logs cannot be read.
    c.env.stop_kubelet("eu-de").unwrap();
    let (r, j) = diagnose(&c);
    c.env.start_kubelet("eu-de").unwrap();
    assert_eq!(r.code, 3, "{}", r.stdout);
    let eu = region(&j, "eu-de");
    assert_eq!(eu["pods"]["status"], "pass");
    assert_eq!(eu["pods"]["ready"], 3);
    assert_eq!(eu["logs"]["status"], "error", "{eu}");
    assert_eq!(eu["verdict"], "unknown");
    assert_eq!(region(&j, "us-south")["verdict"], "healthy");

    // API server stopped: connection refused, the others reported normally.
    c.env.stop_apiserver("us-south").unwrap();
    let (r, j) = diagnose(&c);
    c.env.start_apiserver("us-south").unwrap();
    assert_eq!(r.code, 3, "{}", r.stdout);
    let south = region(&j, "us-south");
    assert_eq!(south["verdict"], "unknown");
    assert_eq!(south["pods"]["error"]["kind"], "refused");
    assert_eq!(region(&j, "us-east")["verdict"], "healthy");
    assert_eq!(region(&j, "eu-de")["verdict"], "healthy");

    let (r, _) = diagnose(&c);
    assert_eq!(r.code, 0, "the regions are back: {}", r.stdout);
}
