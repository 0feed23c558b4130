//! Whether the runbook's selector and container fit a namespace's pods:
//! the labels the namespace's pods have on the selector's keys when none
//! match, whether a matched pod has the runbook's container, and the short
//! listing `doctor` makes to tell. Facts only; `doctor` and `advice` judge.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use tokio::time::Instant as TokioInstant;

use crate::kube::client;
use crate::report::{Problem, ProblemKind};
use crate::runbook::Runbook;
use crate::sanitize;

/// What listing the runbook's pods showed: whether the runbook's selector
/// and container fit the cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodsSeen {
    /// Pods the selector matches.
    pub matched: usize,
    /// With none matched, the labels the namespace's pods have on the
    /// selector's keys (see [`labels_elsewhere`]).
    pub other_labels: Vec<String>,
    /// A matched pod without the runbook's container: the problem, naming
    /// the containers it has.
    pub lacking: Option<Problem>,
}

/// For `doctor`: whether the runbook's selector matches pods in this
/// region, and whether they have its container (a few pods are enough).
pub async fn pods_seen(client: &kube::Client, rb: &Runbook, deadline: TokioInstant) -> Result<PodsSeen, Problem> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &rb.namespace);
    let lp = ListParams::default().labels(&rb.selector).limit(20);
    let list = match tokio::time::timeout_at(deadline, api.list(&lp)).await {
        Err(_) => return Err(Problem::new(ProblemKind::Timeout, "listing pods did not finish before the deadline")),
        Ok(Err(e)) => return Err(client::problem(&e, "list", "pods", &rb.namespace)),
        Ok(Ok(list)) => list.items,
    };
    let lacking = list.iter().find_map(|p| lacks_container(p, &rb.container));
    let other_labels = if list.is_empty() { labels_elsewhere(&api, &rb.selector, deadline).await } else { vec![] };
    Ok(PodsSeen { matched: list.len(), other_labels, lacking })
}

/// How the namespace's pods are labelled on the keys `selector` names,
/// most pods first (at most 10): the same list as the pods, without the
/// selector. Nothing when none could be listed.
pub async fn labels_elsewhere(api: &Api<Pod>, selector: &str, deadline: TokioInstant) -> Vec<String> {
    let keys = selector_keys(selector);
    let lp = ListParams::default().limit(500);
    let Ok(Ok(list)) = tokio::time::timeout_at(deadline, api.list_metadata(&lp)).await else { return vec![] };
    let mut counts: Vec<(String, usize)> = vec![];
    for pod in &list.items {
        let Some(labels) = &pod.metadata.labels else { continue };
        for key in &keys {
            let Some(value) = labels.get(key) else { continue };
            let label = sanitize::clean(&format!("{key}={value}"), 200);
            match counts.iter_mut().find(|(l, _)| *l == label) {
                Some((_, n)) => *n += 1,
                None => counts.push((label, 1)),
            }
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.into_iter().take(10).map(|(l, _)| l).collect()
}

/// The label keys a selector names: `app` of `app=x`, `tier in (a,b)`, `!canary`.
fn selector_keys(selector: &str) -> Vec<String> {
    let mut terms = vec![];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    let mut keys: Vec<String> = vec![];
    for t in terms {
        let t = t.trim().trim_start_matches('!').trim_start();
        let key = t.split(|c: char| c == '=' || c == '!' || c.is_whitespace()).next().unwrap_or("");
        if !key.is_empty() && !keys.iter().any(|k| k == key) {
            keys.push(key.to_string());
        }
    }
    keys
}

/// `Some` when `pod` has no container named `container` (none of its
/// containers, init or ephemeral ones, each of which has logs): the API
/// server would answer 400, as for a container that has not started, but
/// no wait makes this one readable. The problem names the containers the
/// pod has, which are what the runbook's `container` may name.
pub fn lacks_container(pod: &Pod, container: &str) -> Option<Problem> {
    let spec = pod.spec.as_ref()?;
    let named = |c: &str| c == container;
    if spec.containers.iter().any(|c| named(&c.name))
        || spec.init_containers.iter().flatten().any(|c| named(&c.name))
        || spec.ephemeral_containers.iter().flatten().any(|c| named(&c.name))
    {
        return None;
    }
    let has: Vec<String> = spec.containers.iter().map(|c| c.name.clone()).collect();
    Some(
        Problem::new(
            ProblemKind::RunbookMismatch,
            format!("the pods have no container `{container}` (they have: {})", has.join(", ")),
        )
        .detail(crate::report::ProblemDetail::NoSuchContainer { containers: has.clone() })
        .instead(has),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selectors_keys_are_read_from_every_form_of_term() {
        assert_eq!(selector_keys("app=api-key-service"), ["app"]);
        assert_eq!(
            selector_keys("app==a, tier in (x,y),!canary,env!=dev, track"),
            ["app", "tier", "canary", "env", "track"]
        );
        assert_eq!(selector_keys("app=a,app!=b"), ["app"]);
    }
}
