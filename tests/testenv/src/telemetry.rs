//! The telemetry the service would report, for the runbook's telemetry step:
//! one exporter process per region serving a scrape target per pod, a
//! Prometheus scraping them every second, and a NerdGraph stand-in (see
//! [`crate::nerdgraph`]) that answers from the same exporters, probed live.
//! `keysvc-testenv up` starts them; tests stop, start and thin out a region's
//! exporter through [`set_exporter`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cluster::{self, Proc, REGIONS, State};

/// Scrape targets (pods) per region.
pub const PODS: usize = 3;
/// The Prometheus job of every target.
pub const JOB: &str = "api-key-service";
/// The New Relic account the NerdGraph stand-in answers for.
pub const ACCOUNT_ID: u64 = 1;
/// The query that counts each region's targets answering.
pub const PROMETHEUS_QUERY: &str = r#"count by (region) (up{job="api-key-service"} == 1)"#;

/// One region's exporter: a process serving [`PODS`] targets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExporterState {
    pub region: String,
    /// One port per pod, `http://127.0.0.1:PORT/metrics`.
    pub ports: Vec<u16>,
    pub proc: Proc,
    /// Holds how many targets answer (the others answer 503); all when absent.
    pub pods_file: PathBuf,
}

/// What `up` started for the telemetry step, as recorded in the state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Telemetry {
    pub exporters: Vec<ExporterState>,
    /// `http://127.0.0.1:PORT` (the tool calls `{url}/api/v1/query`); none
    /// when Prometheus could not start (see `prometheus_error`).
    pub prometheus_url: Option<String>,
    pub prometheus: Option<Proc>,
    /// Why Prometheus is not running.
    pub prometheus_error: Option<String>,
    /// The full URL, `/graphql` included.
    pub nerdgraph_url: String,
    pub nerdgraph: Proc,
    /// The key the stand-in requires in header `API-Key` (`NRAK-…`).
    pub api_key: String,
    pub account_id: u64,
}

impl Telemetry {
    /// Prometheus's base URL, or why there is none.
    pub fn prometheus_url(&self) -> Result<&str> {
        match &self.prometheus_url {
            Some(u) => Ok(u),
            None => bail!(
                "Prometheus is not running in the test environment: {}",
                self.prometheus_error.as_deref().unwrap_or("unknown reason")
            ),
        }
    }

    pub fn exporter(&self, region: &str) -> Result<&ExporterState> {
        self.exporters.iter().find(|e| e.region == region).with_context(|| format!("no exporter for region {region}"))
    }

    fn exporter_mut(&mut self, region: &str) -> Result<&mut ExporterState> {
        self.exporters
            .iter_mut()
            .find(|e| e.region == region)
            .with_context(|| format!("no exporter for region {region}"))
    }

    /// Every process it runs.
    pub fn procs(&self) -> Vec<&Proc> {
        let mut p: Vec<&Proc> = self.exporters.iter().map(|e| &e.proc).collect();
        p.push(&self.nerdgraph);
        p.extend(self.prometheus.as_ref());
        p
    }
}

/// How a region's exporter is to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exporter {
    /// Running, every target answering.
    Up,
    /// Stopped: every target refuses connections.
    Stopped,
    /// Running, only the first N targets answering (the others answer 503).
    Pods(usize),
}

impl Exporter {
    /// The targets answering.
    pub fn answering(self) -> usize {
        match self {
            Exporter::Up => PODS,
            Exporter::Stopped => 0,
            Exporter::Pods(n) => n.min(PODS),
        }
    }
}

/// A key of New Relic's user key format: `NRAK-` and 27 uppercase alphanumerics.
pub fn new_api_key() -> Result<String> {
    use std::io::Read;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = [0u8; 27];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let tail: String = bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    Ok(format!("NRAK-{tail}"))
}

fn exporter_args(e: &ExporterState) -> Vec<String> {
    let ports: Vec<String> = e.ports.iter().map(u16::to_string).collect();
    vec![
        "exporter".into(),
        format!("--region={}", e.region),
        format!("--ports={}", ports.join(",")),
        format!("--pods-file={}", e.pods_file.display()),
    ]
}

fn wait_exporter(e: &ExporterState) -> Result<()> {
    for port in &e.ports {
        let what = format!("the {} exporter", e.region);
        cluster::wait_port(*port, e.proc.pid, &what, &e.proc.log, Duration::from_secs(20))?;
    }
    Ok(())
}

/// Starts the exporters, the NerdGraph stand-in and (when `prometheus` can
/// run) Prometheus, with their files in `dir`; waits until Prometheus has
/// scraped every target. A Prometheus that cannot start is recorded, not an
/// error.
pub async fn start(dir: PathBuf, testenv: PathBuf, prometheus: PathBuf) -> Result<Telemetry> {
    let mut started: Vec<Proc> = vec![];
    let result = start_inner(&dir, &testenv, &prometheus, &mut started).await;
    if result.is_err() {
        for p in &started {
            cluster::stop(p.pid);
        }
    }
    result
}

