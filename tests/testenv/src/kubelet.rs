//! The kubelet stand-in: serves `GET /containerLogs/{ns}/{pod}/{container}` over
//! TLS to clients holding a certificate from the environment's CA (the API
//! server's kubelet client certificate), from log specs that tests write as
//! JSON files. Query parameters follow the kubelet: `tailLines` is applied
//! before `sinceSeconds`/`sinceTime`, then `limitBytes`; `timestamps` prefixes
//! RFC 3339 times; `previous` on a container that never restarted is a 400;
//! `follow` keeps the stream open. Lines are served oldest first, as a
//! container's log is: generated lines are merged with the fixed ones by age.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use bytes::Bytes;
use hyper::Request;
use hyper::body::Incoming;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::server::{self, Body};

/// What one container has logged. Times are given as ages (seconds before the
/// request), so specs stay valid however long a test takes to get to them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogSpec {
    #[serde(default)]
    pub lines: Vec<LogLine>,
    /// Lines made on the fly (for large volumes), merged with `lines` by age.
    #[serde(default)]
    pub generate: Option<Generate>,
    /// More generated lines, each merged in by age (e.g. steady traffic over
    /// an hour plus a burst of errors in the last minutes).
    #[serde(default)]
    pub generators: Vec<Generate>,
    /// What the previous (terminated) container logged; `None` means it never
    /// restarted, and `previous=true` gets a 400.
    #[serde(default)]
    pub previous: Option<Box<LogSpec>>,
    /// Answer with this status and message instead of logs (e.g. a container
    /// that never started).
    #[serde(default)]
    pub error: Option<(u16, String)>,
    /// Wait this long before answering (a slow kubelet).
    #[serde(default)]
    pub delay_ms: u64,
    /// Hold every answer until the container's logs have been asked for this
    /// many times in all (at most [`HOLD_LIMIT`]): proves reads run at once.
    #[serde(default)]
    pub hold_until_requests: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogLine {
    pub age_secs: f64,
    pub text: String,
}

/// `count` lines spread evenly over the last `span_secs` seconds; every
/// `error_every`-th line (if non-zero) uses `error_template`. `{n}` in a
/// template becomes the line number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generate {
    pub count: u64,
    pub span_secs: f64,
    pub template: String,
    #[serde(default)]
    pub error_every: u64,
    #[serde(default)]
    pub error_template: String,
}

impl LogSpec {
    pub fn lines<I, S>(lines: I) -> LogSpec
    where
        I: IntoIterator<Item = (f64, S)>,
        S: Into<String>,
    {
        LogSpec {
            lines: lines.into_iter().map(|(age_secs, text)| LogLine { age_secs, text: text.into() }).collect(),
            ..LogSpec::default()
        }
    }

    fn generators(&self) -> impl Iterator<Item = &Generate> {
        self.generate.iter().chain(&self.generators)
    }

    fn len(&self) -> u64 {
        self.lines.len() as u64 + self.generators().map(|g| g.count).sum::<u64>()
    }

    /// Every line as (age in seconds, text), oldest first: the fixed lines in
    /// their order and each generator's, merged by age (ties keep that order).
    fn into_lines(self) -> Merged {
        let sources = 1 + self.generators().count();
        Merged { spec: self, next: vec![0; sources] }
    }
}

impl Generate {
    fn age(&self, n: u64) -> f64 {
        self.span_secs * (self.count - n) as f64 / self.count.max(1) as f64
    }

    /// Line `n` as (age in seconds, text).
    fn line(&self, n: u64) -> (f64, String) {
        let age = self.age(n);
        let template = if self.error_every > 0 && (n + 1).is_multiple_of(self.error_every) {
            &self.error_template
        } else {
            &self.template
        };
        (age, template.replace("{n}", &n.to_string()))
    }
}

/// The lines of a spec, oldest first (see [`LogSpec::into_lines`]).
struct Merged {
    spec: LogSpec,
    /// The next line of each source: the fixed lines, then each generator.
    next: Vec<u64>,
}

