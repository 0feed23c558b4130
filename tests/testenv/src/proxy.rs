//! A TCP proxy put in front of an API server to inject network faults: added
//! delay, connections that are accepted and never answered, connections reset,
//! and plain HTTP where TLS is expected. The fault can be changed while the
//! proxy runs; it applies to connections accepted after the change.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Pass traffic through untouched.
    None,
    /// Wait this long before connecting upstream.
    Delay(Duration),
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
        crate::server::spawn_background(async move {
            let listener = TcpListener::from_std(std_listener).expect("listener");
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let fault = shared.lock().expect("fault").clone();
                tokio::spawn(handle(client, upstream, fault));
            }
        });
        FaultProxy { addr, fault, accepted }
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().expect("fault") = fault;
    }

    /// How many connections the proxy has accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

async fn handle(mut client: TcpStream, upstream: SocketAddr, fault: Fault) {
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
        Fault::None => pass(client, upstream).await,
    }
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
