//! A report to render in tests: one healthy region, one crash-looping with
//! long pod names and a log error full of Markdown and table syntax, one
//! that could not be checked; findings and next steps with long commands.

use crate::report::*;

fn pod(name: &str, ready: bool, status: &str, restarts: i32) -> PodInfo {
    PodInfo {
        name: name.into(),
        ready: if ready { "1/1" } else { "0/1" }.into(),
        is_ready: ready,
        status: status.into(),
        restarts,
        last_restart_secs_ago: (restarts > 0).then_some(240),
        last_terminated: (restarts > 0).then(|| Terminated {
            reason: "OOMKilled".into(),
            exit_code: 137,
            finished_secs_ago: Some(240),
        }),
        age_secs: Some(7200),
        node: Some("node-us-east-1a-pool-7f9c".into()),
        terminating: false,
        crash_looping: status == "CrashLoopBackOff",
        pending: false,
        not_ready_secs_ago: None,
        why: None,
    }
}

fn pods_step(pods: Vec<PodInfo>) -> PodsStep {
    let ready = pods.iter().filter(|p| p.is_ready).count() as u32;
    PodsStep {
        status: if ready == 3 { Status::Pass } else { Status::Warn },
        expected: 3,
        ready,
        total: pods.len() as u32,
        restarts: pods.iter().map(|p| i64::from(p.restarts)).sum(),
        pods,
        note: None,
        namespace_unchecked: None,
        other_labels: vec![],
        error: None,
        duration_ms: 12,
    }
}

fn logs_step(pods: &[PodInfo], top: Option<ErrorGroup>) -> LogsStep {
    let errors = top.as_ref().map_or(0, |g| g.count);
    LogsStep {
        status: if errors > 0 { Status::Warn } else { Status::Pass },
        window_secs: 300,
        min_errors: 5,
        spike_factor: 3.0,
        baseline_secs: 3600,
        judgement: Some(if errors > 0 { Judgement::Spike } else { Judgement::Quiet }),
        error_lines: errors,
        pods: pods
            .iter()
            .enumerate()
            .map(|(i, p)| PodLogs {
                pod: p.name.clone(),
                previous: !p.is_ready,
                lines: 20,
                error_lines: if i == 2 { errors } else { 0 },
                format: Some(if i == 2 { "json" } else { "text" }.into()),
                top_errors: if i == 2 { top.clone().into_iter().collect() } else { vec![] },
                partial: false,
                error: None,
                baseline: None,
            })
            .collect(),
        partial: false,
        error: None,
        duration_ms: 30,
        ..LogsStep::default()
    }
}

pub const CRASHING: &str = "api-key-service-7d9f6b5c4d-x8k2p";

pub fn report() -> Report {
    let forbidden = Problem::new(
        ProblemKind::Forbidden,
        "missing permission to list pods in namespace api (user oncall, context keysvc-prod-eu-de)",
    );
    Report {
        schema: SCHEMA,
        tool_version: "0.1.0",
        generated_at: "2025-03-04T05:06:07Z".into(),
        runbook: "<embedded runbooks/key-service.yaml>".into(),
        service_name: "Key Service API".into(),
        environment: "prod".into(),
        steps: vec!["healthz", "pods", "logs"],
        service: ServiceVerdict {
            verdict: Verdict::Degraded,
            summary: "healthz pass, 1/3 regions healthy, 1/3 regions degraded, 1/3 regions unknown".into(),
            impact: None,
        },
        healthz: Some(healthz()),
        peers: vec![],
        telemetry: None,
        regions: vec![us_south(), us_east(), eu_de(&forbidden)],
        findings: findings(&forbidden),
        next_steps: next_steps(),
        partial: false,
        duration_ms: 180,
    }
}

/// The environment's healthz: passing.
fn healthz() -> HealthzCheck {
    HealthzCheck {
        url: "https://key-service.example.com/healthz".into(),
        status: Status::Pass,
        http_status: Some(200),
        latency_ms: Some(41),
        reply: Some(serde_json::json!({
            "code": 0,
            "description": "The API is available and operational.",
            "href": "https://key-service.example.com/healthz"
        })),
        body_excerpt: None,
        problems: vec![],
        mismatches: vec![],
        unrendered: vec![],
        error: None,
    }
}

fn region(name: &str, verdict: Verdict, pods: PodsStep, logs: Option<LogsStep>, duration_ms: u64) -> RegionReport {
    RegionReport {
        name: name.into(),
        context: format!("keysvc-prod-{name}"),
        current_context: false,
        verdict,
        healthz: None,
        pods: Some(pods),
        logs,
        events: None,
        rollout: None,
        telemetry: None,
        retries: 0,
        retried_statuses: vec![],
        duration_ms,
    }
}

/// Healthy: three pods ready, no errors.
fn us_south() -> RegionReport {
    let healthy: Vec<PodInfo> = ["k2x7q", "9vdzm", "p8w4t"]
        .iter()
        .map(|s| pod(&format!("api-key-service-5f6d89m9d9-{s}"), true, "Running", 0))
        .collect();
    let logs = logs_step(&healthy, None);
    region("us-south", Verdict::Healthy, pods_step(healthy), Some(logs), 45)
}

