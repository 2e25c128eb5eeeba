//! The sandbox's certificate authority and the serving certificate for 127.0.0.1/localhost.

use std::path::Path;
use std::sync::Arc;

use crate::at_rest::{self, AtRest};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Errors while making or loading certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("failed to generate sandbox certificates")]
    Generate(#[source] rcgen::Error),
    /// Stored PEM files are unreadable.
    #[error("failed to read stored sandbox certificates")]
    Pem(#[source] rustls::pki_types::pem::Error),
    /// rustls refused the configuration.
    #[error("failed to configure TLS")]
    Config(#[source] rustls::Error),
    /// Files could not be written or read.
    #[error("failed to store sandbox certificates")]
    Store(#[source] crate::store::StoreError),
    /// A stored file could not be read.
    #[error("failed to read {path}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// PEM material of the CA and the serving certificate.
#[derive(Clone)]
pub struct Material {
    /// CA certificate (goes into kubeconfigs and service-account secrets).
    pub ca_pem: String,
    /// Serving certificate chain.
    pub cert_pem: String,
    /// Serving key.
    pub key_pem: String,
}

/// Creates a fresh CA and a serving certificate signed by it.
pub fn generate() -> Result<Material, TlsError> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(TlsError::Generate)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "meshbook-sandbox-ca");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(TlsError::Generate)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(TlsError::Generate)?;
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(TlsError::Generate)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "meshbook-sandbox");
    let leaf_key = KeyPair::generate().map_err(TlsError::Generate)?;
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .map_err(TlsError::Generate)?;
    Ok(Material {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf_cert.pem(),
        key_pem: leaf_key.serialize_pem(),
    })
}

/// Loads the material from `dir`, or generates and stores it there.
pub fn load_or_generate(dir: &Path, at_rest: &AtRest) -> Result<Material, TlsError> {
    let files = [
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
    ];
    if files.iter().all(|f| f.exists()) {
        let read = |p: &Path| at_rest::read(at_rest, p).map_err(TlsError::Store);
        return Ok(Material {
            ca_pem: read(&files[0])?,
            cert_pem: read(&files[1])?,
            key_pem: read(&files[2])?,
        });
    }
    let m = generate()?;
    // Certificates are public; the serving key is kept like the objects.
    for (f, data) in files.iter().zip([&m.ca_pem, &m.cert_pem]) {
        crate::store::write_atomic(f, data.as_bytes()).map_err(TlsError::Store)?;
    }
    at_rest::write(at_rest, &files[2], m.key_pem.clone()).map_err(TlsError::Store)?;
    Ok(m)
}

/// A rustls server configuration offering HTTP/1.1 only (exec needs connection upgrades).
pub fn server_config(m: &Material) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(m.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(TlsError::Pem)?;
    let key = PrivateKeyDer::from_pem_slice(m.key_pem.as_bytes()).map_err(TlsError::Pem)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsError::Config)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
