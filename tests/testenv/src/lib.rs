//! A real three-region Kubernetes for keysvc-check's tests: kube-apiserver and
//! etcd processes, kubelet stand-ins serving container logs, fault proxies, a
//! healthz stand-in, telemetry (exporters, Prometheus, a NerdGraph
//! stand-in), and one-call scenarios. `keysvc-testenv up` starts it and
//! writes a state file; tests find it through `KEYSVC_TESTENV`.

pub mod certs;
pub mod cluster;
pub mod deployment;
pub mod events;
pub mod healthz;
pub mod kubelet;
pub mod nerdgraph;
pub mod proxy;
pub mod scenario;
pub mod server;
pub mod telemetry;
pub mod throttle;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

pub use cluster::{ONCALL_TOKEN, REGIONS, State};
pub use deployment::{Deployed, Rollout};
pub use events::EventSpec;
pub use healthz::{Behavior, HealthzServer};
pub use kubelet::LogSpec;
pub use proxy::{Fault, FaultProxy};
pub use scenario::{RawPod, Scenario};
pub use telemetry::{Exporter, Telemetry};
pub use throttle::{Throttle, ThrottleProxy};

/// The environment variable naming the state file of a running environment.
pub const ENV_VAR: &str = "KEYSVC_TESTENV";

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An admin client for `context` in `kubeconfig`.
pub async fn client_for(kubeconfig: &Path, context: &str) -> Result<Client> {
    install_crypto();
    let kc = Kubeconfig::read_from(kubeconfig)?;
    let opts = KubeConfigOptions { context: Some(context.to_string()), ..Default::default() };
    let config = kube::Config::from_custom_kubeconfig(kc, &opts).await?;
    Ok(Client::try_from(config)?)
}

/// Polls `/readyz` until the server says ok.
pub async fn wait_ready(client: &Client, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let req = http::Request::get("/readyz").body(Vec::new())?;
        match client.request_text(req).await {
            Ok(body) if body.trim() == "ok" => return Ok(()),
            Ok(_) | Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Ok(body) => bail!("API server not ready after {timeout:?}: {body}"),
            Err(e) => bail!("API server not ready after {timeout:?}: {e}"),
        }
    }
}