/// Degraded: one pod crash-looping, its log error full of Markdown and table syntax.
fn us_east() -> RegionReport {
    let east = vec![
        pod("api-key-service-7d9f6b5c4d-m3n4b", true, "Running", 0),
        pod("api-key-service-7d9f6b5c4d-q7r8s", true, "Running", 0),
        pod(CRASHING, false, "CrashLoopBackOff", 7),
    ];
    let top = ErrorGroup {
        pattern: "ERROR signing failed: key=<*> | retry `later` *now* [<*>]".into(),
        count: 2,
        example: "ERROR signing failed: key=<nil> | retry `later` *now* [db-7.internal:5432]".into(),
        first_seen: Some("2025-03-04T05:02:07Z".parse().unwrap()),
        last_seen: Some("2025-03-04T05:05:57Z".parse().unwrap()),
    };
    let mut logs = logs_step(&east, Some(top.clone()));
    logs.signatures = vec![ErrorSignature {
        pattern: top.pattern,
        example: top.example,
        window_count: top.count,
        baseline_count: 0,
        baseline_rate_per_min: 0.0,
        new: true,
        first_seen: top.first_seen,
        last_seen: top.last_seen,
    }];
    region("us-east", Verdict::Degraded, pods_step(east), Some(logs), 45)
}

/// Unknown: listing the pods was forbidden.
fn eu_de(forbidden: &Problem) -> RegionReport {
    let pods = PodsStep { duration_ms: 3, ..crate::evidence::region::failed_pods(3, forbidden.clone()) };
    region("eu-de", Verdict::Unknown, pods, None, 3)
}

fn findings(forbidden: &Problem) -> Vec<Finding> {
    vec![
        Finding::new(
            Some("us-east"),
            FindingKind::CrashLoop,
            Severity::Fail,
            format!("{CRASHING} CrashLoopBackOff, 7 restarts, last terminated OOMKilled (exit 137) 4m ago"),
        )
        .pod(CRASHING),
        Finding::new(Some("us-east"), FindingKind::NotReady, Severity::Warn, "2/3 pods ready"),
        Finding::new(
            Some("us-east"),
            FindingKind::ErrorThreshold,
            Severity::Warn,
            "most frequent error (2×): ERROR signing failed: key=<nil> | retry `later` *now* [db-7.internal:5432]",
        ),
        Finding::new(
            Some("eu-de"),
            FindingKind::Permission,
            Severity::Warn,
            format!("pods not checked: {}", forbidden.message),
        ),
    ]
}

fn next_steps() -> Vec<NextStep> {
    let kubectl = |rest: &[&str]| {
        let prefix = "kubectl --kubeconfig /home/oncall/.kube/keysvc-prod.yaml --context keysvc-prod-us-east -n api";
        StepCommand::reads(prefix.split(' ').chain(rest.iter().copied()))
    };
    vec![
        NextStep {
            region: Some("us-east".into()),
            text: "read the logs of every pod".into(),
            command: Some(kubectl(&[
                "logs",
                "-l",
                "app=api-key-service",
                "-c",
                "api-key-service",
                "--since=5m",
                "--prefix",
                "--ignore-errors",
            ])),
        },
        NextStep {
            region: Some("us-east".into()),
            text: format!("why {CRASHING} is CrashLoopBackOff"),
            command: Some(kubectl(&["describe", "pod", CRASHING])),
        },
        NextStep {
            region: Some("eu-de".into()),
            text: "ask for permission to list pods and read their logs in namespace api of keysvc-prod-eu-de \
                   (the role the runbook's on-call group is bound to)"
                .into(),
            command: None,
        },
    ]
}

/// [`report`] with telemetry from New Relic: us-south reporting, us-east
/// none (its region degraded), eu-de not asked.
pub fn with_telemetry() -> Report {
    use crate::report::{RegionTelemetry, TelemetryStep};
    let mut r = report();
    r.telemetry = Some(TelemetryStep {
        configured: true,
        provider: Some(crate::runbook::Provider::Newrelic),
        url: Some("https://api.newrelic.com/graphql".into()),
        query: Some(
            "SELECT latest(timestamp), uniqueCount(k8s.podName) FROM Metric FACET k8s.clusterName SINCE 10 minutes AGO"
                .into(),
        ),
        window_secs: 600,
        windowed: true,
        ..TelemetryStep::not_configured()
    });
    let telemetry = |pods: Option<u32>, status: Status| RegionTelemetry {
        status,
        facet: String::new(),
        expected: 3,
        pods_reporting: pods,
        latest: None,
        latest_secs_ago: pods.map(|_| 12),
        window_secs: 600,
        error: None,
    };
    for (reg, t) in r.regions.iter_mut().zip([
        telemetry(Some(3), Status::Pass),
        telemetry(None, Status::Fail),
        telemetry(None, Status::Error),
    ]) {
        reg.telemetry = Some(RegionTelemetry { facet: reg.name.clone(), ..t });
    }
    r
}
