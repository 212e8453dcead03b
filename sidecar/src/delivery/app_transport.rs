//! Connections to the app for every `--app-protocol`: plain or TLS, HTTP/1.1, h2c or gRPC. TLS
//! accepts whatever certificate the app shows, as daprd does: apps use self-signed certificates
//! and the channel never leaves the machine (or the pod).

use crate::config::AppProtocol;
use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// The HTTP client of an HTTP app channel; it speaks `http://` and `https://` alike.
pub type HttpClient = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// `http://address:port` or `https://address:port` (IPv6 addresses bracketed).
pub fn base_url(protocol: AppProtocol, address: &str, port: u16) -> String {
    let scheme = if protocol.uses_tls() { "https" } else { "http" };
    if address.contains(':') && !address.starts_with('[') {
        format!("{scheme}://[{address}]:{port}")
    } else {
        format!("{scheme}://{address}:{port}")
    }
}

/// The client for `http`, `https` and `h2c` apps.
pub fn http_client(protocol: AppProtocol) -> HttpClient {
    // HTTP/1.1 over TLS (no ALPN), as daprd's https channel; h2c is plain HTTP/2 by prior knowledge.
    let connector = HttpsConnectorBuilder::new().with_tls_config(tls_config()).https_or_http().enable_http1().wrap_connector(tcp());
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .http2_only(protocol == AppProtocol::H2c)
        .build(connector)
}

/// A lazily connecting channel for `grpc` and `grpcs` apps.
pub fn grpc_channel(protocol: AppProtocol, address: &str, port: u16) -> Result<Channel, String> {
    let url = base_url(protocol, address, port);
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| format!("invalid app address {url}: {e}"))?
        .tcp_nodelay(true)
        .initial_connection_window_size(dapr_rs_proto::h2_windows::CONNECTION)
        .initial_stream_window_size(dapr_rs_proto::h2_windows::STREAM);
    if protocol.uses_tls() {
        // tonic's own TLS cannot skip verification; a connector that does TLS itself can.
        let connector = HttpsConnectorBuilder::new().with_tls_config(tls_config()).https_only().enable_http2().wrap_connector(tcp());
        Ok(endpoint.connect_with_connector_lazy(connector))
    } else {
        Ok(endpoint.connect_lazy())
    }
}

fn tcp() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    // The HTTPS connector wraps this one and hands it https:// URIs too.
    connector.enforce_http(false);
    connector
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_config() -> rustls::ClientConfig {
    let provider = provider();
    let verifier = Arc::new(AnyAppCertificate { algorithms: provider.signature_verification_algorithms });
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// Accepts any certificate chain and name, but still checks the handshake signatures, so the
/// connection is encrypted to whoever holds the key of the certificate the app presented.
#[derive(Debug)]
struct AnyAppCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyAppCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(base_url(AppProtocol::Http, "127.0.0.1", 80), "http://127.0.0.1:80");
        assert_eq!(base_url(AppProtocol::Https, "localhost", 443), "https://localhost:443");
        assert_eq!(base_url(AppProtocol::Grpcs, "::1", 5), "https://[::1]:5");
        assert_eq!(base_url(AppProtocol::H2c, "10.0.0.2", 5), "http://10.0.0.2:5");
    }
}