async fn start_inner(dir: &Path, testenv: &Path, prometheus: &Path, started: &mut Vec<Proc>) -> Result<Telemetry> {
    std::fs::create_dir_all(dir)?;
    let mut exporters = vec![];
    for (i, region) in REGIONS.iter().enumerate() {
        let ports = (0..PODS).map(|p| cluster::port(8 + (i * PODS + p) as u16)).collect::<Result<Vec<_>>>()?;
        let mut e = ExporterState {
            region: region.to_string(),
            ports,
            proc: Proc {
                pid: 0,
                program: testenv.to_path_buf(),
                args: vec![],
                log: dir.join(format!("exporter-{region}.log")),
            },
            pods_file: dir.join(format!("exporter-{region}.pods")),
        };
        e.proc = cluster::spawn(testenv, exporter_args(&e), e.proc.log.clone())?;
        started.push(e.proc.clone());
        exporters.push(e);
    }
    let api_key = new_api_key()?;
    let key_file = dir.join("nerdgraph.key");
    std::fs::write(&key_file, &api_key)?;
    let url_file = dir.join("nerdgraph.url");
    let mut args = vec![
        "nerdgraph".into(),
        format!("--url-file={}", url_file.display()),
        format!("--key-file={}", key_file.display()),
        format!("--account-id={ACCOUNT_ID}"),
    ];
    for e in &exporters {
        let ports: Vec<String> = e.ports.iter().map(u16::to_string).collect();
        args.push(format!("--target={}={}", e.region, ports.join(",")));
    }
    let nerdgraph = cluster::spawn(testenv, args, dir.join("nerdgraph.log"))?;
    started.push(nerdgraph.clone());
    let (prom, prometheus_error) = match start_prometheus(dir, prometheus, &exporters).await {
        Ok((proc, url)) => (Some((proc, url)), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    for e in &exporters {
        wait_exporter(e)?;
    }
    let nerdgraph_url = wait_file(&url_file, nerdgraph.pid, &nerdgraph.log, "the NerdGraph stand-in").await?;
    Ok(Telemetry {
        exporters,
        prometheus_url: prom.as_ref().map(|(_, u)| u.clone()),
        prometheus: prom.map(|(p, _)| p),
        prometheus_error,
        nerdgraph_url,
        nerdgraph,
        api_key,
        account_id: ACCOUNT_ID,
    })
}

async fn wait_file(path: &Path, pid: u32, log: &Path, what: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && !s.is_empty()
        {
            return Ok(s);
        }
        if !cluster::alive(pid) {
            bail!("{what} exited while starting; its log:\n{}", cluster::tail(log));
        }
        anyhow::ensure!(Instant::now() < deadline, "{what} did not start; its log:\n{}", cluster::tail(log));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Prometheus's configuration: every target every second, labelled with
/// its region and pod.
pub fn prometheus_config(exporters: &[ExporterState]) -> String {
    let mut s = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: {JOB}\n    static_configs:\n"
    );
    for e in exporters {
        for (i, port) in e.ports.iter().enumerate() {
            s.push_str(&format!(
                "      - targets: ['127.0.0.1:{port}']\n        labels: {{ region: {region}, pod: {JOB}-{region}-{i} }}\n",
                region = e.region
            ));
        }
    }
    s
}

/// `prometheus` as given, or found on PATH.
fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

async fn start_prometheus(dir: &Path, program: &Path, exporters: &[ExporterState]) -> Result<(Proc, String)> {
    let Some(program) = find_program(program) else {
        bail!("no `{}` program (tests/run-all.sh installs Debian's prometheus package)", program.display());
    };
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, prometheus_config(exporters))?;
    let port = cluster::port(8 + (REGIONS.len() * PODS) as u16)?;
    let args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.join("prometheus-data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--storage.tsdb.retention.time=1d".into(),
        "--log.level=warn".into(),
    ];
    let proc = cluster::spawn(&program, args, dir.join("prometheus.log"))?;
    let url = format!("http://127.0.0.1:{port}");
    let expected: Vec<(&str, usize)> = REGIONS.iter().map(|r| (*r, PODS)).collect();
    if let Err(e) = wait_counts(port, Some(proc.pid), &expected, Duration::from_secs(30)).await {
        cluster::stop(proc.pid);
        return Err(e.context(format!("Prometheus did not come up; its log:\n{}", cluster::tail(&proc.log))));
    }
    Ok((proc, url))
}

/// A plain HTTP/1.0 GET of `path` on 127.0.0.1:`port`: status and body.
pub async fn http_get(port: u16, path: &str, timeout: Duration) -> Result<(u16, String)> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes()).await?;
        let mut buf = vec![];
        s.read_to_end(&mut buf).await?;
        anyhow::Ok(buf)
    };
    let buf = tokio::time::timeout(timeout, exchange).await.context("no answer in time")??;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP header")?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no HTTP status")?;
    Ok((status, body.to_string()))
}

