//! One run of the checks, the way every run goes: `execute` gathers the
//! facts, `judge` gives the verdicts, `advice` words the findings and next
//! steps. The once and watch modes both run it.

use std::sync::Arc;

use anyhow::Result;

use crate::execute;
use crate::plan::Plan;

/// Gathers the facts of `plan`, judges them and words the advice: the one
/// way a run goes, facts → judgement → advice.
pub async fn check(
    plan: Arc<Plan>,
    progress: execute::progress::Sink,
    lines: Option<execute::LineSink<'_>>,
) -> Result<execute::Outcome> {
    let mut outcome = execute::execute(plan.clone(), progress, lines).await?;
    crate::judge::run(&plan, &mut outcome.report);
    crate::advice::advise(&plan, &mut outcome.report);
    Ok(outcome)
}