impl Merged {
    fn age(&self, source: usize) -> Option<f64> {
        let n = self.next[source];
        if source == 0 {
            return self.spec.lines.get(n as usize).map(|l| l.age_secs);
        }
        let g = self.spec.generators().nth(source - 1)?;
        (n < g.count).then(|| g.age(n))
    }
}

impl Iterator for Merged {
    type Item = (f64, String);

    fn next(&mut self) -> Option<(f64, String)> {
        let mut oldest: Option<(usize, f64)> = None;
        for source in 0..self.next.len() {
            if let Some(age) = self.age(source)
                && oldest.is_none_or(|(_, a)| age > a)
            {
                oldest = Some((source, age));
            }
        }
        let (source, _) = oldest?;
        let n = self.next[source];
        self.next[source] += 1;
        if source == 0 {
            let l = &self.spec.lines[n as usize];
            return Some((l.age_secs, l.text.clone()));
        }
        self.spec.generators().nth(source - 1).map(|g| g.line(n))
    }
}

/// The longest an answer is held for `hold_until_requests`.
pub const HOLD_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Requests seen per container (spec path), for `hold_until_requests`.
static REQUESTS: std::sync::LazyLock<std::sync::Mutex<HashMap<PathBuf, u32>>> =
    std::sync::LazyLock::new(Default::default);

/// Log answers being made per namespace (the request read, the last line not
/// yet sent), now and at most so far; the most is written to
/// [`most_reads_marker`] as it grows.
static READING: std::sync::LazyLock<std::sync::Mutex<HashMap<PathBuf, (usize, usize)>>> =
    std::sync::LazyLock::new(Default::default);

/// The file holding the most log reads a namespace had open at once in one
/// region (`_` cannot be in a pod's name).
pub fn most_reads_marker(logs_dir: &Path, ns: &str) -> PathBuf {
    logs_dir.join(ns).join("_most_reads_at_once")
}

/// One log read being answered; counted in [`READING`] until dropped.
struct Reading {
    key: PathBuf,
}

impl Reading {
    fn start(logs_dir: &Path, ns: &str) -> Reading {
        let key = logs_dir.join(ns);
        let mut all = READING.lock().expect("reading");
        let (now, most) = all.entry(key.clone()).or_default();
        *now += 1;
        if *now > *most {
            *most = *now;
            // Written whole (a rename), so a reader never sees half of it.
            let marker = most_reads_marker(logs_dir, ns);
            let tmp = marker.with_extension("tmp");
            let _ = std::fs::create_dir_all(&key);
            let _ = std::fs::write(&tmp, most.to_string()).and_then(|()| std::fs::rename(&tmp, &marker));
        }
        Reading { key }
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        if let Some((now, _)) = READING.lock().expect("reading").get_mut(&self.key) {
            *now -= 1;
        }
    }
}

fn requests(path: &Path) -> u32 {
    REQUESTS.lock().expect("requests").get(path).copied().unwrap_or(0)
}

/// Where the spec for one container lives below a region's log folder.
pub fn spec_path(logs_dir: &Path, ns: &str, pod: &str, container: &str) -> PathBuf {
    logs_dir.join(ns).join(pod).join(format!("{container}.json"))
}

/// The file the stand-in touches when a container's logs are requested.
pub fn requested_marker(logs_dir: &Path, ns: &str, pod: &str, container: &str) -> PathBuf {
    logs_dir.join(ns).join(pod).join(format!("{container}.requested"))
}

pub fn write_spec(logs_dir: &Path, ns: &str, pod: &str, container: &str, spec: &LogSpec) -> Result<()> {
    let path = spec_path(logs_dir, ns, pod, container);
    std::fs::create_dir_all(path.parent().expect("parent"))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(spec)?)?;
    std::fs::rename(tmp, path)?;
    Ok(())
}

pub async fn run(listener: TcpListener, cert: PathBuf, key: PathBuf, ca: PathBuf, logs_dir: PathBuf) -> Result<()> {
    let tls = server::tls_acceptor(&cert, &key, Some(&ca))?;
    server::serve(listener, Some(tls), move |req| {
        let logs_dir = logs_dir.clone();
        async move { handle(req, &logs_dir).await }
    })
    .await;
    Ok(())
}

