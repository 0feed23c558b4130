//! `diagnose --watch`: the same plan run again and again, each run under its
//! own deadline, until Ctrl-C or an `--until` condition. What is kept from
//! one run to the next is bounded by the number of regions: each region's
//! last verdict, since when it has held it and its last change — never the
//! reports themselves, so a watch left running for hours does not grow.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use jiff::Timestamp;

use crate::error::ExitCode;

use crate::plan::Plan;
use crate::render::{self, Layout};
pub use crate::report::{RegionState, Transition};
use crate::report::{Report, Verdict};

/// When a watch stops on its own (`--until`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The service verdict is healthy.
    Healthy,
    /// The service answers: healthy or degraded. Unknown is not enough,
    /// since nothing then says the service is up.
    NotDown,
}

impl Until {
    pub fn met(self, v: Verdict) -> bool {
        match self {
            Until::Healthy => v == Verdict::Healthy,
            Until::NotDown => matches!(v, Verdict::Healthy | Verdict::Degraded),
        }
    }
}

/// The regions whose verdict in `report` differs from the one they had in
/// `previous`, in the report's order. A region seen for the first time has
/// no transition: there was nothing to change from.
pub fn transitions(previous: &[RegionState], report: &Report, now: Timestamp) -> Vec<Transition> {
    report
        .regions
        .iter()
        .filter_map(|r| {
            let before = previous.iter().find(|p| p.name == r.name)?;
            (before.verdict != r.verdict).then(|| Transition {
                region: r.name.clone(),
                from: before.verdict,
                to: r.verdict,
                at: now,
            })
        })
        .collect()
}

/// The state carried from run to run.
#[derive(Debug, Default)]
pub struct Watch {
    /// Runs observed so far.
    pub run: u64,
    pub regions: Vec<RegionState>,
}

impl Watch {
    /// Takes in one run's report (started at `now`) and returns what changed.
    pub fn observe(&mut self, report: &Report, now: Timestamp) -> Vec<Transition> {
        let changes = transitions(&self.regions, report, now);
        let regions = report
            .regions
            .iter()
            .map(|r| {
                let before = self.regions.iter().find(|p| p.name == r.name);
                let change = changes.iter().find(|c| c.region == r.name).cloned();
                RegionState {
                    name: r.name.clone(),
                    verdict: r.verdict,
                    since: match (before, &change) {
                        (Some(b), None) => b.since,
                        _ => now,
                    },
                    last_change: change.or_else(|| before.and_then(|b| b.last_change.clone())),
                }
            })
            .collect();
        self.regions = regions;
        self.run += 1;
        changes
    }
}

/// How each run is shown.
#[derive(Debug, Clone, Copy)]
pub enum Form {
    /// A terminal: the screen is redrawn in place, fitted to the size
    /// `size` gives (width, height) when each run is drawn, so a resized
    /// terminal is followed.
    Screen { color: bool, size: fn() -> (Option<usize>, Option<usize>) },
    /// A pipe: one line per run.
    Lines,
    /// JSON Lines: one report per line.
    Json,
}

pub struct Options {
    pub interval: Duration,
    pub until: Option<Until>,
    pub form: Form,
}

/// Runs `plan` every `interval` (from the start of one run to the start of
/// the next, or at once when a run took longer) and returns the exit code:
/// the last completed run's, or 130 when Ctrl-C cut a run short.
pub async fn run(plan: Arc<Plan>, opts: Options) -> Result<ExitCode> {
    // Held for the whole watch, so a Ctrl-C between runs is seen even when
    // no run is listening; the executor listens for its own during a run.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut watch = Watch::default();
    loop {
        let started = tokio::time::Instant::now();
        let now = crate::duration::whole_second(Timestamp::now());
        // No live progress lines: the watch screen itself shows each run.
        let outcome = crate::app::check::check(plan.clone(), crate::execute::progress::Sink::none(), None).await?;
        let changes = watch.observe(&outcome.report, now);
        let mut buf = Vec::new();
        match opts.form {
            Form::Screen { color, size } => {
                let (width, height) = size();
                let layout = Layout { color, width };
                let header =
                    render::watch::Header { interval: opts.interval, run: watch.run, now, regions: &watch.regions };
                render::watch::screen(&outcome.report, &header, layout, height, &mut buf)?;
            }
            Form::Lines => render::watch::line(&outcome.report, now, &changes, &mut buf)?,
            Form::Json => render::watch::json_line(&outcome.report, &mut buf)?,
        }
        let open = emit(&buf)?;
        if outcome.interrupted {
            return Ok(ExitCode::Interrupted);
        }
        let code = crate::judge::exit_code(&outcome.report);
        if !open || opts.until.is_some_and(|u| u.met(outcome.report.service.verdict)) {
            return Ok(code);
        }
        drop(outcome);
        tokio::select! {
            _ = interrupt.recv() => return Ok(code),
            () = tokio::time::sleep_until(started + opts.interval) => {}
        }
    }
}

