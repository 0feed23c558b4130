//! Nothing answered from here: the environment's healthz got no reply at all
//! (its host does not resolve, the connection is refused or times out), no
//! region's cluster could be checked for a reason on this side (a context or
//! kubeconfig missing, an API server that does not answer, credentials or
//! permissions, a placeholder), and no other API (`peers`) answered either.
//! A machine off the VPN, or with another kubeconfig, sees exactly this, and
//! so would one whose clusters and service all went at once: from here the
//! two cannot be told apart, so the service is unknown, not down, and no
//! user impact is stated (README, "Verdicts").
//!
//! Anything that answered (a healthz reply with an error status, a TLS
//! handshake, a region whose pods were listed, an API server that pushed
//! back or failed, another API's reply) means this machine reaches the
//! network: the usual rules judge.

use crate::report::{HealthzCheck, PeerCheck, Problem, ProblemDetail, ProblemKind, RegionReport, Report, Status};

/// No reply, for a reason that may be this machine's own: the name does not
/// resolve, the connection is refused, or nothing answers in time. A TLS
/// failure or a reset connection means something did answer.
fn no_reply(p: Option<&Problem>) -> bool {
    p.is_some_and(|p| matches!(p.kind, ProblemKind::Dns | ProblemKind::Refused | ProblemKind::Timeout))
}

/// A healthz check that got no reply at all (see [`no_reply`]).
pub fn healthz_unanswered(h: &HealthzCheck) -> bool {
    h.status == Status::Fail && h.http_status.is_none() && no_reply(h.error.as_ref())
}

fn peer_unanswered(p: &PeerCheck) -> bool {
    p.http_status.is_none() && no_reply(p.error.as_ref())
}

/// Why a cluster could not be checked that is this side's: the kubeconfig
/// and its contexts, credentials and permissions, placeholders, or an API
/// server that does not answer from here. An API server that answered with
/// pushback or a failure was reached.
fn this_sides(kind: ProblemKind) -> bool {
    use ProblemKind::*;
    matches!(
        kind,
        ContextMissing
            | Kubeconfig
            | Refused
            | Dns
            | Timeout
            | Deadline
            | Tls
            | Unauthorized
            | Forbidden
            | Placeholder
            | SameCluster
    )
}

/// The region's cluster was to be checked (its pods step ran) and could
/// not be, for a reason on this side.
fn cluster_unreached(r: &RegionReport) -> bool {
    r.pods.as_ref().is_some_and(|p| p.status == Status::Error && p.error.as_ref().is_some_and(|e| this_sides(e.kind)))
}

/// Nothing answered from here: the environment's healthz got no reply, nor
/// did any region's own healthz (or it was not checked); every region's cluster that was to be
/// checked could not be, for a reason on this side; every other API probed
/// got no reply. Something besides the healthz must have been tried (a
/// region's cluster or another API): a healthz alone that gets no reply is
/// what it says, a failing healthz.
pub fn nothing_reached(healthz: Option<&HealthzCheck>, peers: &[PeerCheck], regions: &[RegionReport]) -> bool {
    let Some(env) = healthz else { return false };
    let tried_more = !peers.is_empty() || regions.iter().any(|r| r.pods.is_some());
    tried_more
        && healthz_unanswered(env)
        && peers.iter().all(peer_unanswered)
        && regions.iter().all(|r| r.healthz.as_ref().is_none_or(|h| h.status == Status::Error || healthz_unanswered(h)))
        && regions.iter().filter(|r| r.pods.is_some()).all(cluster_unreached)
}

/// When nothing answered from here, every healthz that got no reply could
/// not be checked (`error`, its reason kept), the environment's marked
/// [`ProblemDetail::NothingReached`] for the advice: the regions and the
/// service are then unknown, never down. True when it did.
pub fn doubt_unreached(report: &mut Report) -> bool {
    if !nothing_reached(report.healthz.as_ref(), &report.peers, &report.regions) {
        return false;
    }
    let regional = report.regions.iter_mut().filter_map(|r| r.healthz.as_mut());
    for h in report.healthz.iter_mut().chain(regional) {
        h.status = Status::Error;
    }
    if let Some(e) = report.healthz.as_mut().and_then(|h| h.error.as_mut()) {
        e.detail = ProblemDetail::NothingReached;
    }
    for r in &mut report.regions {
        r.verdict = super::region_verdict(r);
    }
    true
}

