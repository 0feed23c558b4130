//! The evidence of a run, one file per kind: how each is fetched and read
//! into facts (`report`). Nothing here judges a region or words advice, and
//! nothing here imports `execute`, `judge`, `advice`, `doctor` or `render`:
//! `region` lists the pods, `log_reads` reads their logs, `selector` tells
//! whether the runbook's selector and container fit, `events` and `rollout`
//! are the optional evidence, `healthz` the service's own answer;
//! `log_file` reads saved log lines (`logs --file`) as `log_reads` reads a
//! container's.

pub mod events;
pub mod healthz;
pub mod log_file;
pub mod log_reads;
pub mod logs;
pub mod pods;
pub mod region;
pub mod rollout;
pub mod selector;
pub mod telemetry;
