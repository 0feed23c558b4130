//! Telling network failures apart (refused, DNS, TLS, timeout) by walking an
//! error's source chain, so reports can say what happened in plain words.

use std::error::Error;

use crate::report::ProblemKind;

/// The kind of a connection-level failure, and a short plain description.
pub fn classify(err: &(dyn Error + 'static)) -> (ProblemKind, String) {
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    let mut texts = Vec::new();
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused => return (ProblemKind::Refused, "connection refused".into()),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return (ProblemKind::Reset, "connection reset by the server".into());
                }
                TimedOut => return (ProblemKind::Timeout, "timed out".into()),
                _ => {}
            }
            if let Some(inner) = io.get_ref()
                && let Some(tls) = inner.downcast_ref::<rustls::Error>()
            {
                return (ProblemKind::Tls, format!("TLS failure: {tls}"));
            }
        }
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return (ProblemKind::Tls, format!("TLS failure: {tls}"));
        }
        texts.push(e.to_string());
        cur = e.source();
    }
    let all = texts.join(": ");
    let lower = all.to_lowercase();
    if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
    {
        (ProblemKind::Dns, "DNS lookup failed: the host name does not resolve".into())
    } else if lower.contains("timed out") || lower.contains("deadline") || lower.contains("elapsed") {
        (ProblemKind::Timeout, "timed out".into())
    } else if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("corrupt message")
        || lower.contains("invalidcontenttype")
    {
        (ProblemKind::Tls, format!("TLS failure: {}", texts.last().cloned().unwrap_or_default()))
    } else if lower.contains("connection reset")
        || lower.contains("connection closed")
        || lower.contains("incomplete message")
    {
        (ProblemKind::Reset, "connection reset by the server".into())
    } else {
        (ProblemKind::Other, texts.last().cloned().unwrap_or(all))
    }
}
