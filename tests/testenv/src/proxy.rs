//! A TCP proxy put in front of an API server to inject network faults: added
//! delay, network latency, connections that are accepted and never answered,
//! connections reset, and plain HTTP where TLS is expected. The fault can be
//! changed while the proxy runs; it applies to connections accepted after the
//! change.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Pass traffic through untouched.
    None,
    /// Wait this long before connecting upstream (once per connection, so
    /// not a round-trip time: see `Latency`).
    Delay(Duration),
    /// A network with this round-trip time: every chunk, in both directions,
    /// arrives half of it after it was sent, in order and at full throughput,
    /// and a new connection costs one round trip before data moves (TCP's
    /// handshake).
    Latency(Duration),
    /// Accept, then never send a byte.
    Hang,
    /// Accept, then reset the connection.
    Reset,
    /// Answer with a plain-text HTTP response, whatever is asked.
    PlainHttp,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    traffic: Arc<Traffic>,
    open: Arc<Open>,
}

/// Connections open at once, now and at most so far.
#[derive(Debug, Default)]
struct Open {
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

/// What a proxy has relayed so far, over all its connections, so tests can
/// see how it read and wrote (counts, not times).
#[derive(Debug, Default)]
pub struct Traffic {
    pub to_upstream: Direction,
    pub to_client: Direction,
}

/// One direction of [`Traffic`].
#[derive(Debug, Default)]
pub struct Direction {
    /// Reads that returned data.
    pub chunks_read: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
}

impl Direction {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }

    pub fn chunks_read(&self) -> u64 {
        self.chunks_read.load(Ordering::SeqCst)
    }

    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::SeqCst)
    }

    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::SeqCst)
    }
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) in front of `upstream`.
    pub fn start(upstream: SocketAddr, fault: Fault) -> FaultProxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let fault = Arc::new(Mutex::new(fault));
        let shared = fault.clone();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let traffic = Arc::new(Traffic::default());
        let relayed = traffic.clone();
        let open = Arc::new(Open::default());
        let tracked = open.clone();
        crate::server::spawn_background(async move {
            use std::sync::atomic::Ordering::SeqCst;
            let listener = TcpListener::from_std(std_listener).expect("listener");
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                counter.fetch_add(1, SeqCst);
                let now = tracked.now.fetch_add(1, SeqCst) + 1;
                tracked.most.fetch_max(now, SeqCst);
                let fault = shared.lock().expect("fault").clone();
                let (relayed, tracked) = (relayed.clone(), tracked.clone());
                tokio::spawn(async move {
                    handle(client, upstream, fault, relayed).await;
                    tracked.now.fetch_sub(1, SeqCst);
                });
            }
        });
        FaultProxy { addr, fault, accepted, traffic, open }
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().expect("fault") = fault;
    }

    /// The most connections that were open through the proxy at once.
    pub fn most_open(&self) -> usize {
        self.open.most.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many connections the proxy has accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// What the proxy has relayed so far.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

async fn handle(mut client: TcpStream, upstream: SocketAddr, fault: Fault, traffic: Arc<Traffic>) {
    match fault {
        Fault::Hang => {
            // Hold the socket open without reading or writing.
            std::future::pending::<()>().await;
        }
        Fault::Reset => {
            let _ = client.set_zero_linger();
            drop(client);
        }
        Fault::PlainHttp => {
            let _ = client
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\nconnection: close\r\n\r\nplain http\n")
                .await;
        }
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            pass(client, upstream).await;
        }
        Fault::Latency(rtt) => latency(client, upstream, rtt, traffic).await,
        Fault::None => pass(client, upstream).await,
    }
}

/// The most bytes held back per direction of a connection: bounds memory when
/// a peer stops reading, far above what a round trip's worth of traffic needs
/// (64 MiB in 100 ms is 640 MiB/s), so it never limits throughput.
const MAX_IN_FLIGHT: usize = 64 << 20;

async fn latency(client: TcpStream, upstream: SocketAddr, rtt: Duration, traffic: Arc<Traffic>) {
    let Ok(up) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = up.set_nodelay(true);
    // The client's connect returned at once; on a real network it would have
    // taken a round trip, so nothing moves before then.
    let open_at = Instant::now() + rtt;
    let one_way = rtt / 2;
    let (client_r, client_w) = client.into_split();
    let (up_r, up_w) = up.into_split();
    let t = &traffic;
    tokio::join!(
        delayed_copy(client_r, up_w, one_way, open_at, &t.to_upstream),
        delayed_copy(up_r, client_w, one_way, open_at, &t.to_client),
    );
}

