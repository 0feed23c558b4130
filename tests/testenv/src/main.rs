//! `keysvc-testenv`: starts and stops the three-region test environment, runs
//! the kubelet stand-in, sets scenarios by hand, puts latency in front of the
//! regions, and runs the demo.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use keysvc_testenv::{
    Behavior, Exporter, Fault, FaultProxy, HealthzServer, Scenario, State, Telemetry, Throttle, ThrottleProxy, cluster,
    kubelet, nerdgraph, telemetry,
};

#[derive(Parser)]
#[command(about = "The three-region Kubernetes test environment for keysvc-check")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// A namespace in one region of a running environment.
#[derive(clap::Args)]
struct Place {
    #[arg(long, env = "KEYSVC_TESTENV")]
    state: PathBuf,
    #[arg(long)]
    region: String,
    #[arg(long, default_value = "api")]
    namespace: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start etcd, three API servers and kubelet stand-ins; seed them; print the state file.
    Up {
        /// Where state, certificates and logs go (default: a new temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The kube-apiserver binary.
        #[arg(long, env = "KEYSVC_APISERVER")]
        apiserver: Option<PathBuf>,
        /// The etcd binary.
        #[arg(long, env = "KEYSVC_ETCD", default_value = "/usr/bin/etcd")]
        etcd: PathBuf,
        /// The Prometheus binary (without one, the rest still comes up).
        #[arg(long, env = "KEYSVC_PROMETHEUS", default_value = "prometheus")]
        prometheus: PathBuf,
    },
    /// Stop every process a state file names.
    Down {
        #[arg(long, env = "KEYSVC_TESTENV")]
        state: PathBuf,
    },
    /// Put one region's namespace into a scenario.
    Scenario {
        #[command(flatten)]
        at: Place,
        scenario: Scenario,
    },
    /// Put one region's namespace into a Deployment whose revisions run these
    /// versions of the service (the last is current), with three ready pods.
    Deploy {
        #[command(flatten)]
        at: Place,
        /// e.g. `1.4.2 1.4.3`
        #[arg(required = true)]
        versions: Vec<String>,
        /// Ready pods of the current revision.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=500))]
        replicas: u16,
    },
    /// Make a pod's container log COUNT generated lines (one in ERROR_EVERY an error).
    Logs {
        #[command(flatten)]
        at: Place,
        #[arg(long)]
        pod: String,
        #[arg(long)]
        count: u64,
        #[arg(long, default_value_t = 1000)]
        error_every: u64,
        /// Spread the lines evenly over this many seconds before now.
        #[arg(long, default_value_t = 240.0)]
        span_secs: f64,
    },
    /// Put an API server under load in front of one region's: a proxy that
    /// answers requests with 429 (and `Retry-After`), 503 or 504 before
    /// passing them on. Writes a kubeconfig whose region goes through it,
    /// prints its path and runs until SIGTERM or SIGINT. Upstream, every
    /// request goes as the user of `--as`'s context for that region.
    Throttle {
        #[arg(long, env = "KEYSVC_TESTENV")]
        state: PathBuf,
        #[arg(long)]
        region: String,
        /// The status answered.
        #[arg(long, default_value_t = 429, value_parser = clap::value_parser!(u16).range(400..=599))]
        status: u16,
        /// `Retry-After` seconds sent with it (none when 0).
        #[arg(long, default_value_t = 1)]
        retry_after: u64,
        /// Answer the first N of each request (method, path and query), then
        /// pass it on.
        #[arg(long, default_value_t = 1, conflicts_with = "always")]
        first: u32,
        /// Answer every request: the pushback never ends.
        #[arg(long)]
        always: bool,
        /// The user the proxy speaks as upstream: oncall, evidence, nologs,
        /// token… (context `USER@REGION`).
        #[arg(long = "as", default_value = "oncall")]
        user: String,
        /// Where to write the kubeconfig (the environment's, the region's
        /// server replaced).
        #[arg(long)]
        kubeconfig: PathBuf,
    },
    /// Put a proxy with this round-trip time in front of every region's API
    /// server, write a kubeconfig that goes through them, print its path and
    /// run until SIGTERM or SIGINT.
    Proxy {
        #[arg(long, env = "KEYSVC_TESTENV")]
        state: PathBuf,
        /// Round-trip time added to every region (half each way).
        #[arg(long)]
        latency_ms: u64,
        /// Make this many regions instead of the environment's three: region
        /// `rNN` (r00, r01, …) is a cluster of its own in the kubeconfig, with
        /// the usual contexts (`oncall@rNN`, `evidence@rNN`…), reached through
        /// its own proxy to the API server of the environment's region NN mod 3
        /// (us-south, us-east, eu-de), so it sees that region's pods.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=200))]
        regions: Option<u16>,
        /// Where to write the kubeconfig (the environment's, servers replaced).
        #[arg(long)]
        kubeconfig: PathBuf,
    },
    /// Bring the environment up, make it degraded, run `keysvc-check diagnose` against it, tear down
    /// (or, with --keep, leave it running and say how to use it).
    Demo {
        /// The keysvc-check binary.
        #[arg(long)]
        keysvc_check: PathBuf,
        /// Leave the environment running afterwards (stop it with `keysvc-testenv down`).
        #[arg(long)]
        keep: bool,
        #[arg(long, env = "KEYSVC_APISERVER")]
        apiserver: Option<PathBuf>,
        #[arg(long, env = "KEYSVC_ETCD", default_value = "/usr/bin/etcd")]
        etcd: PathBuf,
    },
    /// Stop or start one region's telemetry exporter, or make only N of its
    /// pods' scrape targets answer; waits until Prometheus shows it.
    Telemetry {
        #[arg(long, env = "KEYSVC_TESTENV")]
        state: PathBuf,
        #[arg(long)]
        region: String,
        #[command(subcommand)]
        action: TelemetryAction,
    },
    /// (internal) One region's exporter: a scrape target per port.
    #[command(hide = true)]
    Exporter {
        #[arg(long)]
        region: String,
        #[arg(long, value_delimiter = ',')]
        ports: Vec<u16>,
        #[arg(long)]
        pods_file: PathBuf,
    },
    /// (internal) The NerdGraph stand-in; writes its URL to URL_FILE.
    #[command(hide = true)]
    Nerdgraph {
        #[arg(long)]
        url_file: PathBuf,
        #[arg(long)]
        key_file: PathBuf,
        #[arg(long)]
        account_id: u64,
        /// REGION=PORT,PORT,… per region.
        #[arg(long = "target")]
        targets: Vec<String>,
    },
    /// (internal) A healthz stand-in answering as the healthy service; writes its URL to URL_FILE.
    #[command(hide = true)]
    Healthz {
        #[arg(long)]
        url_file: PathBuf,
    },
    /// (internal) The kubelet stand-in.
    #[command(hide = true)]
    Kubelet {
        #[arg(long)]
        listen: String,
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        logs_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum TelemetryAction {
    /// Stop the exporter: every target of the region is down.
    Stop,
    /// Run the exporter with every target answering.
    Start,
    /// Run the exporter with only N targets answering (the others answer 503).
    Pods {
        #[arg(value_parser = clap::value_parser!(u8).range(0..=3))]
        n: u8,
    },
}

fn default_apiserver() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    std::env::var_os("KEYSVC_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/keysvc-check"))
        .join("kube-apiserver")
}

