//! Fetching: asks each region and healthz host its questions, concurrently
//! under the run's deadline, and records the answers as facts.

use std::sync::Mutex;
use std::time::Instant;

use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use kube::api::{Api, PostParams};
use tokio::time::Instant as TokioInstant;

use super::*;
use crate::execute::gather::Gather;
use crate::kube::pushback::Pushback;

/// Asks every question of `plan`'s regions and `urls`, concurrently, and
/// returns the answers by the run's deadline; what did not finish by then
/// is `None`.
pub async fn fetch(plan: Arc<Plan>, runbook: RunbookInfo, urls: Vec<UrlTarget>) -> Facts {
    let started = Instant::now();
    let deadline = TokioInstant::now() + plan.timeout;
    let kubeconfig = Arc::new(client::load(plan.kubeconfig.as_deref()));
    let in_cluster = kubeconfig
        .as_ref()
        .as_ref()
        .is_ok_and(client::Clusters::in_cluster)
        .then(|| client::server(&kubeconfig, ""))
        .flatten();
    let mut gather: Gather = Gather::new(deadline);
    let same = crate::execute::same_clusters(&plan, &kubeconfig, &plan.regions);
    let slots: Vec<Arc<Mutex<RegionFacts>>> = plan
        .regions
        .iter()
        .zip(same)
        .map(|(r, same_cluster)| {
            Arc::new(Mutex::new(RegionFacts {
                name: r.name.clone(),
                context: r.context.clone(),
                placeholder_key: r.placeholder_context.clone(),
                context_from: r.context_from.clone(),
                taken_contexts: plan.taken_contexts(&r.name),
                in_cluster: in_cluster.clone(),
                same_cluster,
                client: None,
                version: None,
                access: vec![None; PERMISSIONS.len()],
                retried: vec![],
                pods: None,
            }))
        })
        .collect();
    for (region, slot) in plan.regions.iter().zip(&slots) {
        if region.placeholder_context.is_none() && slot.lock().expect("slot").same_cluster.is_none() {
            let (kc, slot, ctx, plan) = (kubeconfig.clone(), slot.clone(), region.context.clone(), plan.clone());
            gather.spawn(async move { ask_region(&kc, &ctx, &plan, &slot, deadline).await });
        }
    }
    let url_slots: Vec<Arc<Mutex<Answer<Vec<IpAddr>>>>> = urls.iter().map(|_| Arc::new(Mutex::new(None))).collect();
    for (target, slot) in urls.iter().zip(&url_slots) {
        if !runbook::placeholder_url(&target.url) {
            let (url, slot) = (target.url.clone(), slot.clone());
            gather.spawn(async move {
                let r = resolve(&url, deadline).await;
                *slot.lock().expect("slot") = Some(r);
            });
        }
    }
    let telemetry = telemetry_slot(&plan, &mut gather, deadline);
    gather.wait(|()| {}).await;
    let regions = slots.iter().map(|s| s.lock().expect("slot").clone()).collect();
    let urls = urls
        .into_iter()
        .zip(&url_slots)
        .map(|(target, slot)| UrlFacts { target, resolved: slot.lock().expect("slot").clone() })
        .collect();
    Facts {
        environment: plan.env.clone(),
        namespace: plan.runbook.namespace.clone(),
        runbook,
        kubeconfig: plan.kubeconfig.clone(),
        timeout: plan.timeout,
        regions,
        urls,
        duration_ms: started.elapsed().as_millis() as u64,
        selector: plan.runbook.selector.clone(),
        container: plan.runbook.container.clone(),
        lines: plan.runbook.lines,
        telemetry: telemetry.map(|s| s.lock().expect("slot").clone()),
    }
}

/// The telemetry facts, the query asked (unless its URL is a placeholder or
/// New Relic's key is not set).
fn telemetry_slot(plan: &Plan, gather: &mut Gather, deadline: TokioInstant) -> Option<Arc<Mutex<TelemetryFacts>>> {
    use crate::evidence::telemetry;
    let t = plan.telemetry.clone()?;
    let key = telemetry::key(&t, |v| std::env::var(v).ok());
    let key_set = t.key_env.as_ref().map(|v| std::env::var(v).is_ok_and(|k| !k.trim().is_empty()));
    let slot = Arc::new(Mutex::new(TelemetryFacts {
        telemetry: t.clone(),
        placeholder: plan.placeholder_telemetry.clone(),
        key_set,
        answer: None,
        regions: plan.regions.iter().map(|r| r.name.clone()).collect(),
        env: plan.env.clone(),
    }));
    let Ok(key) = key else { return Some(slot) };
    if plan.placeholder_telemetry.is_none() {
        let s = slot.clone();
        let client = crate::evidence::healthz::client(plan.timeout).ok()?;
        gather.spawn(async move {
            let asked = telemetry::ask(&client, &t, key.as_deref(), deadline).await;
            s.lock().expect("slot").answer = Some(asked.rows);
        });
    }
    Some(slot)
}

