//! "What changed" as evidence: the Deployment behind the service's pods, its
//! current revision (images, when it rolled out) and the revision before, as
//! `kubectl rollout history` reads them from the Deployment's ReplicaSets.
//! The ReplicaSets are listed by the runbook's selector alongside the pods
//! list; the owning Deployment is one more get. Optional: a user without
//! `list replicasets` / `get deployments` gets the same verdicts and a
//! recorded Forbidden.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta, OwnerReference};
use kube::api::{Api, ListParams};
use tokio::time::Instant as TokioInstant;

use crate::kube::client;
use crate::report::{FieldChange, Problem, ProblemKind, RevisionFacts, RolloutFacts, Status};

/// The annotation the Deployment controller numbers revisions with.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// ReplicaSets read per region at most (a Deployment keeps 10 old ones by default).
pub const LIST_LIMIT: u32 = 200;

/// What the pods list tells the evidence steps: the pods' names and the
/// ReplicaSets that control them (one entry per pod, so the most common
/// owner can be told).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodRefs {
    pub names: Vec<String>,
    pub replica_sets: Vec<String>,
}

impl PodRefs {
    pub fn of(pods: &[Pod]) -> PodRefs {
        PodRefs {
            names: pods.iter().filter_map(|p| p.metadata.name.clone()).collect(),
            replica_sets: pods
                .iter()
                .filter_map(|p| controller(&p.metadata).filter(|o| o.kind == "ReplicaSet").map(|o| o.name.clone()))
                .collect(),
        }
    }
}

/// The object's controlling owner (`controller: true`), as the controllers
/// and kubectl pick it.
pub fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.as_ref()?.iter().find(|o| o.controller == Some(true))
}

/// The revision a ReplicaSet or Deployment is annotated with.
pub fn revision(meta: &ObjectMeta) -> Option<u64> {
    meta.annotations.as_ref()?.get(REVISION)?.trim().parse().ok()
}

/// A pod template's container images, sorted and without duplicates, so that
/// two regions running the same thing compare equal.
pub fn images(template: Option<&PodTemplateSpec>) -> Vec<String> {
    let mut v: Vec<String> = template
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.iter().filter_map(|c| c.image.clone()).collect())
        .unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

/// The ReplicaSets matching the service's selector, bounded by the deadline.
pub async fn list_replica_sets(
    client: &kube::Client,
    ns: &str,
    selector: &str,
    deadline: TokioInstant,
) -> Result<Arc<Vec<ReplicaSet>>, Problem> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(selector).limit(LIST_LIMIT);
    match tokio::time::timeout_at(deadline, api.list(&lp)).await {
        Err(_) => Err(Problem::new(ProblemKind::Timeout, "listing replicasets did not finish before the deadline")),
        Ok(Err(e)) => Err(client::problem(&e, "list", "replicasets.apps", ns)),
        Ok(Ok(list)) => Ok(Arc::new(list.items)),
    }
}

async fn get_deployment(
    client: &kube::Client,
    ns: &str,
    name: &str,
    deadline: TokioInstant,
) -> Result<Deployment, Problem> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    match tokio::time::timeout_at(deadline, api.get(name)).await {
        Err(_) => Err(Problem::new(ProblemKind::Timeout, "getting the deployment did not finish before the deadline")),
        Ok(Err(e)) => Err(client::problem(&e, "get", "deployments.apps", ns)),
        Ok(Ok(d)) => Ok(d),
    }
}

/// The Deployment the pods belong to: the owner of the ReplicaSet most pods
/// are controlled by; without pods, of most of the listed ReplicaSets.
pub fn deployment_of(pods: Option<&PodRefs>, replica_sets: &[ReplicaSet]) -> Option<String> {
    let owner = |rs: &ReplicaSet| controller(&rs.metadata).filter(|o| o.kind == "Deployment").map(|o| o.name.clone());
    let mut votes: BTreeMap<String, usize> = BTreeMap::new();
    match pods {
        Some(p) if !p.names.is_empty() => {
            for name in &p.replica_sets {
                let rs = replica_sets.iter().find(|rs| rs.metadata.name.as_deref() == Some(name.as_str()));
                if let Some(d) = rs.and_then(owner) {
                    *votes.entry(d).or_default() += 1;
                }
            }
        }
        _ => {
            for d in replica_sets.iter().filter_map(owner) {
                *votes.entry(d).or_default() += 1;
            }
        }
    }
    // Ties go to the first name, so the answer does not depend on list order.
    votes.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0))).map(|(d, _)| d)
}

