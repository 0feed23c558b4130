//! Judging: turns the fetched facts into rows with a fix each, without a
//! cluster or a clock of its own, so every rule is unit-tested.

use super::*;
use crate::advice::command::Kubectl;
use crate::advice::remedy::{Remedy, kubeconfig_remedy, plugin_fix};
use crate::report::PluginFault;

/// The rows for `facts`, with a fix for each check that did not pass.
/// `generated_at` is the run's start (the caller's clock).
pub fn judge(facts: &Facts, generated_at: String) -> DoctorReport {
    let mut checks = vec![runbook_row(&facts.runbook)];
    for r in &facts.regions {
        region_rows(facts, r, &mut checks);
        pods_rows(facts, r, &mut checks);
    }
    for u in &facts.urls {
        checks.push(url_row(facts, u));
    }
    super::telemetry::rows(facts, &mut checks);
    let failed = checks.iter().filter(|c| c.required && c.result != Outcome::Ok).count();
    let optional = checks.iter().filter(|c| !c.required && c.result == Outcome::Missing).count();
    // Not answered (throttled, timed out): neither missing nor granted.
    let unasked = checks.iter().filter(|c| !c.required && !matches!(c.result, Outcome::Ok | Outcome::Missing)).count();
    let ok = failed == 0;
    let mut summary = if ok {
        "every required check passed".to_string()
    } else {
        format!("{failed} required {} did not pass", if failed == 1 { "check" } else { "checks" })
    };
    if optional > 0 {
        summary.push_str(&format!(
            "; {optional} optional {} missing (diagnose reads less evidence)",
            if optional == 1 { "permission" } else { "permissions" }
        ));
    }
    if unasked > 0 {
        summary.push_str(&format!(
            "; {unasked} optional {} not checked",
            if unasked == 1 { "permission" } else { "permissions" }
        ));
    }
    DoctorReport {
        schema: SCHEMA,
        tool_version: env!("CARGO_PKG_VERSION"),
        generated_at,
        environment: facts.environment.clone(),
        namespace: facts.namespace.clone(),
        runbook: facts.runbook.clone(),
        ok,
        summary,
        checks,
        duration_ms: facts.duration_ms,
    }
}

fn row(check: CheckKind, region: Option<&str>, result: Outcome, detail: String, fix: Option<String>) -> CheckRow {
    CheckRow { check, permission: None, region: region.map(str::to_string), required: true, result, detail, fix }
}

fn runbook_row(rb: &RunbookInfo) -> CheckRow {
    let detail = match rb.via {
        None => format!("embedded {}", rb.name.trim_start_matches("<embedded ").trim_end_matches('>')),
        Some(via) => format!("{} (from {via})", rb.name),
    };
    row(CheckKind::Runbook, None, Outcome::Ok, detail, None)
}

/// `did not finish within 30s (--timeout)`.
fn cut_short(facts: &Facts) -> String {
    format!("did not finish within {} (--timeout)", humantime::format_duration(facts.timeout))
}

/// `kubectl [--kubeconfig F] [--context C] ARGS…`, quoted: what the user
/// runs to see what doctor saw, with the kubeconfig it read. In a pod there
/// is no context: kubectl there uses the service account, as doctor did.
fn kubectl(facts: &Facts, r: &RegionFacts, args: &[&str]) -> String {
    let kubeconfig = facts.kubeconfig.as_ref().map(|k| k.display().to_string());
    let context = r.in_cluster.is_none().then_some(r.context.as_str());
    shell_join(&Kubectl::new(kubeconfig, context).read(args).argv)
}

/// `kubectl [--kubeconfig F] config get-contexts`, for the kubeconfig doctor read.
fn contexts(facts: &Facts) -> String {
    crate::advice::command::get_contexts(facts.kubeconfig.as_ref().map(|k| k.display().to_string())).quoted()
}

/// `kubectl … auth can-i VERB RESOURCE [--subresource=S] -n NS`: whether
/// the user may make one of the reads.
fn can_i(facts: &Facts, r: &RegionFacts, p: &Permission) -> String {
    let question = p.can_i();
    let mut args = vec!["auth", "can-i"];
    args.extend(question.split(' '));
    args.extend(["-n", &facts.namespace]);
    kubectl(facts, r, &args)
}

