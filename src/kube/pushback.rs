//! An API server under load pushes back: 429 Too Many Requests (with
//! `Retry-After`), 503 Service Unavailable, 504 Gateway Timeout. This tower
//! layer sits under the kube client, so every request of a region (the pods
//! list, log reads, events, ReplicaSets, the Deployment, the doctor's
//! questions) is sent again after such an answer, within the run's deadline:
//! exponential backoff with jitter, never shorter than the server's
//! `Retry-After` (seconds), and never past the deadline. When the server asks
//! for longer than is left, or the next wait would end past the deadline,
//! the request ends as [`Throttled`], which says so and how often it was tried.
//!
//! kube's own `RetryPolicy` (on by default in kube 5) is switched off in its
//! place: it counts nothing, waits for whatever `Retry-After` says however
//! late that is, and ends as a plain timeout when the deadline cuts its wait.
//!
//! Only the request that got the status is sent again, before any of its
//! body was read: a log stream that breaks midway is not resumed. Request
//! bodies are never buffered: kube's requests carry their bytes (a GET's are
//! none) and are cloned as they are; a request whose body cannot be cloned is
//! sent once. The tool only reads (and the doctor's access reviews change
//! nothing), so every request is safe to send again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::BodyExt;
use kube::client::Body;
use tokio::time::Instant;
use tower::{BoxError, Layer, Service};

/// The statuses that are sent again.
pub const RETRIED: [u16; 3] = [429, 503, 504];

/// The first wait, before jitter; each retry of a request doubles it.
const FIRST_WAIT: Duration = Duration::from_millis(250);
/// The longest wait the backoff makes on its own (`Retry-After` may ask more).
const MAX_WAIT: Duration = Duration::from_secs(5);
/// Time kept free before the deadline for the retried request itself to be
/// answered: a retry that could only start at the deadline is not made.
pub const MARGIN: Duration = Duration::from_millis(300);
/// At most this much of a pushed-back reply's body is read (so that the
/// connection can be reused); a longer one is dropped with its connection.
const DRAIN_BYTES: usize = 64 << 10;

/// Called with the status of each pushed-back request about to be sent again.
pub type OnRetry = Arc<dyn Fn(u16) + Send + Sync>;

/// The layer: the run's deadline and who to tell of each retry.
#[derive(Clone)]
pub struct Pushback {
    deadline: Instant,
    on_retry: OnRetry,
}

impl Pushback {
    pub fn new(deadline: Instant, on_retry: impl Fn(u16) + Send + Sync + 'static) -> Pushback {
        Pushback { deadline, on_retry: Arc::new(on_retry) }
    }
}

impl std::fmt::Debug for Pushback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pushback").field("deadline", &self.deadline).finish_non_exhaustive()
    }
}

impl<S> Layer<S> for Pushback {
    type Service = Retrying<S>;

    fn layer(&self, inner: S) -> Retrying<S> {
        Retrying { inner: Arc::new(tokio::sync::Mutex::new(inner)), pushback: self.clone() }
    }
}

/// The service [`Pushback`] wraps around the client's stack. The stack is
/// shared by the requests in flight, each locking it only to hand its
/// request over, never while waiting for the answer.
pub struct Retrying<S> {
    inner: Arc<tokio::sync::Mutex<S>>,
    pushback: Pushback,
}

impl<S> Clone for Retrying<S> {
    fn clone(&self) -> Self {
        Retrying { inner: self.inner.clone(), pushback: self.pushback.clone() }
    }
}

impl<S, B> Service<Request<Body>> for Retrying<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness of the stack is awaited per request, in `send`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let (inner, pushback) = (self.inner.clone(), self.pushback.clone());
        Box::pin(async move { with_retries(&inner, &pushback, req).await })
    }
}

async fn send<S, B>(inner: &tokio::sync::Mutex<S>, req: Request<Body>) -> Result<Response<B>, BoxError>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
{
    let answer = {
        let mut svc = inner.lock().await;
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await.map_err(Into::into)?;
        svc.call(req)
    };
    answer.await.map_err(Into::into)
}

async fn with_retries<S, B>(
    inner: &tokio::sync::Mutex<S>,
    pushback: &Pushback,
    mut req: Request<Body>,
) -> Result<Response<B>, BoxError>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let mut retries = 0u32;
    loop {
        let spare = copy(&req);
        let res = send(inner, req).await?;
        let status = res.status().as_u16();
        let Some(next) = spare.filter(|_| RETRIED.contains(&status)) else {
            return Ok(res);
        };
        let asked = retry_after(res.headers());
        let now = Instant::now();
        let left = pushback.deadline.saturating_duration_since(now).saturating_sub(MARGIN);
        let stop = match asked {
            Some(asked) if asked > left => Some(Stop::AskedTooLong { asked, left }),
            _ => None,
        };
        let wait = backoff(retries, jitter()).max(asked.unwrap_or_default());
        let stop = stop.or((wait > left).then_some(Stop::NoTimeLeft { left }));
        if let Some(stop) = stop {
            tracing::debug!(status, retries, ?stop, "pushed back; not retried");
            return Err(Box::new(Throttled { status, retries, stop }));
        }
        tracing::debug!(status, retries, wait_ms = wait.as_millis() as u64, "pushed back; retrying");
        (pushback.on_retry)(status);
        retries += 1;
        // Reading the short reply to its end lets the connection be reused;
        // it never makes the wait longer.
        let _ = tokio::time::timeout(wait, drain(res.into_body())).await;
        tokio::time::sleep_until(now + wait).await;
        req = next;
    }
}

