//! The optional evidence as findings and steps: Warning events, the
//! Deployment's rollout and replicas, images that differ between regions,
//! and what the user may not read.

use super::steps::Priority;
use super::words::{event_words, scaled_to_zero};
use super::{Advice, Kubectl, forbidden, plural};
use crate::evidence::pods::short_age;
use crate::plan::Plan;
use crate::report::{EventKind, Finding, FindingKind, Problem, ProblemKind, RegionReport, Report, Severity, Verdict};

/// Optional evidence the user may not read: said once (info), naming the
/// permission, with the regions it concerns; the verdicts do not depend on it.
pub(super) fn unread_evidence(plan: &Plan, report: &Report, a: &mut Advice) {
    let ns = &plan.runbook.namespace;
    type Get = fn(&RegionReport) -> Option<&Problem>;
    let pieces: [(&str, String, Get); 2] = [
        ("Warning events", format!("list on events in namespace {ns}"), |r| {
            r.events.as_ref().and_then(|e| e.error.as_ref())
        }),
        (
            "the Deployment's revisions",
            format!("get and list on replicasets and deployments (apps) in namespace {ns}"),
            |r| r.rollout.as_ref().and_then(|o| o.error.as_ref()),
        ),
    ];
    for (what, permission, problem) in pieces.clone() {
        let regions: Vec<String> =
            report.regions.iter().filter(|r| forbidden(problem(r))).map(|r| r.name.clone()).collect();
        if regions.is_empty() {
            continue;
        }
        let (region, scope) = match regions.as_slice() {
            [one] => (Some(one.as_str()), String::new()),
            many => (None, format!(" in {}/{} regions", many.len(), report.regions.len())),
        };
        let f = Finding::new(
            region,
            FindingKind::Permission,
            Severity::Info,
            format!("{what} not read{scope} (optional; verdicts do not depend on them): needs {permission}"),
        );
        a.find(if region.is_none() { f.regions(regions) } else { f });
    }
    // Not read for another reason (throttled, timed out) in a region whose
    // pods were read: said per region, with the reason.
    for (what, _, problem) in pieces {
        for r in &report.regions {
            let pods_read = r.pods.as_ref().is_some_and(|p| p.error.is_none());
            match problem(r) {
                Some(p) if pods_read && p.kind != ProblemKind::Forbidden => a.find(Finding::new(
                    Some(&r.name),
                    FindingKind::NotChecked,
                    Severity::Info,
                    format!("{what} not read (optional; verdicts do not depend on them): {}", p.message),
                )),
                _ => {}
            }
        }
    }
}

/// The finding kind of a group of Warning events.
pub(super) fn event_kind(k: EventKind) -> FindingKind {
    match k {
        EventKind::ProbeFailing => FindingKind::ProbeFailing,
        EventKind::BackOff => FindingKind::BackOff,
        EventKind::ImagePull => FindingKind::ImagePull,
        EventKind::Unschedulable => FindingKind::Unschedulable,
        EventKind::MountFailed => FindingKind::MountFailed,
        EventKind::Evicted => FindingKind::Evicted,
        EventKind::Other => FindingKind::Event,
    }
}

/// One finding per group of Warning events.
pub(super) fn events(r: &RegionReport, a: &mut Advice) {
    let Some(e) = &r.events else { return };
    for g in &e.groups {
        let severity = match g.kind {
            EventKind::ImagePull | EventKind::Unschedulable | EventKind::ProbeFailing | EventKind::MountFailed
                if matches!(r.verdict, Verdict::Down | Verdict::Degraded) =>
            {
                Severity::Fail
            }
            EventKind::Other => Severity::Info,
            _ => Severity::Warn,
        };
        let more = if g.objects_total > g.objects.len() {
            format!(" and {} more", g.objects_total - g.objects.len())
        } else {
            String::new()
        };
        let ago = g.last_seen_secs_ago.map(|s| format!(", last {} ago", short_age(s))).unwrap_or_default();
        a.find(
            Finding::new(
                Some(&r.name),
                event_kind(g.kind),
                severity,
                format!("{} ×{} on {}{more}{ago}: {}", g.reason, g.count, g.objects.join(", "), g.message),
            )
            .count(g.count),
        );
    }
}

