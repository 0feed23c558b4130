//! Bringing the three-region environment up and down: one etcd, one
//! kube-apiserver per region (each under its own etcd prefix), one kubelet
//! stand-in per region, a CA and users made fresh per run, and a kubeconfig.
//! Everything listens on 127.0.0.1; processes are tracked by pid in a state
//! file so that `down` (and tests) can stop and restart them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::certs::{self, Ca};
use crate::telemetry::Telemetry;

pub const REGIONS: [&str; 3] = ["us-south", "us-east", "eu-de"];
/// The token the `token@REGION` contexts use; it authenticates as `oncall`.
pub const ONCALL_TOKEN: &str = "kc-test-token-3f9a1c0e5b7d2468";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Proc {
    pub pid: u32,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub log: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegionState {
    pub name: String,
    pub apiserver_port: u16,
    pub apiserver: Proc,
    pub kubelet_port: u16,
    pub kubelet: Proc,
    pub logs_dir: PathBuf,
    pub audit_log: PathBuf,
    pub node: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub ca: PathBuf,
    pub ca_key_dir: PathBuf,
    pub etcd: Proc,
    pub regions: Vec<RegionState>,
    /// A healthz stand-in answering as the healthy service, for use by hand
    /// (`keysvc-testenv up` starts it); its URL.
    #[serde(default)]
    pub healthz: Option<(Proc, String)>,
    /// The exporters, Prometheus and NerdGraph stand-in of the telemetry
    /// step (`keysvc-testenv up` starts them).
    #[serde(default)]
    pub telemetry: Option<Telemetry>,
}

impl State {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }
    pub fn load(path: &Path) -> Result<State> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
    }
    pub fn save(&self) -> Result<()> {
        let path = State::path(&self.dir);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(tmp, path)?;
        Ok(())
    }
    pub fn region(&self, name: &str) -> Result<&RegionState> {
        self.regions.iter().find(|r| r.name == name).with_context(|| format!("no region {name}"))
    }
    /// The telemetry `up` started: URLs, API key, exporters.
    pub fn telemetry(&self) -> Result<&Telemetry> {
        self.telemetry.as_ref().context("the test environment runs no telemetry (`keysvc-testenv up` starts it)")
    }
    pub fn region_mut(&mut self, name: &str) -> Result<&mut RegionState> {
        self.regions.iter_mut().find(|r| r.name == name).with_context(|| format!("no region {name}"))
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("testenv: {}", msg.as_ref());
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Port from `KEYSVC_TESTENV_PORT_BASE + offset` when set, else a free one.
pub fn port(offset: u16) -> Result<u16> {
    match std::env::var("KEYSVC_TESTENV_PORT_BASE").ok().and_then(|v| v.parse::<u16>().ok()) {
        Some(base) => Ok(base + offset),
        None => free_port(),
    }
}

pub fn spawn(program: &Path, args: Vec<String>, log: PathBuf) -> Result<Proc> {
    use std::os::unix::process::CommandExt;
    let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let child = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    Ok(Proc { pid: child.id(), program: program.to_path_buf(), args, log })
}

pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(stat.rsplit_once(") ").map(|(_, r)| r.chars().next()), Some(Some('Z' | 'X'))),
        Err(_) => false,
    }
}

