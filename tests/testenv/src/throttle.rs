//! An API server under load, in front of a real one: a proxy that ends TLS
//! (with a serving certificate for 127.0.0.1 from the environment's CA, so
//! kubeconfigs verify it as they verify the API server), answers some
//! requests itself with a status an overloaded API server sends (429 with
//! `Retry-After`, 503, 504, or any other), and passes the rest through.
//!
//! Upstream, the proxy speaks as one kubeconfig context's user (its client
//! certificate or token): the identity a client presents to the proxy is not
//! forwarded, so the proxy is given the context whose user the client is.
//! Replies, log streams included, are streamed back as they come.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::certs::Ca;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = UnsyncBoxBody<Bytes, BoxError>;

/// Which requests the proxy answers itself, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    /// The status answered: 429, 503, 504, or another to see it is not retried.
    pub status: u16,
    /// `Retry-After` in seconds, sent with the status when set.
    pub retry_after: Option<u64>,
    /// Answer the first this many of each request (the same method, path and
    /// query), then pass it through; `None`: every one, forever.
    pub first: Option<u32>,
}

impl Throttle {
    /// The first `n` of each request answered 429 with `Retry-After: 1`.
    pub fn too_many_requests(n: u32) -> Throttle {
        Throttle { status: 429, retry_after: Some(1), first: Some(n) }
    }

    /// Every request answered `status`, with no `Retry-After`.
    pub fn always(status: u16) -> Throttle {
        Throttle { status, retry_after: None, first: None }
    }

    /// Nothing answered by the proxy: everything passes through.
    pub fn none() -> Throttle {
        Throttle { status: 429, retry_after: None, first: Some(0) }
    }

    fn answers(&self, seen_before: u32) -> bool {
        self.first.is_none_or(|n| seen_before < n)
    }
}

/// What the proxy has seen so far.
#[derive(Debug, Default)]
struct Seen {
    /// Times each request (method, path and query) was asked.
    asked: Mutex<HashMap<String, u32>>,
    /// Requests the proxy answered itself.
    answered: AtomicUsize,
}

pub struct ThrottleProxy {
    pub addr: SocketAddr,
    throttle: Arc<Mutex<Throttle>>,
    seen: Arc<Seen>,
}

