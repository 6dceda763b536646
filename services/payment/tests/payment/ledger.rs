//! Charges against the simulated processor's own ledger: one capture per
//! idempotency key however the calls race or are cut off, cards told apart by
//! their fingerprint, and pending charges settled without the card.

use std::time::Duration;

use bazaar_domain::Money;
use bazaar_payment::{
    domain::{Card, CardNumber, ChargeCommand, IdempotencyKey, PaymentStatus, YearMonth},
    processor::Outcome,
    store::{Claim, PaymentStore, sql::SqlPaymentStore},
};
use bazaar_proto::payment::v1::{LookupPaymentRequest, PaymentStatus as WireStatus};
use bazaar_runtime::db::{Database, testing::TestDatabase};
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{Service, backends, captures, charge, payments, test_cards};

/// Luhn-valid, and the same last four digits (and, in `charge`, expiry) as
/// `test_cards::APPROVED`: only the full number tells them apart.
const SAME_LAST_FOUR: &str = "4000000000024242";

fn lookup(key: &str) -> LookupPaymentRequest {
    LookupPaymentRequest {
        idempotency_key: key.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_charges_with_one_key_capture_once() {
    for backend in backends() {
        let service = Service::start(backend).await;
        // The slow card keeps every call in flight at once.
        let calls: Vec<_> = (0..50)
            .map(|_| {
                let mut client = service.client_as("order");
                tokio::spawn(async move {
                    client
                        .charge(charge("fifty", 1_000, test_cards::SLOW))
                        .await
                        .map(|r| r.into_inner().payment.unwrap())
                })
            })
            .collect();
        let mut ids = Vec::new();
        for call in calls {
            let payment = call.await.unwrap().unwrap();
            assert_eq!(payment.status(), WireStatus::Succeeded, "{backend:?}");
            ids.push(payment.id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{backend:?}: one payment for one key");
        let pool = service.sql().await;
        assert_eq!(
            captures(&pool, "fifty").await,
            1,
            "{backend:?}: one capture"
        );
        assert_eq!(payments(&pool, "fifty").await, 1, "{backend:?}");
        pool.close().await;
    }
}

#[tokio::test]
async fn the_same_key_with_another_card_ending_alike_is_refused() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        client
            .charge(charge("card", 1_000, test_cards::APPROVED))
            .await
            .unwrap();
        let status = client
            .charge(charge("card", 1_000, SAME_LAST_FOUR))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend:?}");
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "IDEMPOTENCY_KEY_REUSED"
        );
        // The first card repeats fine, with spaces too: same number, same
        // fingerprint.
        client
            .charge(charge("card", 1_000, "4242 4242 4242 4242"))
            .await
            .unwrap();
        let pool = service.sql().await;
        assert_eq!(captures(&pool, "card").await, 1, "{backend:?}");
        pool.close().await;
    }
}

#[tokio::test]
async fn a_charge_cut_off_mid_way_is_settled_by_a_lookup_without_the_card() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        // The slow card answers after 1.5 s; the caller gives up after 0.3 s.
        let mut impatient = tonic::Request::new(charge("cut", 1_000, test_cards::SLOW));
        impatient.set_timeout(Duration::from_millis(300));
        let started = std::time::Instant::now();
        client.charge(impatient).await.unwrap_err();

        let pending = client.lookup_payment(lookup("cut")).await.unwrap();
        let pending = pending.into_inner().payment.unwrap();
        assert_eq!(
            pending.status(),
            WireStatus::Pending,
            "{backend:?}: in flight"
        );

        // Once the processor settled it, a lookup (recovery has no card)
        // finishes the payment from the processor's ledger.
        tokio::time::sleep(Duration::from_millis(1_700).saturating_sub(started.elapsed())).await;
        let settled = client.lookup_payment(lookup("cut")).await.unwrap();
        let settled = settled.into_inner().payment.unwrap();
        assert_eq!(settled.status(), WireStatus::Succeeded, "{backend:?}");
        assert_eq!(settled.id, pending.id);

        // A retry with the card answers the same payment; nothing more taken.
        let retried = client
            .charge(charge("cut", 1_000, test_cards::SLOW))
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        assert_eq!(retried.id, pending.id, "{backend:?}");
        let pool = service.sql().await;
        assert_eq!(captures(&pool, "cut").await, 1, "{backend:?}: one capture");
        assert_eq!(payments(&pool, "cut").await, 1, "{backend:?}");
        pool.close().await;
    }
}

