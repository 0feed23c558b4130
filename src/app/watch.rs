//! `diagnose --watch`: the same plan run again and again, each run under its
//! own deadline, until Ctrl-C or an `--until` condition. What is kept from
//! one run to the next is bounded by the number of regions: each region's
//! last verdict, since when it has held it and its last change, and on a
//! terminal the last run's report (replaced by each run, printed whole when
//! the watch ends), so a watch left running for hours does not grow.

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
/// the last completed run's, or 130 when Ctrl-C cut a run short. On a
/// terminal the last run's report is printed whole at the end (the screen
/// of each run is cut to the terminal's height): the one report kept.
pub async fn run(plan: Arc<Plan>, opts: Options) -> Result<ExitCode> {
    // Held for the whole watch, so a Ctrl-C between runs is seen even when
    // no run is listening; the executor listens for its own during a run.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    // A Ctrl-C must not throw away what was written an instant before it
    // (a screen half drawn, the bytes that erase the progress lines).
    let screen = matches!(opts.form, Form::Screen { .. });
    let _keep = screen.then(|| super::tty::KeepOutput::on(std::io::stdout())).flatten();
    let mut watch = Watch::default();
    let mut last: Option<(Report, Timestamp)> = None;
    let (code, open) = loop {
        let started = tokio::time::Instant::now();
        let now = crate::duration::whole_second(Timestamp::now());
        let live = if watch.run == 0 { starting(&plan, &opts, now)? } else { None };
        let sink = live.as_ref().map_or_else(crate::execute::progress::Sink::none, |l| l.sink());
        let outcome = crate::app::check::check(plan.clone(), sink, None).await;
        if let Some(live) = live {
            live.finish().await;
        }
        let outcome = outcome?;
        let changes = watch.observe(&outcome.report, now);
        let code = crate::judge::exit_code(&outcome.report);
        let until = opts.until.is_some_and(|u| u.met(outcome.report.service.verdict));
        let ending = outcome.interrupted || until;
        // The screen of a run that ends the watch is not drawn: the report
        // is printed whole instead.
        let open = if screen && ending { true } else { emit(&draw(&opts, &watch, &outcome.report, now, &changes)?)? };
        let interrupted = outcome.interrupted;
        if screen {
            last = Some((outcome.report, now));
        }
        if interrupted {
            break (ExitCode::Interrupted, open);
        }
        if !open || until {
            break (code, open);
        }
        tokio::select! {
            _ = interrupt.recv() => break (code, open),
            () = tokio::time::sleep_until(started + opts.interval) => {}
        }
    };
    if let (Form::Screen { color, size }, Some((report, now)), true) = (opts.form, last, open) {
        let header = render::watch::Header { interval: opts.interval, run: watch.run, now, regions: &watch.regions };
        let mut buf = Vec::new();
        render::watch::last(&report, &header, Layout { color, width: size().0 }, &mut buf)?;
        emit(&buf)?;
    }
    Ok(code)
}

/// On a terminal, the first run's screen while it runs: the header at once
/// and each region's step under it (the live progress lines, erased when
/// the run ends), so a slow first run does not leave the screen blank.
fn starting(plan: &Plan, opts: &Options, now: Timestamp) -> Result<Option<render::progress::Live>> {
    let Form::Screen { size, .. } = opts.form else { return Ok(None) };
    let header = render::watch::Header { interval: opts.interval, run: 1, now, regions: &[] };
    let mut buf = Vec::new();
    render::watch::starting(&header, &mut buf)?;
    if !emit(&buf)? || !plan.steps.pods {
        return Ok(None);
    }
    let regions: Vec<String> = plan.regions.iter().map(|r| r.name.clone()).collect();
    let width = size().0.unwrap_or(80);
    Ok(Some(render::progress::Live::start(&regions, width, Box::new(std::io::stdout()))))
}

/// One run's output in the watch's form.
fn draw(opts: &Options, watch: &Watch, report: &Report, now: Timestamp, changes: &[Transition]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match opts.form {
        Form::Screen { color, size } => {
            let (width, height) = size();
            let header =
                render::watch::Header { interval: opts.interval, run: watch.run, now, regions: &watch.regions };
            render::watch::screen(report, &header, Layout { color, width }, height, &mut buf)?;
        }
        Form::Lines => render::watch::line(report, now, changes, &mut buf)?,
        Form::Json => render::watch::json_line(report, &mut buf)?,
    }
    Ok(buf)
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
