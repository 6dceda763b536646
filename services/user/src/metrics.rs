//! The user service's domain metrics: logins by outcome and registrations,
//! beside the per-RPC metrics the runtime keeps.

use bazaar_observe::{
    Metrics,
    prometheus_client::metrics::{counter::Counter, family::Family},
};

/// How a login attempt ended: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Signed in: tokens issued.
    Ok,
    /// A wrong password or an unknown account (told apart nowhere).
    BadCredentials,
    /// Refused before the password was checked: too many failures.
    Throttled,
}

impl LoginOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::BadCredentials => "bad_credentials",
            Self::Throttled => "throttled",
        }
    }
}

type Outcome = [(&'static str, &'static str); 1];

/// Handles registered once per service instance.
#[derive(Clone, Debug)]
pub struct AccountMetrics {
    logins: Family<Outcome, Counter>,
    /// `bazaar_registrations_total`: accounts created.
    pub registrations: Counter,
}

impl AccountMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        Self {
            logins: metrics.family(
                "bazaar_logins",
                "Login attempts by outcome (ok, bad_credentials, throttled)",
            ),
            registrations: metrics.counter("bazaar_registrations", "Accounts registered"),
        }
    }

    /// Counts one login attempt as `bazaar_logins_total{outcome}`.
    pub fn login(&self, outcome: LoginOutcome) {
        self.logins
            .get_or_create(&[("outcome", outcome.as_str())])
            .inc();
    }
}