/// Whether the run found nothing answering from here (see [`doubt_unreached`]).
pub fn unreached(report: &Report) -> bool {
    report.healthz.as_ref().and_then(|h| h.error.as_ref()).is_some_and(|e| e.detail == ProblemDetail::NothingReached)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::region::{empty_region, failed_pods};
    use crate::plan::{Plan, RegionPlan};
    use crate::report::{Verdict, Verdict::*};

    /// What a healthz check or another API's probe got.
    #[derive(Clone, Copy)]
    enum Got {
        /// No reply, for this reason.
        NoReply(ProblemKind),
        /// A reply with this status.
        Http(u16),
        /// Something answered, but not over HTTP (a TLS failure, a reset).
        Broken(ProblemKind),
    }
    use Got::*;

    /// What a region's cluster said.
    #[derive(Clone, Copy)]
    enum Cluster {
        /// Not checked, for this reason.
        Unchecked(ProblemKind),
        /// Its pods listed: this many ready of 3.
        Ready(u32),
    }
    use Cluster::*;

    fn healthz(got: Got) -> HealthzCheck {
        let mut h = crate::evidence::healthz::blank("https://keys.corp/healthz");
        match got {
            NoReply(kind) | Broken(kind) => h.error = Some(Problem::new(kind, "no reply")),
            Http(200) => (h.status, h.http_status) = (Status::Pass, Some(200)),
            Http(s) => h.http_status = Some(s),
        }
        h
    }

    fn peer(got: Got) -> PeerCheck {
        let h = healthz(got);
        PeerCheck {
            name: "iam-api".into(),
            url: h.url,
            up: h.status == Status::Pass,
            http_status: h.http_status,
            latency_ms: Some(1),
            error: h.error,
        }
    }

    fn region(c: Cluster) -> RegionReport {
        let mut r = empty_region(&RegionPlan::for_tests("r", "c"));
        r.pods = Some(match c {
            Unchecked(kind) => failed_pods(3, Problem::new(kind, "not checked")),
            Ready(n) => crate::report::PodsStep {
                status: if n == 0 { Status::Fail } else { Status::Pass },
                ready: n,
                total: 3,
                error: None,
                ..failed_pods(3, Problem::new(ProblemKind::Other, ""))
            },
        });
        r
    }

    /// The service's verdict and whether an impact is stated.
    fn judged(hz: Got, peers: &[Got], regions: &[Cluster]) -> (Verdict, bool) {
        let rb = crate::runbook::parse(&crate::runbook::Source::embedded()).unwrap();
        let plan = Plan::for_tests(rb, "rb");
        let mut report = crate::render::fixture::report();
        report.healthz = Some(healthz(hz));
        report.peers = peers.iter().map(|g| peer(*g)).collect();
        report.regions = regions.iter().map(|c| region(*c)).collect();
        crate::judge::run(&plan, &mut report);
        (report.service.verdict, report.service.impact.is_some())
    }

    /// A row of the table: what it is, the healthz, the other APIs, the
    /// regions, and the service's verdict.
    type Row = (&'static str, Got, Vec<Got>, Vec<Cluster>, Verdict);

    const DNS: ProblemKind = ProblemKind::Dns;
    const REFUSED: ProblemKind = ProblemKind::Refused;
    const TIMEOUT: ProblemKind = ProblemKind::Timeout;

    /// README, "Verdicts": nothing answered from here is unknown, never
    /// down; anything that answered lets the usual rules judge.
    #[test]
    fn the_rule_table() {
        use ProblemKind::*;
        let every = |c: Cluster| [c, c, c];
        let rows: Vec<Row> = vec![
            // Nothing answered: unknown, whatever kept each cluster from being checked.
            (
                "off the network, contexts missing",
                NoReply(DNS),
                vec![],
                every(Unchecked(ContextMissing)).into(),
                Unknown,
            ),
            ("refused, kubeconfig missing", NoReply(REFUSED), vec![], every(Unchecked(Kubeconfig)).into(), Unknown),
            ("timed out, API servers silent", NoReply(TIMEOUT), vec![], every(Unchecked(Timeout)).into(), Unknown),
            ("API servers do not resolve", NoReply(DNS), vec![], every(Unchecked(Dns)).into(), Unknown),
            (
                "API servers refuse, deadline",
                NoReply(DNS),
                vec![],
                vec![Unchecked(Refused), Unchecked(Deadline)],
                Unknown,
            ),
            ("credentials refused", NoReply(DNS), vec![], every(Unchecked(Unauthorized)).into(), Unknown),
            ("not permitted", NoReply(DNS), vec![], every(Unchecked(Forbidden)).into(), Unknown),
            ("the cluster's TLS", NoReply(DNS), vec![], every(Unchecked(Tls)).into(), Unknown),
            (
                "mixed reasons, all ours",
                NoReply(DNS),
                vec![],
                vec![Unchecked(ContextMissing), Unchecked(Refused)],
                Unknown,
            ),
            (
                "the peers unreachable too",
                NoReply(DNS),
                vec![NoReply(DNS), NoReply(TIMEOUT)],
                every(Unchecked(ContextMissing)).into(),
                Unknown,
            ),
            ("healthz and peers alone, none answers", NoReply(REFUSED), vec![NoReply(DNS)], vec![], Unknown),
            ("one region alone, not checked", NoReply(DNS), vec![], vec![Unchecked(ContextMissing)], Unknown),
            // Something answered: down, as before.
            ("healthz answers with an error", Http(503), vec![], every(Unchecked(ContextMissing)).into(), Down),
            ("healthz answers with a redirect", Http(302), vec![], every(Unchecked(ContextMissing)).into(), Down),
            ("healthz's TLS fails", Broken(Tls), vec![], every(Unchecked(ContextMissing)).into(), Down),
            ("healthz resets", Broken(Reset), vec![], every(Unchecked(ContextMissing)).into(), Down),
            (
                "a region says its pods are down",
                NoReply(DNS),
                vec![],
                vec![Ready(0), Unchecked(ContextMissing), Unchecked(ContextMissing)],
                Down,
            ),
            ("every region's pods down", NoReply(DNS), vec![], every(Ready(0)).into(), Down),
            ("the pods are fine: the way in", NoReply(DNS), vec![], every(Ready(3)).into(), Down),
            (
                "one region answers",
                NoReply(DNS),
                vec![],
                vec![Ready(3), Unchecked(ContextMissing), Unchecked(Refused)],
                Down,
            ),
            ("an API server pushes back", NoReply(DNS), vec![], every(Unchecked(Throttled)).into(), Down),
            ("an API server fails", NoReply(DNS), vec![], every(Unchecked(Other)).into(), Down),
            ("an API server resets", NoReply(DNS), vec![], every(Unchecked(Reset)).into(), Down),
            (
                "another API answers",
                NoReply(DNS),
                vec![NoReply(DNS), Http(200)],
                every(Unchecked(ContextMissing)).into(),
                Down,
            ),
            (
                "other APIs fail too: the platform",
                NoReply(DNS),
                vec![Http(503), Http(503)],
                every(Unchecked(ContextMissing)).into(),
                Down,
            ),
            ("healthz alone: what it says", NoReply(DNS), vec![], vec![], Down),
        ];
        for (name, hz, peers, regions, want) in rows {
            let (got, impact) = judged(hz, &peers, &regions);
            assert_eq!(got, want, "{name}");
            assert_eq!(impact, want == Down, "{name}: the impact is stated when down, only");
        }
    }

    #[test]
    fn nothing_reached_marks_the_healthz_not_checked_and_says_so_in_the_summary() {
        let rb = crate::runbook::parse(&crate::runbook::Source::embedded()).unwrap();
        let plan = Plan::for_tests(rb, "rb");
        let mut report = crate::render::fixture::report();
        report.healthz = Some(healthz(NoReply(DNS)));
        report.regions = vec![region(Unchecked(ProblemKind::ContextMissing)); 2];
        let mut regional = healthz(NoReply(TIMEOUT));
        regional.url = "https://r.keys.corp/healthz".into();
        report.regions[0].healthz = Some(regional);
        crate::judge::run(&plan, &mut report);
        assert!(unreached(&report));
        let env = report.healthz.as_ref().unwrap();
        assert_eq!(env.status, Status::Error);
        assert_eq!(env.error.as_ref().unwrap().kind, DNS, "the reason is kept");
        assert_eq!(report.regions[0].healthz.as_ref().unwrap().status, Status::Error);
        assert!(report.regions.iter().all(|r| r.verdict == Unknown), "never down by a regional healthz unanswered");
        assert_eq!(report.service.summary, "healthz error, 2/2 regions unknown (nothing answered from here)");
        // A region's own healthz that answers: something was reached.
        let mut report = crate::render::fixture::report();
        report.healthz = Some(healthz(NoReply(DNS)));
        report.regions = vec![region(Unchecked(ProblemKind::ContextMissing)); 2];
        report.regions[1].healthz = Some(healthz(Http(503)));
        crate::judge::run(&plan, &mut report);
        assert!(!unreached(&report));
        assert_eq!(report.service.verdict, Down);
    }
}
