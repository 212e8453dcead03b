//! `ssl://` brokers: rustls on ring (no system OpenSSL), trusting `caCert`, presenting
//! `clientCert`/`clientKey` when set.

use super::settings::Tls;
use crate::BrokerError;
use rumqttc::{TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

pub(super) fn transport(tls: &Tls) -> Result<Transport, BrokerError> {
    let bad = |key: &str, why: &dyn std::fmt::Display| BrokerError::Config(format!("{key}: not usable PEM: {why}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(tls.ca_cert.as_bytes()) {
        roots.add(cert.map_err(|e| bad("caCert", &e))?).map_err(|e| bad("caCert", &e))?;
    }
    if roots.is_empty() {
        return Err(bad("caCert", &"no certificate in it"));
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots);
    let config = match &tls.client_auth {
        Some((cert, key)) => {
            let chain =
                CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(|e| bad("clientCert", &e))?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| bad("clientKey", &e))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| bad("clientCert", &e))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(config))))
}
