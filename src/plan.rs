//! The checked plan of a run: command-line arguments and the runbook resolved
//! into what to check, where, and how long to wait. Clap types go no further.

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

use crate::runbook::Runbook;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Clone)]
pub struct RegionPlan {
    pub name: String,
    pub context: String,
    pub healthz_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    pub healthz: bool,
    pub pods: bool,
    pub logs: bool,
    /// Optional evidence: Warning events and the pods' ReplicaSet/Deployment.
    pub evidence: bool,
}

impl Steps {
    pub fn names(self) -> Vec<&'static str> {
        let mut v = vec![];
        if self.healthz {
            v.push("healthz");
        }
        if self.pods {
            v.push("pods");
        }
        if self.logs {
            v.push("logs");
        }
        if self.evidence {
            v.extend(["events", "rollout"]);
        }
        v
    }
}

/// How to read logs (step 3 and the `logs` command).
#[derive(Debug, Clone)]
pub struct LogOptions {
    pub since: Duration,
    pub tail: Option<i64>,
    pub previous_only: bool,
    pub grep: Option<Regex>,
    /// Stream lines to the output (the `logs` command in table mode).
    pub stream: bool,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub runbook: Runbook,
    pub runbook_name: String,
    pub env: String,
    pub healthz_url: String,
    pub regions: Vec<RegionPlan>,
    /// `regions` is every region of the environment (no --region).
    pub all_regions: bool,
    pub steps: Steps,
    pub timeout: Duration,
    pub kubeconfig: Option<PathBuf>,
    pub logs: LogOptions,
    pub output: Output,
    pub color: bool,
    pub quiet: bool,
    /// The command, as a user would re-run it for one region.
    pub rerun: String,
}