/// Images as a short list for prose.
pub(super) fn images(list: &[String]) -> String {
    if list.is_empty() { "no image".into() } else { list.join(", ") }
}

/// A rollout inside the baseline is a finding; in a region that is down or
/// degraded, the rollback command comes early in the next steps (suggested,
/// never run).
pub(super) fn rollout(plan: &Plan, r: &RegionReport, k: &Kubectl, a: &mut Advice) {
    let Some(o) = r.rollout.as_ref().filter(|o| o.error.is_none()) else { return };
    let (Some(deployment), Some(revision), Some(ago)) = (&o.deployment, o.revision, o.rolled_out_secs_ago) else {
        return;
    };
    if ago > recent_rollout(plan).as_secs() {
        return;
    }
    // Scaled to zero, the Deployment says why there are no pods: the
    // rollout is then a fact, not the suspect.
    let bad = matches!(r.verdict, Verdict::Down | Verdict::Degraded) && scaled_to_zero(r).is_none();
    let before = o
        .previous
        .as_ref()
        .map(|p| format!("; revision {} ({}) before", p.revision, images(&p.images)))
        .unwrap_or_default();
    a.find(Finding::new(
        Some(&r.name),
        FindingKind::Rollout,
        if bad { Severity::Warn } else { Severity::Info },
        format!("rolled out revision {revision} ({}) {} ago{before}", images(&o.images), short_age(ago)),
    ));
    if let (Some(p), true) = (&o.previous, bad) {
        let to = format!("--to-revision={}", p.revision);
        let deploy = format!("deployment/{deployment}");
        // The facts were read, so the history can be: the same reads. One
        // revision's history is only its template; the change is the two
        // templates side by side, each a command any shell pastes.
        a.step(
            Priority::Rollback,
            Some(&r.name),
            format!(
                "revision {revision} rolled out {} ago and the region is {}: see what changed, revision {}'s pod template (before) …",
                short_age(ago),
                r.verdict.as_str(),
                p.revision
            ),
            Some(k.read(&["rollout", "history", &deploy, &format!("--revision={}", p.revision)])),
        );
        a.step(
            Priority::Rollback,
            Some(&r.name),
            format!("… against revision {revision}'s (now): images, env, resources, probes"),
            Some(k.read(&["rollout", "history", &deploy, &format!("--revision={revision}")])),
        );
        a.step(
            Priority::Rollback,
            Some(&r.name),
            format!(
                "if it started with the rollout, roll back to revision {} ({}) — it changes the cluster: it needs permission to patch deployments, and check with your team first",
                p.revision,
                images(&p.images)
            ),
            Some(k.change(&["rollout", "undo", &deploy, &to])),
        );
    }
}

/// A Deployment asking for fewer replicas than the runbook expects ready:
/// it explains missing pods before anything else does. Scaled to zero, the
/// command that shows who did it and the one that undoes it.
pub(super) fn scaled_down(plan: &Plan, r: &RegionReport, k: &Kubectl, a: &mut Advice) {
    let Some(o) = &r.rollout else { return };
    let (Some(deployment), Some(replicas)) = (&o.deployment, o.replicas) else { return };
    let expected = plan.runbook.expected_ready;
    if replicas >= expected {
        return;
    }
    let who = o
        .replicas_set
        .as_ref()
        .map(|c| {
            let ago = c.secs_ago.map(|s| format!(" {} ago", short_age(s))).unwrap_or_default();
            format!(", last written by {}{ago}", c.by)
        })
        .unwrap_or_default();
    let (severity, what) = if replicas == 0 {
        (Severity::Fail, "scaled to 0 replicas".to_string())
    } else {
        (Severity::Warn, format!("scaled to {}", plural(u64::from(replicas), "replica")))
    };
    a.find(
        Finding::new(
            Some(&r.name),
            FindingKind::ScaledDown,
            severity,
            format!("the Deployment {deployment} is {what} (spec.replicas{who}); expected_ready is {expected}"),
        )
        .count(u64::from(replicas)),
    );
    let deploy = format!("deployment/{deployment}");
    a.step(
        Priority::Region,
        Some(&r.name),
        format!("the Deployment asks for {replicas} of {expected}: see its replicas, conditions and scaling events"),
        Some(k.read(&["describe", &deploy])),
    );
    if replicas == 0 {
        a.step(
            Priority::Region,
            Some(&r.name),
            format!(
                "if it was not meant to be, scale it back to {expected} — it changes the cluster: it needs permission to patch deployments/scale, and check with your team first (an autoscaler or CD tool may scale it again)"
            ),
            Some(k.change(&["scale", &deploy, &format!("--replicas={expected}")])),
        );
    }
}

