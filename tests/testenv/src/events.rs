//! Kubernetes events as the kubelet, scheduler and controllers would have
//! recorded them. Nothing records events here (no kubelet or controllers
//! run), so tests create them; everything an event carries but its
//! `creationTimestamp` is set by the client, so counts and first/last times
//! can say "14 times over the last five minutes".

use anyhow::{Context, Result, bail};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

/// One event about a pod, ReplicaSet or Deployment of the namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    /// `Pod`, `ReplicaSet` or `Deployment`.
    pub kind: String,
    pub name: String,
    pub reason: String,
    pub message: String,
    /// `Warning` or `Normal`.
    pub type_: String,
    pub count: i32,
    pub first_secs_ago: i64,
    pub last_secs_ago: i64,
    /// Who reported it (`kubelet`, `default-scheduler`, …).
    pub component: String,
    /// The node, for what a kubelet reports.
    pub host: Option<String>,
}

impl EventSpec {
    /// A Warning seen once a minute ago, reported by whoever reports such
    /// events about `kind`.
    pub fn warning(kind: &str, name: &str, reason: &str, message: &str) -> EventSpec {
        let component = match kind {
            "ReplicaSet" => "replicaset-controller",
            "Deployment" => "deployment-controller",
            _ => "kubelet",
        };
        EventSpec {
            kind: kind.into(),
            name: name.into(),
            reason: reason.into(),
            message: message.into(),
            type_: "Warning".into(),
            count: 1,
            first_secs_ago: 60,
            last_secs_ago: 60,
            component: component.into(),
            host: None,
        }
    }

    pub fn count(mut self, count: i32) -> EventSpec {
        self.count = count;
        self
    }

    /// First seen `first` seconds ago, last seen `last` seconds ago.
    pub fn seen(mut self, first: i64, last: i64) -> EventSpec {
        self.first_secs_ago = first;
        self.last_secs_ago = last;
        self
    }

    pub fn component(mut self, component: &str) -> EventSpec {
        self.component = component.into();
        self
    }

    /// The reporting node, for a kubelet's events (the scheduler's have none).
    pub fn host(mut self, node: &str) -> EventSpec {
        if self.component == "kubelet" {
            self.host = Some(node.into());
        }
        self
    }
}

/// The uid and API version of the object an event is about: `kubectl
/// describe` finds an object's events by its uid.
async fn involved(client: &Client, ns: &str, kind: &str, name: &str) -> Result<(String, &'static str)> {
    let uid = match kind {
        "Pod" => Api::<Pod>::namespaced(client.clone(), ns).get(name).await?.metadata.uid,
        "ReplicaSet" => Api::<ReplicaSet>::namespaced(client.clone(), ns).get(name).await?.metadata.uid,
        "Deployment" => Api::<Deployment>::namespaced(client.clone(), ns).get(name).await?.metadata.uid,
        other => bail!("events about a {other} are not made here (Pod, ReplicaSet or Deployment)"),
    };
    let api_version = if kind == "Pod" { "v1" } else { "apps/v1" };
    Ok((uid.unwrap_or_default(), api_version))
}

/// Creates the event in `ns`; returns its name.
pub async fn create(client: &Client, ns: &str, spec: &EventSpec) -> Result<String> {
    let (uid, api_version) = involved(client, ns, &spec.kind, &spec.name)
        .await
        .with_context(|| format!("finding {} {} for its event", spec.kind, spec.name))?;
    let now = Timestamp::now();
    let at = |secs: i64| format!("{:.0}", now - SignedDuration::from_secs(secs));
    // Named as the client library names events: the object, then a unique number.
    let name = format!("{}.{:x}", spec.name, now.as_nanosecond());
    let mut involved = json!({"apiVersion": api_version, "kind": spec.kind, "name": spec.name,
                              "namespace": ns, "uid": uid});
    if spec.kind == "Pod" {
        involved["fieldPath"] = json!(format!("spec.containers{{{}}}", crate::scenario::CONTAINER));
    }
    let mut source = json!({"component": spec.component});
    if let Some(h) = &spec.host {
        source["host"] = json!(h);
    }
    let event: Event = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": involved,
        "reason": spec.reason, "message": spec.message, "type": spec.type_,
        "count": spec.count, "firstTimestamp": at(spec.first_secs_ago), "lastTimestamp": at(spec.last_secs_ago),
        "source": source, "reportingComponent": spec.component,
        "reportingInstance": spec.host.clone().unwrap_or_default(),
    }))?;
    Api::<Event>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &event)
        .await
        .with_context(|| format!("creating event {} for {} {}", spec.reason, spec.kind, spec.name))?;
    Ok(name)
}

/// Deletes every event in `ns`.
pub async fn clear(client: &Client, ns: &str) -> Result<()> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.delete_collection(&DeleteParams::default(), &ListParams::default()).await.context("deleting events")?;
    Ok(())
}