/// One region's questions, in order: a client for the context, the
/// version, then every access review at once, then, when `list pods` is
/// allowed, the runbook's pods. Answers land in `slot` as they come, so the
/// deadline keeps what is known.
async fn ask_region(
    kubeconfig: &client::Loaded,
    context: &str,
    plan: &Plan,
    slot: &Arc<Mutex<RegionFacts>>,
    deadline: TokioInstant,
) {
    let namespace = plan.runbook.namespace.as_str();
    let remaining = || deadline.saturating_duration_since(TokioInstant::now()).max(Duration::from_millis(1));
    let counted = slot.clone();
    let pushback = Pushback::new(deadline, move |status| counted.lock().expect("slot").retried.push(status));
    let client = match client::client(kubeconfig, context, remaining(), pushback).await {
        Ok(c) => c,
        Err(p) => {
            slot.lock().expect("slot").client = Some(Err(p));
            return;
        }
    };
    slot.lock().expect("slot").client = Some(Ok(()));
    let version = match tokio::time::timeout(remaining(), client.apiserver_version()).await {
        Ok(Ok(info)) => Ok(info.git_version),
        Ok(Err(e)) => Err(client::problem(&e, "get", "/version", namespace)),
        Err(_) => Err(timed_out()),
    };
    let reachable = version.is_ok();
    slot.lock().expect("slot").version = Some(version);
    if !reachable {
        return;
    }
    let reviews = PERMISSIONS.iter().enumerate().map(|(i, p)| {
        let client = client.clone();
        async move {
            let answer = match tokio::time::timeout(remaining(), review(client, namespace, p)).await {
                Ok(a) => a,
                Err(_) => Err(timed_out()),
            };
            slot.lock().expect("slot").access[i] = Some(answer);
        }
    });
    futures::future::join_all(reviews).await;
    let may_list = slot.lock().expect("slot").access[0].as_ref().is_some_and(|a| a.as_ref().is_ok_and(|a| a.allowed));
    if may_list {
        let seen =
            tokio::time::timeout(remaining(), crate::evidence::selector::pods_seen(&client, &plan.runbook, deadline))
                .await;
        slot.lock().expect("slot").pods = Some(seen.unwrap_or_else(|_| Err(timed_out())));
    }
}

fn timed_out() -> Problem {
    Problem::new(ProblemKind::Timeout, "no answer before the deadline (--timeout)")
}

/// Asks the API server whether the user may do `p` in `namespace`.
async fn review(client: kube::Client, namespace: &str, p: &Permission) -> Result<Access, Problem> {
    let ask = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.to_string()),
                verb: Some(p.verb.to_string()),
                group: Some(p.group.to_string()),
                resource: Some(p.resource.to_string()),
                subresource: (!p.subresource.is_empty()).then(|| p.subresource.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client);
    let answer = api
        .create(&PostParams::default(), &ask)
        .await
        .map_err(|e| client::problem(&e, "create", "selfsubjectaccessreviews.authorization.k8s.io", namespace))?;
    let status = answer.status.unwrap_or_default();
    let reason = status
        .evaluation_error
        .filter(|e| !e.is_empty())
        .or(status.reason.filter(|r| !r.is_empty()))
        .map(|r| crate::sanitize::clean(&r, 200));
    Ok(Access { allowed: status.allowed, reason })
}

/// The addresses a URL's host resolves to; none for an IP address.
async fn resolve(url: &str, deadline: TokioInstant) -> Result<Vec<IpAddr>, Problem> {
    let parsed = reqwest::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "http" || u.scheme() == "https")
        .ok_or_else(|| Problem::new(ProblemKind::Other, "not an http or https URL"))?;
    let host = parsed.host_str().ok_or_else(|| Problem::new(ProblemKind::Other, "the URL has no host"))?;
    // An IP address (IPv6 in brackets) has nothing to resolve.
    if host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok() {
        return Ok(vec![]);
    }
    let host = host.to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    match tokio::time::timeout_at(deadline, tokio::net::lookup_host((host.as_str(), port))).await {
        Err(_) => Err(timed_out()),
        Ok(Err(e)) => Err(Problem::new(ProblemKind::Dns, format!("{host} does not resolve ({e})"))),
        Ok(Ok(addrs)) => {
            let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            ips.dedup();
            if ips.is_empty() {
                Err(Problem::new(ProblemKind::Dns, format!("{host} resolves to no address")))
            } else {
                Ok(ips)
            }
        }
    }
}
