//! Whether a region's logs step warns: the rule's judgement of the counts,
//! and reads that failed. A container that has not started or a pod deleted
//! meanwhile has no logs, which is no failure.

use crate::evidence::log_reads::expected_absence;
use crate::report::{LogsStep, Status};

/// Warn when the rule says the errors are not the usual noise (see
/// [`crate::evidence::logs::judge`]); error when some logs could not be read
/// (a container that has not started has none to read, and a pod deleted
/// meanwhile is gone: neither is a failure).
pub fn status(step: &LogsStep) -> Status {
    if step.judgement.is_some_and(|j| j.warns()) {
        return Status::Warn;
    }
    let unreadable = step.pods.iter().any(|p| {
        p.error.as_ref().is_some_and(|e| !expected_absence(e.kind)) || (p.partial && p.error.is_none() && p.lines == 0)
    });
    if unreadable { Status::Error } else { Status::Pass }
}

/// Judges a logs step that was read: its status, and as its error the first
/// read that failed. A step that could not run at all keeps its error.
pub fn judge_step(step: &mut LogsStep) {
    if step.error.is_some() {
        return;
    }
    step.status = status(step);
    if step.status == Status::Error {
        step.error = step.pods.iter().find_map(|p| p.error.clone());
    }
}