/// The context, cluster and permission rows of one region. Each step needs
/// the one before it: after a failure the rest are not asked, and the
/// failing row says so.
fn region_rows(facts: &Facts, r: &RegionFacts, out: &mut Vec<CheckRow>) {
    let (context, loaded) = context_row(facts, r);
    out.push(context);
    if !loaded {
        return;
    }
    let (cluster, answered) = cluster_row(facts, r);
    out.push(cluster);
    if answered {
        permission_rows(facts, r, out);
    }
}

/// The context row, and whether the context loaded (when not, the row says
/// why the rest is not checked).
fn context_row(facts: &Facts, r: &RegionFacts) -> (CheckRow, bool) {
    let name = Some(r.name.as_str());
    let ctx = &r.context;
    if let Some(key) = &r.placeholder_key {
        let fix = if key.starts_with("--context") {
            format!("pass your real context with --context {}=CONTEXT", r.name)
        } else {
            format!("set {key} in your runbook, or pass --context {}=CONTEXT", r.name)
        };
        let detail = format!("`{ctx}` is a placeholder; cluster and permissions not checked");
        return (row(CheckKind::Context, name, Outcome::Placeholder, detail, Some(fix)), false);
    }
    let not_checked = "; cluster and permissions not checked";
    if let Some(same) = &r.same_cluster {
        let reaches = if *ctx == same.context {
            format!("`{ctx}` is {}'s context (API server {}", same.region, same.server)
        } else {
            format!("`{ctx}` reaches the same API server as {}'s context ({}", same.region, same.server)
        };
        let detail = format!("{reaches}, namespace {}): one cluster, not two regions{not_checked}", facts.namespace);
        let fix = format!(
            "give {} a context of its own cluster (in the runbook, or --context {}=CONTEXT); `{}` lists the cluster each context names",
            r.name,
            r.name,
            contexts(facts)
        );
        return (row(CheckKind::Context, name, Outcome::Fail, detail, Some(fix)), false);
    }
    match &r.client {
        None => {
            let detail = format!("loading context `{ctx}` {}{not_checked}", cut_short(facts));
            let fix = format!("check the credential plugin of context {ctx} ({})", kubectl(facts, r, &["version"]));
            (row(CheckKind::Context, name, Outcome::Fail, detail, Some(fix)), false)
        }
        Some(Err(p)) => {
            let (result, fix) = client_fix(facts, r, p);
            // The client's message lists every context there is, which can be
            // dozens: too much for a table cell; kubectl lists them on request.
            let detail = match p.kind {
                ProblemKind::ContextMissing if ctx.is_empty() => {
                    format!("the runbook gives {} no context, and the kubeconfig has no current-context", r.name)
                }
                ProblemKind::ContextMissing => {
                    format!("`{ctx}` is not in the kubeconfig (`{}` lists those there)", contexts(facts))
                }
                _ => p.message.clone(),
            };
            (row(CheckKind::Context, name, result, format!("{detail}{not_checked}"), Some(fix)), false)
        }
        Some(Ok(())) => {
            let detail = match &r.in_cluster {
                Some(server) => format!("no kubeconfig: this pod's service account, API server {server}"),
                None if matches!(r.context_from, ContextFrom::Current { .. }) => {
                    format!("current context `{ctx}` found (the runbook gives {} none)", r.name)
                }
                None => format!("`{ctx}` found"),
            };
            (row(CheckKind::Context, name, Outcome::Ok, detail, None), true)
        }
    }
}

/// What to do about a context that could not be loaded, from the one table
/// of remedies.
fn client_fix(facts: &Facts, r: &RegionFacts, p: &Problem) -> (Outcome, String) {
    let ctx = &r.context;
    let version = kubectl(facts, r, &["version"]);
    match p.kind {
        ProblemKind::ContextMissing => {
            let guess = crate::plan::context_guess(ctx, &p.instead, &r.taken_contexts);
            (Outcome::Missing, r.context_from.fix(&facts.runbook.name, &r.name, ctx, guess, &contexts(facts)))
        }
        ProblemKind::Kubeconfig => match kubeconfig_remedy(p) {
            Remedy::Plugin(fault @ PluginFault::Failed(_)) => {
                (Outcome::Fail, format!("{} ({version})", plugin_fix(fault, &format!("context {ctx}"))))
            }
            Remedy::Plugin(fault) => (Outcome::Fail, plugin_fix(fault, &format!("context {ctx}"))),
            Remedy::RenewCredentials => {
                (Outcome::Fail, format!("renew the credentials of context {ctx} ({version} shows the error)"))
            }
            Remedy::FixContextEntry => (Outcome::Fail, format!("fix the entry of context {ctx} in your kubeconfig")),
            Remedy::ReplaceKubeconfig(_) | Remedy::PointAtKubeconfig | Remedy::Unknown => {
                (Outcome::Fail, "pass --kubeconfig FILE or set KUBECONFIG".to_string())
            }
        },
        _ => (Outcome::Fail, format!("{version} shows the error")),
    }
}

