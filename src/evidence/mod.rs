//! The evidence layer: what the tool reads from the cluster and from logs,
//! made into facts the verdicts are built on.

pub mod logs;