async fn up(dir: Option<PathBuf>, apiserver: Option<PathBuf>, etcd: PathBuf, prometheus: PathBuf) -> Result<State> {
    let dir = match dir {
        Some(d) => d,
        None => tempfile::Builder::new().prefix(TEMP_PREFIX).tempdir()?.keep(),
    };
    let bins = cluster::Binaries {
        apiserver: apiserver.unwrap_or_else(default_apiserver),
        etcd,
        testenv: std::env::current_exe()?,
    };
    anyhow::ensure!(
        bins.apiserver.exists(),
        "no kube-apiserver at {} (tests/cluster/build-apiserver.sh builds it)",
        bins.apiserver.display()
    );
    // The telemetry comes up while the regions do.
    let tel = tokio::spawn(telemetry::start(dir.join("telemetry"), bins.testenv.clone(), prometheus));
    let d = dir.clone();
    let state = match tokio::task::spawn_blocking(move || cluster::up(&d, &bins)).await? {
        Ok(s) => s,
        Err(e) => {
            if let Ok(s) = State::load(&State::path(&dir)) {
                cluster::down(&s);
            }
            stop_telemetry(tel.await);
            return Err(e);
        }
    };
    let mut state = state;
    let seeded = keysvc_testenv::seed(&state).await;
    match tel.await {
        Ok(Ok(t)) => state.telemetry = Some(t),
        Ok(Err(e)) => {
            cluster::down(&state);
            return Err(e.context("starting the telemetry exporters and NerdGraph stand-in"));
        }
        Err(e) => {
            cluster::down(&state);
            return Err(e.into());
        }
    }
    state.save()?;
    if let Err(e) = seeded {
        cluster::down(&state);
        return Err(e);
    }
    if let Err(e) = start_healthz(&mut state).await {
        cluster::down(&state);
        return Err(e);
    }
    Ok(state)
}