/// The cluster row, and whether the API server answered.
fn cluster_row(facts: &Facts, r: &RegionFacts) -> (CheckRow, bool) {
    let name = Some(r.name.as_str());
    let ctx = &r.context;
    let not_checked = "; permissions not checked";
    match &r.version {
        None => {
            let detail = format!("the API server {}{not_checked}", cut_short(facts));
            let fix = format!("check that you can reach the API server of {ctx} (VPN, proxy) or raise --timeout");
            (row(CheckKind::Cluster, name, Outcome::Fail, detail, Some(fix)), false)
        }
        Some(Err(p)) => {
            let fix = match p.kind {
                ProblemKind::Unauthorized => {
                    format!("renew your credentials for context {ctx}: the cluster does not accept them")
                }
                ProblemKind::Refused
                | ProblemKind::Reset
                | ProblemKind::Dns
                | ProblemKind::Timeout
                | ProblemKind::Tls => {
                    format!("check that you can reach the API server of context {ctx} (VPN, proxy, its address)")
                }
                ProblemKind::Throttled => {
                    "the API server is shedding load: run doctor again later or with a longer --timeout".into()
                }
                _ => format!("{} shows the error", kubectl(facts, r, &["version"])),
            };
            (row(CheckKind::Cluster, name, Outcome::Fail, format!("{}{not_checked}", p.message), Some(fix)), false)
        }
        Some(Ok(v)) => {
            let mut detail = format!("answers, version {v}");
            if !r.retried.is_empty() {
                let mut statuses = r.retried.clone();
                statuses.sort_unstable();
                statuses.dedup();
                detail.push_str(&format!("; {}", pushback::summary(r.retried.len() as u32, &statuses)));
            }
            (row(CheckKind::Cluster, name, Outcome::Ok, detail, None), true)
        }
    }
}

/// One row per permission the runbook's steps use.
fn permission_rows(facts: &Facts, r: &RegionFacts, out: &mut Vec<CheckRow>) {
    // Every permission refused, required and optional alike: with roles
    // per namespace, a namespace that does not exist is refused the same
    // way, so the runbook's `namespace` may be what is wrong.
    let refused_everything = r.access.iter().all(|a| matches!(a, Some(Ok(a)) if !a.allowed));
    let namespace_hint = refused_everything.then(|| {
        format!(
            " — or namespace {ns} does not exist (refused alike): check {} (kubectl --context {ctx} auth can-i --list -n {ns} lists what you may do there)",
            facts.lines.at("namespace", &facts.runbook.name),
            ns = facts.namespace,
            ctx = r.context
        )
    });
    for (p, answer) in PERMISSIONS.iter().zip(&r.access) {
        let (result, detail, fix) = permission_answer(facts, r, p, answer, namespace_hint.as_deref());
        out.push(CheckRow {
            check: CheckKind::Permission,
            permission: Some(*p),
            region: r.name.clone().into(),
            required: p.required,
            result,
            detail,
            fix,
        });
    }
}

