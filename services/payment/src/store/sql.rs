//! [`PaymentStore`] over SQL, one dialect for PostgreSQL and SQLite.

use std::fmt::Display;

use bazaar_domain::Money;
use bazaar_runtime::{
    db::{Database, Migrations, is_unique_violation, now_micros},
    status::ServiceError,
};
use sqlx::{Any, Row, Transaction, any::AnyRow, migrate::Migrator};

use super::{Claim, PaymentStore, Written};
use crate::{
    domain::{
        CardBrand, ChargeCommand, IdempotencyKey, Payment, PaymentId, PaymentStatus, Refund,
        RefundCommand, RefundId,
    },
    processor::Outcome,
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The payment service's schema: the same DDL on both backends.
pub const MIGRATIONS: Migrations = Migrations::Portable(&MIGRATOR);

const SELECT_BY_ID: &str = "SELECT id, idempotency_key, order_id, currency_code, amount_minor, \
     refunded_minor, status, card_brand, card_last4, card_exp, card_fingerprint, decline_reason, \
     created_at, updated_at FROM payments WHERE id = $1";
const SELECT_BY_KEY: &str = "SELECT id, idempotency_key, order_id, currency_code, amount_minor, \
     refunded_minor, status, card_brand, card_last4, card_exp, card_fingerprint, decline_reason, \
     created_at, updated_at FROM payments WHERE idempotency_key = $1";

#[derive(Debug, Clone)]
pub struct SqlPaymentStore {
    db: Database,
}

impl SqlPaymentStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// One payment and its refunds, by `select` (a query with one `$1`).
    async fn payment_where(
        &self,
        select: &'static str,
        value: &str,
    ) -> Result<Option<Payment>, ServiceError> {
        let mut conn = self.db.pool().acquire().await?;
        let row = sqlx::query(select)
            .bind(value)
            .fetch_optional(&mut *conn)
            .await?;
        match row {
            Some(row) => {
                let mut payment = payment_from_row(&row)?;
                payment.refunds = refunds_of(&mut conn, &payment).await?;
                Ok(Some(payment))
            }
            None => Ok(None),
        }
    }
}

/// A stored value that no longer parses is a bug (or a hand edit), not the
/// caller's fault.
fn stored<T, E: Display>(what: &'static str, value: Result<T, E>) -> Result<T, ServiceError> {
    value.map_err(|e| ServiceError::internal(format!("stored {what} is invalid: {e}")))
}

/// The columns are NOT NULL, so the schema writes "none" as `''`.
fn optional_text(row: &AnyRow, column: &str) -> Result<Option<String>, ServiceError> {
    let text: String = row.try_get(column)?;
    Ok(Some(text).filter(|text| !text.is_empty()))
}

