//! Workload identities: SPIFFE IDs in Istio's form,
//! `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`, and how
//! one is read from a certificate or from a sidecar's header.

use std::{fmt, sync::Arc};

/// A workload's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpiffeId {
    uri: Arc<str>,
    /// Byte ranges of the three parts inside `uri`.
    trust_domain: (usize, usize),
    namespace: (usize, usize),
    service_account: (usize, usize),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "{0:?} is not a SPIFFE ID of the form spiffe://<trust-domain>/ns/<namespace>/sa/<name>"
    )]
    Malformed(String),
    #[error("{0:?} must be lower-case letters, digits, '.' and '-'")]
    BadPart(String),
}

fn valid_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 253
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

impl SpiffeId {
    /// The identity of `service_account` in `namespace` of `trust_domain`.
    pub fn new(
        trust_domain: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Self, IdentityError> {
        Self::parse(&format!(
            "spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"
        ))
    }

    /// Parses the URI form.
    pub fn parse(uri: &str) -> Result<Self, IdentityError> {
        let malformed = || IdentityError::Malformed(uri.to_owned());
        let rest = uri.strip_prefix("spiffe://").ok_or_else(malformed)?;
        let mut parts = rest.split('/');
        let (Some(trust_domain), Some("ns"), Some(namespace), Some("sa"), Some(account), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(malformed());
        };
        for part in [trust_domain, namespace, account] {
            if !valid_part(part) {
                return Err(IdentityError::BadPart(part.to_owned()));
            }
        }
        let td_start = "spiffe://".len();
        let td_end = td_start + trust_domain.len();
        let ns_start = td_end + "/ns/".len();
        let ns_end = ns_start + namespace.len();
        let sa_start = ns_end + "/sa/".len();
        Ok(Self {
            uri: uri.into(),
            trust_domain: (td_start, td_end),
            namespace: (ns_start, ns_end),
            service_account: (sa_start, uri.len()),
        })
    }

    pub fn trust_domain(&self) -> &str {
        &self.uri[self.trust_domain.0..self.trust_domain.1]
    }

    pub fn namespace(&self) -> &str {
        &self.uri[self.namespace.0..self.namespace.1]
    }

    pub fn service_account(&self) -> &str {
        &self.uri[self.service_account.0..self.service_account.1]
    }

    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// The SPIFFE ID among a certificate's URI subject alternative names.
    /// The certificate (DER) must already have been verified.
    pub fn from_certificate(der: &[u8]) -> Option<Self> {
        crate::der::uri_sans(der)?
            .into_iter()
            .find_map(|uri| Self::parse(uri).ok())
    }

    /// The client identity a sidecar vouches for in its
    /// `x-forwarded-client-cert` header (`By=…;Hash=…;URI=spiffe://…`): the
    /// `URI` of the last element, which describes the hop to this sidecar.
    pub fn from_forwarded_client_cert(header: &str) -> Option<Self> {
        let last = header.rsplit(',').next()?;
        last.split(';')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("uri"))
            .and_then(|(_, value)| Self::parse(value.trim().trim_matches('"')).ok())
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_istios_form_and_nothing_else() {
        let id = SpiffeId::parse("spiffe://cluster.local/ns/bazaar/sa/order").unwrap();
        assert_eq!(id.trust_domain(), "cluster.local");
        assert_eq!(id.namespace(), "bazaar");
        assert_eq!(id.service_account(), "order");
        for bad in [
            "https://cluster.local/ns/bazaar/sa/order",
            "spiffe://cluster.local/ns/bazaar/order",
            "spiffe://cluster.local/ns/bazaar/sa/order/extra",
            "spiffe://cluster.local/ns//sa/order",
            "spiffe://Cluster.local/ns/bazaar/sa/order",
        ] {
            assert!(SpiffeId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_the_last_hop_of_a_forwarded_client_cert_header() {
        let header = "By=spiffe://cluster.local/ns/bazaar/sa/payment;\
                      Hash=abc;URI=spiffe://cluster.local/ns/bazaar/sa/gateway,\
                      By=spiffe://cluster.local/ns/bazaar/sa/payment;Hash=def;\
                      Subject=\"\";URI=spiffe://cluster.local/ns/bazaar/sa/order";
        let id = SpiffeId::from_forwarded_client_cert(header).unwrap();
        assert_eq!(id.service_account(), "order");
        assert!(SpiffeId::from_forwarded_client_cert("By=x;Hash=y").is_none());
    }
}