/// The same request again, or `None` when its body cannot be sent twice.
fn copy(req: &Request<Body>) -> Option<Request<Body>> {
    let mut again = Request::new(req.body().try_clone()?);
    *again.method_mut() = req.method().clone();
    *again.uri_mut() = req.uri().clone();
    *again.version_mut() = req.version();
    *again.headers_mut() = req.headers().clone();
    *again.extensions_mut() = req.extensions().clone();
    Some(again)
}

async fn drain<B: http_body::Body<Data = Bytes> + Unpin>(mut body: B) {
    let mut read = 0;
    while read <= DRAIN_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
            _ => return,
        }
    }
}

/// `Retry-After` in its seconds form; the date form is left to the backoff.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    match text.parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs)),
        // More seconds than a u64 holds: longer than any run has left.
        Err(_) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => Some(Duration::from_secs(u64::MAX)),
        Err(_) => None,
    }
}

/// The wait before retry number `retries + 1`: doubling from
/// [`FIRST_WAIT`] up to [`MAX_WAIT`], then scaled by `jitter` (0 to 1) into
/// its upper half, so that clients pushed back together do not come back
/// together.
pub fn backoff(retries: u32, jitter: f64) -> Duration {
    let full = FIRST_WAIT.saturating_mul(1u32.checked_shl(retries.min(16)).unwrap_or(u32::MAX)).min(MAX_WAIT);
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A number from 0 to 1, different each call (no generator needed for this).
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap_or_default().as_nanos());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Why a pushed-back request was not sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The server's `Retry-After` is longer than the time left.
    AskedTooLong { asked: Duration, left: Duration },
    /// The next wait would end too close to the deadline.
    NoTimeLeft { left: Duration },
}

/// A request the API server pushed back on to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe("the request"))]
pub struct Throttled {
    /// The last status it answered.
    pub status: u16,
    /// How many times the request was sent again.
    pub retries: u32,
    pub stop: Stop,
}

impl Throttled {
    /// In plain words, `what` naming the request ("list pods").
    pub fn describe(&self, what: &str) -> String {
        let after = match self.retries {
            0 => String::new(),
            1 => ", still after 1 retry".into(),
            n => format!(", still after {n} retries"),
        };
        let why = match self.stop {
            Stop::AskedTooLong { asked, left } => format!(
                "it asked to wait {}, longer than the {} left before the deadline (--timeout)",
                seconds(asked),
                seconds(left)
            ),
            Stop::NoTimeLeft { .. } => "no time was left to try again before the deadline (--timeout)".into(),
        };
        format!("throttled: the API server answered {} to {what}{after}; {why}", status_words(self.status))
    }
}

/// What an on-call engineer is told of the retries a region needed:
/// `API server pushed back: 3 retries (429, 503)`.
pub fn summary(retries: u32, statuses: &[u16]) -> String {
    let codes: Vec<String> = statuses.iter().map(u16::to_string).collect();
    let n = if retries == 1 { "1 retry".to_string() } else { format!("{retries} retries") };
    format!("API server pushed back: {n} ({})", codes.join(", "))
}

/// `429 Too Many Requests`.
pub fn status_words(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    format!("{status} {reason}").trim_end().to_string()
}