fn payment_from_row(row: &AnyRow) -> Result<Payment, ServiceError> {
    let id: String = row.try_get("id")?;
    let key: String = row.try_get("idempotency_key")?;
    let currency: String = row.try_get("currency_code")?;
    let amount = stored(
        "amount",
        Money::from_parts(&currency, row.try_get("amount_minor")?),
    )?;
    let refunded = stored(
        "refunded amount",
        Money::from_parts(&currency, row.try_get("refunded_minor")?),
    )?;
    let status: String = row.try_get("status")?;
    let brand: String = row.try_get("card_brand")?;
    Ok(Payment {
        id: stored("payment id", PaymentId::parse(&id))?,
        idempotency_key: stored("idempotency key", IdempotencyKey::parse(&key))?,
        order_id: row.try_get("order_id")?,
        amount,
        refunded,
        status: PaymentStatus::parse(&status)
            .ok_or_else(|| ServiceError::internal(format!("unknown payment status {status:?}")))?,
        card_brand: CardBrand::parse(&brand)
            .ok_or_else(|| ServiceError::internal(format!("unknown card brand {brand:?}")))?,
        card_last4: row.try_get("card_last4")?,
        card_exp: row.try_get("card_exp")?,
        card_fingerprint: row.try_get("card_fingerprint")?,
        decline_reason: optional_text(row, "decline_reason")?,
        refunds: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn refunds_of(
    conn: &mut sqlx::AnyConnection,
    payment: &Payment,
) -> Result<Vec<Refund>, ServiceError> {
    let rows = sqlx::query(
        "SELECT id, payment_id, idempotency_key, amount_minor, reason, created_at \
         FROM refunds WHERE payment_id = $1 ORDER BY created_at, id",
    )
    .bind(payment.id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| refund_from_row(row, payment))
        .collect()
}

fn refund_from_row(row: &AnyRow, payment: &Payment) -> Result<Refund, ServiceError> {
    let id: String = row.try_get("id")?;
    let payment_id: String = row.try_get("payment_id")?;
    let key: String = row.try_get("idempotency_key")?;
    Ok(Refund {
        id: stored("refund id", RefundId::parse(&id))?,
        payment_id: stored("payment id", PaymentId::parse(&payment_id))?,
        idempotency_key: stored("idempotency key", IdempotencyKey::parse(&key))?,
        amount: stored(
            "refund amount",
            Money::new(payment.amount.currency(), row.try_get("amount_minor")?),
        )?,
        reason: optional_text(row, "reason")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn payment_in(
    tx: &mut Transaction<'static, Any>,
    id: &str,
) -> Result<Option<Payment>, ServiceError> {
    let row = sqlx::query(SELECT_BY_ID)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(row) => {
            let mut payment = payment_from_row(&row)?;
            payment.refunds = refunds_of(&mut *tx, &payment).await?;
            Ok(Some(payment))
        }
        None => Ok(None),
    }
}

impl PaymentStore for SqlPaymentStore {
    async fn claim_charge(
        &self,
        command: &ChargeCommand,
        fingerprint: &str,
        token: &str,
    ) -> Result<Claim, ServiceError> {
        let now = now_micros();
        let id = PaymentId::generate();
        let inserted = sqlx::query(
            "INSERT INTO payments (id, idempotency_key, order_id, currency_code, amount_minor, \
             refunded_minor, status, card_brand, card_last4, card_exp, card_fingerprint, claim_token, \
             decline_reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 'pending', $6, $7, $8, $9, $10, '', $11, $11) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(command.idempotency_key.as_str())
        .bind(&command.order_id)
        .bind(command.amount.currency().code())
        .bind(command.amount.minor())
        .bind(command.card.brand().as_str())
        .bind(command.card.last4())
        .bind(command.card.expiry())
        .bind(fingerprint)
        .bind(token)
        .bind(now)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        if inserted == 1 {
            // Exactly what was just written; no need to read it back.
            return Ok(Claim::New(Payment {
                id,
                idempotency_key: command.idempotency_key.clone(),
                order_id: command.order_id.clone(),
                amount: command.amount,
                refunded: Money::zero(command.amount.currency()),
                status: PaymentStatus::Pending,
                card_brand: command.card.brand(),
                card_last4: command.card.last4().to_owned(),
                card_exp: command.card.expiry(),
                card_fingerprint: fingerprint.to_owned(),
                decline_reason: None,
                refunds: Vec::new(),
                created_at: now,
                updated_at: now,
            }));
        }
        let existing = self
            .lookup(&command.idempotency_key)
            .await?
            .ok_or_else(|| ServiceError::internal("a claimed payment vanished"))?;
        Ok(Claim::Existing(existing))
    }

    async fn finish_charge(
        &self,
        id: PaymentId,
        outcome: &Outcome,
    ) -> Result<Written<Payment>, ServiceError> {
        // `''`: no decline reason (see `optional_text`).
        let (status, reason) = match outcome {
            Outcome::Approved => (PaymentStatus::Succeeded, ""),
            Outcome::Declined(reason) => (PaymentStatus::Declined, reason.as_str()),
            Outcome::Voided | Outcome::Unavailable => {
                return Err(ServiceError::internal(
                    "an unavailable outcome is not final",
                ));
            }
        };
        // Only a pending payment takes an answer: the first recorded wins. A
        // pending payment has no refunds, so the row is the whole answer.
        let finished = sqlx::query(
            "UPDATE payments SET status = $1, decline_reason = $2, updated_at = $3 \
             WHERE id = $4 AND status = 'pending' \
             RETURNING id, idempotency_key, order_id, currency_code, amount_minor, \
             refunded_minor, status, card_brand, card_last4, card_exp, card_fingerprint, \
             decline_reason, created_at, updated_at",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(now_micros())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await?;
        match finished {
            Some(row) => Ok(Written {
                value: payment_from_row(&row)?,
                first: true,
            }),
            // Another caller's answer won: read it.
            None => Ok(Written {
                value: self
                    .payment_where(SELECT_BY_ID, &id.to_string())
                    .await?
                    .ok_or_else(|| ServiceError::internal("a finished payment vanished"))?,
                first: false,
            }),
        }
    }

    async fn take_over(&self, id: PaymentId, token: &str) -> Result<bool, ServiceError> {
        // `updated_at` too: a charge someone is finishing is not stale.
        let taken = sqlx::query(
            "UPDATE payments SET claim_token = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'pending'",
        )
        .bind(token)
        .bind(now_micros())
        .bind(id.to_string())
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    async fn abandon_charge(&self, id: PaymentId, token: &str) -> Result<bool, ServiceError> {
        let deleted = sqlx::query(
            "DELETE FROM payments WHERE id = $1 AND status = 'pending' AND claim_token = $2",
        )
        .bind(id.to_string())
        .bind(token)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok(deleted == 1)
    }

    async fn get(&self, id: PaymentId) -> Result<Option<Payment>, ServiceError> {
        self.payment_where(SELECT_BY_ID, &id.to_string()).await
    }

    async fn lookup(&self, key: &IdempotencyKey) -> Result<Option<Payment>, ServiceError> {
        self.payment_where(SELECT_BY_KEY, key.as_str()).await
    }

    async fn refund(
        &self,
        command: &RefundCommand,
    ) -> Result<Written<(Payment, Refund)>, ServiceError> {
        let payment_id = command.payment_id.to_string();
        let mut tx = self.db.begin_write().await?;
        let payment = payment_in(&mut tx, &payment_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("payment {payment_id}")))?;

        if let Some(previous) = payment
            .refunds
            .iter()
            .find(|r| r.idempotency_key == command.idempotency_key)
        {
            return match command.amount {
                Some(amount) if amount != previous.amount => {
                    Err(ServiceError::failed_precondition(
                        "IDEMPOTENCY_KEY_REUSED",
                        "this idempotency key was used for a refund of another amount",
                    ))
                }
                _ => Ok(Written {
                    value: (payment.clone(), previous.clone()),
                    first: false,
                }),
            };
        }
        if payment.status != PaymentStatus::Succeeded {
            return Err(ServiceError::failed_precondition(
                "NOT_REFUNDABLE",
                format!("a {} payment cannot be refunded", payment.status.as_str()),
            ));
        }
        let amount = match command.amount {
            Some(amount) if amount.currency() != payment.amount.currency() => {
                return Err(ServiceError::invalid(
                    "amount.currency_code",
                    format!(
                        "must be the payment's currency, {}",
                        payment.amount.currency()
                    ),
                ));
            }
            Some(amount) => amount,
            None => Money::new(payment.amount.currency(), payment.refundable())
                .map_err(ServiceError::internal)?,
        };
        if amount.is_zero() {
            return Err(ServiceError::failed_precondition(
                "NOTHING_TO_REFUND",
                "the payment is already fully refunded",
            ));
        }
        let now = now_micros();
        // The condition makes concurrent refunds of the same payment unable
        // to give back more than was taken.
        let updated = sqlx::query(
            "UPDATE payments SET refunded_minor = refunded_minor + $1, updated_at = $2 \
             WHERE id = $3 AND refunded_minor + $1 <= amount_minor",
        )
        .bind(amount.minor())
        .bind(now)
        .bind(&payment_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(ServiceError::failed_precondition(
                "EXCEEDS_REFUNDABLE",
                format!(
                    "only {} is left to refund",
                    Money::new(payment.amount.currency(), payment.refundable())
                        .map_err(ServiceError::internal)?
                ),
            ));
        }
        let refund_id = RefundId::generate();
        let inserted = sqlx::query(
            "INSERT INTO refunds (id, payment_id, idempotency_key, amount_minor, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(refund_id.to_string())
        .bind(&payment_id)
        .bind(command.idempotency_key.as_str())
        .bind(amount.minor())
        .bind(command.reason.as_deref().unwrap_or_default())
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(error) = inserted {
            // A concurrent refund with the same key won; it is the answer.
            return if is_unique_violation(&error) {
                drop(tx);
                Err(ServiceError::Aborted(
                    "a refund with this key is being made; retry".into(),
                ))
            } else {
                Err(error.into())
            };
        }
        let payment = payment_in(&mut tx, &payment_id)
            .await?
            .ok_or_else(|| ServiceError::internal("a refunded payment vanished"))?;
        tx.commit().await?;
        let refund = payment
            .refunds
            .iter()
            .find(|r| r.id == refund_id)
            .cloned()
            .ok_or_else(|| ServiceError::internal("a new refund vanished"))?;
        Ok(Written {
            value: (payment, refund),
            first: true,
        })
    }
}
