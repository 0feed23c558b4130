//! Reaching a region's cluster: the kubeconfig (as kubectl finds it) or, in
//! a pod with no kubeconfig, the pod's service account; a client per context
//! with timeouts on every call and retries of what the API server pushes
//! back on (`pushback`), and Kubernetes failures turned into plain words
//! (missing context, refused, TLS, timeout, 401, 403 naming the missing
//! permission, not found).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::kube::neterr;
use crate::kube::pushback::{self, Pushback, Throttled};
use crate::report::{PluginFault, Problem, ProblemDetail, ProblemKind};

/// Where a pod's service account is mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The one context of the configuration built from a pod's service account
/// (see [`crate::plan::IN_CLUSTER`]).
pub use crate::plan::IN_CLUSTER;

/// The cluster configuration, or why it could not be had (reported per region).
pub type Loaded = Result<Clusters, Problem>;

/// Where the clusters are reached from.
#[derive(Debug, Clone)]
pub struct Clusters {
    config: Kubeconfig,
    /// Built from the pod's service account: one cluster, whatever context a
    /// region names.
    in_cluster: bool,
}

impl Clusters {
    pub fn in_cluster(&self) -> bool {
        self.in_cluster
    }

    /// The kubeconfig context a region's `context` stands for here.
    fn context<'a>(&self, context: &'a str) -> &'a str {
        if self.in_cluster { IN_CLUSTER } else { context }
    }
}

/// What decides where the configuration comes from, read once from the
/// process (`Inputs::from_process`) or given by a test.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--kubeconfig FILE`.
    pub flag: Option<PathBuf>,
    /// `KUBECONFIG`.
    pub kubeconfig_var: Option<OsString>,
    pub home: Option<OsString>,
    /// `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`, set in every pod.
    pub service_host: Option<String>,
    pub service_port: Option<String>,
    /// The service account's directory (`token`, `ca.crt`).
    pub service_account_dir: PathBuf,
}

impl Inputs {
    pub fn from_process(flag: Option<&Path>) -> Inputs {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Inputs {
            flag: flag.map(Path::to_path_buf),
            kubeconfig_var: std::env::var_os("KUBECONFIG"),
            home: std::env::var_os("HOME"),
            service_host: var("KUBERNETES_SERVICE_HOST"),
            service_port: var("KUBERNETES_SERVICE_PORT"),
            service_account_dir: std::env::var_os("KEYSVC_SERVICE_ACCOUNT_DIR")
                .filter(|v| !v.is_empty())
                .map_or_else(|| PathBuf::from(SERVICE_ACCOUNT_DIR), PathBuf::from),
        }
    }
}

/// Where the configuration comes from, as kubectl decides it: the kubeconfig
/// files, else (nothing given and no `~/.kube/config`) the pod's service
/// account when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Kubeconfig files, merged in order, and what named them.
    Files { paths: Vec<PathBuf>, from: Named },
    /// The pod's service account: the API server at `server`.
    InCluster { server: String, token: PathBuf, ca: PathBuf },
}

/// What named the kubeconfig files: the user (each file must exist) or
/// the default `~/.kube/config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// `--kubeconfig FILE`.
    Flag,
    /// `KUBECONFIG`, a list.
    Var,
    /// `~/.kube/config`.
    Default,
}

/// Chooses where the configuration comes from (see [`Choice`]).
pub fn choose(inputs: &Inputs) -> Result<Choice, Problem> {
    if let Some(p) = &inputs.flag {
        return Ok(Choice::Files { paths: vec![p.clone()], from: Named::Flag });
    }
    if let Some(list) = inputs.kubeconfig_var.as_ref().filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(list).filter(|p| !p.as_os_str().is_empty()).collect();
        return Ok(Choice::Files { paths, from: Named::Var });
    }
    let default = inputs.home.as_ref().map(|h| PathBuf::from(h).join(".kube").join("config"));
    if let Some(d) = default.as_ref().filter(|d| d.exists()) {
        return Ok(Choice::Files { paths: vec![d.clone()], from: Named::Default });
    }
    let token = inputs.service_account_dir.join("token");
    if let (Some(host), Some(port)) = (&inputs.service_host, &inputs.service_port)
        && token.is_file()
    {
        // An IPv6 address is bracketed in a URL.
        let host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        return Ok(Choice::InCluster {
            server: format!("https://{host}:{port}"),
            token,
            ca: inputs.service_account_dir.join("ca.crt"),
        });
    }
    match default {
        Some(d) => Ok(Choice::Files { paths: vec![d], from: Named::Default }),
        None => Err(Problem::new(ProblemKind::Kubeconfig, "no kubeconfig: HOME is not set; pass --kubeconfig FILE")
            .detail(ProblemDetail::KubeconfigMissing)),
    }
}

