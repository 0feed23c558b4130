//! The HTTP client under each region's Kubernetes client. It offers HTTP/2
//! in the TLS handshake (ALPN), so that where the API server speaks it (every
//! supported Kubernetes version does over TLS) the pods list, the evidence
//! and every log stream of a region share one connection: a log read costs
//! one round trip instead of a TCP and a TLS handshake first, and a region
//! with many pods opens no more connections than one with three. A server
//! that answers only HTTP/1.1 gets pooled keep-alive connections, one per
//! stream open at once. The rest of the stack (base URL, credentials,
//! kube's own retry when the config asks for it, extra headers) is kube's,
//! layered as `kube::Client::try_from` layers it, whose connector offers
//! HTTP/1.1 only.

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::retry::RetryPolicy;
use kube::client::{Body, ClientBuilder, ConfigExt, DynBody};
use tower::retry::RetryLayer;
use tower::util::BoxService;
use tower::{BoxError, ServiceBuilder, ServiceExt};

/// The service a [`ClientBuilder`] carries: the same type as kube's own
/// builder's, so layers added with `with_layer` fit either.
pub type Service = BoxService<Request<Body>, Response<Box<DynBody>>, BoxError>;

/// A client builder for `config` whose connections offer HTTP/2, falling
/// back to HTTP/1.1; timeouts, TLS identity and credentials as kube sets them.
pub fn builder(config: kube::Config) -> Result<ClientBuilder<Service>, kube::Error> {
    let tls = config.rustls_client_config()?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
    let https = match config.tls_server_name.as_deref() {
        Some(name) => {
            let name = rustls::pki_types::ServerName::try_from(name.to_string())
                .map_err(|e| kube::Error::RustlsTls(kube::client::RustlsTlsError::InvalidServerName(e)))?;
            https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => https,
    };
    // ALPN offers h2, then http/1.1; the server picks.
    let mut connector = hyper_timeout::TimeoutConnector::new(https.enable_all_versions().wrap_connector(http));
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let client: hyper_util::client::legacy::Client<_, Body> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);

    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.default_retry.then(|| RetryLayer::new(RetryPolicy::server_retry())))
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(client)
        .map_response(|res| res.map(|body| Box::new(body.map_err(BoxError::from)) as Box<DynBody>))
        .boxed();
    Ok(ClientBuilder::new(service, config.default_namespace))
}
