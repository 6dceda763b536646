//! A workload's mTLS credentials: its certificate and key, and the mesh CA it
//! trusts, kept current from disk so short-lived certificates rotate
//! without a restart.
//!
//! Servers require a client certificate signed by the mesh CA and learn the
//! caller's SPIFFE ID from it; clients present their own and accept a server
//! only if its certificate names the identity they meant to reach (not
//! merely any certificate of the CA).

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject},
    server::{
        ClientHello, ResolvesServerCert, WebPkiClientVerifier,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
    sign::CertifiedKey,
};
use serde::{Deserialize, Serialize};

use crate::identity::SpiffeId;

/// Where a workload's credentials are: `<dir>/<workload>.pem` (certificate
/// chain), `<dir>/<workload>.key` (private key) and `<dir>/ca.pem` (the
/// mesh's trust bundle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl CertPaths {
    pub fn in_dir(dir: &Path, workload: &str) -> Self {
        Self {
            cert: dir.join(format!("{workload}.pem")),
            key: dir.join(format!("{workload}.key")),
            ca: dir.join("ca.pem"),
        }
    }

    fn files(&self) -> [&Path; 3] {
        [&self.cert, &self.key, &self.ca]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{0} holds no certificate")]
    NoCertificate(String),
    #[error("{path} is not a usable certificate or key: {source}")]
    Unusable { path: String, source: rustls::Error },
    #[error("{0}: the certificate names no SPIFFE ID")]
    NoIdentity(String),
    #[error("the trust bundle is unusable: {0}")]
    Trust(String),
}

/// What is loaded from disk at one time.
struct Material {
    key: Arc<CertifiedKey>,
    identity: SpiffeId,
    roots: Arc<RootCertStore>,
    client_verifier: Arc<dyn ClientCertVerifier>,
    stamp: Vec<Option<SystemTime>>,
}

/// A workload's credentials, reloadable.
pub struct Credentials {
    paths: CertPaths,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<Material>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("paths", &self.paths)
            .field("identity", &self.identity().to_string())
            .finish_non_exhaustive()
    }
}

/// The crypto of every mesh connection: ring, rustls' safe defaults.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.display().to_string()));
    }
    Ok(certs)
}

impl Credentials {
    /// Loads the credentials at `paths`.
    pub fn load(paths: CertPaths) -> Result<Arc<Self>, TlsError> {
        let provider = provider();
        let material = Self::read(&paths, &provider)?;
        Ok(Arc::new(Self {
            paths,
            provider,
            current: RwLock::new(Arc::new(material)),
        }))
    }

    fn read(paths: &CertPaths, provider: &Arc<CryptoProvider>) -> Result<Material, TlsError> {
        // Stamp first: a file replaced while being read is read again later.
        let stamp = paths.files().iter().map(|p| modified(p)).collect();
        let chain = read_certs(&paths.cert)?;
        let key = PrivateKeyDer::from_pem_file(&paths.key).map_err(|source| TlsError::Read {
            path: paths.key.display().to_string(),
            source,
        })?;
        let unusable = |path: &Path| {
            let path = path.display().to_string();
            move |source| TlsError::Unusable { path, source }
        };
        let signing_key = provider
            .key_provider
            .load_private_key(key)
            .map_err(unusable(&paths.key))?;
        let identity = SpiffeId::from_certificate(&chain[0])
            .ok_or_else(|| TlsError::NoIdentity(paths.cert.display().to_string()))?;
        let key = CertifiedKey::new(chain, signing_key);
        key.keys_match().map_err(unusable(&paths.key))?;

        let mut roots = RootCertStore::empty();
        for ca in read_certs(&paths.ca)? {
            roots.add(ca).map_err(unusable(&paths.ca))?;
        }
        let roots = Arc::new(roots);
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(provider))
                .build()
                .map_err(|e| TlsError::Trust(e.to_string()))?;
        Ok(Material {
            key: Arc::new(key),
            identity,
            roots,
            client_verifier,
            stamp,
        })
    }

    fn material(&self) -> Arc<Material> {
        // Replaced whole, so a poisoned lock still holds a consistent value.
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The certificate chain and key in use now.
    pub fn current_key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.material().key)
    }

    /// This workload's identity, from its certificate.
    pub fn identity(&self) -> SpiffeId {
        self.material().identity.clone()
    }

    /// Reloads from disk if a file changed since the last load. A broken
    /// new set (e.g. a key written before its certificate) keeps the old one
    /// in use and is tried again next time.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let stamp: Vec<_> = self.paths.files().iter().map(|p| modified(p)).collect();
        if stamp == self.material().stamp {
            return Ok(false);
        }
        let material = Self::read(&self.paths, &self.provider)?;
        tracing::info!(identity = %material.identity, "reloaded the mesh certificate");
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(material);
        Ok(true)
    }

    /// Checks the files every `every` until the credentials are dropped.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let credentials = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(credentials) = credentials.upgrade() else {
                    return;
                };
                if let Err(error) = credentials.reload_if_changed() {
                    tracing::warn!(%error, "the changed mesh certificate is not usable yet");
                }
            }
        });
    }

    /// A server configuration that requires a client certificate of the
    /// mesh CA and speaks HTTP/2.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Trust(e.to_string()))?
            .with_client_cert_verifier(Arc::new(ReloadingClientVerifier(Arc::clone(self))))
            .with_cert_resolver(Arc::new(Resolver(Arc::clone(self))));
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    /// A client configuration that presents this workload's certificate and
    /// accepts only a server whose certificate names `server`.
    pub fn client_config(
        self: &Arc<Self>,
        server: SpiffeId,
    ) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Trust(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ServerIdentityVerifier {
                credentials: Arc::clone(self),
                expected: server,
            }))
            .with_client_cert_resolver(Arc::new(Resolver(Arc::clone(self))));
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Hands out the current certificate, as server or as client.
#[derive(Debug)]
struct Resolver(Arc<Credentials>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.material().key))
    }
}

impl rustls::client::ResolvesClientCert for Resolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.material().key))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// webpki's client verifier over the current trust bundle.
#[derive(Debug)]
struct ReloadingClientVerifier(Arc<Credentials>);

impl ClientCertVerifier for ReloadingClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Hints are optional; the bundle can change under us.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verifier = Arc::clone(&self.0.material().client_verifier);
        verifier.verify_client_cert(end_entity, intermediates, now)?;
        if SpiffeId::from_certificate(end_entity).is_none() {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0
            .material()
            .client_verifier
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0
            .material()
            .client_verifier
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.material().client_verifier.supported_verify_schemes()
    }
}

/// Verifies the server's chain against the mesh CA, then its identity: mesh
/// certificates carry a SPIFFE ID, not host names.
#[derive(Debug)]
struct ServerIdentityVerifier {
    credentials: Arc<Credentials>,
    expected: SpiffeId,
}

impl ServerCertVerifier for ServerIdentityVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        let roots = Arc::clone(&self.credentials.material().roots);
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &roots,
            intermediates,
            now,
            self.credentials
                .provider
                .signature_verification_algorithms
                .all,
        )?;
        match SpiffeId::from_certificate(end_entity) {
            Some(identity) if identity == self.expected => Ok(ServerCertVerified::assertion()),
            other => {
                tracing::warn!(
                    expected = %self.expected,
                    presented = ?other.map(|id| id.to_string()),
                    "refusing a server with the wrong identity"
                );
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.credentials.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.credentials.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.credentials
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
