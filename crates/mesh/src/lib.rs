//! Bazaar's service mesh, in process ("proxyless"): one policy file says who
//! may call what, how long a call may take, when it is retried and when an
//! upstream is cut off. Servers accept only mTLS connections from workloads
//! of the mesh and authorize each call by the caller's SPIFFE ID; clients
//! verify the server's identity and go through a timeout → breaker → limit
//! stack, with budgeted retries of idempotent calls.
//!
//! Under Istio (`mode = sidecar`) the sidecars do mTLS and retries; the
//! identity comes from the header the sidecar sets, and authorization stays
//! on as defense in depth.

pub mod authz;
pub mod client;
pub mod deadline;
mod der;
#[cfg(feature = "dev-certs")]
pub mod devcerts;
pub mod identity;
pub mod incoming;
pub mod policy;
pub mod retry;
pub mod tls;

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

pub use authz::{AuthzLayer, Caller};
pub use client::{MeshChannel, Upstream};
pub use identity::SpiffeId;
pub use incoming::PeerInfo;
pub use policy::MeshPolicy;
pub use retry::Retrier;
pub use tls::{CertPaths, Credentials};

/// Who enforces the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// This process: mTLS, authorization, retries and breakers (`make run`).
    #[default]
    Proxyless,
    /// An Istio sidecar: plaintext on the pod-local listener, identity from
    /// `x-forwarded-client-cert`, no in-process retries.
    Sidecar,
}

/// The `[mesh]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MeshConfig {
    pub mode: Mode,
    /// The policy; the built-in `helm/bazaar/mesh-policy.yaml` when unset.
    pub policy_file: Option<PathBuf>,
    /// Where `<workload>.pem`, `<workload>.key` and `ca.pem` are.
    pub certs_dir: PathBuf,
    /// How often the certificate files are checked for a rotation.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for MeshConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Proxyless,
            policy_file: None,
            certs_dir: PathBuf::from("data/mesh"),
            reload_interval: Duration::from_secs(5),
        }
    }
}

impl MeshConfig {
    /// The policy this configuration names.
    pub fn policy(&self) -> Result<MeshPolicy, policy::PolicyError> {
        match &self.policy_file {
            Some(path) => MeshPolicy::load(path),
            None => MeshPolicy::built_in(),
        }
    }

    /// The credentials of `workload`, watched for rotation; `None` in
    /// sidecar mode.
    pub fn credentials(
        &self,
        workload: &str,
    ) -> Result<Option<std::sync::Arc<Credentials>>, tls::TlsError> {
        if self.mode == Mode::Sidecar {
            return Ok(None);
        }
        let credentials = Credentials::load(CertPaths::in_dir(&self.certs_dir, workload))?;
        credentials.watch(self.reload_interval);
        Ok(Some(credentials))
    }
}
