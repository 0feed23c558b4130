//! The one builder of the kubectl commands the tool suggests, for the advice
//! and for `doctor`: `kubectl [--kubeconfig F] [--context C] [-n NS] …`, as
//! words, each command marked where it is built as one that only reads or
//! one that changes the cluster. Re-runs of this tool are built here too.

use crate::plan::{Fix, Plan};
use crate::report::StepCommand;

/// The words every kubectl command about one cluster (and namespace) starts
/// with: the user's kubeconfig and the context the tool read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubectl(Vec<String>);

impl Kubectl {
    /// `kubectl [--kubeconfig F] [--context C]`: `kubeconfig` as the command
    /// gives it; no `context` in a pod (kubectl uses the service account).
    pub fn new(kubeconfig: Option<String>, context: Option<&str>) -> Kubectl {
        let mut words = vec!["kubectl".to_string()];
        if let Some(k) = kubeconfig {
            words.extend(["--kubeconfig".to_string(), k]);
        }
        if let Some(c) = context {
            words.extend(["--context".to_string(), c.to_string()]);
        }
        Kubectl(words)
    }

    /// `kubectl [--kubeconfig F] [--context C]` for a context of the run: the
    /// kubeconfig absolute, so the command works pasted in another
    /// directory; for what is not in a namespace.
    pub fn cluster(plan: &Plan, context: &str) -> Kubectl {
        let kubeconfig = plan.kubeconfig.as_deref().map(crate::plan::absolute);
        Kubectl::new(kubeconfig, (context != crate::kube::client::IN_CLUSTER).then_some(context))
    }

    /// `kubectl [--kubeconfig F] [--context C] -n NS` for a region of the
    /// run: what its commands start with, so they reach what the tool read.
    pub fn region(plan: &Plan, context: &str) -> Kubectl {
        Kubectl::cluster(plan, context).namespace(&plan.runbook.namespace)
    }

    /// These words and `-n ns`.
    pub fn namespace(mut self, ns: &str) -> Kubectl {
        self.0.extend(["-n".to_string(), ns.to_string()]);
        self
    }

    /// `kubectl … rest`, a command that only reads.
    pub fn read(&self, rest: &[&str]) -> StepCommand {
        StepCommand::reads(self.words(rest))
    }

    /// `kubectl … rest`, a command that changes the cluster (a rollback, a
    /// scale): suggested, for the user to decide.
    pub fn change(&self, rest: &[&str]) -> StepCommand {
        StepCommand::changes(self.words(rest))
    }

    fn words(&self, rest: &[&str]) -> Vec<String> {
        self.0.iter().cloned().chain(rest.iter().map(|w| w.to_string())).collect()
    }
}

/// `kubectl [--kubeconfig F] config get-contexts`: the contexts of the
/// kubeconfig the run read (`kubeconfig` as the command gives it).
pub fn get_contexts(kubeconfig: Option<String>) -> StepCommand {
    Kubectl::new(kubeconfig, None).read(&["config", "get-contexts"])
}

/// [`get_contexts`] for the run's kubeconfig, made absolute.
pub fn plan_contexts(plan: &Plan) -> StepCommand {
    get_contexts(plan.kubeconfig.as_deref().map(crate::plan::absolute))
}

/// `keysvc-check VERB …` as the user ran it, for `region` (else the run's
/// own), with the flag at fault changed: reads, as every run of the tool.
/// `None` when the fix needs a value only the user knows (see [`Fix`]).
pub fn rerun(plan: &Plan, verb: &str, region: Option<&str>, fix: Option<&Fix>) -> Option<StepCommand> {
    plan.rerun.fixed_words(verb, region, fix).map(StepCommand::reads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_words_carry_the_kubeconfig_the_context_and_the_namespace() {
        let k = Kubectl::new(Some("/tmp/my kc".into()), Some("ctx")).namespace("api");
        let c = k.read(&["get", "pods"]);
        assert_eq!(c.argv, ["kubectl", "--kubeconfig", "/tmp/my kc", "--context", "ctx", "-n", "api", "get", "pods"]);
        assert!(!c.changes_cluster);
        assert_eq!(c.quoted(), "kubectl --kubeconfig '/tmp/my kc' --context ctx -n api get pods");
        let undo = k.change(&["rollout", "undo", "deployment/d"]);
        assert!(undo.changes_cluster);
        assert_eq!(Kubectl::new(None, None).read(&["version"]).argv, ["kubectl", "version"]);
    }
}
