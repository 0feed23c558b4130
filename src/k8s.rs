//! Reaching a region's cluster: the kubeconfig (as kubectl finds it), a
//! client per context with timeouts on every call and retries of what the
//! API server pushes back on (`pushback`), and Kubernetes failures
//! turned into plain words (missing context, refused, TLS, timeout, 401, 403
//! naming the missing permission, not found).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::neterr;
use crate::pushback::{self, Pushback, Throttled};
use crate::report::{Problem, ProblemKind};

/// The kubeconfig, or why it could not be had (reported per region).
pub type Loaded = Result<Kubeconfig, Problem>;

/// Loads the kubeconfig: `--kubeconfig FILE`, else the `KUBECONFIG` list
/// (merged, as kubectl does), else `~/.kube/config`.
pub fn load(path: Option<&Path>) -> Loaded {
    let named: Option<PathBuf> = path.map(Path::to_path_buf);
    let paths: Vec<PathBuf> = match named {
        Some(p) => vec![p],
        None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(list) => std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()).collect(),
            None => match std::env::var_os("HOME") {
                Some(home) => vec![PathBuf::from(home).join(".kube").join("config")],
                None => {
                    return Err(Problem::new(
                        ProblemKind::Kubeconfig,
                        "no kubeconfig: HOME is not set; pass --kubeconfig FILE",
                    ));
                }
            },
        },
    };
    let mut merged: Option<Kubeconfig> = None;
    for p in &paths {
        if !p.exists() {
            if path.is_some() || paths.len() == 1 {
                return Err(Problem::new(
                    ProblemKind::Kubeconfig,
                    format!("kubeconfig {} does not exist; pass --kubeconfig FILE or set KUBECONFIG", p.display()),
                ));
            }
            continue;
        }
        let kc = Kubeconfig::read_from(p).map_err(|e| {
            Problem::new(ProblemKind::Kubeconfig, format!("cannot read kubeconfig {}: {}", p.display(), error_text(&e)))
        })?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m.merge(kc).map_err(|e| {
                Problem::new(ProblemKind::Kubeconfig, format!("cannot merge kubeconfig {}: {e}", p.display()))
            })?,
        });
    }
    merged.ok_or_else(|| {
        Problem::new(ProblemKind::Kubeconfig, "none of the KUBECONFIG files exist; pass --kubeconfig FILE")
    })
}