/// Resolves once process `pid` is gone.
async fn exited(pid: u32) {
    while cluster::alive(pid) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Seeds a freshly started environment: nodes, roles, and namespace `api`
/// healthy in every region.
pub async fn seed(state: &State) -> Result<()> {
    let mut tasks = vec![];
    for r in state.regions.clone() {
        let kubeconfig = state.kubeconfig.clone();
        tasks.push(tokio::spawn(async move {
            let client = client_for(&kubeconfig, &r.name).await?;
            let pid = r.apiserver.pid;
            tokio::select! {
                ready = wait_ready(&client, Duration::from_secs(90)) => ready.with_context(|| format!("region {}", r.name))?,
                () = exited(pid) => bail!("region {}: kube-apiserver exited while starting; its log:\n{}", r.name, cluster::tail(&r.apiserver.log)),
            }
            scenario::seed_region(&client, &r).await?;
            scenario::apply(&client, &r, "api", Scenario::Healthy).await?;
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// A running environment, for tests. Methods are synchronous so that plain
/// `#[test]` functions can use them next to `assert_cmd`.
pub struct TestEnv {
    pub state: State,
    state_path: PathBuf,
    rt: tokio::runtime::Runtime,
}

impl TestEnv {
    /// The environment named by `KEYSVC_TESTENV`; an error saying how to start
    /// one when it is not set.
    pub fn load() -> Result<TestEnv> {
        install_crypto();
        let path = std::env::var_os(ENV_VAR).context(
            "the test cluster is not up: KEYSVC_TESTENV is not set (tests/run-all.sh starts it and runs every test)",
        )?;
        let state_path = PathBuf::from(path);
        let state = State::load(&state_path)?;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        Ok(TestEnv { state, state_path, rt })
    }

    /// The telemetry of the environment: Prometheus and NerdGraph URLs, the
    /// NerdGraph API key, the exporters.
    pub fn telemetry(&self) -> Result<&Telemetry> {
        self.state.telemetry()
    }

    /// Puts `region`'s exporter into `to` and waits until Prometheus (when
    /// running) shows it. Other tests see it too: a test that calls this
    /// holds the regions alone (see the cluster tests' exclusive cases).
    pub fn set_exporter(&self, region: &str, to: Exporter) -> Result<()> {
        // Read the state afresh: another process or case may have restarted
        // the exporter since this one was loaded.
        let mut state = State::load(&self.state_path)?;
        telemetry::set_exporter(&mut state, region, to)?;
        self.rt.block_on(telemetry::wait_prometheus(state.telemetry()?, region, to))
    }

    /// Prometheus's count of each region's targets up (a region with none is
    /// absent), by region.
    pub fn prometheus_counts(&self) -> Result<Vec<(String, usize)>> {
        let url = self.telemetry()?.prometheus_url()?;
        let port = url.rsplit(':').next().and_then(|p| p.parse().ok()).context("Prometheus URL without a port")?;
        self.rt.block_on(telemetry::prometheus_counts(port))
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.state.kubeconfig
    }

    /// Puts namespace `ns` of `region` into `scenario`; returns the pod names.
    pub fn scenario(&self, region: &str, ns: &str, scenario: Scenario) -> Result<Vec<String>> {
        let r = self.state.region(region)?.clone();
        self.rt.block_on(async {
            let client = client_for(&self.state.kubeconfig, region).await?;
            scenario::apply(&client, &r, ns, scenario).await
        })
    }

    /// Puts namespace `ns` of `region` into the given pods, in order.
    pub fn pods(&self, region: &str, ns: &str, kinds: &[scenario::PodKind]) -> Result<Vec<String>> {
        let r = self.state.region(region)?.clone();
        self.rt.block_on(async {
            let client = client_for(&self.state.kubeconfig, region).await?;
            scenario::apply_pods(&client, &r, ns, Scenario::Healthy, kinds).await
        })
    }

    /// Replaces the service's pods in namespace `ns` of `region` with pods
    /// of any spec and status.
    pub fn raw_pods(&self, region: &str, ns: &str, pods: &[scenario::RawPod]) -> Result<()> {
        self.rt.block_on(async {
            let client = client_for(&self.state.kubeconfig, region).await?;
            scenario::put_raw_pods(&client, ns, pods).await
        })
    }

    /// Puts namespace `ns` of `region` into a Deployment with the given
    /// revision history (whatever was there is cleared first).
    pub fn deploy(&self, region: &str, ns: &str, rollout: &Rollout) -> Result<Deployed> {
        let r = self.state.region(region)?.clone();
        self.rt.block_on(async {
            let client = client_for(&self.state.kubeconfig, region).await?;
            deployment::apply(&client, &r, ns, rollout).await
        })
    }

    /// Records an event about a pod, ReplicaSet or Deployment in `ns`;
    /// returns the event's name.
    pub fn event(&self, region: &str, ns: &str, spec: &EventSpec) -> Result<String> {
        let node = self.state.region(region)?.node.clone();
        self.rt.block_on(async {
            let client = client_for(&self.state.kubeconfig, region).await?;
            events::create(&client, ns, &spec.clone().host(&node)).await
        })
    }

    /// Makes a Ready pod's container have started `ago_secs` seconds ago.
    pub fn set_started(&self, region: &str, ns: &str, pod: &str, ago_secs: i64) -> Result<()> {
        self.rt.block_on(async {
            let client = client_for(&self.state.kubeconfig, region).await?;
            scenario::set_started(&client, ns, pod, jiff::SignedDuration::from_secs(ago_secs)).await
        })
    }

    pub fn delete_pod(&self, region: &str, ns: &str, name: &str) -> Result<()> {
        self.rt.block_on(async {
            let client = client_for(&self.state.kubeconfig, region).await?;
            scenario::delete_pod(&client, ns, name).await
        })
    }

    /// The most log reads of namespace `ns` the region's kubelet stand-in
    /// has been answering at once (0 before any).
    pub fn most_log_reads_at_once(&self, region: &str, ns: &str) -> Result<usize> {
        let r = self.state.region(region)?;
        match std::fs::read_to_string(kubelet::most_reads_marker(&r.logs_dir, ns)) {
            Ok(s) => Ok(s.trim().parse()?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the kubelet stand-in has been asked for this pod's logs.
    pub fn logs_requested(&self, region: &str, ns: &str, pod: &str) -> Result<bool> {
        let r = self.state.region(region)?;
        Ok(kubelet::requested_marker(&r.logs_dir, ns, pod, scenario::CONTAINER).exists())
    }

    /// Sets each region's scenario for namespace `ns` (regions not named are
    /// made healthy); returns the pod names per region in `REGIONS` order.
    pub fn scenarios(&self, ns: &str, set: &[(&str, Scenario)]) -> Result<Vec<Vec<String>>> {
        let mut out = vec![];
        for region in REGIONS {
            let s = set.iter().find(|(r, _)| *r == region).map_or(Scenario::Healthy, |(_, s)| *s);
            out.push(self.scenario(region, ns, s)?);
        }
        Ok(out)
    }

    /// Sets what one pod's container has logged.
    pub fn set_logs(&self, region: &str, ns: &str, pod: &str, spec: &LogSpec) -> Result<()> {
        let r = self.state.region(region)?;
        kubelet::write_spec(&r.logs_dir, ns, pod, scenario::CONTAINER, spec)
    }

    pub fn apiserver_addr(&self, region: &str) -> Result<SocketAddr> {
        Ok(SocketAddr::from(([127, 0, 0, 1], self.state.region(region)?.apiserver_port)))
    }

    /// A fault proxy in front of `region`'s API server.
    pub fn proxy(&self, region: &str, fault: Fault) -> Result<FaultProxy> {
        Ok(FaultProxy::start(self.apiserver_addr(region)?, fault))
    }

    /// A proxy in front of the API server of kubeconfig context `context`
    /// that answers some requests itself as an API server under load does
    /// (see [`Throttle`]) and passes the rest on as `context`'s user.
    pub fn throttle_proxy(&self, context: &str, throttle: Throttle) -> Result<ThrottleProxy> {
        ThrottleProxy::start(&self.state.kubeconfig, context, &self.state.ca_key_dir, throttle)
    }

    /// Writes a kubeconfig whose named regions point at other servers.
    pub fn kubeconfig_with(&self, path: &Path, servers: &[(&str, String)]) -> Result<()> {
        cluster::write_kubeconfig_with(&self.state, path, servers)
    }

    /// The environment's kubeconfig as JSON, for tests that need a variant
    /// (another CA, unknown credentials, an exec plugin).
    pub fn kubeconfig_json(&self) -> Result<serde_json::Value> {
        Ok(serde_json::from_slice(&std::fs::read(&self.state.kubeconfig)?)?)
    }

    fn save(&self) -> Result<()> {
        let tmp = self.state_path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&self.state)?)?;
        std::fs::rename(tmp, &self.state_path)?;
        Ok(())
    }

    pub fn stop_apiserver(&mut self, region: &str) -> Result<()> {
        cluster::stop(self.state.region(region)?.apiserver.pid);
        Ok(())
    }

    /// Starts a stopped region's API server again and waits until it is ready.
    pub fn start_apiserver(&mut self, region: &str) -> Result<()> {
        let r = self.state.region_mut(region)?;
        if !cluster::alive(r.apiserver.pid) {
            let p = r.apiserver.clone();
            r.apiserver = cluster::spawn(&p.program, p.args, p.log)?;
        }
        self.save()?;
        let kubeconfig = self.state.kubeconfig.clone();
        self.rt.block_on(async {
            let client = client_for(&kubeconfig, region).await?;
            wait_ready(&client, Duration::from_secs(60)).await
        })
    }

    pub fn stop_kubelet(&mut self, region: &str) -> Result<()> {
        cluster::stop(self.state.region(region)?.kubelet.pid);
        Ok(())
    }

    pub fn start_kubelet(&mut self, region: &str) -> Result<()> {
        let r = self.state.region_mut(region)?;
        if !cluster::alive(r.kubelet.pid) {
            let p = r.kubelet.clone();
            r.kubelet = cluster::spawn(&p.program, p.args, p.log)?;
        }
        let (port, pid, log) = (r.kubelet_port, r.kubelet.pid, r.kubelet.log.clone());
        self.save()?;
        cluster::wait_port(port, pid, "kubelet stand-in", &log, Duration::from_secs(30))
    }

    /// Every audit event `region`'s API server has logged so far.
    pub fn audit_events(&self, region: &str) -> Result<Vec<serde_json::Value>> {
        let path = &self.state.region(region)?.audit_log;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }

    /// A client certificate from the environment's own CA that has expired.
    pub fn expired_client_cert(&self, user: &str) -> Result<certs::Pair> {
        let ca = certs::Ca::load(&self.state.ca_key_dir, "ca")?;
        let mut ca = ca;
        ca.set_dir(&tempfile::tempdir()?.keep());
        ca.expired_client("expired", user)
    }
}