/// Whether a run with `--kubeconfig flag` (or none) would use the pod's
/// service account.
pub fn in_cluster(flag: Option<&Path>) -> bool {
    matches!(choose(&Inputs::from_process(flag)), Ok(Choice::InCluster { .. }))
}

/// The kubeconfig's `current-context`, as kubectl reads it (`--kubeconfig`,
/// else the `KUBECONFIG` list, else `~/.kube/config`); None when there is
/// none, or no kubeconfig to read (the run says why when it loads it).
pub fn current_context(path: Option<&Path>) -> Option<String> {
    let clusters = load(path).ok()?;
    clusters.config.current_context.filter(|c| !c.is_empty())
}

/// Loads the configuration `choose` picks from the process's flags and
/// environment.
pub fn load(path: Option<&Path>) -> Loaded {
    load_from(&choose(&Inputs::from_process(path))?)
}

/// Loads the configuration of `choice`: kubeconfig files merged as kubectl
/// merges them, or one cluster reached with the service account's token
/// (read again as the kubelet rotates it) and CA.
pub fn load_from(choice: &Choice) -> Loaded {
    let (paths, from) = match choice {
        Choice::InCluster { server, token, ca } => return Ok(service_account(server, token, ca)),
        Choice::Files { paths, from } => (paths, *from),
    };
    let mut merged: Option<Kubeconfig> = None;
    for p in paths {
        if !p.exists() {
            if from == Named::Default || paths.len() == 1 {
                return Err(missing(std::slice::from_ref(p), from));
            }
            continue;
        }
        let kc = Kubeconfig::read_from(p).map_err(|e| unreadable(p, &e))?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m.merge(kc).map_err(|e| {
                Problem::new(ProblemKind::Kubeconfig, format!("cannot merge kubeconfig {}: {e}", p.display()))
                    .detail(ProblemDetail::KubeconfigMerge)
            })?,
        });
    }
    merged.map(|config| Clusters { config, in_cluster: false }).ok_or_else(|| missing(paths, from))
}

/// The kubeconfig files that do not exist, in one line: which, what named
/// them (and the directory a relative path is taken from), what to do.
fn missing(paths: &[PathBuf], from: Named) -> Problem {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let mut notes = vec![];
    match from {
        Named::Flag => notes.push("from --kubeconfig".to_string()),
        Named::Var => notes.push("from KUBECONFIG".to_string()),
        Named::Default => {}
    }
    if paths.iter().any(|p| p.is_relative())
        && let Ok(cwd) = std::env::current_dir()
    {
        notes.push(format!("relative to {}", cwd.display()));
    }
    let notes = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join(", ")) };
    let what = match shown.as_slice() {
        [one] => format!("kubeconfig {one}{notes} does not exist"),
        many => format!("kubeconfig {}{notes}: none of these files exists", many.join(", ")),
    };
    let fix = match from {
        Named::Flag => "pass --kubeconfig the path of your kubeconfig",
        Named::Var => "point KUBECONFIG at your kubeconfig, or unset it to use ~/.kube/config",
        Named::Default => "pass --kubeconfig FILE or set KUBECONFIG",
    };
    Problem::new(ProblemKind::Kubeconfig, format!("{what}; {fix}")).detail(ProblemDetail::KubeconfigMissing)
}

/// A kubeconfig file that cannot be read or parsed, in one line: the YAML
/// parser's own message is several lines with a code excerpt.
fn unreadable(p: &Path, e: &kube::config::KubeconfigError) -> Problem {
    let message = match e {
        kube::config::KubeconfigError::Parse(y) => {
            let at = y.location().map(|l| format!("line {}, column {}: ", l.line(), l.column())).unwrap_or_default();
            format!("kubeconfig {} is not valid YAML ({at}{})", p.display(), crate::runbook::saphyr_message(y))
        }
        other => format!("cannot read kubeconfig {}: {}", p.display(), error_text(other)),
    };
    Problem::new(ProblemKind::Kubeconfig, message).in_file(p)
}