/// The result, detail and fix of one permission's row.
fn permission_answer(
    facts: &Facts,
    r: &RegionFacts,
    p: &Permission,
    answer: &Answer<Access>,
    namespace_hint: Option<&str>,
) -> (Outcome, String, Option<String>) {
    let (ns, ctx) = (&facts.namespace, &r.context);
    let shedding = "the API server is shedding load: run doctor again later or with a longer --timeout";
    match answer {
        None => (Outcome::Fail, format!("the access review {}", cut_short(facts)), Some(can_i(facts, r, p))),
        Some(Err(e)) if e.kind == ProblemKind::Forbidden => (
            Outcome::Fail,
            format!("cannot ask: {}", e.message),
            Some(format!("ask for create on selfsubjectaccessreviews.authorization.k8s.io for context {ctx}")),
        ),
        Some(Err(e)) if e.kind == ProblemKind::Throttled => {
            (Outcome::Fail, format!("cannot ask: {}", e.message), Some(shedding.into()))
        }
        Some(Err(e)) => (Outcome::Fail, format!("cannot ask: {}", e.message), Some(can_i(facts, r, p))),
        Some(Ok(a)) if a.allowed => (Outcome::Ok, format!("allowed in namespace {ns}"), None),
        Some(Ok(a)) => {
            let mut detail = format!("not allowed in namespace {ns}");
            if let Some(reason) = &a.reason {
                detail.push_str(&format!(" ({reason})"));
            }
            if !p.required {
                detail.push_str(" (optional)");
            }
            let mut fix = format!("ask for {} on {} in namespace {ns} for context {ctx}", p.verb, p.resource_name());
            if (p.verb, p.resource) == ("list", "pods") {
                fix.push_str(namespace_hint.unwrap_or_default());
            }
            (Outcome::Missing, detail, Some(fix))
        }
    }
}

/// The selector and container rows: whether the runbook's selector matches
/// pods in the region, and whether they have its container. Asked only
/// when `list pods` is allowed.
fn pods_rows(facts: &Facts, r: &RegionFacts, out: &mut Vec<CheckRow>) {
    let Some(answer) = &r.pods else { return };
    let name = Some(r.name.as_str());
    let (ns, sel, file) = (&facts.namespace, &facts.selector, &facts.runbook.name);
    let seen = match answer {
        Err(p) => {
            let fix = format!("kubectl --context {} -n {ns} get pods -l {sel} shows the error", r.context);
            out.push(row(CheckKind::Selector, name, Outcome::Fail, format!("listing pods: {}", p.message), Some(fix)));
            return;
        }
        Ok(seen) => seen,
    };
    if seen.matched == 0 {
        let mut detail = format!("no pod matches {sel} in namespace {ns}");
        let mut fix = format!("fix {}", facts.lines.at("selector", file));
        if seen.other_labels.is_empty() {
            detail.push_str(", and no pod there has a label the selector names");
            fix.push_str(", or deploy the service in this region");
        } else {
            detail.push_str(&format!("; the namespace's pods have {}", seen.other_labels.join(", ")));
            if let Some(better) = runbook::selector_did_you_mean(sel, &seen.other_labels) {
                fix.push_str(&format!(": did you mean {better}?"));
            }
        }
        detail.push_str("; container not checked");
        out.push(row(CheckKind::Selector, name, Outcome::Fail, detail, Some(fix)));
        return;
    }
    let matched = if seen.matched == 1 { "1 pod matches".to_string() } else { format!("{} pods match", seen.matched) };
    out.push(row(CheckKind::Selector, name, Outcome::Ok, format!("{matched} {sel} in namespace {ns}"), None));
    let container = &facts.container;
    match &seen.lacking {
        None => out.push(row(CheckKind::Container, name, Outcome::Ok, format!("the pods have `{container}`"), None)),
        Some(p) => {
            let mut fix = format!("fix {}", facts.lines.at("container", file));
            match runbook::did_you_mean(container, &p.instead) {
                Some(better) => fix.push_str(&format!(": did you mean {better}?")),
                None => fix.push_str(&format!(" to one of {}", p.instead.join(", "))),
            }
            out.push(row(CheckKind::Container, name, Outcome::Fail, p.message.clone(), Some(fix)));
        }
    }
}

fn url_row(facts: &Facts, u: &UrlFacts) -> CheckRow {
    let t = &u.target;
    let shown = crate::mask::url(&t.url);
    let set = if t.key == "--healthz-url" {
        "pass a real URL to --healthz-url".to_string()
    } else {
        format!("set {} in your runbook", t.key)
    };
    let (result, detail, fix) = if runbook::placeholder_url(&t.url) {
        (Outcome::Placeholder, format!("{shown} is a placeholder"), Some(set))
    } else {
        match &u.resolved {
            None => (
                Outcome::Fail,
                format!("{shown}: resolving its host {}", cut_short(facts)),
                Some(format!("check the DNS resolver here, or the host name in {}", t.key)),
            ),
            Some(Err(p)) if p.kind == ProblemKind::Dns => (
                Outcome::Fail,
                format!("{shown}: {}", p.message),
                Some(format!("check the host name in {} (it must resolve where keysvc-check runs)", t.key)),
            ),
            Some(Err(p)) => (Outcome::Fail, format!("{shown}: {}", p.message), Some(set)),
            Some(Ok(ips)) if ips.is_empty() => (Outcome::Ok, format!("{shown} (an IP address)"), None),
            Some(Ok(ips)) => {
                let more = if ips.len() > 1 { format!(" (+{} more)", ips.len() - 1) } else { String::new() };
                (Outcome::Ok, format!("{shown} resolves to {}{more}", ips[0]), None)
            }
        }
    };
    row(CheckKind::HealthzUrl, t.region.as_deref(), result, detail, fix)
}

