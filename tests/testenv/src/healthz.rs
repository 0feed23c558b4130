//! A stand-in for the service's healthz endpoint on 127.0.0.1, whose behaviour a
//! test chooses and may change while it runs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hyper::Request;
use hyper::body::Incoming;
use tokio::net::TcpListener;

use crate::certs::Pair;
use crate::server::{self, Body};

pub const OK_DESCRIPTION: &str = "The API is available and operational.";

#[derive(Debug, Clone)]
pub enum Behavior {
    /// The healthy reply: 200 and `{"href": <this URL>, "code": 0, "description": …}`.
    Healthy,
    /// Any status, content type and body.
    Raw { status: u16, content_type: String, body: Vec<u8> },
    /// The healthy reply after a delay.
    Slow(Duration),
    /// Accept the request and never answer.
    Hang,
    /// 200 with an endless body of JSON-looking bytes.
    Endless,
    /// 200 with headers, then one byte of body every interval.
    Trickle(Duration),
    /// A redirect to this same path (a loop).
    RedirectLoop,
    /// Headers promise more body than is sent; the connection then closes.
    Truncated,
}

impl Behavior {
    pub fn json(status: u16, value: serde_json::Value) -> Behavior {
        Behavior::Raw { status, content_type: "application/json".into(), body: value.to_string().into_bytes() }
    }
    pub fn html(status: u16, html: &str) -> Behavior {
        Behavior::Raw { status, content_type: "text/html".into(), body: html.as_bytes().to_vec() }
    }
}

pub struct HealthzServer {
    pub url: String,
    behavior: Arc<Mutex<Behavior>>,
}

impl HealthzServer {
    /// Serves plain HTTP on a free port; the URL's path is `/healthz`.
    pub fn start(behavior: Behavior) -> HealthzServer {
        Self::start_inner(behavior, None)
    }

    /// Serves HTTPS with `pair` (a certificate no public root trusts).
    pub fn start_tls(behavior: Behavior, pair: &Pair) -> HealthzServer {
        Self::start_inner(behavior, Some(pair.clone()))
    }

    fn start_inner(behavior: Behavior, tls: Option<Pair>) -> HealthzServer {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind healthz");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{addr}/healthz");
        let behavior = Arc::new(Mutex::new(behavior));
        let shared = behavior.clone();
        let href = url.clone();
        server::spawn_background(async move {
            let listener = TcpListener::from_std(std_listener).expect("listener");
            let acceptor = tls.map(|p| server::tls_acceptor(&p.cert, &p.key, None).expect("tls"));
            server::serve(listener, acceptor, move |req: Request<Incoming>| {
                let b = shared.lock().expect("behavior").clone();
                let href = href.clone();
                async move { respond(b, &href, req).await }
            })
            .await;
        });
        HealthzServer { url, behavior }
    }

    pub fn set(&self, behavior: Behavior) {
        *self.behavior.lock().expect("behavior") = behavior;
    }
}

fn healthy_body(href: &str) -> String {
    serde_json::json!({"href": href, "code": 0, "description": OK_DESCRIPTION}).to_string()
}

async fn respond(b: Behavior, href: &str, req: Request<Incoming>) -> hyper::Response<Body> {
    match b {
        Behavior::Healthy => server::full(200, "application/json", healthy_body(href)),
        Behavior::Raw { status, content_type, body } => server::full(status, &content_type, body),
        Behavior::Slow(d) => {
            tokio::time::sleep(d).await;
            server::full(200, "application/json", healthy_body(href))
        }
        Behavior::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Behavior::Endless => stream(200, |tx| async move {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let _ = tx.send(Bytes::from_static(b"{\"href\":\"")).await;
            while tx.send(chunk.clone()).await.is_ok() {}
        }),
        Behavior::Trickle(every) => stream(200, move |tx| async move {
            loop {
                if tx.send(Bytes::from_static(b" ")).await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        }),
        Behavior::RedirectLoop => hyper::Response::builder()
            .status(302)
            .header("location", req.uri().path())
            .body(server::full(302, "text/plain", "").into_body())
            .expect("response"),
        Behavior::Truncated => {
            let body = healthy_body(href);
            let half = body[..body.len() / 2].to_string();
            let (tx, chunked) = server::channel_body();
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from(half)).await;
            });
            hyper::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("content-length", body.len().to_string())
                .body(chunked)
                .expect("response")
        }
    }
}

fn stream<F, Fut>(status: u16, producer: F) -> hyper::Response<Body>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, body) = server::channel_body();
    tokio::spawn(producer(tx));
    hyper::Response::builder().status(status).header("content-type", "application/json").body(body).expect("response")
}
