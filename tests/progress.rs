//! The live progress lines on stderr: in a real terminal (tmux) while a
//! region hangs or waits on a busy API server, gone once the report is
//! written; nothing on a pipe or with `-q`.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{BIN, cmd, run_within, runbook_text, write};
use keysvc_testenv::{Behavior, Fault, FaultProxy, HealthzServer, TestEnv, Throttle};

/// us-south behind a proxy that never answers; the others as they are.
struct Hanging {
    _env: TestEnv,
    _dir: tempfile::TempDir,
    _healthz: HealthzServer,
    _proxy: FaultProxy,
    runbook: PathBuf,
    kubeconfig: PathBuf,
}

fn hanging(ns: &str) -> Hanging {
    let env = TestEnv::load().expect("the test cluster (tests/run-all.sh)");
    env.scenarios(ns, &[]).unwrap();
    let healthz = HealthzServer::start(Behavior::Healthy);
    let dir = tempfile::tempdir().unwrap();
    let runbook = write(dir.path(), "runbook.yaml", &runbook_text(ns, &healthz.url, &|r| format!("oncall@{r}"), ""));
    let proxy = env.proxy("us-south", Fault::Hang).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    env.kubeconfig_with(&kubeconfig, &[("us-south", proxy.url())]).unwrap();
    Hanging { _env: env, _dir: dir, _healthz: healthz, _proxy: proxy, runbook, kubeconfig }
}