fn service_account(server: &str, token: &Path, ca: &Path) -> Clusters {
    use kube::config::{AuthInfo, Cluster, Context, NamedAuthInfo, NamedCluster, NamedContext};
    let config = Kubeconfig {
        clusters: vec![NamedCluster {
            name: IN_CLUSTER.into(),
            cluster: Some(Cluster {
                server: Some(server.into()),
                certificate_authority: Some(ca.display().to_string()),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: IN_CLUSTER.into(),
            auth_info: Some(AuthInfo { token_file: Some(token.display().to_string()), ..Default::default() }),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: IN_CLUSTER.into(),
            context: Some(Context { cluster: IN_CLUSTER.into(), user: Some(IN_CLUSTER.into()), ..Default::default() }),
            other: Default::default(),
        }],
        current_context: Some(IN_CLUSTER.into()),
        ..Default::default()
    };
    Clusters { config, in_cluster: true }
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
    let clusters = kubeconfig.as_ref().map_err(Clone::clone)?;
    let (kc, context) = (&clusters.config, clusters.context(context));
    if context.is_empty() {
        // The runbook gives the region no context, and there is no
        // current one to use instead.
        let names: Vec<String> = kc.contexts.iter().map(|c| c.name.clone()).collect();
        return Err(Problem::new(
            ProblemKind::ContextMissing,
            "no context: the runbook gives this region none, and the kubeconfig has no current-context",
        )
        .detail(ProblemDetail::NoContext)
        .instead(names));
    }
    if !kc.contexts.iter().any(|c| c.name == context) {
        let mut names: Vec<String> = kc.contexts.iter().map(|c| c.name.clone()).collect();
        names.sort_unstable();
        let have = if names.is_empty() { "none".to_string() } else { names.join(", ") };
        // Where the name came from (the runbook or --context) is the
        // caller's to say, with the fix.
        return Err(Problem::new(
            ProblemKind::ContextMissing,
            format!("context `{context}` is not in the kubeconfig (it has: {have})"),
        )
        .instead(names));
    }
    let opts = KubeConfigOptions { context: Some(context.to_string()), ..Default::default() };
    let mut config = kube::Config::from_custom_kubeconfig(kc.clone(), &opts).await.map_err(|e| {
        Problem::new(ProblemKind::Kubeconfig, format!("kubeconfig context `{context}`: {}", error_text(&e)))
            .detail(ProblemDetail::ContextUnusable)
    })?;
    config.connect_timeout = Some(timeout.min(Duration::from_secs(10)));
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    // Ours instead of kube's: it counts, and stops by the deadline.
    config.default_retry = false;
    // Building a client may run an exec credential plugin synchronously.
    let build = move || crate::kube::transport::builder(config).map(|b| b.with_layer(&pushback).build());
    let built = tokio::time::timeout(timeout, tokio::task::spawn_blocking(build)).await;
    match built {
        Err(_) => Err(Problem::new(
            ProblemKind::Timeout,
            format!("building the client for `{context}` (its credential plugin) did not finish in time"),
        )),
        Ok(Err(e)) => Err(Problem::new(ProblemKind::Other, format!("internal: {e}"))),
        Ok(Ok(Err(e))) => {
            let command = exec_command(kc, context);
            if let Some(p) = plugin_problem(&e, command.as_deref()) {
                return Err(p);
            }
            let plugin = command.map(|c| format!(" (credential plugin `{c}`)")).unwrap_or_default();
            Err(Problem::new(
                ProblemKind::Kubeconfig,
                format!("credentials for `{context}`{plugin}: {}", error_text(&e)),
            )
            .detail(ProblemDetail::Credentials))
        }
        Ok(Ok(Ok(c))) => Ok(c),
    }
}

/// How many characters of a failed credential plugin's own message are kept:
/// its first lines say what to do (`Run 'ibmcloud login --sso'`).
const PLUGIN_SAID_CHARS: usize = 300;

/// A credential plugin that is not installed, or ran and failed, in plain
/// words: the plugin and what it said, not the exec request it was given.
/// `command` is the kubeconfig's `user.exec.command` when known.
fn plugin_problem(err: &(dyn std::error::Error + 'static), command: Option<&str>) -> Option<Problem> {
    use kube::client::AuthError;
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(a) = e.downcast_ref::<AuthError>() {
            let name = command.unwrap_or_default();
            // `credential plugin ibmcloud …`, or `credential plugin …` unnamed.
            let plugin = format!("credential plugin{}{name}", if name.is_empty() { "" } else { " " });
            let (fault, message) = match a {
                AuthError::AuthExecStart(io) if io.kind() == std::io::ErrorKind::NotFound => {
                    let where_ = if name.contains('/') { "" } else { " on PATH" };
                    (
                        PluginFault::NotFound(name.to_string()),
                        format!("{plugin} not found{where_}: install it or fix the kubeconfig's user.exec.command"),
                    )
                }
                AuthError::AuthExecStart(io) => {
                    (PluginFault::Failed(name.to_string()), format!("{plugin} could not be started: {io}"))
                }
                AuthError::AuthExecRun { out, .. } => {
                    let how = out.status.code().map_or_else(|| "was killed".to_string(), |c| format!("exited {c}"));
                    let said = plugin_said(&out.stderr).or_else(|| plugin_said(&out.stdout));
                    let said = said.map(|t| format!(": {t}")).unwrap_or_else(|| " and said nothing".into());
                    (PluginFault::Failed(name.to_string()), format!("{plugin} {how}{said}"))
                }
                _ => return None,
            };
            return Some(Problem::new(ProblemKind::Kubeconfig, message).detail(ProblemDetail::Plugin(fault)));
        }
        cur = e.source();
    }
    None
}

/// The first lines a plugin wrote, on one line, capped.
fn plugin_said(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    (!lines.is_empty()).then(|| crate::sanitize::clean(&lines.join(" / "), PLUGIN_SAID_CHARS))
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
                )
                .detail(ProblemDetail::Forbidden { verb: verb.into(), resource: resource.into() }),
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
        kube::Error::Auth(e) => plugin_problem(err, None)
            .unwrap_or_else(|| Problem::new(ProblemKind::Unauthorized, format!("credentials: {}", error_text(e)))),
        other => {
            let (kind, msg) = neterr::classify(other);
            Problem::new(kind, msg)
        }
    }
}