/// Writes one run's output; `false` once stdout is closed (`| head -1`),
/// which ends the watch quietly.
fn emit(bytes: &[u8]) -> Result<bool> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_run_is_timed_by_the_second_it_started_in() {
        use crate::duration::whole_second;
        assert_eq!(whole_second(at("2026-11-26T12:50:48.675Z")), at("2026-11-26T12:50:48Z"));
        assert_eq!(whole_second(at("2026-11-26T12:50:48.999999Z")), at("2026-11-26T12:50:48Z"));
        assert_eq!(whole_second(at("2026-11-26T12:50:49Z")), at("2026-11-26T12:50:49Z"));
    }

    fn report(verdicts: &[(&str, Verdict)]) -> Report {
        let mut r = fixture::report();
        r.regions.retain(|reg| verdicts.iter().any(|(n, _)| *n == reg.name));
        for reg in &mut r.regions {
            reg.verdict = verdicts.iter().find(|(n, _)| *n == reg.name).unwrap().1;
        }
        r
    }

    #[test]
    fn the_first_run_changes_nothing_and_later_runs_report_each_change_once() {
        use Verdict::*;
        let mut w = Watch::default();
        let t1 = at("2026-11-26T03:12:00Z");
        let first = report(&[("us-south", Healthy), ("us-east", Degraded), ("eu-de", Healthy)]);
        assert_eq!(w.observe(&first, t1), vec![]);
        assert_eq!(w.run, 1);
        assert!(w.regions.iter().all(|r| r.since == t1 && r.last_change.is_none()));

        let t2 = at("2026-11-26T03:12:40Z");
        let second = report(&[("us-south", Healthy), ("us-east", Healthy), ("eu-de", Down)]);
        let changes = w.observe(&second, t2);
        assert_eq!(
            changes,
            vec![
                Transition { region: "us-east".into(), from: Degraded, to: Healthy, at: t2 },
                Transition { region: "eu-de".into(), from: Healthy, to: Down, at: t2 },
            ]
        );

        let t3 = at("2026-11-26T03:13:20Z");
        assert_eq!(w.observe(&second, t3), vec![], "a verdict that holds is no change");
        let east = w.regions.iter().find(|r| r.name == "us-east").unwrap();
        assert_eq!((east.verdict, east.since), (Healthy, t2));
        assert_eq!(east.last_change.as_ref().map(|c| (c.from, c.to, c.at)), Some((Degraded, Healthy, t2)));
        let south = w.regions.iter().find(|r| r.name == "us-south").unwrap();
        assert_eq!((south.since, south.last_change.clone()), (t1, None));
        assert_eq!(w.run, 3);
    }

    #[test]
    fn memory_is_bounded_by_the_regions_not_the_runs() {
        let mut w = Watch::default();
        let t = at("2026-11-26T03:00:00Z");
        for i in 0..1000 {
            let v = if i % 2 == 0 { Verdict::Healthy } else { Verdict::Down };
            w.observe(&report(&[("us-south", v), ("us-east", Verdict::Healthy)]), t);
        }
        assert_eq!(w.regions.len(), 2);
        assert_eq!(w.run, 1000);
    }

    #[test]
    fn a_region_new_to_the_watch_has_no_transition() {
        let prev = vec![RegionState {
            name: "us-south".into(),
            verdict: Verdict::Healthy,
            since: at("2026-11-26T03:00:00Z"),
            last_change: None,
        }];
        let r = report(&[("us-south", Verdict::Healthy), ("eu-de", Verdict::Down)]);
        assert!(transitions(&prev, &r, at("2026-11-26T03:01:00Z")).is_empty());
    }

    #[test]
    fn until_conditions() {
        use Verdict::*;
        assert!(Until::Healthy.met(Healthy));
        assert!(!Until::Healthy.met(Degraded));
        assert!(Until::NotDown.met(Healthy) && Until::NotDown.met(Degraded));
        assert!(!Until::NotDown.met(Down) && !Until::NotDown.met(Unknown));
    }
}
