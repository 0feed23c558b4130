//! The evidence of a run, one file per kind: how each is fetched and read
//! into facts (`report`). Nothing here judges a region or words advice.

pub mod events;
pub mod healthz;
pub mod log_reads;
pub mod logs;
pub mod pods;
pub mod region;
pub mod rollout;
pub mod selector;