impl ThrottleProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) in front of `context`'s API
    /// server in `kubeconfig`, whose user it speaks as; its serving
    /// certificate is issued by the CA in `ca_dir`.
    pub fn start(kubeconfig: &Path, context: &str, ca_dir: &Path, throttle: Throttle) -> Result<ThrottleProxy> {
        let acceptor = acceptor(ca_dir)?;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind throttle proxy")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let throttle = Arc::new(Mutex::new(throttle));
        let seen = Arc::new(Seen::default());
        let (shared, counted) = (throttle.clone(), seen.clone());
        let (kubeconfig, context) = (kubeconfig.to_path_buf(), context.to_string());
        // The upstream client is made on the proxy's own runtime, where its
        // connections live; whether it could be made is reported back here.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
        crate::server::spawn_background(async move {
            let upstream = match crate::client_for(&kubeconfig, &context).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let listener = TcpListener::from_std(std_listener).expect("listener");
            let _ = ready_tx.send(Ok(()));
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let (acceptor, upstream, shared, counted) =
                    (acceptor.clone(), upstream.clone(), shared.clone(), counted.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let svc = hyper::service::service_fn(move |req| {
                        let (upstream, shared, counted) = (upstream.clone(), shared.clone(), counted.clone());
                        async move { Ok::<_, Infallible>(handle(req, &upstream, &shared, &counted).await) }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                });
            }
        });
        ready_rx.recv().context("the throttle proxy's thread ended")??;
        Ok(ThrottleProxy { addr, throttle, seen })
    }

    /// Changes what the proxy answers; every count starts again from 0.
    pub fn set(&self, throttle: Throttle) {
        let mut t = self.throttle.lock().expect("throttle");
        self.seen.asked.lock().expect("seen").clear();
        self.seen.answered.store(0, Ordering::SeqCst);
        *t = throttle;
    }

    /// How many requests the proxy answered itself so far.
    pub fn answered(&self) -> usize {
        self.seen.answered.load(Ordering::SeqCst)
    }

    /// How many requests reached the proxy so far, answered or passed through.
    pub fn requests(&self) -> usize {
        self.seen.asked.lock().expect("seen").values().map(|n| *n as usize).sum()
    }

    /// The most times any one request (method, path and query) was asked.
    pub fn most_asked(&self) -> u32 {
        self.seen.asked.lock().expect("seen").values().copied().max().unwrap_or(0)
    }

    /// Every request asked so far (`GET /api/v1/…?…`) with how many times.
    pub fn asked(&self) -> Vec<(String, u32)> {
        let mut all: Vec<(String, u32)> =
            self.seen.asked.lock().expect("seen").iter().map(|(k, n)| (k.clone(), *n)).collect();
        all.sort();
        all
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

/// A TLS acceptor with a fresh serving certificate for 127.0.0.1 from the
/// environment's CA; HTTP/2 and HTTP/1.1 offered.
fn acceptor(ca_dir: &Path) -> Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = tempfile::tempdir()?;
    let mut ca = Ca::load(ca_dir, "ca")?;
    ca.set_dir(dir.path());
    let pair = ca.server("throttle-proxy")?;
    let certs = CertificateDer::pem_file_iter(&pair.cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&pair.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn handle(
    req: Request<Incoming>,
    upstream: &kube::Client,
    throttle: &Mutex<Throttle>,
    seen: &Seen,
) -> Response<Body> {
    let key = format!("{} {}", req.method(), req.uri().path_and_query().map_or("/", |p| p.as_str()));
    let before = {
        let mut asked = seen.asked.lock().expect("seen");
        let n = asked.entry(key).or_insert(0);
        *n += 1;
        *n - 1
    };
    let t = throttle.lock().expect("throttle").clone();
    if t.answers(before) {
        seen.answered.fetch_add(1, Ordering::SeqCst);
        return status_reply(&t);
    }
    match forward(req, upstream).await {
        Ok(res) => res,
        Err(e) => plain(502, format!("throttle proxy: upstream failed: {e}")),
    }
}

/// The reply an overloaded kube-apiserver sends: a Status object.
fn status_reply(t: &Throttle) -> Response<Body> {
    let (reason, message) = match t.status {
        429 => ("TooManyRequests", "Too many requests, please try again later."),
        503 => ("ServiceUnavailable", "the server is currently unable to handle the request"),
        504 => ("Timeout", "the server was unable to return a response in the time allotted"),
        403 => ("Forbidden", "forbidden: the throttle proxy refuses every request"),
        _ => ("InternalError", "an error on the server has prevented the request from succeeding"),
    };
    let mut status = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": t.status,
    });
    if let Some(s) = t.retry_after {
        status["details"] = serde_json::json!({"retryAfterSeconds": s});
    }
    let mut res = Response::builder().status(t.status).header("content-type", "application/json");
    if let Some(s) = t.retry_after {
        res = res.header("retry-after", s.to_string());
    }
    res.body(full(status.to_string())).expect("valid response")
}

fn plain(status: u16, text: String) -> Response<Body> {
    Response::builder().status(status).header("content-type", "text/plain").body(full(text)).expect("valid response")
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).map_err(|e: Infallible| match e {}).boxed_unsync()
}

/// Headers that belong to one connection, and the identity the client
/// presented to the proxy: none of them goes upstream (or back).
const NOT_FORWARDED: [&str; 9] = [
    "host",
    "authorization",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "content-length",
];

async fn forward(req: Request<Incoming>, upstream: &kube::Client) -> Result<Response<Body>> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let mut out = Request::builder().method(parts.method).uri(path);
    for (name, value) in &parts.headers {
        if !NOT_FORWARDED.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    let res = upstream.send(out.body(kube::client::Body::from(bytes))?).await?;
    let (mut parts, body) = res.into_parts();
    for name in NOT_FORWARDED {
        parts.headers.remove(name);
    }
    Ok(Response::from_parts(parts, body.map_err(|e| Box::new(e) as BoxError).boxed_unsync()))
}
