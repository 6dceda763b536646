//! A development certificate authority: what `make run` and the tests use in
//! place of Istio's CA. One CA, and for every workload of the policy a
//! certificate whose URI SAN is its SPIFFE ID (plus `localhost` and
//! `127.0.0.1`, so grpcurl can verify a local server by address).

use std::{
    net::{IpAddr, Ipv4Addr},
    path::Path,
    time::Duration,
};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::{policy::MeshPolicy, tls::CertPaths};

#[derive(Debug, thiserror::Error)]
pub enum DevCertError {
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// How long development certificates last.
const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// A CA that signs workload certificates.
pub struct DevCa {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl DevCa {
    /// A fresh CA named `name`.
    pub fn generate(name: &str) -> Result<Self, DevCertError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, name);
        params.distinguished_name = subject;
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params);
        let pem = params.self_signed(&key)?.pem();
        Ok(Self { params, key, pem })
    }

    /// The CA certificate (the trust bundle), PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A certificate for the SPIFFE ID `uri`: PEM certificate and PEM key.
    pub fn issue(&self, uri: &str, dns: &[&str]) -> Result<(String, String), DevCertError> {
        let key = KeyPair::generate()?;
        let mut params =
            CertificateParams::new(dns.iter().map(|d| (*d).to_owned()).collect::<Vec<_>>())?;
        params.subject_alt_names.push(SanType::URI(uri.try_into()?));
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, uri);
        params.distinguished_name = subject;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Writes the trust bundle and a certificate for every workload of
    /// `policy` into `dir`, as [`CertPaths::in_dir`] expects them.
    pub fn write_all(&self, dir: &Path, policy: &MeshPolicy) -> Result<(), DevCertError> {
        write(&dir.join("ca.pem"), self.pem())?;
        for workload in &policy.workloads {
            let Some(identity) = policy.identity(workload) else {
                continue;
            };
            let (cert, key) = self.issue(identity.as_str(), &["localhost", workload])?;
            let paths = CertPaths::in_dir(dir, workload);
            write(&paths.cert, &cert)?;
            write(&paths.key, &key)?;
        }
        Ok(())
    }
}

fn set_validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    // A minute back, for clocks a little apart.
    params.not_before = now - Duration::from_secs(60);
    params.not_after = now + VALIDITY;
}

fn write(path: &Path, contents: &str) -> Result<(), DevCertError> {
    let failed = |source| DevCertError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    // Write then rename, so a reader never sees half a file.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, contents).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o600))
            .map_err(failed)?;
    }
    std::fs::rename(&partial, path).map_err(failed)
}

/// Makes sure `dir` holds a development CA and a certificate for every
/// workload of `policy`; generates all of them afresh if any is missing.
/// Returns whether it generated.
pub fn ensure(dir: &Path, policy: &MeshPolicy) -> Result<bool, DevCertError> {
    let complete = dir.join("ca.pem").is_file()
        && policy.workloads.iter().all(|w| {
            let paths = CertPaths::in_dir(dir, w);
            paths.cert.is_file() && paths.key.is_file()
        });
    if complete {
        return Ok(false);
    }
    DevCa::generate("Bazaar development mesh CA")?.write_all(dir, policy)?;
    Ok(true)
}

/// A TLS channel to `addr` that trusts the CA in `ca_pem` and checks the
/// server's name (`localhost`) but presents no client certificate: the
/// "anonymous TLS caller" that mesh servers must refuse.
pub fn anonymous_channel(
    ca_pem: &Path,
    addr: std::net::SocketAddr,
) -> Result<tonic::transport::Channel, crate::tls::TlsError> {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};
    let unreadable = |source| crate::tls::TlsError::Read {
        path: ca_pem.display().to_string(),
        source,
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(ca_pem).map_err(unreadable)? {
        roots
            .add(ca.map_err(unreadable)?)
            .map_err(|e| crate::tls::TlsError::Trust(e.to_string()))?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| crate::tls::TlsError::Trust(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| crate::tls::TlsError::Trust(e.to_string()))?;
    Ok(
        endpoint.connect_with_connector_lazy(tower::service_fn(move |_| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                tcp.set_nodelay(true)?;
                let name = ServerName::try_from("localhost")
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        })),
    )
}