/// The API server a context's cluster names in the kubeconfig.
pub fn server(kubeconfig: &Loaded, context: &str) -> Option<String> {
    let clusters = kubeconfig.as_ref().ok()?;
    let (kc, context) = (&clusters.config, clusters.context(context));
    let cluster = kc.contexts.iter().find(|c| c.name == context)?.context.as_ref()?.cluster.clone();
    kc.clusters.iter().find(|c| c.name == cluster)?.cluster.as_ref()?.server.clone()
}

/// A region whose context reaches the API server that an earlier region's
/// context reaches too (same server URL, and the runbook's one namespace):
/// one cluster, which a run must not count as two checked regions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SameCluster {
    /// The region whose results stand for that cluster.
    pub region: String,
    /// That region's context.
    pub context: String,
    /// The API server, as the kubeconfig names it (credentials redacted).
    pub server: String,
}

impl SameCluster {
    /// Why `region`'s steps were not run, naming both regions and the server.
    pub fn problem(&self, context: &str, namespace: &str) -> Problem {
        if context == self.context {
            return Problem::new(
                ProblemKind::SameCluster,
                format!(
                    "not checked: context `{context}` is {}'s context (API server {}, namespace {namespace}); one cluster is not two regions",
                    self.region, self.server
                ),
            );
        }
        Problem::new(
            ProblemKind::SameCluster,
            format!(
                "not checked: context `{context}` reaches the same API server as {}'s context ({}, namespace {namespace}); one cluster is not two regions",
                self.region, self.server
            ),
        )
    }
}

/// A region as [`same_clusters`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub region: &'a str,
    /// `None`: a placeholder, not checked.
    pub context: Option<&'a str>,
    /// The context was given by `--context` (or is the kubeconfig's
    /// current one), not named by the runbook.
    pub from_flag: bool,
}