/// Steps for Warning events no other step shows: the object's `describe`,
/// whose Events section lists them (a FailedMount in a healthy region).
pub(super) fn event_steps(r: &RegionReport, k: &Kubectl, a: &mut Advice) {
    let Some(e) = &r.events else { return };
    for g in &e.groups {
        let Some(object) = g.objects.first() else { continue };
        let command = k.read(&["describe", object]);
        let (kind, name) = object.split_once('/').unwrap_or(("", object));
        // `describe pod/a` and `describe pod a` show the same.
        let same = k.read(&["describe", kind, name]);
        let shown = a.steps.iter().any(|(_, s)| {
            s.region.as_deref() == Some(r.name.as_str())
                && s.command.as_ref().is_some_and(|c| c.argv == command.argv || c.argv == same.argv)
        });
        if shown {
            continue;
        }
        let more = if g.objects_total > 1 { format!(" (and {} more)", g.objects_total - 1) } else { String::new() };
        a.step(
            Priority::Region,
            Some(&r.name),
            format!("see the {} events of {object}{more} ({}) in its Events section", g.reason, event_words(g.kind)),
            Some(command),
        );
    }
}

/// How recent a rollout must be to count as "what changed": the log
/// baseline, the time errors are compared against.
pub(super) fn recent_rollout(plan: &Plan) -> std::time::Duration {
    plan.runbook.logs.baseline.0
}

/// A region running other images than its siblings.
pub(super) fn drift(report: &Report, a: &mut Advice) {
    let known: Vec<(&RegionReport, &Vec<String>)> = report
        .regions
        .iter()
        .filter_map(|r| {
            r.rollout.as_ref().filter(|o| o.error.is_none() && !o.images.is_empty()).map(|o| (r, &o.images))
        })
        .collect();
    if known.len() < 2 {
        return;
    }
    let mut sets: Vec<(&Vec<String>, Vec<&str>)> = vec![];
    for (r, imgs) in &known {
        match sets.iter_mut().find(|(s, _)| s == imgs) {
            Some((_, regions)) => regions.push(r.name.as_str()),
            None => sets.push((imgs, vec![r.name.as_str()])),
        }
    }
    if sets.len() < 2 {
        return;
    }
    // The most common set is the reference; each other set's regions drift.
    sets.sort_by_key(|(_, regions)| std::cmp::Reverse(regions.len()));
    let (common, common_regions) = &sets[0];
    for (imgs, regions) in &sets[1..] {
        for name in regions {
            let r = known.iter().find(|(r, _)| r.name == *name).map(|(r, _)| *r);
            let bad = r.is_some_and(|r| matches!(r.verdict, Verdict::Down | Verdict::Degraded));
            a.find(
                Finding::new(
                    Some(name),
                    FindingKind::VersionDrift,
                    if bad { Severity::Warn } else { Severity::Info },
                    format!("runs {}, while {} run {}", images(imgs), common_regions.join(", "), images(common)),
                )
                .regions(common_regions.iter().map(|s| s.to_string()).collect()),
            );
        }
    }
}
