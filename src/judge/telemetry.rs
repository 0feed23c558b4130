//! The telemetry step of a region (README, "Verdicts"): pass when data came
//! within the window from as many pods as expected; warn when from fewer,
//! or when the latest point is older than half the window; fail when
//! nothing came; error when the provider could not be asked.

use crate::report::{Problem, ProblemDetail, ProblemKind, RegionTelemetry, Status};

pub fn judge_step(t: &mut RegionTelemetry) {
    if t.status == Status::Error {
        return;
    }
    let late = t.latest_secs_ago.is_some_and(|ago| ago.saturating_mul(2) > t.window_secs);
    t.status = match t.pods_reporting {
        None | Some(0) => Status::Fail,
        Some(n) if n < t.expected || late => Status::Warn,
        Some(_) => Status::Pass,
    };
}

/// A region without data whose name in the runbook is near a value of the
/// answer that no region claims (`us-eats` for `us-east`): the runbook's
/// name, not the monitoring. Its telemetry could not be told, so it is an
/// error, which changes no verdict.
pub fn misnamed(t: &mut RegionTelemetry, unclaimed: &[String]) {
    if t.status != Status::Fail {
        return;
    }
    let Some(near) = crate::runbook::did_you_mean(&t.facet, unclaimed) else { return };
    let message = format!("the answer has no `{}` but has `{near}`, which no region claims", t.facet);
    t.status = Status::Error;
    t.error = Some(
        Problem::new(ProblemKind::RunbookMismatch, message).detail(ProblemDetail::TelemetryName { near: near.into() }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Problem;

    fn facts(pods: Option<u32>, ago: Option<u64>) -> RegionTelemetry {
        RegionTelemetry {
            status: Status::Pass,
            facet: "us-east".into(),
            expected: 3,
            pods_reporting: pods,
            latest: None,
            latest_secs_ago: ago,
            window_secs: 600,
            error: None,
        }
    }

    fn judged(mut t: RegionTelemetry) -> Status {
        judge_step(&mut t);
        t.status
    }

    #[test]
    fn pass_warn_fail_and_error_as_the_readme_says() {
        assert_eq!(judged(facts(Some(3), Some(5))), Status::Pass);
        assert_eq!(judged(facts(Some(4), None)), Status::Pass, "more pods than expected (a rollout) pass");
        assert_eq!(judged(facts(Some(1), Some(5))), Status::Warn);
        assert_eq!(judged(facts(Some(3), Some(301))), Status::Warn, "older than half the window");
        assert_eq!(judged(facts(Some(3), Some(300))), Status::Pass);
        assert_eq!(judged(facts(None, None)), Status::Fail);
        assert_eq!(judged(facts(Some(0), Some(5))), Status::Fail);
        let mut e = facts(None, None);
        e.status = Status::Error;
        e.error = Some(Problem::new(crate::report::ProblemKind::Unauthorized, "401"));
        assert_eq!(judged(e), Status::Error);
    }

    #[test]
    fn a_name_near_a_value_no_region_claims_is_the_runbooks_and_changes_no_verdict() {
        let mut t = facts(None, None);
        t.facet = "us-eats".into();
        judge_step(&mut t);
        misnamed(&mut t, &["us-east".into()]);
        assert_eq!(t.status, Status::Error);
        assert_eq!(t.error.as_ref().map(|e| &e.detail), Some(&ProblemDetail::TelemetryName { near: "us-east".into() }));
        // Nothing near: the monitoring's.
        let mut t = facts(None, None);
        judge_step(&mut t);
        misnamed(&mut t, &["eu-de".into()]);
        assert_eq!(t.status, Status::Fail);
    }
}