impl Hanging {
    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = ["diagnose", "--env", "test", "--timeout", "6s"].map(String::from).to_vec();
        a.extend(["--runbook".into(), self.runbook.display().to_string()]);
        a.extend(["--kubeconfig".into(), self.kubeconfig.display().to_string()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }
}

/// A progress line: `  REGION  STEP  SECONDSs`.
fn is_progress(line: &str) -> bool {
    let re = regex::Regex::new(
        r"^\s+(us-south|us-east|eu-de)\s+(connecting|listing pods|reading logs \d+/\d+|reading events|done)\s+\d+s$",
    )
    .unwrap();
    re.is_match(line)
}

fn progress_line(lines: &[String]) -> Option<&String> {
    lines.iter().find(|l| l.trim_start().starts_with("us-south") && is_progress(l))
}

#[test]
#[ignore = "needs the test cluster and tmux (tests/run-all.sh)"]
fn a_terminal_shows_each_regions_step_while_it_runs_and_clears_it_before_the_report() {
    let h = hanging("t-progress-tty");
    let mut t = Tmux::start(120);
    let mut words = vec![BIN.to_string()];
    words.extend(h.args(&[]));
    let n = t.start_run(&[], &words);
    // Poll the screen until the hanging region's line shows it listing pods
    // for a second or more (its clock runs).
    let deadline = Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let lines = t.showing(n);
        if let Some(line) = progress_line(&lines)
            && line.contains("listing pods")
            && !line.trim_end().ends_with(" 0s")
        {
            break lines;
        }
        assert!(Instant::now() < deadline, "no progress line for us-south:\n{}", lines.join("\n"));
        std::thread::sleep(Duration::from_millis(50));
    };
    let south = progress_line(&seen).unwrap();
    let secs: u64 = south.split_whitespace().last().unwrap().trim_end_matches('s').parse().unwrap();
    assert!((1..=6).contains(&secs), "{south}");
    // The other regions finish: their lines say so.
    let s = t.wait(n);
    assert_eq!(s.code, 3, "{}", s.text());
    let text = s.text();
    assert!(text.contains("Key Service API"), "no report:\n{text}");
    assert!(!s.lines.iter().any(|l| is_progress(l)), "progress left on screen:\n{text}");
    assert!(s.lines[0].starts_with("Key Service API (test): UNKNOWN"), "{text}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_pipe_or_quiet_shows_no_progress() {
    let h = hanging("t-progress-pipe");
    for extra in [&[][..], &["-q"], &["-o", "json"]] {
        let mut c = cmd();
        c.args(h.args(extra));
        let r = run_within(c, Duration::from_secs(15));
        assert_eq!(r.code, 3, "{extra:?}: {}", r.stdout);
        assert!(!r.stderr.contains('\r') && !r.stderr.contains('\x1b'), "{extra:?}: {:?}", r.stderr);
        assert!(!r.stderr.contains("listing pods"), "{extra:?}: {:?}", r.stderr);
    }
}

#[test]
#[ignore = "needs the test cluster and tmux (tests/run-all.sh)"]
fn quiet_in_a_terminal_shows_no_progress() {
    let h = hanging("t-progress-quiet");
    let mut t = Tmux::start(120);
    let mut words = vec![BIN.to_string()];
    words.extend(h.args(&["-q"]));
    let n = t.start_run(&[], &words);
    // Watch the screen for the whole run: progress would show within the
    // first second and stay while us-south hangs.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut looks = 0;
    loop {
        let lines = t.showing(n);
        assert!(!lines.iter().any(|l| is_progress(l)), "{lines:?}");
        looks += 1;
        if lines.iter().any(|l| l.contains("Key Service API")) {
            break;
        }
        assert!(Instant::now() < deadline, "no verdict line:\n{}", lines.join("\n"));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(looks > 10, "the run ended before the screen was looked at");
    let s = t.wait(n);
    assert_eq!(s.code, 3, "{}", s.text());
    // Only the verdict line (wrapped to the terminal: its continuation is indented).
    let starts: Vec<&String> = s.lines.iter().filter(|l| !l.is_empty() && !l.starts_with(' ')).collect();
    assert_eq!(starts.len(), 1, "{}", s.text());
    assert!(starts[0].starts_with("Key Service API"), "{}", s.text());
}

#[test]
#[ignore = "needs the test cluster and tmux (tests/run-all.sh)"]
fn a_region_waiting_on_a_busy_api_server_says_so_in_its_line() {
    let ns = "t-progress-busy";
    let env = TestEnv::load().expect("the test cluster (tests/run-all.sh)");
    env.scenarios(ns, &[]).unwrap();
    let healthz = HealthzServer::start(Behavior::Healthy);
    let dir = tempfile::tempdir().unwrap();
    let runbook = write(dir.path(), "runbook.yaml", &runbook_text(ns, &healthz.url, &|r| format!("oncall@{r}"), ""));
    // Every request to us-south answered 429 with Retry-After: 1.
    let proxy =
        env.throttle_proxy("oncall@us-south", Throttle { first: None, ..Throttle::too_many_requests(0) }).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    env.kubeconfig_with(&kubeconfig, &[("us-south", proxy.url())]).unwrap();
    let mut t = Tmux::start(120);
    let words: Vec<String> = [BIN, "diagnose", "--env", "test", "--timeout", "6s", "--runbook"]
        .iter()
        .map(|s| s.to_string())
        .chain([runbook.display().to_string(), "--kubeconfig".into(), kubeconfig.display().to_string()])
        .collect();
    let n = t.start_run(&[], &words);
    let deadline = Instant::now() + Duration::from_secs(20);
    let re =
        regex::Regex::new(r"^\s+us-south\s+listing pods\s+\d+s  API server busy: (\d+) retr(y|ies) \(429\)$").unwrap();
    let line = loop {
        let lines = t.showing(n);
        if let Some(l) = lines.iter().find(|l| re.captures(l).is_some_and(|c| c[1].parse::<u32>().unwrap() >= 2)) {
            break l.clone();
        }
        assert!(Instant::now() < deadline, "no busy API server on us-south's line:\n{}", lines.join("\n"));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(line.len() <= 120, "{line}");
    // Throttled to the deadline: the report, and no progress left behind.
    let s = t.wait(n);
    let text = s.text();
    assert!(text.contains("Key Service API"), "no report:\n{text}");
    assert!(!s.lines.iter().any(|l| l.contains("API server busy")), "progress left on screen:\n{text}");
}

#[test]
#[ignore = "needs the test cluster and tmux (tests/run-all.sh)"]
fn a_dumb_terminal_gets_no_cursor_control_and_no_colour() {
    let h = hanging("t-progress-dumb");
    let mut words = vec![BIN.to_string()];
    words.extend(h.args(&[]));
    // What a capable terminal gets, as a control: the progress redraw hides
    // the cursor and moves it up.
    let t = Tmux::start(120);
    let raw = t.record_raw();
    let mut t = t;
    let s = t.run(&[], &words);
    assert_eq!(s.code, 3, "{}", s.text());
    let capable = std::fs::read(&raw).unwrap();
    assert!(capable.windows(6).any(|w| w == b"\x1b[?25l"), "no progress redraw on a capable terminal");
    // TERM=dumb: the same run, no escape sequence at all, the report whole.
    let d = Tmux::start(120);
    let raw = d.record_raw();
    let mut d = d;
    let s = d.run(&[("TERM", "dumb")], &words);
    assert_eq!(s.code, 3, "{}", s.text());
    assert!(s.text().contains("Key Service API (test): UNKNOWN"), "{}", s.text());
    let dumb = String::from_utf8_lossy(&std::fs::read(&raw).unwrap()).into_owned();
    assert!(!dumb.contains('\x1b'), "escape sequences with TERM=dumb: {dumb:?}");
}

#[test]
#[ignore = "needs the test cluster and tmux (tests/run-all.sh)"]
fn ctrl_c_while_the_progress_shows_always_erases_it_before_the_report() {
    let h = hanging("t-progress-ctrl-c");
    let mut t = Tmux::start(80);
    let mut words = vec![BIN.to_string()];
    words.extend(h.args(&[]));
    // Ctrl-C makes a terminal throw away the output it has not shown yet,
    // which may be the bytes that erase the progress lines (written an
    // instant before, they were lost one run in a few): the terminal keeps
    // its output (`noflsh`) from the first progress line until the report
    // is written, and has its own setting back after.
    assert!(!t.tty_flag("noflsh"), "the shell's terminal starts with -noflsh");
    for attempt in 1..=10 {
        let n = t.start_run(&[], &words);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let lines = t.showing(n);
            if progress_line(&lines).is_some_and(|l| l.contains("listing pods")) {
                break;
            }
            assert!(Instant::now() < deadline, "try {attempt}: no progress line:\n{}", lines.join("\n"));
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(t.tty_flag("noflsh"), "try {attempt}: Ctrl-C would throw the erasing bytes away");
        t.send_keys(&["C-c"]);
        let s = t.wait(n);
        let text = s.text();
        assert_eq!(s.code, 130, "try {attempt}:\n{text}");
        assert!(text.contains("Key Service API (test)"), "try {attempt}: no report:\n{text}");
        assert!(!s.lines.iter().any(|l| is_progress(l)), "try {attempt}: progress left on screen:\n{text}");
        assert!(!t.tty_flag("noflsh"), "try {attempt}: the terminal's own setting is not back");
    }
}

#[test]
#[ignore = "needs the test cluster and tmux (tests/run-all.sh)"]
fn a_terminal_watch_shows_its_header_and_each_regions_step_while_the_first_run_goes_on() {
    let h = hanging("t-progress-watch");
    let mut t = Tmux::start(80);
    let mut words = vec![BIN.to_string()];
    words.extend(h.args(&["--watch", "60s"]));
    let n = t.start_run(&[], &words);
    // us-south hangs to the deadline: meanwhile the screen has the header
    // on top and us-south's step under it, and no report yet.
    let deadline = Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let lines = t.showing(n);
        if lines.iter().any(|l| l.starts_with("Watching every 1m — run 1, ")) {
            break lines;
        }
        assert!(Instant::now() < deadline, "no header:\n{}", lines.join("\n"));
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        !seen.iter().any(|l| l.contains("Key Service API")),
        "the header came only with the report:\n{}",
        seen.join("\n")
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines = t.showing(n);
        if progress_line(&lines).is_some_and(|l| l.contains("listing pods")) {
            assert!(lines.iter().any(|l| l.starts_with("Watching every 1m — run 1, ")), "{}", lines.join("\n"));
            assert!(!lines.iter().any(|l| l.contains("Key Service API")), "{}", lines.join("\n"));
            break;
        }
        assert!(Instant::now() < deadline, "no progress line for us-south:\n{}", lines.join("\n"));
        std::thread::sleep(Duration::from_millis(20));
    }
    // Ctrl-C cuts the run short: what finished, whole, and 130.
    t.send_keys(&["C-c"]);
    let s = t.wait(n);
    assert_eq!(s.code, 130, "{}", s.text());
    let end: Vec<&String> = s.lines.iter().skip_while(|l| !l.starts_with("Watched every 1m — last run 1, ")).collect();
    let text = s.text();
    assert!(end.iter().any(|l| l.starts_with("Key Service API (test): UNKNOWN")), "{text}");
    assert!(end.iter().any(|l| l.starts_with("Next steps:")), "{text}");
    assert!(!end.iter().any(|l| is_progress(l)), "progress left on screen:\n{text}");
}
