//! The telemetry step beside the others: one query for every region, under
//! the run's deadline; its answer shared out to the regions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::time::Instant as TokioInstant;

use crate::evidence::region::LogLine;
use crate::evidence::telemetry::{self, Asked};
use crate::execute::gather::Gather;
use crate::plan::{Plan, RegionPlan};
use crate::report::{Problem, ProblemKind, RegionTelemetry, TelemetryStep};

/// How long before the run's deadline the query gives up.
const MARGIN: std::time::Duration = std::time::Duration::from_millis(250);

/// The step and each region's answer, by region.
pub(super) type Done = (TelemetryStep, HashMap<String, RegionTelemetry>);

/// Starts the query, when the step runs and the runbook configures one.
pub(super) fn schedule(
    plan: &Arc<Plan>,
    gather: &mut Gather<LogLine>,
    slot: &Arc<Mutex<Option<Done>>>,
    regions: &[RegionPlan],
    deadline: TokioInstant,
) {
    let Some(t) = plan.telemetry.clone().filter(|_| plan.steps.telemetry) else { return };
    let names: Vec<String> = regions.iter().map(|r| r.name.clone()).collect();
    let expected = plan.runbook.expected_ready;
    if let Some(key) = &plan.placeholder_telemetry {
        let p = Problem::new(ProblemKind::Placeholder, format!("not checked: {key} is a placeholder"));
        let asked = Asked { rows: Err(p), retries: 0 };
        *slot.lock().expect("slot") = Some(done(&t, &asked, &names, expected, 0));
        return;
    }
    let client = match crate::evidence::healthz::client(plan.timeout) {
        Ok(c) => c,
        Err(e) => {
            let asked = Asked { rows: Err(Problem::new(ProblemKind::Other, e.to_string())), retries: 0 };
            *slot.lock().expect("slot") = Some(done(&t, &asked, &names, expected, 0));
            return;
        }
    };
    // Ends a little before the run's deadline: a provider that never
    // answers is said so, and does not make the other steps' run partial.
    let deadline = deadline.checked_sub(MARGIN).unwrap_or(deadline);
    let slot = slot.clone();
    gather.spawn(async move {
        let started = Instant::now();
        let asked = match telemetry::key(&t, |v| std::env::var(v).ok()) {
            Ok(key) => telemetry::ask(&client, &t, key.as_deref(), deadline).await,
            Err(p) => Asked { rows: Err(p), retries: 0 },
        };
        let ms = started.elapsed().as_millis() as u64;
        *slot.lock().expect("slot") = Some(done(&t, &asked, &names, expected, ms));
    });
}

fn done(t: &crate::runbook::Telemetry, asked: &Asked, regions: &[String], expected: u32, ms: u64) -> Done {
    let now = jiff::Timestamp::now();
    let by_region = regions.iter().map(|r| (r.clone(), telemetry::region(t, &asked.rows, r, expected, now))).collect();
    (telemetry::step(t, asked, ms), by_region)
}

/// The report's step and each region's answer: not configured, done, or
/// cut short by the deadline (`cut`).
pub(super) fn collect(
    plan: &Plan,
    finished: Option<Done>,
    cut: &Problem,
) -> (Option<TelemetryStep>, HashMap<String, RegionTelemetry>) {
    if !plan.steps.telemetry {
        return (None, HashMap::new());
    }
    let Some(t) = &plan.telemetry else { return (Some(TelemetryStep::not_configured()), HashMap::new()) };
    match finished {
        Some((step, regions)) => (Some(step), regions),
        None => {
            let asked = Asked { rows: Err(cut.clone()), retries: 0 };
            let names: Vec<String> = plan.regions.iter().map(|r| r.name.clone()).collect();
            let (step, regions) = done(t, &asked, &names, plan.runbook.expected_ready, 0);
            (Some(step), regions)
        }
    }
}
