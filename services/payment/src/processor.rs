//! A simulated card processor with deterministic test cards, standing in for
//! a real acquirer.
//!
//! Like a Stripe-like acquirer it keeps its own ledger keyed by the
//! idempotency key (the `processor_charges` table, apart from `payments`, as
//! the acquirer's records would be): a repeated key is answered with the first
//! outcome and never captured twice, and the outcome of a key can be asked
//! for without the card. The outcome is decided and written when the charge is
//! submitted, so a caller that goes away mid-way (or a crash) leaves a charge
//! the processor still settles, and that a lookup can learn later.

use std::time::Duration;

use bazaar_domain::Money;
use bazaar_runtime::{
    db::{Database, now_micros},
    status::ServiceError,
};
use sqlx::Row;

use crate::domain::{Card, IdempotencyKey};

/// Test card numbers and what the processor does with them. Any other
/// Luhn-valid number is approved.
pub mod test_cards {
    /// Approved.
    pub const APPROVED: &str = "4242424242424242";
    /// Declined: insufficient funds.
    pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";
    /// Declined: generic decline.
    pub const DECLINED: &str = "4000000000000002";
    /// The processor fails: nothing is charged, the caller may retry.
    pub const PROCESSOR_ERROR: &str = "4000000000000119";
    /// Approved after the configured `processor.slow_latency`.
    pub const SLOW: &str = "4000000000003220";
}

/// The processor's answer to a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    /// A stable reason code, e.g. `INSUFFICIENT_FUNDS`.
    Declined(String),
    /// The key was voided before any charge was submitted under it: nothing
    /// was, or ever will be, charged under it.
    Voided,
    /// The processor could not decide; nothing was charged.
    Unavailable,
}

/// What the processor's ledger says about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The processor never saw a charge under the key.
    Nothing,
    /// Submitted, not settled yet: ask again shortly.
    InFlight,
    /// Settled, for good.
    Settled(Outcome),
}

/// One charge as submitted to the processor.
#[derive(Debug)]
pub struct Submission<'a> {
    pub key: &'a IdempotencyKey,
    pub card: &'a Card,
    /// The card's keyed fingerprint, which the ledger keeps instead of the
    /// number.
    pub fingerprint: &'a str,
    pub amount: Money,
}

#[derive(Debug, Clone)]
pub struct SimulatedProcessor {
    slow_latency: Duration,
    db: Database,
}

impl SimulatedProcessor {
    pub fn new(slow_latency: Duration, db: Database) -> Self {
        Self { slow_latency, db }
    }

    /// Charges under the submission's key once: a key seen before answers its
    /// first outcome, once it is settled. A failing database is a processor
    /// that cannot be reached, which charged nothing.
    pub async fn charge(&self, submission: &Submission<'_>) -> Outcome {
        match self.charge_once(submission).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(%error, "the simulated processor's ledger failed");
                Outcome::Unavailable
            }
        }
    }

    async fn charge_once(&self, submission: &Submission<'_>) -> Result<Outcome, ServiceError> {
        let (outcome, latency) = match submission.card.digits() {
            test_cards::INSUFFICIENT_FUNDS => {
                (Outcome::Declined("INSUFFICIENT_FUNDS".into()), None)
            }
            test_cards::DECLINED => (Outcome::Declined("CARD_DECLINED".into()), None),
            test_cards::SLOW => (Outcome::Approved, Some(self.slow_latency)),
            test_cards::PROCESSOR_ERROR => {
                // An outage answers nothing, but a key already settled still
                // has its answer.
                return Ok(match self.recorded(submission.key).await? {
                    Recorded::Settled(outcome) => outcome,
                    Recorded::Nothing | Recorded::InFlight => Outcome::Unavailable,
                });
            }
            _ => (Outcome::Approved, None),
        };
        let now = now_micros();
        let settles_at = now.saturating_add(
            latency.map_or(0, |l| i64::try_from(l.as_micros()).unwrap_or(i64::MAX)),
        );
        let (stored, reason) = stored_outcome(&outcome);
        // The primary key makes the first submission under a key the only
        // one: concurrent repeats insert nothing and read the first.
        let first = sqlx::query(
            "INSERT INTO processor_charges (idempotency_key, card_fingerprint, currency_code, \
             amount_minor, outcome, decline_reason, settles_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(submission.key.as_str())
        .bind(submission.fingerprint)
        .bind(submission.amount.currency().code())
        .bind(submission.amount.minor())
        .bind(stored)
        .bind(reason)
        .bind(settles_at)
        .bind(now)
        .execute(self.db.pool())
        .await?
        .rows_affected()
            == 1;
        if first {
            // This submission is the first: its answer is the one just
            // written, no need to read it back.
            let wait = settles_at.saturating_sub(now_micros());
            if wait > 0 {
                tokio::time::sleep(Duration::from_micros(u64::try_from(wait).unwrap_or(0))).await;
            }
            return Ok(outcome);
        }
        // Wait for the first submission to settle, as the acquirer's answer
        // to it would take that long.
        loop {
            let Some((outcome, settles_at)) = self.row(submission.key).await? else {
                return Err(ServiceError::internal("a processor record vanished"));
            };
            let wait = settles_at.saturating_sub(now_micros());
            if wait <= 0 {
                return Ok(outcome);
            }
            tokio::time::sleep(Duration::from_micros(u64::try_from(wait).unwrap_or(0))).await;
        }
    }

    /// What the ledger holds under `key`, without charging anything.
    pub async fn recorded(&self, key: &IdempotencyKey) -> Result<Recorded, ServiceError> {
        Ok(match self.row(key).await? {
            None => Recorded::Nothing,
            Some((_, settles_at)) if settles_at > now_micros() => Recorded::InFlight,
            Some((outcome, _)) => Recorded::Settled(outcome),
        })
    }

    /// Makes sure nothing is ever charged under `key` if nothing was
    /// submitted under it yet; otherwise leaves the first submission be.
    /// Returns what the ledger holds afterwards.
    pub async fn void(&self, key: &IdempotencyKey) -> Result<Recorded, ServiceError> {
        let now = now_micros();
        sqlx::query(
            "INSERT INTO processor_charges (idempotency_key, card_fingerprint, currency_code, \
             amount_minor, outcome, decline_reason, settles_at, created_at) \
             VALUES ($1, '', '', 0, 'voided', '', $2, $2) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(key.as_str())
        .bind(now)
        .execute(self.db.pool())
        .await?;
        self.recorded(key).await
    }

    async fn row(&self, key: &IdempotencyKey) -> Result<Option<(Outcome, i64)>, ServiceError> {
        let row = sqlx::query(
            "SELECT outcome, decline_reason, settles_at FROM processor_charges \
             WHERE idempotency_key = $1",
        )
        .bind(key.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let outcome: String = row.try_get("outcome")?;
        let reason: String = row.try_get("decline_reason")?;
        let outcome = match outcome.as_str() {
            "approved" => Outcome::Approved,
            "declined" => Outcome::Declined(reason),
            "voided" => Outcome::Voided,
            other => {
                return Err(ServiceError::internal(format!(
                    "unknown processor outcome {other:?}"
                )));
            }
        };
        Ok(Some((outcome, row.try_get("settles_at")?)))
    }
}

/// The ledger's `outcome` and `decline_reason` for an outcome.
fn stored_outcome(outcome: &Outcome) -> (&'static str, &str) {
    match outcome {
        Outcome::Approved => ("approved", ""),
        Outcome::Declined(reason) => ("declined", reason),
        Outcome::Voided | Outcome::Unavailable => ("voided", ""),
    }
}