fn stop_telemetry(started: Result<Result<Telemetry>, tokio::task::JoinError>) {
    if let Ok(Ok(t)) = started {
        for p in t.procs() {
            cluster::stop(p.pid);
        }
    }
}

/// The name `up` gives the directories it makes itself.
const TEMP_PREFIX: &str = "keysvc-testenv-";

/// Starts the healthz stand-in process, waits for its URL, records it in
/// the state, and writes the runbook for use by hand next to the state.
async fn start_healthz(state: &mut State) -> Result<()> {
    let url_file = state.dir.join("healthz.url");
    let proc = cluster::spawn(
        &std::env::current_exe()?,
        vec!["healthz".into(), "--url-file".into(), url_file.display().to_string()],
        state.dir.join("healthz.log"),
    )?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let url = loop {
        if let Ok(u) = std::fs::read_to_string(&url_file)
            && !u.is_empty()
        {
            break u;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "the healthz stand-in did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut runbook = DEMO_RUNBOOK.replace("HEALTHZ_URL", &url);
    // With Prometheus running, the runbook asks it whether the telemetry arrives.
    if let Some(prometheus) = state.telemetry.as_ref().and_then(|t| t.prometheus_url.as_deref()) {
        runbook.push_str(&format!("telemetry:\n  provider: prometheus\n  url: {prometheus}\n"));
    }
    std::fs::write(state.dir.join("runbook.yaml"), runbook)?;
    state.healthz = Some((proc, url));
    state.save()
}

/// How to use a running environment by hand: what to export and three
/// commands to try.
fn by_hand(state: &State) -> String {
    let runbook = state.dir.join("runbook.yaml");
    let url = state.healthz.as_ref().map_or("", |(_, u)| u.as_str());
    format!(
        "testenv: three regions are up (us-south, us-east, eu-de), namespace api, healthz {url}
testenv: runbook for them: {runbook} (environment `local`, contexts oncall@REGION)
testenv: use them from this shell:
  export KUBECONFIG={kubeconfig} KEYSVC_RUNBOOK={runbook} KEYSVC_TESTENV={state_file}
  keysvc-check diagnose --env local
  keysvc-testenv scenario --region us-east crash-loop   # then diagnose again; see `keysvc-testenv scenario --help`
  kubectl --context oncall@us-east get po -n api
testenv: other users: evidence@REGION (also events, replicasets, deployments), nologs@REGION (no pods/log), nobody@REGION (no permissions), token@REGION (oncall by a bearer token), admin contexts us-south, us-east, eu-de
{telemetry}testenv: stop it and remove its files: keysvc-testenv down --state {state_file}
",
        telemetry = state.telemetry.as_ref().map(telemetry::by_hand).unwrap_or_default(),
        kubeconfig = state.kubeconfig.display(),
        runbook = runbook.display(),
        state_file = State::path(&state.dir).display(),
    )
}

const DEMO_RUNBOOK: &str = r#"service: Key Service API
namespace: api
selector: app=api-key-service
container: api-key-service
expected_ready: 3
environments:
  local:
    healthz_url: HEALTHZ_URL
    regions:
      us-south: { context: oncall@us-south }
      us-east: { context: oncall@us-east }
      eu-de: { context: oncall@eu-de }
"#;

async fn demo(keysvc_check: PathBuf, keep: bool, apiserver: Option<PathBuf>, etcd: PathBuf) -> Result<u8> {
    eprintln!("testenv: bringing up three local regions (us-south, us-east, eu-de)");
    let state = up(None, apiserver, etcd, PathBuf::from("prometheus")).await?;
    let result = async {
        let client = keysvc_testenv::client_for(&state.kubeconfig, "us-east").await?;
        keysvc_testenv::scenario::apply(&client, state.region("us-east")?, "api", Scenario::CrashLoop).await?;
        let runbook = state.dir.join("runbook.yaml");
        eprintln!("testenv: us-east has a crash-looping pod; running keysvc-check diagnose --env local\n");
        let status = tokio::process::Command::new(&keysvc_check)
            .args(["diagnose", "--env", "local", "--runbook"])
            .arg(&runbook)
            .arg("--kubeconfig")
            .arg(&state.kubeconfig)
            .status()
            .await
            .with_context(|| format!("running {}", keysvc_check.display()))?;
        let code = status.code().unwrap_or(70);
        eprintln!("\ntestenv: keysvc-check exited {code}");
        anyhow::Ok(code as u8)
    }
    .await;
    if keep && result.is_ok() {
        eprint!("\n{}", by_hand(&state));
        return result;
    }
    cluster::down(&state);
    let _ = std::fs::remove_dir_all(&state.dir);
    result
}

/// Serves every region through a latency proxy until told to stop.
async fn proxy(state: &State, rtt: Duration, kubeconfig: &std::path::Path, regions: Option<u16>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Listen for the signals first, so a stop sent right after the path is
    // printed is not missed.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let latency =
        |port: u16| FaultProxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], port)), Fault::Latency(rtt));
    // The proxies listen on 127.0.0.1, which the API servers' certificates
    // name, so TLS verifies as it does without them.
    let (_proxies, written) = match regions {
        None => {
            let proxies: Vec<(&str, FaultProxy)> =
                state.regions.iter().map(|r| (r.name.as_str(), latency(r.apiserver_port))).collect();
            let servers: Vec<(&str, String)> = proxies.iter().map(|(name, p)| (*name, p.url())).collect();
            (
                proxies.into_iter().map(|(_, p)| p).collect::<Vec<_>>(),
                cluster::write_kubeconfig_with(state, kubeconfig, &servers),
            )
        }
        Some(n) => {
            let proxies: Vec<(String, FaultProxy)> = (0..usize::from(n))
                .map(|i| (format!("r{i:02}"), latency(state.regions[i % state.regions.len()].apiserver_port)))
                .collect();
            let clusters: Vec<(String, String)> = proxies.iter().map(|(name, p)| (name.clone(), p.url())).collect();
            (
                proxies.into_iter().map(|(_, p)| p).collect(),
                cluster::write_kubeconfig_clusters(state, kubeconfig, &clusters),
            )
        }
    };
    written.with_context(|| format!("writing {}", kubeconfig.display()))?;
    println!("{}", kubeconfig.display());
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Serves one region through a throttling proxy until told to stop.
async fn throttle_region(
    state: &State,
    region: &str,
    user: &str,
    throttle: Throttle,
    kubeconfig: &std::path::Path,
) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let context = format!("{user}@{region}");
    let (kc, ca) = (state.kubeconfig.clone(), state.ca_key_dir.clone());
    let proxy = tokio::task::spawn_blocking(move || ThrottleProxy::start(&kc, &context, &ca, throttle))
        .await?
        .with_context(|| format!("starting the throttling proxy as {user}@{region}"))?;
    cluster::write_kubeconfig_with(state, kubeconfig, &[(region, proxy.url())])
        .with_context(|| format!("writing {}", kubeconfig.display()))?;
    println!("{}", kubeconfig.display());
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("keysvc-testenv: answered {} of {} requests itself", proxy.answered(), proxy.requests());
    Ok(())
}