/// Percent-encodes a query parameter.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Prometheus's answer to [`PROMETHEUS_QUERY`]: (region, targets up), by region.
pub async fn prometheus_counts(port: u16) -> Result<Vec<(String, usize)>> {
    let (status, body) =
        http_get(port, &format!("/api/v1/query?query={}", encode(PROMETHEUS_QUERY)), Duration::from_secs(5)).await?;
    anyhow::ensure!(status == 200, "Prometheus answered {status}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body)?;
    let mut out = vec![];
    for r in v["data"]["result"].as_array().into_iter().flatten() {
        let region = r["metric"]["region"].as_str().unwrap_or_default().to_string();
        let n = r["value"][1].as_str().and_then(|n| n.parse().ok()).unwrap_or(0);
        out.push((region, n));
    }
    out.sort();
    Ok(out)
}

/// Polls Prometheus until each of `expected`'s regions has that many targets
/// up (0: the region is absent from the answer).
pub async fn wait_counts(port: u16, pid: Option<u32>, expected: &[(&str, usize)], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = prometheus_counts(port).await;
        if let Ok(seen) = &seen {
            let count = |region: &str| seen.iter().find(|(r, _)| r == region).map_or(0, |(_, n)| *n);
            if expected.iter().all(|(r, n)| count(r) == *n) {
                return Ok(());
            }
        }
        if let Some(pid) = pid
            && !cluster::alive(pid)
        {
            bail!("Prometheus exited");
        }
        if Instant::now() > deadline {
            bail!("Prometheus did not show {expected:?} within {timeout:?} (last answer: {seen:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Puts `region`'s exporter into `to`, records it in the state and saves it.
/// Prometheus notices within a scrape (see [`wait_prometheus`]).
pub fn set_exporter(state: &mut State, region: &str, to: Exporter) -> Result<()> {
    state.region(region).with_context(|| format!("the regions are {}", REGIONS.join(", ")))?;
    let t = state.telemetry.as_mut().context("the test environment runs no telemetry (started before it had any?)")?;
    let e = t.exporter_mut(region)?;
    match to {
        Exporter::Stopped => cluster::stop(e.proc.pid),
        Exporter::Up | Exporter::Pods(_) => {
            std::fs::write(&e.pods_file, to.answering().to_string())?;
            if !cluster::alive(e.proc.pid) {
                e.proc = cluster::spawn(&e.proc.program, exporter_args(e), e.proc.log.clone())?;
                wait_exporter(e)?;
            }
        }
    }
    state.save()
}

/// Waits until Prometheus shows `to` for `region` (a no-op without Prometheus).
pub async fn wait_prometheus(t: &Telemetry, region: &str, to: Exporter) -> Result<()> {
    let Some(url) = &t.prometheus_url else { return Ok(()) };
    let port = url.rsplit(':').next().and_then(|p| p.parse().ok()).context("Prometheus URL without a port")?;
    wait_counts(port, None, &[(region, to.answering())], Duration::from_secs(30)).await
}

/// What `up` says about the telemetry, for use by hand.
pub fn by_hand(t: &Telemetry) -> String {
    let prometheus = match &t.prometheus_url {
        Some(u) => format!("Prometheus {u} (job {JOB}, {PODS} targets per region)"),
        None => format!("Prometheus NOT running: {}", t.prometheus_error.as_deref().unwrap_or("unknown reason")),
    };
    format!(
        "testenv: telemetry: {prometheus}
testenv: telemetry: NerdGraph stand-in {url} (account {account}); its key, for newrelic runbooks:
  export NEW_RELIC_API_KEY={key}
  keysvc-testenv telemetry --region us-east stop   # also: start, pods N
",
        url = t.nerdgraph_url,
        account = t.account_id,
        key = t.api_key,
    )
}

/// Serves `region`'s targets, one per port, until killed: target `i`
/// answers `/metrics` when `i` is below the number in `pods_file` (all when
/// it is absent), 503 otherwise.
pub async fn run_exporter(region: String, ports: Vec<u16>, pods_file: PathBuf) -> Result<()> {
    let mut tasks = vec![];
    for (i, port) in ports.into_iter().enumerate() {
        let listener =
            tokio::net::TcpListener::bind(("127.0.0.1", port)).await.with_context(|| format!("binding port {port}"))?;
        let (region, pods_file) = (region.clone(), pods_file.clone());
        tasks.push(tokio::spawn(crate::server::serve(listener, None, move |req: hyper::Request<hyper::body::Incoming>| {
            let answering = std::fs::read_to_string(&pods_file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(PODS);
            let region = region.clone();
            async move {
                if req.uri().path() != "/metrics" {
                    crate::server::full(404, "text/plain", "not found\n")
                } else if i < answering {
                    let body = format!(
                        "# HELP keysvc_build_info The service's build.\n# TYPE keysvc_build_info gauge\nkeysvc_build_info{{region=\"{region}\",pod=\"{JOB}-{region}-{i}\"}} 1\n"
                    );
                    crate::server::full(200, "text/plain; version=0.0.4", body)
                } else {
                    crate::server::full(503, "text/plain", "unavailable\n")
                }
            }
        })));
    }
    for t in tasks {
        t.await?;
    }
    Ok(())
}
