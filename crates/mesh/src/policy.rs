//! The mesh policy as plain data: parsed once from YAML, checked, then read
//! by the server's authorization layer, the client stack and (under Istio)
//! the chart that renders the same file into Istio resources.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    time::Duration,
};

use serde::Deserialize;

use crate::identity::SpiffeId;

/// The policy Bazaar ships with (`helm/bazaar/mesh-policy.yaml`, which the
/// chart also reads), compiled in so a binary needs no file to start.
pub const BUILT_IN: &str = include_str!("../../../helm/bazaar/mesh-policy.yaml");

/// Why a policy cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the mesh policy {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid mesh policy: {0}")]
    Syntax(#[from] serde_yaml_ng::Error),
    #[error("invalid mesh policy: {key}: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// Whether a method needs an end user's access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserToken {
    /// No valid token, no call.
    #[default]
    Required,
    /// Anonymous callers are served; a valid token is still seen.
    Optional,
}

/// A role the end user's token must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
}

/// One RPC's rules.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodPolicy {
    /// Workloads or groups that may call it.
    pub callers: Vec<String>,
    #[serde(default)]
    pub user_token: UserToken,
    pub role: Option<Role>,
    /// Safe to send twice: only these are ever retried.
    #[serde(default)]
    pub idempotent: bool,
    /// Overrides the service's timeout; `0s` means none (a stream).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

/// When calls to a service are tried again.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// Tries in all, the first included.
    pub attempts: u32,
    pub budget: RetryBudget,
}

/// A retry budget, linkerd/Envoy style: retries may add at most `ratio` of
/// the requests of the last `ttl`, plus `min_per_second` regardless.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBudget {
    pub ratio: f32,
    pub min_per_second: u32,
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

/// Outlier detection and connection-pool limits for one upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Failures in a row (UNAVAILABLE, refused or broken connections) that
    /// eject an endpoint.
    pub consecutive_failures: u32,
    /// How long an ejected endpoint is skipped before a probe is let through.
    #[serde(with = "humantime_serde")]
    pub ejection_time: Duration,
    /// Istio's `maxEjectionPercent`; with one endpoint per upstream in
    /// proxyless mode, 100 lets the breaker open.
    pub max_ejection_percent: u32,
    /// Requests in flight to the upstream at once.
    pub max_requests: u32,
    /// Requests waiting for a connection (Istio's `http1MaxPendingRequests`).
    pub max_pending_requests: u32,
}

/// One service's entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePolicy {
    /// The full gRPC service name, e.g. `bazaar.payment.v1.PaymentService`.
    pub grpc_service: String,
    pub port: u16,
    /// Default per-call timeout of its methods.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub retries: Retries,
    pub circuit_breaker: CircuitBreaker,
    pub methods: BTreeMap<String, MethodPolicy>,
}

impl ServicePolicy {
    /// The timeout of `method`, `None` for no limit (`0s`).
    pub fn timeout_of(&self, method: &str) -> Option<Duration> {
        let timeout = self
            .methods
            .get(method)
            .and_then(|m| m.timeout)
            .unwrap_or(self.timeout);
        (!timeout.is_zero()).then_some(timeout)
    }

    pub fn is_idempotent(&self, method: &str) -> bool {
        self.methods.get(method).is_some_and(|m| m.idempotent)
    }
}

/// The raw file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    trust_domain: String,
    namespace: String,
    workloads: Vec<String>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    infrastructure: Vec<String>,
    services: BTreeMap<String, ServicePolicy>,
}

/// The checked policy.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshPolicy {
    pub trust_domain: String,
    pub namespace: String,
    pub workloads: Vec<String>,
    pub groups: BTreeMap<String, Vec<String>>,
    /// gRPC services every identity of the mesh may call (health, reflection).
    pub infrastructure: Vec<String>,
    /// By workload name.
    pub services: BTreeMap<String, ServicePolicy>,
}

/// What the policy says of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The method is not in the policy: default deny.
    UnknownMethod,
    /// The caller is not among the method's callers.
    Deny,
}

impl MeshPolicy {
    /// Reads and checks the policy at `path`.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// The built-in policy.
    pub fn built_in() -> Result<Self, PolicyError> {
        Self::parse(BUILT_IN)
    }