#[tokio::test]
async fn a_charge_cut_off_is_finished_by_a_retry_from_the_ledger_not_a_second_capture() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        let mut impatient = tonic::Request::new(charge("again", 1_000, test_cards::SLOW));
        impatient.set_timeout(Duration::from_millis(300));
        client.charge(impatient).await.unwrap_err();
        // At once, while the first submission is in flight.
        let finished = client
            .charge(charge("again", 1_000, test_cards::SLOW))
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        assert_eq!(finished.status(), WireStatus::Succeeded, "{backend:?}");
        let pool = service.sql().await;
        assert_eq!(captures(&pool, "again").await, 1, "{backend:?}");
        pool.close().await;
    }
}

/// A pending row as a caller cut off before it reached the processor leaves
/// it (also the shape of a row from before fingerprints and claims).
async fn insert_pending(pool: &sqlx::AnyPool, key: &str, updated_at: i64) {
    sqlx::query(
        "INSERT INTO payments (id, idempotency_key, order_id, currency_code, amount_minor, \
         refunded_minor, status, card_brand, card_last4, card_exp, decline_reason, created_at, \
         updated_at) VALUES ($1, $2, $3, 'EUR', 1000, 0, 'pending', 'visa', '4242', '12/2099', \
         '', $4, $4)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(key)
    .bind(format!("order-{key}"))
    .bind(updated_at)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_pending_charge_the_processor_never_saw_is_voided_by_a_lookup() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        let pool = service.sql().await;
        insert_pending(&pool, "never", 0).await;
        let now = bazaar_runtime::db::now_micros();
        insert_pending(&pool, "fresh", now).await;

        // A fresh one may still be on its way to the processor: left alone.
        let fresh = client.lookup_payment(lookup("fresh")).await.unwrap();
        assert_eq!(
            fresh.into_inner().payment.unwrap().status(),
            WireStatus::Pending,
            "{backend:?}"
        );

        // An old one the processor has no record of was never charged.
        let status = client.lookup_payment(lookup("never")).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{backend:?}: {status:?}");
        // The key is voided at the processor, so a caller still holding the
        // card cannot capture what the payment service no longer records.
        let status = client
            .charge(charge("never", 1_000, test_cards::APPROVED))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend:?}");
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "CHARGE_VOIDED"
        );
        assert_eq!(captures(&pool, "never").await, 0, "{backend:?}");
        assert_eq!(payments(&pool, "never").await, 0, "{backend:?}");
        pool.close().await;
    }
}

#[tokio::test]
async fn a_payment_recorded_before_fingerprints_still_matches_its_card() {
    for backend in backends() {
        let service = Service::start(backend).await;
        let mut client = service.client().await;
        let pool = service.sql().await;
        insert_pending(&pool, "old", bazaar_runtime::db::now_micros()).await;
        // The old row has no fingerprint: last four and expiry are all it has.
        let payment = client
            .charge(charge("old", 1_000, test_cards::APPROVED))
            .await
            .unwrap()
            .into_inner()
            .payment
            .unwrap();
        assert_eq!(payment.status(), WireStatus::Succeeded, "{backend:?}");
        assert_eq!(payments(&pool, "old").await, 1, "{backend:?}");
        assert_eq!(captures(&pool, "old").await, 1, "{backend:?}");
        pool.close().await;
    }
}

#[tokio::test]
async fn abandoning_a_charge_does_not_forget_one_another_caller_is_finishing() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let db = Database::connect(&database.config, bazaar_payment::store::sql::MIGRATIONS)
            .await
            .unwrap();
        let store = SqlPaymentStore::new(db.clone());
        let command = ChargeCommand {
            idempotency_key: IdempotencyKey::parse("abandon").unwrap(),
            order_id: "order-abandon".into(),
            amount: Money::from_parts("EUR", 1_000).unwrap(),
            card: Card::new(
                CardNumber::parse(test_cards::APPROVED).unwrap(),
                YearMonth::expiry(2099, 12, YearMonth::current()).unwrap(),
            ),
        };
        let Claim::New(first) = store.claim_charge(&command, "fp", "a").await.unwrap() else {
            panic!("{backend:?}: the key was free");
        };
        let Claim::Existing(again) = store.claim_charge(&command, "fp", "b").await.unwrap() else {
            panic!("{backend:?}: the key was taken");
        };
        assert_eq!(again.id, first.id);
        assert!(store.take_over(first.id, "b").await.unwrap());

        // The first caller's processor call failed; the second is finishing.
        assert!(
            !store.abandon_charge(first.id, "a").await.unwrap(),
            "{backend:?}: a taken-over charge is not the first caller's to forget"
        );
        let finished = store
            .finish_charge(first.id, &Outcome::Approved)
            .await
            .unwrap();
        assert!(finished.first, "{backend:?}: the answer is this caller's");
        assert_eq!(
            finished.value.status,
            PaymentStatus::Succeeded,
            "{backend:?}"
        );
        assert!(!store.abandon_charge(first.id, "b").await.unwrap());
        assert!(store.get(first.id).await.unwrap().is_some());
        db.close().await;
    }
}