/// `1s`, `0.7s`: to a tenth of a second under ten seconds.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 || d.subsec_millis() == 0 { format!("{}s", s.round()) } else { format!("{:.1}s", s) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_jitter_keeps_the_upper_half() {
        assert_eq!(backoff(0, 1.0), Duration::from_millis(250));
        assert_eq!(backoff(0, 0.0), Duration::from_millis(125));
        assert_eq!(backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(5, 1.0), MAX_WAIT);
        assert_eq!(backoff(u32::MAX, 1.0), MAX_WAIT);
        for n in 0..40 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
            let w = backoff(n % 6, j);
            assert!(w >= backoff(n % 6, 0.0) && w <= backoff(n % 6, 1.0));
        }
    }

    #[test]
    fn the_summary_counts_retries_and_names_the_statuses() {
        assert_eq!(summary(1, &[429]), "API server pushed back: 1 retry (429)");
        assert_eq!(summary(5, &[429, 503]), "API server pushed back: 5 retries (429, 503)");
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_the_date_form_is_left_to_the_backoff() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "1".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(1)));
        h.insert("retry-after", " 30 ".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        h.insert("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "-1".parse().unwrap());
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "99999999999999999999".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(u64::MAX)), "too many to hold is still too long");
    }

    #[test]
    fn throttled_says_what_was_asked_how_often_and_why_it_stopped() {
        let t = Throttled {
            status: 429,
            retries: 4,
            stop: Stop::AskedTooLong { asked: Duration::from_secs(30), left: Duration::from_millis(2140) },
        };
        assert_eq!(
            t.describe("list pods"),
            "throttled: the API server answered 429 Too Many Requests to list pods, still after 4 retries; \
             it asked to wait 30s, longer than the 2.1s left before the deadline (--timeout)"
        );
        let t = Throttled { status: 503, retries: 1, stop: Stop::NoTimeLeft { left: Duration::ZERO } };
        assert_eq!(
            t.to_string(),
            "throttled: the API server answered 503 Service Unavailable to the request, still after 1 retry; \
             no time was left to try again before the deadline (--timeout)"
        );
        let t = Throttled { status: 504, retries: 0, stop: Stop::NoTimeLeft { left: Duration::ZERO } };
        assert!(
            t.describe("get pods/log")
                .starts_with("throttled: the API server answered 504 Gateway Timeout to get pods/log; ")
        );
    }

    /// A stack that answers from a list of statuses (the last one again
    /// once the list is used up), each with `Retry-After` when given.
    struct Canned {
        answers: Vec<(u16, Option<&'static str>)>,
        calls: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Service<Request<Body>> for Canned {
        type Response = Response<http_body_util::Full<Bytes>>;
        type Error = BoxError;
        type Future = std::future::Ready<Result<Self::Response, BoxError>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Request<Body>) -> Self::Future {
            assert_eq!(req.uri().path(), "/api/v1/namespaces/api/pods");
            let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (status, after) = self.answers[n.min(self.answers.len() - 1)];
            let mut res = Response::builder().status(status);
            if let Some(a) = after {
                res = res.header("retry-after", a);
            }
            std::future::ready(Ok(res.body(http_body_util::Full::new(Bytes::from_static(b"{}"))).unwrap()))
        }
    }

    /// What a request through the layer got, the statuses it was retried
    /// for, and how many requests reached the stack.
    async fn run(
        answers: Vec<(u16, Option<&'static str>)>,
        deadline_in: Duration,
    ) -> (Result<u16, Throttled>, Vec<u16>, usize) {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::new(std::sync::Mutex::new(vec![]));
        let log = seen.clone();
        let layer = Pushback::new(Instant::now() + deadline_in, move |s| log.lock().unwrap().push(s));
        let mut svc = layer.layer(Canned { answers, calls: calls.clone() });
        let req = Request::get("/api/v1/namespaces/api/pods").body(Body::empty()).unwrap();
        let out = match svc.call(req).await {
            Ok(res) => Ok(res.status().as_u16()),
            Err(e) => Err(e.downcast_ref::<Throttled>().expect("a Throttled error").clone()),
        };
        let seen = seen.lock().unwrap().clone();
        (out, seen, calls.load(std::sync::atomic::Ordering::SeqCst))
    }

    #[tokio::test(start_paused = true)]
    async fn pushed_back_requests_are_sent_again_until_they_get_through() {
        let ok = run(vec![(429, Some("1")), (503, None), (504, Some("0")), (200, None)], Duration::from_secs(30)).await;
        assert_eq!(ok, (Ok(200), vec![429, 503, 504], 4));
    }

    #[tokio::test(start_paused = true)]
    async fn other_statuses_are_answers_not_retried() {
        for status in [200, 400, 401, 403, 404, 500, 502] {
            assert_eq!(run(vec![(status, Some("1"))], Duration::from_secs(30)).await, (Ok(status), vec![], 1));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pushback_to_the_end_stops_before_the_deadline_and_says_why() {
        // 3s to go, 0.3s of it kept free: retried at 1s and 2s, then 0.7s is
        // left, less than the second asked for.
        let (out, seen, calls) = run(vec![(429, Some("1"))], Duration::from_secs(3)).await;
        let t = out.unwrap_err();
        assert_eq!((t.status, t.retries, seen, calls), (429, 2, vec![429, 429], 3));
        assert_eq!(t.stop, Stop::AskedTooLong { asked: Duration::from_secs(1), left: Duration::from_millis(700) });
        // A server asking for more than the whole run is not waited for.
        let (out, seen, calls) = run(vec![(429, Some("60"))], Duration::from_secs(30)).await;
        assert!(matches!(out, Err(Throttled { retries: 0, stop: Stop::AskedTooLong { .. }, .. })), "{out:?}");
        assert_eq!((seen.len(), calls), (0, 1));
        // Without Retry-After the backoff grows until the next wait would
        // end past the deadline.
        let (out, seen, calls) = run(vec![(503, None)], Duration::from_secs(4)).await;
        let t = out.unwrap_err();
        assert!(matches!(t.stop, Stop::NoTimeLeft { .. }) && t.retries >= 2, "{t:?}");
        assert_eq!((seen.len(), calls), (t.retries as usize, t.retries as usize + 1));
    }
}