/// For each region, the earlier region whose context reaches the same API
/// server, if any. Two context names for one cluster entry, or two entries
/// with one server URL, are one cluster; so is every context in a pod
/// without a kubeconfig. Of the regions on one server, the one whose
/// context the runbook gives (not `--context`) stands for it, else the
/// first: a `--context` copied from another region is the likelier mistake.
pub fn same_clusters(kubeconfig: &Loaded, regions: &[Target<'_>]) -> Vec<Option<SameCluster>> {
    let servers: Vec<Option<(String, String)>> =
        regions.iter().map(|r| server(kubeconfig, r.context?).map(|s| (server_identity(&s), s))).collect();
    let mut out = vec![None; regions.len()];
    for (i, s) in servers.iter().enumerate() {
        let Some((id, url)) = s else { continue };
        let group: Vec<usize> =
            (0..regions.len()).filter(|&j| servers[j].as_ref().is_some_and(|(other, _)| other == id)).collect();
        if group.len() < 2 {
            continue;
        }
        let kept = group.iter().copied().find(|&j| !regions[j].from_flag).unwrap_or(group[0]);
        if kept != i {
            out[i] = Some(SameCluster {
                region: regions[kept].region.to_string(),
                context: regions[kept].context.unwrap_or_default().to_string(),
                server: crate::mask::url(url),
            });
        }
    }
    out
}

/// What makes two server URLs the same API server: scheme, host (as URLs
/// compare it, lower case) and port (the scheme's default filled in), and
/// the path without a trailing slash.
fn server_identity(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) => format!(
            "{}://{}:{}{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or(0),
            u.path().trim_end_matches('/')
        ),
        Err(_) => url.trim().trim_end_matches('/').to_string(),
    }
}

