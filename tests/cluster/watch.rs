//! `diagnose --watch` end to end against the test environment: a region
//! that recovers while it is watched, in each output form, and the screen
//! redrawn in place in a real terminal.

use crate::common;

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::case::Case;
use crate::common::tmux::Tmux;
use crate::common::{BIN, cmd};
use keysvc_testenv::Scenario;

/// How these tests run the binary: `ARGS --env test --runbook R --kubeconfig K`.
trait Watch {
    fn words(&self, args: &[&str]) -> Vec<String>;
    fn spawn(&self, args: &[&str]) -> (Child, mpsc::Receiver<String>);
}

impl Watch for Case {
    fn words(&self, args: &[&str]) -> Vec<String> {
        self.line(args).words()
    }

    /// The watch started with stdout piped; its lines arrive on the channel.
    fn spawn(&self, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut c = cmd();
        c.args(self.words(args)).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = c.spawn().expect("spawn keysvc-check");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }
}

/// The next line, waiting (polled) until `deadline`.
fn next_line(rx: &mpsc::Receiver<String>, deadline: Instant) -> Option<String> {
    rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()
}

/// Waits (polled) for the child to end on its own by `deadline`.
fn wait(child: &mut Child, deadline: Instant) -> i32 {
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the watch did not end on its own once the service was healthy");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// us-east crash-loops; once the first run has shown it degraded it
/// recovers; the watch must notice and end by itself with exit 0. Returns
/// every line printed.
fn recovers(ns: &str, form: &[&str], east_of: fn(&str) -> String) -> Vec<String> {
    let c = Case::new(ns).scenario("us-east", Scenario::CrashLoop).build();
    let mut args = vec!["diagnose", "--watch", "1s", "--until", "healthy"];
    args.extend(form);
    let (mut child, rx) = c.spawn(&args);
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = next_line(&rx, deadline).expect("a first run");
    assert_eq!(east_of(&first), "degraded", "{first}");
    c.env.scenario("us-east", &c.ns, Scenario::Healthy).unwrap();
    let code = wait(&mut child, deadline);
    let mut lines = vec![first];
    while let Some(l) = next_line(&rx, deadline) {
        lines.push(l);
    }
    assert_eq!(code, 0, "the last run is healthy:\n{}", lines.join("\n"));
    assert!(lines.len() >= 2, "{lines:?}");
    assert_eq!(east_of(lines.last().unwrap()), "healthy", "{lines:?}");
    lines
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn json_lines_follow_a_region_until_it_is_healthy() {
    let lines = recovers("w-json", &["-o", "json"], |l| {
        let j = common::json(l);
        let east = j["regions"].as_array().unwrap().iter().find(|r| r["name"] == "us-east").unwrap();
        east["verdict"].as_str().unwrap().to_string()
    });
    let last = common::json(lines.last().unwrap());
    assert_eq!(last["service"]["verdict"], "healthy");
    assert_eq!(last["schema"], "keysvc-check/report/v2");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_line_per_run_on_a_pipe_names_what_changed() {
    let lines = recovers("w-line", &[], |l| {
        let word = l.split(' ').find_map(|w| w.strip_prefix("us-east=")).unwrap_or_else(|| panic!("{l}"));
        word.to_string()
    });
    let verdict_of = |l: &str, region: &str| {
        l.split(' ').find_map(|w| w.strip_prefix(&format!("{region}="))).unwrap_or_default().to_string()
    };
    for l in &lines {
        assert!(!l.contains('\u{1b}'), "no escapes on a pipe: {l:?}");
        let time = l.split(' ').next().unwrap();
        assert!(time.len() == 20 && time.ends_with('Z') && time.contains('T'), "starts with the time: {l}");
    }
    assert!(lines[0].contains(" DEGRADED ") && !lines[0].contains("changed:"), "{}", lines[0]);
    assert!(lines.last().unwrap().contains(" HEALTHY "), "{lines:?}");
    // Each line names exactly the regions whose verdict differs from the line before.
    for pair in lines.windows(2) {
        let mut expected = vec![];
        for region in ["us-south", "us-east", "eu-de"] {
            let (before, after) = (verdict_of(&pair[0], region), verdict_of(&pair[1], region));
            if before != after {
                expected.push(format!("{region} {before} → {after}"));
            }
        }
        let changed = pair[1].split_once(" (changed: ").map(|(_, c)| c.trim_end_matches(')').to_string());
        assert_eq!(changed, (!expected.is_empty()).then(|| expected.join(", ")), "{pair:?}");
    }
    // The scenario switch may briefly show the region without its pods; when
    // no run fell in that moment, the change is degraded → healthy directly.
    let last = lines.last().unwrap();
    assert!(last.contains("(changed: us-east ") && last.ends_with("→ healthy)"), "{last}");
    if lines.len() == 2 {
        assert!(last.ends_with("(changed: us-east degraded → healthy)"), "{last}");
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_terminal_is_redrawn_in_place_until_ctrl_c() {
    let c = Case::new("w-tty").build();
    let mut t = Tmux::start(100);
    let mut words = vec![BIN.to_string()];
    words.extend(c.words(&["diagnose", "--watch", "1s"]));
    let end = t.spawn(&[], &words);
    // The run number in the header on the screen's first row.
    let run_on_top = |screen: &[String]| -> Option<u64> {
        let rest = screen.first()?.strip_prefix("Watching every 1s — run ")?;
        rest.split(',').next()?.parse().ok()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = vec![];
    while seen.len() < 2 || seen.first() == seen.last() {
        let screen = t.visible();
        // The first run's header shows at once, its report once it is done.
        let drawn = screen.iter().any(|l| l.starts_with("Key Service API"));
        if let Some(n) = run_on_top(&screen).filter(|_| drawn) {
            assert_eq!(
                screen.iter().filter(|l| l.starts_with("Watching every")).count(),
                1,
                "one header, on the first row:\n{}",
                screen.join("\n")
            );
            assert!(screen.iter().any(|l| l.starts_with("Key Service API (test): HEALTHY")), "{}", screen.join("\n"));
            assert!(
                screen.iter().any(|l| l.starts_with("  us-east healthy, unchanged since ")),
                "{}",
                screen.join("\n")
            );
            if seen.last() != Some(&n) {
                seen.push(n);
            }
        }
        assert!(Instant::now() < deadline, "the run number never moved on: {seen:?}\n{}", screen.join("\n"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "runs count up: {seen:?}");
    t.send_keys(&["C-c"]);
    // Between runs Ctrl-C ends with the last run's verdict (healthy); during one, 130.
    let code = t.wait_end(&end, Duration::from_secs(10));
    assert!(code == 0 || code == 130, "exit code {code}");
}

#[test]
#[ignore = "needs the test cluster and tmux (tests/run-all.sh)"]
fn ctrl_c_ends_a_terminal_watch_with_the_last_report_whole() {
    let c = Case::new("w-last").scenario("us-east", Scenario::CrashLoop).build();
    let once = c.line(&["diagnose"]).run();
    // 20 rows: each run's screen is cut, saying how many lines did not fit.
    let mut t = Tmux::start_sized(80, 20);
    let mut words = vec![BIN.to_string()];
    words.extend(c.words(&["diagnose", "--watch", "60s"]));
    let n = t.start_run(&[], &words);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let screen = t.visible();
        if screen.first().is_some_and(|l| l.starts_with("Watching every 1m — run 1, "))
            && screen.iter().any(|l| l.ends_with("more lines (a taller terminal shows them)"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no cut screen of the first run:\n{}", screen.join("\n"));
        std::thread::sleep(Duration::from_millis(50));
    }
    // Between runs: the last run's code, and its report printed whole.
    t.send_keys(&["C-c"]);
    let s = t.wait(n);
    assert_eq!(s.code, once.code, "{}", s.text());
    let text = s.text();
    let end: Vec<&str> =
        s.lines.iter().map(String::as_str).skip_while(|l| !l.starts_with("Watched every 1m — last run 1, ")).collect();
    assert!(end.iter().any(|l| l.starts_with("Key Service API (test): DEGRADED")), "{text}");
    assert!(!end.iter().any(|l| l.contains("more lines (a taller terminal")), "{text}");
    // Every next step of the report is there, as the run without --watch gives them.
    let steps: Vec<&str> = once.stdout.lines().skip_while(|l| !l.starts_with("Next steps:")).collect();
    assert!(steps.len() > 1, "{}", once.stdout);
    let numbered = |lines: &[&str]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.trim_start().split_once(". ").is_some_and(|(n, _)| n.parse::<u32>().is_ok()))
            .map(|l| l.trim().to_string())
            .collect()
    };
    let shown = numbered(&end);
    assert!(!shown.is_empty() && shown.len() == numbered(&steps).len(), "{text}\n---\n{}", once.stdout);
}