fn main() -> ExitCode {
    keysvc_testenv::install_crypto();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let result: Result<u8> = rt.block_on(async {
        match cli.cmd {
            Cmd::Up { dir, apiserver, etcd, prometheus } => {
                let state = up(dir, apiserver, etcd, prometheus).await?;
                // stdout is the state file alone (scripts read it); how to
                // use the environment by hand goes to stderr.
                println!("{}", State::path(&state.dir).display());
                eprint!("{}", by_hand(&state));
                Ok(0)
            }
            Cmd::Down { state } => {
                let s = State::load(&state)?;
                cluster::down(&s);
                // A directory `up` made itself holds the environment's private
                // keys: it goes too. One given with --dir is the user's.
                if s.dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with(TEMP_PREFIX)) {
                    std::fs::remove_dir_all(&s.dir).with_context(|| format!("removing {}", s.dir.display()))?;
                }
                Ok(0)
            }
            Cmd::Telemetry { state, region, action } => {
                let to = match action {
                    TelemetryAction::Stop => Exporter::Stopped,
                    TelemetryAction::Start => Exporter::Up,
                    TelemetryAction::Pods { n } => Exporter::Pods(usize::from(n)),
                };
                let mut s = State::load(&state)?;
                let r = region.clone();
                let s =
                    tokio::task::spawn_blocking(move || telemetry::set_exporter(&mut s, &r, to).map(|()| s)).await??;
                telemetry::wait_prometheus(s.telemetry()?, &region, to).await?;
                Ok(0)
            }
            Cmd::Exporter { region, ports, pods_file } => {
                telemetry::run_exporter(region, ports, pods_file).await?;
                Ok(0)
            }
            Cmd::Nerdgraph { url_file, key_file, account_id, targets } => {
                let api_key = std::fs::read_to_string(&key_file)?.trim().to_string();
                let targets = targets
                    .iter()
                    .map(|t| {
                        let (region, ports) = t.split_once('=').context("--target REGION=PORT,…")?;
                        let ports = ports.split(',').map(str::parse).collect::<Result<Vec<u16>, _>>()?;
                        anyhow::Ok((region.to_string(), ports))
                    })
                    .collect::<Result<Vec<_>>>()?;
                nerdgraph::run(nerdgraph::Config { api_key, account_id, targets }, &url_file).await?;
                Ok(0)
            }
            Cmd::Healthz { url_file } => {
                let server = HealthzServer::start(Behavior::Healthy);
                std::fs::write(&url_file, &server.url)?;
                std::future::pending::<()>().await;
                Ok(0)
            }
            Cmd::Scenario { at: Place { state, region, namespace }, scenario } => {
                let s = State::load(&state)?;
                let client = keysvc_testenv::client_for(&s.kubeconfig, &region).await?;
                let pods = keysvc_testenv::scenario::apply(&client, s.region(&region)?, &namespace, scenario).await?;
                for p in pods {
                    println!("{p}");
                }
                Ok(0)
            }
            Cmd::Deploy { at: Place { state, region, namespace }, versions, replicas } => {
                let s = State::load(&state)?;
                let client = keysvc_testenv::client_for(&s.kubeconfig, &region).await?;
                let versions: Vec<&str> = versions.iter().map(String::as_str).collect();
                let rollout = keysvc_testenv::Rollout::versions(&versions)
                    .pods(&vec![keysvc_testenv::scenario::PodKind::Ready; usize::from(replicas)]);
                let made = keysvc_testenv::deployment::apply(&client, s.region(&region)?, &namespace, &rollout).await?;
                for p in made.pods {
                    println!("{p}");
                }
                Ok(0)
            }
            Cmd::Logs { at: Place { state, region, namespace }, pod, count, error_every, span_secs } => {
                let s = State::load(&state)?;
                let mut spec = keysvc_testenv::scenario::volume_logs(count, error_every);
                if let Some(g) = spec.generate.as_mut() {
                    g.span_secs = span_secs;
                }
                kubelet::write_spec(
                    &s.region(&region)?.logs_dir,
                    &namespace,
                    &pod,
                    keysvc_testenv::scenario::CONTAINER,
                    &spec,
                )?;
                Ok(0)
            }
            Cmd::Throttle { state, region, status, retry_after, first, always, user, kubeconfig } => {
                let state = State::load(&state)?;
                state.region(&region)?;
                let throttle = Throttle {
                    status,
                    retry_after: (retry_after > 0).then_some(retry_after),
                    first: (!always).then_some(first),
                };
                throttle_region(&state, &region, &user, throttle, &kubeconfig).await?;
                Ok(0)
            }
            Cmd::Proxy { state, latency_ms, kubeconfig, regions } => {
                proxy(&State::load(&state)?, Duration::from_millis(latency_ms), &kubeconfig, regions).await?;
                Ok(0)
            }
            Cmd::Demo { keysvc_check, keep, apiserver, etcd } => demo(keysvc_check, keep, apiserver, etcd).await,
            Cmd::Kubelet { listen, cert, key, ca, logs_dir } => {
                let listener =
                    tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("binding {listen}"))?;
                kubelet::run(listener, cert, key, ca, logs_dir).await?;
                Ok(0)
            }
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("keysvc-testenv: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