async fn handle(req: Request<Incoming>, logs_dir: &Path) -> hyper::Response<Body> {
    let path = req.uri().path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["containerLogs", ns, pod, container] = parts.as_slice() else {
        return server::full(404, "text/plain", format!("not found: {path}"));
    };
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    let reading = Reading::start(logs_dir, ns);
    // Tests watch for this marker to know a read has reached the kubelet.
    let path = spec_path(logs_dir, ns, pod, container);
    *REQUESTS.lock().expect("requests").entry(path.clone()).or_default() += 1;
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::write(requested_marker(logs_dir, ns, pod, container), b"");
    }
    let spec: LogSpec = match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(s) => s,
            Err(e) => return server::full(500, "text/plain", format!("bad log spec: {e}")),
        },
        Err(_) => LogSpec::default(),
    };
    let flag = |k: &str| query.get(k).is_some_and(|v| v == "true" || v == "1");
    let spec = if flag("previous") {
        match spec.previous {
            Some(p) => *p,
            None => {
                return server::full(
                    400,
                    "text/plain",
                    format!("previous terminated container \"{container}\" in pod \"{pod}\" not found"),
                );
            }
        }
    } else {
        spec
    };
    if spec.hold_until_requests > 0 {
        let until = tokio::time::Instant::now() + HOLD_LIMIT;
        while requests(&path) < spec.hold_until_requests && tokio::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    if spec.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(spec.delay_ms)).await;
    }
    if let Some((status, message)) = &spec.error {
        return server::full(*status, "text/plain", message.clone());
    }
    let now = Timestamp::now();
    let cutoff_age: Option<f64> = if let Some(s) = query.get("sinceSeconds").and_then(|v| v.parse::<f64>().ok()) {
        Some(s)
    } else {
        query.get("sinceTime").and_then(|v| v.parse::<Timestamp>().ok()).map(|t| now.duration_since(t).as_secs_f64())
    };
    let total = spec.len();
    let start = match query.get("tailLines").and_then(|v| v.parse::<u64>().ok()) {
        Some(t) => total.saturating_sub(t),
        None => 0,
    };
    let limit = query.get("limitBytes").and_then(|v| v.parse::<u64>().ok());
    let timestamps = flag("timestamps");
    let follow = flag("follow");

    let (tx, body) = server::channel_body();
    tokio::spawn(async move {
        let _reading = reading;
        let mut sent: u64 = 0;
        let mut buf = Vec::with_capacity(64 * 1024);
        for (age, text) in spec.into_lines().skip(start as usize) {
            if cutoff_age.is_some_and(|c| age > c) {
                continue;
            }
            if timestamps {
                let ts = now - SignedDuration::from_secs_f64(age);
                buf.extend_from_slice(format!("{ts:.9} ").as_bytes());
            }
            buf.extend_from_slice(text.as_bytes());
            buf.push(b'\n');
            if buf.len() >= 64 * 1024 && !flush(&tx, &mut buf, &mut sent, limit).await {
                return;
            }
        }
        if !flush(&tx, &mut buf, &mut sent, limit).await {
            return;
        }
        if follow {
            tx.closed().await;
        }
    });
    hyper::Response::builder().status(200).header("content-type", "text/plain").body(body).expect("response")
}

/// Sends what is buffered, cut at `limit` bytes in all; false when done.
async fn flush(tx: &tokio::sync::mpsc::Sender<Bytes>, buf: &mut Vec<u8>, sent: &mut u64, limit: Option<u64>) -> bool {
    let mut chunk = std::mem::take(buf);
    let mut more = true;
    if let Some(limit) = limit {
        let room = limit.saturating_sub(*sent);
        if chunk.len() as u64 >= room {
            chunk.truncate(room as usize);
            more = false;
        }
    }
    *sent += chunk.len() as u64;
    if !chunk.is_empty() && tx.send(Bytes::from(chunk)).await.is_err() {
        return false;
    }
    more
}

fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&v[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