/// A network failure names the server it could not reach ("connection
/// refused (https://10.0.0.1:6443)"): which address failed is the first
/// thing to check. Other problems are left as they are.
pub fn at_server(p: Problem, server: Option<&str>) -> Problem {
    match (p.kind, server) {
        (
            ProblemKind::Refused | ProblemKind::Reset | ProblemKind::Dns | ProblemKind::Tls | ProblemKind::Timeout,
            Some(s),
        ) => Problem::new(p.kind, format!("{} ({})", p.message, crate::mask::url(s))),
        _ => p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A home without a kubeconfig and a service account directory with a
    /// token, as a pod has them; each test takes away or adds what it needs.
    fn pod() -> (tempfile::TempDir, Inputs) {
        let dir = tempfile::tempdir().unwrap();
        let sa = dir.path().join("sa");
        std::fs::create_dir_all(&sa).unwrap();
        std::fs::write(sa.join("token"), "t").unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let inputs = Inputs {
            flag: None,
            kubeconfig_var: None,
            home: Some(dir.path().join("home").into()),
            service_host: Some("10.96.0.1".into()),
            service_port: Some("443".into()),
            service_account_dir: sa,
        };
        (dir, inputs)
    }

    #[test]
    fn in_a_pod_without_a_kubeconfig_the_service_account_is_used() {
        let (dir, inputs) = pod();
        let sa = dir.path().join("sa");
        assert_eq!(
            choose(&inputs).unwrap(),
            Choice::InCluster {
                server: "https://10.96.0.1:443".into(),
                token: sa.join("token"),
                ca: sa.join("ca.crt")
            }
        );
        let v6 = Inputs { service_host: Some("fd00::1".into()), ..inputs };
        assert!(matches!(choose(&v6).unwrap(), Choice::InCluster { server, .. } if server == "https://[fd00::1]:443"));
    }

    #[test]
    fn a_kubeconfig_anywhere_kubectl_looks_wins_over_the_service_account() {
        let (dir, inputs) = pod();
        let flag = Inputs { flag: Some("/k/flag".into()), ..inputs.clone() };
        assert_eq!(choose(&flag).unwrap(), Choice::Files { paths: vec!["/k/flag".into()], from: Named::Flag });
        let var = Inputs { kubeconfig_var: Some("/k/a:/k/b".into()), ..inputs.clone() };
        assert_eq!(
            choose(&var).unwrap(),
            Choice::Files { paths: vec!["/k/a".into(), "/k/b".into()], from: Named::Var }
        );
        let default = dir.path().join("home/.kube/config");
        std::fs::create_dir_all(default.parent().unwrap()).unwrap();
        std::fs::write(&default, "").unwrap();
        assert_eq!(choose(&inputs).unwrap(), Choice::Files { paths: vec![default], from: Named::Default });
    }

    #[test]
    fn without_the_whole_service_account_the_default_kubeconfig_is_reported_missing() {
        let (dir, inputs) = pod();
        let default = Choice::Files { paths: vec![dir.path().join("home/.kube/config")], from: Named::Default };
        for partial in [
            Inputs { service_host: None, ..inputs.clone() },
            Inputs { service_port: None, ..inputs.clone() },
            Inputs { service_account_dir: dir.path().join("no-such-dir"), ..inputs.clone() },
        ] {
            assert_eq!(choose(&partial).unwrap(), default);
        }
        // An empty KUBECONFIG is unset, as for kubectl.
        let empty = Inputs { kubeconfig_var: Some("".into()), ..inputs.clone() };
        assert!(matches!(choose(&empty).unwrap(), Choice::InCluster { .. }));
        let e = load_from(&default).unwrap_err();
        assert!(e.message.contains("does not exist"), "{}", e.message);
        let homeless = Inputs { home: None, service_host: None, ..inputs };
        assert!(choose(&homeless).unwrap_err().message.contains("HOME is not set"));
    }

    #[test]
    fn regions_whose_contexts_reach_one_server_are_one_cluster() {
        let yaml = "apiVersion: v1\nkind: Config\nclusters:\n\
            - {name: a, cluster: {server: 'https://10.0.0.1:6443'}}\n\
            - {name: a2, cluster: {server: 'HTTPS://10.0.0.1:6443/'}}\n\
            - {name: b, cluster: {server: 'https://b.example:443'}}\n\
            - {name: b2, cluster: {server: 'https://b.example'}}\n\
            - {name: c, cluster: {server: 'https://10.0.0.3:6443'}}\n\
            contexts:\n\
            - {name: a, context: {cluster: a}}\n- {name: also-a, context: {cluster: a}}\n\
            - {name: a2, context: {cluster: a2}}\n- {name: b, context: {cluster: b}}\n\
            - {name: b2, context: {cluster: b2}}\n- {name: c, context: {cluster: c}}\n";
        let loaded: Loaded = Ok(Clusters { config: Kubeconfig::from_yaml(yaml).unwrap(), in_cluster: false });
        let region = |name: &'static str, context: &'static str, flag: bool| Target {
            region: name,
            context: Some(context),
            from_flag: flag,
        };
        let kept = |same: Vec<Option<SameCluster>>| -> Vec<Option<String>> {
            same.into_iter().map(|s| s.map(|s| s.region)).collect()
        };
        // Two names for one cluster entry; two entries with one server.
        for other in ["also-a", "a2"] {
            let regions = [region("r1", "a", false), region("r2", other, false), region("r3", "c", false)];
            assert_eq!(kept(same_clusters(&loaded, &regions)), [None, Some("r1".into()), None], "{other}");
        }
        let regions = [region("r1", "b", false), region("r2", "c", false), region("r3", "b2", false)];
        let same = same_clusters(&loaded, &regions);
        assert_eq!(same[2].as_ref().map(|s| s.server.as_str()), Some("https://b.example"));
        // A --context copied from another region is the one not counted.
        let regions = [region("r1", "a", true), region("r2", "a2", false)];
        assert_eq!(kept(same_clusters(&loaded, &regions)), [Some("r2".into()), None]);
        // A missing context or a placeholder is another problem, not this one.
        let mut placeholder = region("r2", "a", false);
        placeholder.context = None;
        let regions = [region("r1", "a", false), placeholder, region("r3", "missing", false)];
        assert_eq!(kept(same_clusters(&loaded, &regions)), [None, None, None]);
    }

    #[test]
    fn every_region_context_is_the_one_in_cluster_context() {
        let choice = Choice::InCluster {
            server: "https://10.96.0.1:443".into(),
            token: "/sa/token".into(),
            ca: "/sa/ca.crt".into(),
        };
        let loaded = load_from(&choice);
        assert!(loaded.as_ref().unwrap().in_cluster());
        for context in ["prod-us-east", "prod-eu-de.example"] {
            assert_eq!(server(&loaded, context).as_deref(), Some("https://10.96.0.1:443"));
        }
        let kc = &loaded.as_ref().unwrap().config;
        let user = kc.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(user.token_file.as_deref(), Some("/sa/token"));
        assert_eq!(kc.clusters[0].cluster.as_ref().unwrap().certificate_authority.as_deref(), Some("/sa/ca.crt"));
    }
}