/// Copies `from` to `to`, each chunk written `delay` after it was read (and
/// not before `not_before`). Reading never waits for writing: chunks are
/// stamped and queued as they come, and a writer takes them off the queue
/// when their time comes, so a stream of many chunks is late by `delay` once,
/// not once per chunk. End of stream is passed on the same way.
async fn delayed_copy(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
    not_before: Instant,
    counts: &Direction,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Option<Bytes>)>();
    let budget = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let reading = {
        let budget = budget.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = from.read(&mut buf).await.unwrap_or(0);
                let due = Instant::now().max(not_before) + delay;
                if n == 0 {
                    // End of stream or an error: either way the peer sees the
                    // end, as late as the data before it.
                    let _ = tx.send((due, None));
                    return;
                }
                Direction::add(&counts.chunks_read, 1);
                Direction::add(&counts.bytes_read, n);
                let Ok(permit) = budget.acquire_many(n as u32).await else { return };
                permit.forget();
                if tx.send((due, Some(Bytes::copy_from_slice(&buf[..n])))).is_err() {
                    return;
                }
            }
        }
    };
    let writing = async {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            let Some(chunk) = chunk else {
                let _ = to.shutdown().await;
                break;
            };
            if to.write_all(&chunk).await.is_err() {
                break;
            }
            Direction::add(&counts.bytes_written, chunk.len());
            budget.add_permits(chunk.len());
        }
        // A reader waiting for room must not wait for a writer that is gone.
        budget.close();
    };
    tokio::join!(reading, writing);
}

async fn pass(mut client: TcpStream, upstream: SocketAddr) {
    if let Ok(mut up) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
    }
}

/// A local port with nothing listening on it (connections are refused).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes every byte back.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn exchange(s: &mut TcpStream, msg: &[u8]) -> Duration {
        let started = Instant::now();
        s.write_all(msg).await.unwrap();
        let mut back = vec![0; msg.len()];
        s.read_exact(&mut back).await.unwrap();
        assert_eq!(back, msg);
        started.elapsed()
    }

    #[tokio::test]
    async fn latency_delays_every_round_trip_on_a_kept_alive_connection() {
        let rtt = Duration::from_millis(200);
        let proxy = FaultProxy::start(echo_server().await, Fault::Latency(rtt));
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        // The first exchange also pays for the connection's handshake.
        assert!(exchange(&mut s, b"ping").await >= rtt * 2);
        for _ in 0..3 {
            assert!(exchange(&mut s, b"ping again").await >= rtt);
        }
        assert_eq!(proxy.accepted(), 1);
    }

    #[tokio::test]
    async fn latency_reads_ahead_of_the_delay_and_keeps_order() {
        // One-way 1 s: every chunk below is read long before the first is due.
        let proxy = FaultProxy::start(echo_server().await, Fault::Latency(Duration::from_secs(2)));
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        let t = &proxy.traffic().to_upstream;
        let chunks = 100u64;
        let mut sent = vec![];
        for i in 0..chunks {
            let chunk = format!("chunk {i:03};");
            s.write_all(chunk.as_bytes()).await.unwrap();
            sent.extend_from_slice(chunk.as_bytes());
            // Each chunk is a read of its own: wait until the proxy has it.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while t.bytes_read() < sent.len() as u64 {
                assert!(std::time::Instant::now() < deadline, "the proxy stopped reading at chunk {i}");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        // A proxy that slept per chunk would still be on the first one.
        assert_eq!(t.chunks_read(), chunks);
        assert_eq!(t.bytes_written(), 0);
        // Then a large stream behind them, in order.
        let bulk: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
        let (mut r, mut w) = s.into_split();
        let expected = [sent.as_slice(), bulk.as_slice()].concat();
        let writer = tokio::spawn(async move {
            w.write_all(&bulk).await.unwrap();
            w
        });
        let mut back = vec![0; expected.len()];
        r.read_exact(&mut back).await.unwrap();
        assert!(back == expected, "bytes came back out of order");
        drop(writer.await.unwrap());
    }
}