/// Facts for owners that could not be read at all.
pub fn failed(p: Problem) -> RolloutFacts {
    RolloutFacts { status: Status::Error, error: Some(p), duration_ms: 0, ..empty() }
}

fn blank(started: Instant) -> RolloutFacts {
    RolloutFacts { duration_ms: started.elapsed().as_millis() as u64, ..empty() }
}

/// Nothing read yet.
pub(crate) fn empty() -> RolloutFacts {
    RolloutFacts {
        status: Status::Pass,
        deployment: None,
        revision: None,
        replica_set: None,
        images: vec![],
        rolled_out_secs_ago: None,
        previous: None,
        replicas: None,
        replicas_set: None,
        note: None,
        error: None,
        duration_ms: 0,
    }
}

/// Who last wrote `spec.replicas` of `d`, and when that manager last wrote
/// the Deployment: the newest managed-fields entry that owns the field. A
/// manager the API server could not name (`unknown`) says nothing; nor do
/// API servers before 1.22 for a change through the scale subresource
/// (`kubectl scale`), which they do not record.
fn replicas_set(d: &Deployment, now: Timestamp) -> Option<FieldChange> {
    let owns = |f: &ManagedFieldsEntry| {
        f.manager.as_deref().is_some_and(|m| !m.is_empty() && m != "unknown")
            && f.fields_v1.as_ref().is_some_and(|v| v.0.get("f:spec").and_then(|s| s.get("f:replicas")).is_some())
    };
    let entry =
        d.metadata.managed_fields.iter().flatten().filter(|f| owns(f)).max_by_key(|f| f.time.as_ref().map(|t| t.0))?;
    Some(FieldChange {
        by: crate::sanitize::clean(entry.manager.as_deref().unwrap_or("unknown"), 100),
        secs_ago: entry.time.as_ref().map(|t| now.duration_since(t.0).as_secs().max(0) as u64),
    })
}

/// The facts from the Deployment `name` (when it could be read) and the
/// ReplicaSets it controls: the current revision is the Deployment's own
/// (else the highest of its ReplicaSets'), the previous the next-highest.
pub fn facts(name: &str, deployment: Option<&Deployment>, replica_sets: &[ReplicaSet], now: Timestamp) -> RolloutFacts {
    let uid = deployment.and_then(|d| d.metadata.uid.as_deref());
    let mut revisions: Vec<(u64, &ReplicaSet)> = replica_sets
        .iter()
        .filter(|rs| {
            controller(&rs.metadata)
                .is_some_and(|o| o.kind == "Deployment" && o.name == name && uid.is_none_or(|u| o.uid == u))
        })
        .filter_map(|rs| revision(&rs.metadata).map(|r| (r, rs)))
        .collect();
    revisions.sort_by_key(|r| std::cmp::Reverse(r.0));
    let current_rev = deployment.and_then(|d| revision(&d.metadata)).or(revisions.first().map(|r| r.0));
    let current = current_rev.and_then(|c| revisions.iter().find(|(r, _)| *r == c)).map(|(_, rs)| *rs);
    let mut f = blank(Instant::now());
    f.deployment = Some(name.to_string());
    f.revision = current_rev;
    f.replica_set = current.and_then(|rs| rs.metadata.name.clone());
    f.images = match current {
        Some(rs) => images(rs.spec.as_ref().and_then(|s| s.template.as_ref())),
        None => images(deployment.and_then(|d| d.spec.as_ref()).map(|s| &s.template)),
    };
    // A rollback re-labels an old ReplicaSet with a new revision, so its
    // creation time is when that template first rolled out.
    f.rolled_out_secs_ago = current
        .and_then(|rs| rs.metadata.creation_timestamp.as_ref())
        .map(|t| now.duration_since(t.0).as_secs().max(0) as u64);
    f.previous = current_rev.and_then(|c| revisions.iter().find(|(r, _)| *r < c)).map(|(r, rs)| RevisionFacts {
        revision: *r,
        replica_set: rs.metadata.name.clone().unwrap_or_default(),
        images: images(rs.spec.as_ref().and_then(|s| s.template.as_ref())),
    });
    if let Some(d) = deployment {
        f.replicas = Some(d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0) as u32);
        f.replicas_set = replicas_set(d, now);
    }
    if current.is_none() {
        f.note = Some(format!("deployment {name} has no ReplicaSet with its current revision"));
    }
    f
}