/// Stops a process: TERM, then KILL if it is still there after 5 s.
pub fn stop(pid: u32) {
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).stderr(Stdio::null()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive(pid) {
        let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Polls until something accepts TCP connections on `port`, or fails.
pub fn wait_port(port: u16, pid: u32, what: &str, log: &Path, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if !alive(pid) {
            bail!("{what} exited while starting; its log:\n{}", tail(log));
        }
        if Instant::now() > deadline {
            bail!("{what} did not listen on port {port} within {timeout:?}; its log:\n{}", tail(log));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

pub struct Binaries {
    pub apiserver: PathBuf,
    pub etcd: PathBuf,
    pub testenv: PathBuf,
}

fn apiserver_args(dir: &Path, region: &str, port: u16, etcd_port: u16) -> Vec<String> {
    let p = |name: &str| dir.join(name).display().to_string();
    vec![
        format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
        format!("--etcd-prefix=/registry-{region}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        "--insecure-port=0".into(),
        format!("--tls-cert-file={}", p("apiserver.crt")),
        format!("--tls-private-key-file={}", p("apiserver.key")),
        format!("--client-ca-file={}", p("ca.crt")),
        format!("--token-auth-file={}", p("tokens.csv")),
        "--authorization-mode=RBAC".into(),
        "--service-account-issuer=https://kubernetes.default.svc".into(),
        format!("--service-account-key-file={}", p("sa.pub")),
        format!("--service-account-signing-key-file={}", p("sa.key")),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        "--endpoint-reconciler-type=none".into(),
        "--disable-admission-plugins=ServiceAccount".into(),
        "--kubelet-preferred-address-types=InternalIP".into(),
        format!("--kubelet-client-certificate={}", p("kubelet-client.crt")),
        format!("--kubelet-client-key={}", p("kubelet-client.key")),
        format!("--kubelet-certificate-authority={}", p("ca.crt")),
        "--enable-priority-and-fairness=false".into(),
        format!("--audit-policy-file={}", p("audit-policy.yaml")),
        format!("--audit-log-path={}", p(&format!("audit-{region}.log"))),
        "--profiling=false".into(),
        "--v=0".into(),
    ]
}

pub fn kubelet_args(dir: &Path, port: u16, logs_dir: &Path) -> Vec<String> {
    vec![
        "kubelet".into(),
        format!("--listen=127.0.0.1:{port}"),
        format!("--cert={}", dir.join("kubelet.crt").display()),
        format!("--key={}", dir.join("kubelet.key").display()),
        format!("--ca={}", dir.join("ca.crt").display()),
        format!("--logs-dir={}", logs_dir.display()),
    ]
}

/// Brings everything up in `dir` and returns the saved state. Regions are
/// seeded by the caller (see `scenario`).
pub fn up(dir: &Path, bins: &Binaries) -> Result<State> {
    std::fs::create_dir_all(dir)?;
    let started = Instant::now();
    let ca = Ca::create(dir, "ca")?;
    ca.server("apiserver")?;
    ca.server("kubelet")?;
    ca.client("kubelet-client", "kube-apiserver-kubelet-client", &["system:masters"])?;
    ca.client("admin", "admin", &["system:masters"])?;
    ca.client("oncall", "oncall", &[])?;
    ca.client("nologs", "nologs", &[])?;
    ca.client("evidence", "evidence", &[])?;
    ca.client("nobody", "nobody", &[])?;
    certs::write_key_pair(&dir.join("sa.key"), &dir.join("sa.pub"))?;
    std::fs::write(dir.join("tokens.csv"), format!("{ONCALL_TOKEN},oncall,oncall-uid\n"))?;
    std::fs::write(
        dir.join("audit-policy.yaml"),
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n",
    )?;

    let etcd_port = port(0)?;
    let etcd_peer = port(1)?;
    let etcd = spawn(
        &bins.etcd,
        vec![
            "--name=keysvc-testenv".into(),
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"),
            format!("--advertise-client-urls=http://127.0.0.1:{etcd_port}"),
            format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-cluster=keysvc-testenv=http://127.0.0.1:{etcd_peer}"),
            "--log-level=warn".into(),
            "--unsafe-no-fsync".into(),
        ],
        dir.join("etcd.log"),
    )?;
    // Save early so `down` can clean up whatever did start if the rest fails.
    let mut state = State {
        dir: dir.to_path_buf(),
        kubeconfig: dir.join("kubeconfig"),
        ca: ca.cert.clone(),
        ca_key_dir: dir.to_path_buf(),
        etcd,
        regions: vec![],
        healthz: None,
        telemetry: None,
    };
    state.save()?;
    wait_port(etcd_port, state.etcd.pid, "etcd", &state.etcd.log, Duration::from_secs(30))?;

    for (i, region) in REGIONS.iter().enumerate() {
        let api_port = port(2 + 2 * i as u16)?;
        let kubelet_port = port(3 + 2 * i as u16)?;
        let logs_dir = dir.join("logs").join(region);
        std::fs::create_dir_all(&logs_dir)?;
        let kubelet = spawn(
            &bins.testenv,
            kubelet_args(dir, kubelet_port, &logs_dir),
            dir.join(format!("kubelet-{region}.log")),
        )?;
        let apiserver = spawn(
            &bins.apiserver,
            apiserver_args(dir, region, api_port, etcd_port),
            dir.join(format!("apiserver-{region}.log")),
        )?;
        state.regions.push(RegionState {
            name: region.to_string(),
            apiserver_port: api_port,
            apiserver,
            kubelet_port,
            kubelet,
            logs_dir,
            audit_log: dir.join(format!("audit-{region}.log")),
            node: format!("node-{region}"),
        });
        state.save()?;
    }
    write_kubeconfig(&state)?;
    for r in &state.regions {
        wait_port(r.kubelet_port, r.kubelet.pid, "kubelet stand-in", &r.kubelet.log, Duration::from_secs(30))?;
        wait_port(r.apiserver_port, r.apiserver.pid, "kube-apiserver", &r.apiserver.log, Duration::from_secs(60))?;
    }
    log(format!("processes started in {:.1?}", started.elapsed()));
    Ok(state)
}

/// Stops every process the state names. Safe to call more than once.
pub fn down(state: &State) {
    for r in &state.regions {
        stop(r.apiserver.pid);
        stop(r.kubelet.pid);
    }
    stop(state.etcd.pid);
    if let Some((p, _)) = &state.healthz {
        stop(p.pid);
    }
    for p in state.telemetry.iter().flat_map(Telemetry::procs) {
        stop(p.pid);
    }
}

fn kubeconfig_json(state: &State, servers: &dyn Fn(&RegionState) -> String) -> serde_json::Value {
    let named: Vec<(String, String)> = state.regions.iter().map(|r| (r.name.clone(), servers(r))).collect();
    kubeconfig_json_for(state, &named)
}

/// A kubeconfig with a cluster per `(name, server)` and the environment's
/// users and contexts for each.
fn kubeconfig_json_for(state: &State, named: &[(String, String)]) -> serde_json::Value {
    let dir = &state.ca_key_dir;
    let p = |n: &str| dir.join(n).display().to_string();
    let mut clusters = vec![];
    let mut contexts = vec![];
    for (name, server) in named {
        clusters.push(serde_json::json!({
            "name": name,
            "cluster": {"server": server, "certificate-authority": state.ca.display().to_string()}
        }));
        for (prefix, user) in [
            ("", "admin"),
            ("oncall@", "oncall"),
            ("nologs@", "nologs"),
            ("evidence@", "evidence"),
            ("nobody@", "nobody"),
            ("token@", "token"),
        ] {
            contexts.push(serde_json::json!({
                "name": format!("{prefix}{name}"),
                "context": {"cluster": name, "user": user, "namespace": "api"}
            }));
        }
    }
    let cert_user = |name: &str| serde_json::json!({"name": name, "user": {"client-certificate": p(&format!("{name}.crt")), "client-key": p(&format!("{name}.key"))}});
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "contexts": contexts,
        "current-context": named.first().map(|(n, _)| n.as_str()).unwrap_or_default(),
        "users": [cert_user("admin"), cert_user("oncall"), cert_user("nologs"), cert_user("evidence"), cert_user("nobody"),
                  {"name": "token", "user": {"token": ONCALL_TOKEN}}],
        "preferences": {}
    })
}

/// A kubeconfig with a cluster of its own per `(name, server)`, each with
/// the environment's users and contexts (`oncall@NAME`…), written to `path`.
pub fn write_kubeconfig_clusters(state: &State, path: &Path, clusters: &[(String, String)]) -> Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(&kubeconfig_json_for(state, clusters))?)?;
    Ok(())
}

pub fn write_kubeconfig(state: &State) -> Result<()> {
    let json = kubeconfig_json(state, &|r| format!("https://127.0.0.1:{}", r.apiserver_port));
    std::fs::write(&state.kubeconfig, serde_json::to_vec_pretty(&json)?)?;
    Ok(())
}

/// A kubeconfig like the environment's, with some regions' servers replaced
/// (e.g. by a fault proxy's URL), written to `path`.
pub fn write_kubeconfig_with(state: &State, path: &Path, servers: &[(&str, String)]) -> Result<()> {
    let json = kubeconfig_json(state, &|r| {
        servers
            .iter()
            .find(|(name, _)| *name == r.name)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| format!("https://127.0.0.1:{}", r.apiserver_port))
    });
    std::fs::write(path, serde_json::to_vec_pretty(&json)?)?;
    Ok(())
}