    /// Parses and checks a policy: every caller names a known workload or
    /// group, every workload is a valid identity, numbers are in range.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile = serde_yaml_ng::from_str(text)?;
        let workloads: BTreeSet<&str> = file.workloads.iter().map(String::as_str).collect();
        if workloads.len() != file.workloads.len() {
            return Err(invalid("workloads", "a workload is listed twice"));
        }
        for workload in &file.workloads {
            SpiffeId::new(&file.trust_domain, &file.namespace, workload)
                .map_err(|e| invalid(format!("workloads.{workload}"), e.to_string()))?;
        }
        for (group, members) in &file.groups {
            if workloads.contains(group.as_str()) {
                return Err(invalid(
                    format!("groups.{group}"),
                    "a group cannot have a workload's name",
                ));
            }
            for member in members {
                if !workloads.contains(member.as_str()) {
                    return Err(invalid(
                        format!("groups.{group}"),
                        format!("unknown workload {member:?}"),
                    ));
                }
            }
        }
        for (name, service) in &file.services {
            let key = format!("services.{name}");
            if !workloads.contains(name.as_str()) {
                return Err(invalid(&key, "a service must be one of the workloads"));
            }
            if service.methods.is_empty() {
                return Err(invalid(format!("{key}.methods"), "lists no method"));
            }
            let budget = service.retries.budget;
            if !(0.0..=1.0).contains(&budget.ratio) {
                return Err(invalid(
                    format!("{key}.retries.budget.ratio"),
                    "must be between 0 and 1",
                ));
            }
            // tower's budget keeps between 1 and 60 one-second buckets.
            if budget.ttl < Duration::from_secs(1) || budget.ttl > Duration::from_secs(60) {
                return Err(invalid(
                    format!("{key}.retries.budget.ttl"),
                    "must be between 1s and 60s",
                ));
            }
            if service.retries.attempts == 0 {
                return Err(invalid(
                    format!("{key}.retries.attempts"),
                    "must be at least 1 (1: no retries)",
                ));
            }
            let breaker = service.circuit_breaker;
            for (field, value) in [
                ("consecutive_failures", breaker.consecutive_failures),
                ("max_requests", breaker.max_requests),
                ("max_pending_requests", breaker.max_pending_requests),
            ] {
                if value == 0 {
                    return Err(invalid(
                        format!("{key}.circuit_breaker.{field}"),
                        "must be at least 1",
                    ));
                }
            }
            if breaker.max_ejection_percent > 100 {
                return Err(invalid(
                    format!("{key}.circuit_breaker.max_ejection_percent"),
                    "must be at most 100",
                ));
            }
            for (method, rules) in &service.methods {
                let key = format!("{key}.methods.{method}.callers");
                if rules.callers.is_empty() {
                    return Err(invalid(key, "names no caller: say who may call it"));
                }
                for caller in &rules.callers {
                    if !workloads.contains(caller.as_str()) && !file.groups.contains_key(caller) {
                        return Err(invalid(
                            &key,
                            format!("unknown workload or group {caller:?}"),
                        ));
                    }
                }
            }
        }
        Ok(Self {
            trust_domain: file.trust_domain,
            namespace: file.namespace,
            workloads: file.workloads,
            groups: file.groups,
            infrastructure: file.infrastructure,
            services: file.services,
        })
    }

    /// The identity of `workload`.
    pub fn identity(&self, workload: &str) -> Option<SpiffeId> {
        self.workloads
            .iter()
            .any(|w| w == workload)
            .then(|| SpiffeId::new(&self.trust_domain, &self.namespace, workload).ok())
            .flatten()
    }

    /// The workload an identity belongs to, if it is one of this mesh's.
    pub fn workload_of(&self, identity: &SpiffeId) -> Option<&str> {
        if identity.trust_domain() != self.trust_domain || identity.namespace() != self.namespace {
            return None;
        }
        self.workloads
            .iter()
            .map(String::as_str)
            .find(|w| *w == identity.service_account())
    }

    /// The policy of the service whose gRPC name is `grpc_service`.
    pub fn service_by_grpc_name(&self, grpc_service: &str) -> Option<(&str, &ServicePolicy)> {
        self.services
            .iter()
            .find(|(_, s)| s.grpc_service == grpc_service)
            .map(|(name, s)| (name.as_str(), s))
    }

    /// The workloads `caller` (a workload or group) stands for.
    pub fn expand<'a>(&'a self, caller: &'a str) -> Vec<&'a str> {
        match self.groups.get(caller) {
            Some(members) => members.iter().map(String::as_str).collect(),
            None => vec![caller],
        }
    }

    /// The workloads allowed to call `method` of `service`'s policy.
    pub fn callers_of<'a>(&'a self, rules: &'a MethodPolicy) -> BTreeSet<&'a str> {
        rules
            .callers
            .iter()
            .flat_map(|caller| self.expand(caller))
            .collect()
    }

    /// May `workload` call `/grpc_service/method`?
    pub fn decide(&self, workload: &str, grpc_service: &str, method: &str) -> Decision {
        if self.infrastructure.iter().any(|s| s == grpc_service) {
            return Decision::Allow;
        }
        let Some(rules) = self
            .service_by_grpc_name(grpc_service)
            .and_then(|(_, service)| service.methods.get(method))
        else {
            return Decision::UnknownMethod;
        };
        if self.callers_of(rules).contains(workload) {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built_in() -> MeshPolicy {
        MeshPolicy::built_in().expect("the shipped policy is valid")
    }

    #[test]
    fn the_shipped_policy_admits_only_order_to_money_and_stock() {
        let policy = built_in();
        for method in ["Charge", "Refund", "LookupPayment"] {
            assert_eq!(
                policy.decide("order", "bazaar.payment.v1.PaymentService", method),
                Decision::Allow
            );
            for other in [
                "gateway",
                "dev-client",
                "product",
                "user",
                "payment",
                "notification",
            ] {
                assert_eq!(
                    policy.decide(other, "bazaar.payment.v1.PaymentService", method),
                    Decision::Deny,
                    "{other} → {method}"
                );
            }
        }
        assert_eq!(
            policy.decide(
                "gateway",
                "bazaar.product.v1.ProductService",
                "ReserveStock"
            ),
            Decision::Deny
        );
        assert_eq!(
            policy.decide("order", "bazaar.product.v1.ProductService", "Nope"),
            Decision::UnknownMethod
        );
        assert_eq!(
            policy.decide("product", "grpc.health.v1.Health", "Check"),
            Decision::Allow
        );
    }

    #[test]
    fn notification_reads_keys_and_serves_only_the_edge() {
        let policy = built_in();
        let service = "bazaar.notification.v1.NotificationService";
        for caller in ["gateway", "dev-client"] {
            assert_eq!(
                policy.decide(caller, service, "ListNotifications"),
                Decision::Allow
            );
        }
        for other in ["user", "product", "order", "payment", "notification"] {
            assert_eq!(
                policy.decide(other, service, "ListNotifications"),
                Decision::Deny,
                "{other}"
            );
        }
        assert_eq!(
            policy.decide("notification", "bazaar.user.v1.UserService", "GetJwks"),
            Decision::Allow
        );
        // It verifies tokens and reads events; it calls nothing else.
        for (grpc_service, method) in [
            ("bazaar.user.v1.UserService", "GetUser"),
            ("bazaar.order.v1.OrderService", "GetOrder"),
            ("bazaar.product.v1.ProductService", "ReserveStock"),
            ("bazaar.payment.v1.PaymentService", "LookupPayment"),
        ] {
            assert_eq!(
                policy.decide("notification", grpc_service, method),
                Decision::Deny,
                "{method}"
            );
        }
        let rules = &policy.services["notification"];
        assert_eq!(rules.port, 50055);
        assert!(rules.is_idempotent("ListNotifications"));
    }

    #[test]
    fn timeouts_fall_back_to_the_service_and_zero_means_none() {
        let policy = built_in();
        let order = &policy.services["order"];
        assert_eq!(
            order.timeout_of("PlaceOrder"),
            Some(Duration::from_secs(15))
        );
        assert_eq!(order.timeout_of("WatchOrder"), None);
        assert!(policy.services["payment"].is_idempotent("Charge"));
        assert!(!order.is_idempotent("PlaceOrder"));
    }

    #[test]
    fn identities_are_istios() {
        let policy = built_in();
        let order = policy.identity("order").expect("order is a workload");
        assert_eq!(
            order.to_string(),
            "spiffe://cluster.local/ns/bazaar/sa/order"
        );
        assert_eq!(policy.workload_of(&order), Some("order"));
        let foreign = SpiffeId::new("example.org", "bazaar", "order").unwrap();
        assert_eq!(policy.workload_of(&foreign), None);
        assert!(policy.identity("mallory").is_none());
    }

    fn with(replace: &str, by: &str) -> Result<MeshPolicy, PolicyError> {
        assert!(BUILT_IN.contains(replace), "{replace}");
        MeshPolicy::parse(&BUILT_IN.replacen(replace, by, 1))
    }

    #[test]
    fn a_bad_policy_names_its_key() {
        let cases = [
            (
                "Charge: { callers: [order]",
                "Charge: { callers: [ordr]",
                "services.payment.methods.Charge.callers: unknown workload or group \"ordr\"",
            ),
            (
                "Charge: { callers: [order]",
                "Charge: { callers: []",
                "services.payment.methods.Charge.callers: names no caller",
            ),
            (
                "edge: [gateway, dev-client]",
                "edge: [gateway, intruder]",
                "groups.edge: unknown workload \"intruder\"",
            ),
            (
                "budget: { ratio: 0.2",
                "budget: { ratio: 2.5",
                "services.user.retries.budget.ratio: must be between 0 and 1",
            ),
            (
                "consecutive_failures: 5",
                "consecutive_failures: 0",
                "services.user.circuit_breaker.consecutive_failures: must be at least 1",
            ),
            (
                "workloads: [gateway,",
                "workloads: [Gate_Way, gateway,",
                "workloads.Gate_Way",
            ),
        ];
        for (replace, by, expected) in cases {
            let error = with(replace, by).expect_err(by).to_string();
            assert!(error.contains(expected), "{by}: {error}");
        }
        let error = with("timeout: 15s", "timeout: soon")
            .unwrap_err()
            .to_string();
        assert!(error.contains("services.order.timeout"), "{error}");
        let error = with("idempotent: true }", "idempotnet: true }")
            .unwrap_err()
            .to_string();
        assert!(error.contains("idempotnet"), "{error}");
    }
}