/// Reads the rollout facts once the pods (None when they could not be
/// listed) and the ReplicaSets are in: at most one more call, the get of
/// the owning Deployment.
pub async fn read(
    client: &kube::Client,
    ns: &str,
    pods: Option<&PodRefs>,
    replica_sets: Result<Arc<Vec<ReplicaSet>>, Problem>,
    deadline: TokioInstant,
    started: Instant,
) -> RolloutFacts {
    let mut f = blank(started);
    let rss = match replica_sets {
        Ok(rss) => rss,
        Err(p) => {
            f.status = Status::Error;
            f.error = Some(p);
            f.duration_ms = started.elapsed().as_millis() as u64;
            return f;
        }
    };
    let Some(name) = deployment_of(pods, &rss) else {
        f.note = Some(match pods {
            Some(p) if p.names.is_empty() => "no pods, and no ReplicaSet of a Deployment matches the selector".into(),
            Some(p) if p.replica_sets.is_empty() => "the pods are not owned by a ReplicaSet".into(),
            _ => "the pods' ReplicaSets are not owned by a Deployment".into(),
        });
        f.duration_ms = started.elapsed().as_millis() as u64;
        return f;
    };
    let got = get_deployment(client, ns, &name, deadline).await;
    let mut f = facts(&name, got.as_ref().ok(), &rss, Timestamp::now());
    if let Err(p) = got {
        // What the ReplicaSets say is kept; the missing get is recorded.
        f.status = Status::Error;
        f.error = Some(p);
    }
    f.duration_ms = started.elapsed().as_millis() as u64;
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-01-01T12:00:00Z".parse().unwrap()
    }

    fn rs(name: &str, deployment: &str, rev: Option<u64>, image: &str, created_ago: i64) -> ReplicaSet {
        let mut annotations = json!({});
        if let Some(r) = rev {
            annotations[REVISION] = json!(r.to_string());
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": annotations,
                "creationTimestamp": format!("{:.0}", now() - jiff::SignedDuration::from_secs(created_ago)),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                                     "uid": format!("uid-{deployment}"), "controller": true}]},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "web", "image": image},
                                                          {"name": "proxy", "image": "envoy:1.30"}]}}}
        }))
        .unwrap()
    }

    fn deployment(name: &str, rev: u64) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}"), "annotations": {REVISION: rev.to_string()}},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"spec": {"containers": []}}}
        }))
        .unwrap()
    }

    #[test]
    fn current_and_previous_revision_with_images_and_rollout_age() {
        let rss = [
            rs("web-a", "web", Some(1), "web:1.4.1", 86_400),
            rs("web-c", "web", Some(3), "web:1.4.3", 420),
            rs("web-b", "web", Some(2), "web:1.4.2", 3_600),
            rs("other-x", "other", Some(9), "other:9", 10),
        ];
        let f = facts("web", Some(&deployment("web", 3)), &rss, now());
        assert_eq!(f.deployment.as_deref(), Some("web"));
        assert_eq!(f.revision, Some(3));
        assert_eq!(f.replica_set.as_deref(), Some("web-c"));
        assert_eq!(f.images, ["envoy:1.30", "web:1.4.3"]);
        assert_eq!(f.rolled_out_secs_ago, Some(420));
        assert_eq!(
            f.previous,
            Some(RevisionFacts {
                revision: 2,
                replica_set: "web-b".into(),
                images: vec!["envoy:1.30".into(), "web:1.4.2".into()]
            })
        );
        assert_eq!((f.status, f.note), (Status::Pass, None));
    }

    #[test]
    fn the_deployments_replicas_and_who_last_set_them() {
        let rss = [rs("web-a", "web", Some(1), "web:1.4.2", 86_400)];
        let mut d = deployment("web", 1);
        assert_eq!(
            (facts("web", Some(&d), &rss, now()).replicas, facts("web", None, &rss, now()).replicas),
            (Some(1), None)
        );
        let entry = |manager: &str, ago: i64, fields: serde_json::Value| {
            json!({"manager": manager, "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
                   "time": format!("{:.0}", now() - jiff::SignedDuration::from_secs(ago)), "fieldsV1": fields})
        };
        d.spec.as_mut().unwrap().replicas = Some(0);
        d.metadata.managed_fields = serde_json::from_value(json!([
            entry("helm", 86_400, json!({"f:spec": {"f:replicas": {}, "f:template": {}}})),
            entry("kubectl-scale", 120, json!({"f:spec": {"f:replicas": {}}})),
            entry("kube-controller-manager", 5, json!({"f:status": {"f:replicas": {}}})),
            entry("unknown", 3, json!({"f:spec": {"f:replicas": {}}})),
        ]))
        .unwrap();
        let f = facts("web", Some(&d), &rss, now());
        assert_eq!(f.replicas, Some(0));
        assert_eq!(f.replicas_set, Some(FieldChange { by: "kubectl-scale".into(), secs_ago: Some(120) }));
    }

    #[test]
    fn a_rollback_makes_an_older_replicaset_current_and_the_deployment_decides() {
        // After `rollout undo --to-revision=1`, revision 1's ReplicaSet is
        // re-numbered 3; the Deployment's annotation names the current one.
        let rss = [rs("web-a", "web", Some(3), "web:1.4.2", 86_400), rs("web-b", "web", Some(2), "web:1.4.3", 600)];
        let f = facts("web", Some(&deployment("web", 3)), &rss, now());
        assert_eq!((f.revision, f.images[1].as_str()), (Some(3), "web:1.4.2"));
        assert_eq!(f.previous.map(|p| p.revision), Some(2));
        assert_eq!(f.rolled_out_secs_ago, Some(86_400));
    }

    #[test]
    fn without_the_deployment_the_replicasets_decide_and_a_single_revision_has_no_previous() {
        let rss = [rs("web-a", "web", Some(1), "web:1.4.2", 100), rs("web-x", "web", None, "web:0", 50)];
        let f = facts("web", None, &rss, now());
        assert_eq!((f.revision, f.previous), (Some(1), None));
        // A ReplicaSet of another Deployment of the same name (a different uid) is not counted.
        let mut foreign = rs("web-z", "web", Some(7), "web:7", 5);
        foreign.metadata.owner_references.as_mut().unwrap()[0].uid = "someone-else".into();
        let f = facts("web", Some(&deployment("web", 1)), &[rss[0].clone(), foreign], now());
        assert_eq!((f.revision, f.previous), (Some(1), None));
    }

    #[test]
    fn the_pods_owner_picks_the_deployment() {
        let rss = [rs("web-a", "web", Some(1), "web:1", 10), rs("canary-a", "canary", Some(1), "web:2", 10)];
        let pods = PodRefs {
            names: vec!["p1".into(), "p2".into(), "p3".into()],
            replica_sets: vec!["canary-a".into(), "web-a".into(), "web-a".into()],
        };
        assert_eq!(deployment_of(Some(&pods), &rss).as_deref(), Some("web"));
        // No pods listed: the ReplicaSets' owners vote; ties go to the first name.
        assert_eq!(deployment_of(None, &rss).as_deref(), Some("canary"));
        let bare = PodRefs { names: vec!["p1".into()], replica_sets: vec![] };
        assert_eq!(deployment_of(Some(&bare), &rss), None);
    }

    #[test]
    fn pod_refs_read_the_controlling_replicaset() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "web-a-1", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "1"},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-a", "uid": "2", "controller": true}]}}))
        .unwrap();
        let bare: Pod = serde_json::from_value(json!({"metadata": {"name": "bare"}})).unwrap();
        assert_eq!(
            PodRefs::of(&[pod, bare]),
            PodRefs { names: vec!["web-a-1".into(), "bare".into()], replica_sets: vec!["web-a".into()] }
        );
    }
}