fn error_text(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// A client for `context`, with `timeout` on connecting and on each read,
/// that retries what the API server pushes back on (see [`Pushback`]).
pub async fn client(
    kubeconfig: &Loaded,
    context: &str,
    timeout: Duration,
    pushback: Pushback,
) -> Result<kube::Client, Problem> {
    let kc = kubeconfig.as_ref().map_err(Clone::clone)?;
    if !kc.contexts.iter().any(|c| c.name == context) {
        let mut names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        let have = if names.is_empty() { "none".to_string() } else { names.join(", ") };
        return Err(Problem::new(
            ProblemKind::ContextMissing,
            format!(
                "context `{context}` is not in the kubeconfig (it has: {have}); fix the runbook or pass --context REGION=CONTEXT"
            ),
        ));
    }
    let opts = KubeConfigOptions { context: Some(context.to_string()), ..Default::default() };
    let mut config = kube::Config::from_custom_kubeconfig(kc.clone(), &opts).await.map_err(|e| {
        Problem::new(ProblemKind::Kubeconfig, format!("kubeconfig context `{context}`: {}", error_text(&e)))
    })?;
    config.connect_timeout = Some(timeout.min(Duration::from_secs(10)));
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    // Ours instead of kube's: it counts, and stops by the deadline.
    config.default_retry = false;
    // Building a client may run an exec credential plugin synchronously.
    let build = move || kube::client::ClientBuilder::try_from(config).map(|b| b.with_layer(&pushback).build());
    let built = tokio::time::timeout(timeout, tokio::task::spawn_blocking(build)).await;
    match built {
        Err(_) => Err(Problem::new(
            ProblemKind::Timeout,
            format!("building the client for `{context}` (its credential plugin) did not finish in time"),
        )),
        Ok(Err(e)) => Err(Problem::new(ProblemKind::Other, format!("internal: {e}"))),
        Ok(Ok(Err(e))) => {
            let plugin = exec_command(kc, context).map(|c| format!(" (credential plugin `{c}`)")).unwrap_or_default();
            Err(Problem::new(
                ProblemKind::Kubeconfig,
                format!("credentials for `{context}`{plugin}: {}", error_text(&e)),
            ))
        }
        Ok(Ok(Ok(c))) => Ok(c),
    }
}

/// The exec credential plugin a context's user runs, if any.
fn exec_command(kc: &Kubeconfig, context: &str) -> Option<String> {
    let ctx = kc.contexts.iter().find(|c| c.name == context)?.context.as_ref()?;
    let user = ctx.user.as_ref()?;
    let auth = kc.auth_infos.iter().find(|a| &a.name == user)?.auth_info.as_ref()?;
    auth.exec.as_ref()?.command.clone()
}

/// What a Kubernetes call failed with, in plain words. `verb` and `resource`
/// name what was being done, so a 403 can say which permission is missing.
pub fn problem(err: &kube::Error, verb: &str, resource: &str, namespace: &str) -> Problem {
    match err {
        kube::Error::Api(status) => {
            let msg = status.message.clone();
            match status.code {
                401 => Problem::new(
                    ProblemKind::Unauthorized,
                    "401 Unauthorized: the cluster rejected the credentials (expired or unknown certificate or token)",
                ),
                403 => Problem::new(
                    ProblemKind::Forbidden,
                    format!("403 Forbidden: missing permission to {verb} {resource} in namespace {namespace} ({msg})"),
                ),
                404 => Problem::new(ProblemKind::NotFound, format!("404 Not Found: {msg}")),
                400 => Problem::new(ProblemKind::BadRequest, msg),
                // Only a request that could not be sent twice ends here.
                code if pushback::RETRIED.contains(&code) => Problem::new(
                    ProblemKind::Throttled,
                    format!(
                        "throttled: the API server answered {} to {verb} {resource}: {msg}",
                        pushback::status_words(code)
                    ),
                ),
                code => Problem::new(ProblemKind::Other, format!("{code}: {msg}")),
            }
        }
        kube::Error::Service(e) if e.downcast_ref::<Throttled>().is_some() => {
            let t = e.downcast_ref::<Throttled>().expect("checked");
            Problem::new(ProblemKind::Throttled, t.describe(&format!("{verb} {resource}")))
        }
        kube::Error::Auth(e) => Problem::new(ProblemKind::Unauthorized, format!("credentials: {}", error_text(e))),
        other => {
            let (kind, msg) = neterr::classify(other);
            Problem::new(kind, msg)
        }
    }
}

/// The API server a context's cluster names in the kubeconfig.
pub fn server(kubeconfig: &Loaded, context: &str) -> Option<String> {
    let kc = kubeconfig.as_ref().ok()?;
    let cluster = kc.contexts.iter().find(|c| c.name == context)?.context.as_ref()?.cluster.clone();
    kc.clusters.iter().find(|c| c.name == cluster)?.cluster.as_ref()?.server.clone()
}

/// A network failure names the server it could not reach ("connection
/// refused (https://10.0.0.1:6443)"): which address failed is the first
/// thing to check. Other problems are left as they are.
pub fn at_server(p: Problem, server: Option<&str>) -> Problem {
    match (p.kind, server) {
        (
            ProblemKind::Refused | ProblemKind::Reset | ProblemKind::Dns | ProblemKind::Tls | ProblemKind::Timeout,
            Some(s),
        ) => Problem::new(p.kind, format!("{} ({})", p.message, crate::healthz::redact_url(s))),
        _ => p,
    }
}