#[cfg(test)]
pub(super) fn tests_facts() -> Facts {
    tests::tests_facts_here()
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_runbook_found_in_the_config_file_says_so() {
        let info = RunbookInfo::new(None, "/home/me/.config/keysvc-check/runbook.yaml".into(), None, false);
        assert_eq!((info.source, info.via), ("file", Some("config file")));
        let embedded = RunbookInfo::new(None, crate::runbook::EMBEDDED_NAME.into(), None, false);
        assert_eq!((embedded.source, embedded.via), ("embedded", None));
    }

    use super::*;

    fn allowed() -> Answer<Access> {
        Some(Ok(Access { allowed: true, reason: None }))
    }

    fn denied() -> Answer<Access> {
        Some(Ok(Access { allowed: false, reason: None }))
    }

    fn region(name: &str) -> RegionFacts {
        RegionFacts {
            name: name.into(),
            context: format!("ctx-{name}"),
            placeholder_key: None,
            context_from: ContextFrom::Unknown,
            in_cluster: None,
            same_cluster: None,
            taken_contexts: vec![],
            client: Some(Ok(())),
            version: Some(Ok("v1.20.15".into())),
            access: vec![allowed(); PERMISSIONS.len()],
            retried: vec![],
            pods: None,
        }
    }

    fn url(region: Option<&str>, key: &str, u: &str, resolved: Answer<Vec<IpAddr>>) -> UrlFacts {
        UrlFacts { target: UrlTarget { region: region.map(str::to_string), key: key.into(), url: u.into() }, resolved }
    }

    fn facts(regions: Vec<RegionFacts>, urls: Vec<UrlFacts>) -> Facts {
        Facts {
            environment: "prod".into(),
            namespace: "api".into(),
            runbook: RunbookInfo { source: "file", name: "rb.yaml".into(), via: Some("--runbook") },
            kubeconfig: None,
            timeout: Duration::from_secs(30),
            regions,
            urls,
            duration_ms: 5,
            selector: "app=api-key-service".into(),
            container: "api-key-service".into(),
            lines: runbook::KeyLines { namespace: 2, selector: 3, container: 4 },
            telemetry: None,
        }
    }

    /// Facts with no region and no URL, for the telemetry rows' tests.
    pub(in crate::doctor) fn tests_facts_here() -> Facts {
        facts(vec![], vec![])
    }

    fn good_url() -> UrlFacts {
        url(None, "environments.prod.healthz_url", "https://h.internal/healthz", Some(Ok(vec![[10, 0, 0, 1].into()])))
    }

    fn find<'a>(r: &'a DoctorReport, label: &str, region: Option<&str>) -> &'a CheckRow {
        r.checks
            .iter()
            .find(|c| c.label() == label && c.region.as_deref() == region)
            .unwrap_or_else(|| panic!("no {label} row for {region:?}: {:#?}", r.checks))
    }

    #[test]
    fn everything_answered_is_ok_with_one_row_per_check_and_region() {
        let r = judge(&facts(vec![region("us-east"), region("eu-de")], vec![good_url()]), "t".into());
        assert!(r.ok, "{r:#?}");
        assert_eq!(r.schema, "keysvc-check/doctor/v1");
        // runbook + 2 × (context, cluster, 8 permissions) + 1 URL.
        assert_eq!(r.checks.len(), 1 + 2 * 10 + 1);
        assert!(r.checks.iter().all(|c| c.result == Outcome::Ok && c.fix.is_none()));
        assert_eq!(find(&r, "cluster", Some("us-east")).detail, "answers, version v1.20.15");
        assert_eq!(find(&r, "runbook", None).detail, "rb.yaml (from --runbook)");
        assert_eq!(find(&r, "healthz url", None).detail, "https://h.internal/healthz resolves to 10.0.0.1");
        assert_eq!(r.summary, "every required check passed");
    }

    #[test]
    fn a_cluster_that_pushed_back_says_so_and_one_that_throttled_to_the_end_fails() {
        let mut east = region("us-east");
        east.retried = vec![503, 429, 429];
        let mut de = region("eu-de");
        de.version = Some(Err(Problem::new(ProblemKind::Throttled, "throttled: the API server answered 429 …")));
        let r = judge(&facts(vec![east, de], vec![good_url()]), "t".into());
        let row = find(&r, "cluster", Some("us-east"));
        assert_eq!(
            (row.result, row.detail.as_str()),
            (Outcome::Ok, "answers, version v1.20.15; API server pushed back: 3 retries (429, 503)")
        );
        let row = find(&r, "cluster", Some("eu-de"));
        assert_eq!(row.result, Outcome::Fail);
        assert!(row.fix.as_deref().unwrap().contains("shedding load"), "{row:?}");
    }

    #[test]
    fn optional_permissions_missing_still_pass() {
        let mut east = region("us-east");
        for (i, p) in PERMISSIONS.iter().enumerate() {
            if !p.required {
                east.access[i] = denied();
            }
        }
        let r = judge(&facts(vec![east], vec![good_url()]), "t".into());
        assert!(r.ok, "{r:#?}");
        let rs = find(&r, "list replicasets.apps", Some("us-east"));
        assert_eq!(rs.result, Outcome::Missing);
        assert!(!rs.required);
        assert_eq!(
            rs.fix.as_deref(),
            Some("ask for list on replicasets.apps in namespace api for context ctx-us-east")
        );
        assert!(r.summary.contains("5 optional permissions missing"), "{}", r.summary);
    }

    #[test]
    fn optional_permissions_not_asked_are_not_called_missing() {
        let mut east = region("us-east");
        let throttled = Problem::new(ProblemKind::Throttled, "throttled: the API server answered 429 …");
        for (i, p) in PERMISSIONS.iter().enumerate() {
            if !p.required {
                east.access[i] = Some(Err(throttled.clone()));
            }
        }
        let r = judge(&facts(vec![east], vec![good_url()]), "t".into());
        assert!(r.ok, "{r:#?}");
        assert!(!r.summary.contains("missing"), "{}", r.summary);
        assert!(r.summary.contains("5 optional permissions not checked"), "{}", r.summary);
        let rs = find(&r, "list replicasets.apps", Some("us-east"));
        assert_eq!(rs.result, Outcome::Fail);
        assert!(rs.fix.as_deref().unwrap().contains("shedding load"), "{rs:?}");
    }

    #[test]
    fn a_required_permission_missing_fails_with_the_fix() {
        let mut east = region("us-east");
        east.access[2] = Some(Ok(Access { allowed: false, reason: Some("no RBAC policy matched".into()) }));
        let r = judge(&facts(vec![east], vec![good_url()]), "t".into());
        assert!(!r.ok);
        let logs = find(&r, "get pods/log", Some("us-east"));
        assert_eq!(logs.result, Outcome::Missing);
        assert!(logs.detail.contains("no RBAC policy matched"), "{}", logs.detail);
        assert_eq!(logs.fix.as_deref(), Some("ask for get on pods/log in namespace api for context ctx-us-east"));
        assert_eq!(r.summary, "1 required check did not pass");
    }

    #[test]
    fn a_missing_context_names_it_and_skips_what_depends_on_it() {
        let mut east = region("us-east");
        east.client = Some(Err(Problem::new(
            ProblemKind::ContextMissing,
            "context `ctx-us-east` is not in the kubeconfig (it has: a, b)",
        )));
        east.version = None;
        east.access = vec![None; PERMISSIONS.len()];
        let r = judge(&facts(vec![east, region("eu-de")], vec![good_url()]), "t".into());
        assert!(!r.ok);
        let ctx = find(&r, "context", Some("us-east"));
        assert_eq!(ctx.result, Outcome::Missing);
        assert!(ctx.detail.contains("ctx-us-east") && ctx.detail.contains("not checked"), "{}", ctx.detail);
        assert_eq!(
            ctx.fix.as_deref(),
            Some("add context ctx-us-east to your kubeconfig or pass --context us-east=CONTEXT")
        );
        assert_eq!(r.checks.iter().filter(|c| c.region.as_deref() == Some("us-east")).count(), 1);
        assert_eq!(r.checks.iter().filter(|c| c.region.as_deref() == Some("eu-de")).count(), 10);
    }

    #[test]
    fn an_unreachable_or_slow_cluster_fails_and_says_so() {
        let mut east = region("us-east");
        east.version = Some(Err(Problem::new(ProblemKind::Refused, "connection refused")));
        east.access = vec![None; PERMISSIONS.len()];
        let mut south = region("us-south");
        south.version = None;
        south.access = vec![None; PERMISSIONS.len()];
        let mut de = region("eu-de");
        de.access[0] = None;
        let r = judge(&facts(vec![east, south, de], vec![good_url()]), "t".into());
        let east = find(&r, "cluster", Some("us-east"));
        assert_eq!(east.result, Outcome::Fail);
        assert!(east.fix.as_deref().unwrap().contains("reach the API server of context ctx-us-east"));
        let south = find(&r, "cluster", Some("us-south"));
        assert!(south.detail.contains("did not finish within 30s (--timeout)"), "{}", south.detail);
        let list = find(&r, "list pods", Some("eu-de"));
        assert_eq!(list.result, Outcome::Fail);
        assert!(list.detail.contains("--timeout"), "{}", list.detail);
    }

    #[test]
    fn a_review_the_user_may_not_ask_says_which_permission_that_takes() {
        let mut east = region("us-east");
        east.access[0] = Some(Err(Problem::new(ProblemKind::Forbidden, "403 Forbidden")));
        let r = judge(&facts(vec![east], vec![good_url()]), "t".into());
        let row = find(&r, "list pods", Some("us-east"));
        assert_eq!(row.result, Outcome::Fail);
        assert!(row.fix.as_deref().unwrap().contains("create on selfsubjectaccessreviews"), "{row:?}");
    }

    #[test]
    fn placeholders_are_reported_with_the_key_to_set() {
        let mut east = region("us-east");
        east.placeholder_key = Some("environments.prod.regions.us-east.context".into());
        east.context = "keysvc-prod-us-east.example".into();
        east.client = None;
        let hz = url(None, "environments.prod.healthz_url", "https://key-service.example.com/healthz", None);
        let regional = url(
            Some("us-east"),
            "environments.prod.regions.us-east.healthz_url",
            "https://us-east.key-service.example.com/healthz",
            None,
        );
        let r = judge(&facts(vec![east], vec![hz, regional]), "t".into());
        assert!(!r.ok);
        let ctx = find(&r, "context", Some("us-east"));
        assert_eq!(ctx.result, Outcome::Placeholder);
        assert_eq!(
            ctx.fix.as_deref(),
            Some("set environments.prod.regions.us-east.context in your runbook, or pass --context us-east=CONTEXT")
        );
        let hz = find(&r, "healthz url", None);
        assert_eq!(hz.result, Outcome::Placeholder);
        assert_eq!(hz.fix.as_deref(), Some("set environments.prod.healthz_url in your runbook"));
        let regional = find(&r, "healthz url", Some("us-east"));
        assert_eq!(regional.fix.as_deref(), Some("set environments.prod.regions.us-east.healthz_url in your runbook"));
    }

    #[test]
    fn a_url_that_does_not_resolve_fails_and_an_ip_address_needs_no_lookup() {
        let bad = url(
            None,
            "--healthz-url",
            "https://user:pw@nowhere.internal/healthz",
            Some(Err(Problem::new(ProblemKind::Dns, "nowhere.internal does not resolve"))),
        );
        let ip =
            url(Some("eu-de"), "environments.prod.regions.eu-de.healthz_url", "http://127.0.0.1:8/h", Some(Ok(vec![])));
        let r = judge(&facts(vec![], vec![bad, ip]), "t".into());
        let bad = find(&r, "healthz url", None);
        assert_eq!(bad.result, Outcome::Fail);
        assert!(!bad.detail.contains("pw"), "credentials are not shown: {}", bad.detail);
        assert!(bad.fix.as_deref().unwrap().contains("check the host name in --healthz-url"));
        assert_eq!(find(&r, "healthz url", Some("eu-de")).result, Outcome::Ok);
    }

    #[test]
    fn the_runbook_says_where_it_came_from() {
        let p = Path::new("/etc/rb.yaml");
        let env = std::ffi::OsStr::new("/etc/rb.yaml");
        assert_eq!(RunbookInfo::new(None, "<embedded x>".into(), Some(env), false).source, "embedded");
        assert_eq!(RunbookInfo::new(Some(p), "/etc/rb.yaml".into(), Some(env), false).via, Some("KEYSVC_RUNBOOK"));
        assert_eq!(RunbookInfo::new(Some(p), "/etc/rb.yaml".into(), Some(env), true).via, Some("--runbook"));
        assert_eq!(RunbookInfo::new(Some(p), "/etc/rb.yaml".into(), None, false).via, Some("--runbook"));
        let mut f = facts(vec![], vec![]);
        f.runbook = RunbookInfo::new(None, crate::runbook::EMBEDDED_NAME.into(), None, false);
        let r = judge(&f, "t".into());
        assert_eq!(find(&r, "runbook", None).detail, "embedded runbooks/key-service.yaml");
    }

    #[test]
    fn the_kubectl_question_puts_a_subresource_in_its_flag() {
        assert_eq!(PERMISSIONS[2].can_i(), "get pods --subresource=log");
        assert_eq!(PERMISSIONS[2].resource_name(), "pods/log");
        assert_eq!(PERMISSIONS[5].can_i(), "list replicasets.apps");
        let mut east = region("us-east");
        east.access[2] = None;
        let r = judge(&facts(vec![east], vec![]), "t".into());
        let fix = find(&r, "get pods/log", Some("us-east")).fix.clone().unwrap();
        assert_eq!(fix, "kubectl --context ctx-us-east auth can-i get pods --subresource=log -n api");
    }

    #[test]
    fn every_kubectl_command_carries_the_kubeconfig_and_no_context_in_a_pod() {
        let mut east = region("us-east");
        east.access[2] = None;
        let mut south = region("us-south");
        south.client = Some(Err(Problem::new(ProblemKind::Other, "something")));
        let mut f = facts(vec![east.clone(), south], vec![]);
        f.kubeconfig = Some("/tmp/my kc".into());
        let r = judge(&f, "t".into());
        let fix = find(&r, "get pods/log", Some("us-east")).fix.clone().unwrap();
        assert_eq!(
            fix,
            "kubectl --kubeconfig '/tmp/my kc' --context ctx-us-east auth can-i get pods --subresource=log -n api"
        );
        let fix = find(&r, "context", Some("us-south")).fix.clone().unwrap();
        assert_eq!(fix, "kubectl --kubeconfig '/tmp/my kc' --context ctx-us-south version shows the error");
        east.in_cluster = Some("https://10.0.0.1:443".into());
        let r = judge(&facts(vec![east], vec![]), "t".into());
        let fix = find(&r, "get pods/log", Some("us-east")).fix.clone().unwrap();
        assert_eq!(fix, "kubectl auth can-i get pods --subresource=log -n api");
    }

    #[test]
    fn the_json_shape_is_stable() {
        let mut east = region("us-east");
        east.access[3] = denied();
        let r = judge(&facts(vec![east], vec![good_url()]), "2025-03-04T05:06:07Z".into());
        let j = serde_json::to_value(&r).unwrap();
        let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "checks",
                "duration_ms",
                "environment",
                "generated_at",
                "namespace",
                "ok",
                "runbook",
                "schema",
                "summary",
                "tool_version",
            ]
        );
        assert_eq!(j["runbook"], serde_json::json!({"source": "file", "name": "rb.yaml", "via": "--runbook"}));
        let events = j["checks"].as_array().unwrap().iter().find(|c| c["permission"]["resource"] == "events").unwrap();
        assert_eq!(
            events,
            &serde_json::json!({
                "check": "permission",
                "permission": {"verb": "list", "group": "", "resource": "events", "required": false},
                "region": "us-east",
                "required": false,
                "result": "missing",
                "detail": "not allowed in namespace api (optional)",
                "fix": "ask for list on events in namespace api for context ctx-us-east"
            })
        );
        let logs = j["checks"].as_array().unwrap().iter().find(|c| c["permission"]["subresource"] == "log").unwrap();
        assert_eq!(logs["permission"]["resource"], "pods");
        assert_eq!(j["checks"][0]["check"], "runbook");
        assert_eq!(j["checks"][0]["region"], serde_json::Value::Null);
    }
}
