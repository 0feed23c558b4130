//! Talking to the clusters: the client (kubeconfig, contexts, credentials),
//! its HTTP transport, retries on an API server's pushback, and network
//! errors put into words. It knows no runbook step and no verdict.

pub mod client;
pub mod neterr;
pub mod pushback;
pub mod transport;
