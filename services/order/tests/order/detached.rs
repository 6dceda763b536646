//! The saga outlives the request: a client that gives up at any point of a
//! checkout or cancellation leaves no order, reservation or payment half-done.

use std::time::Duration;

use bazaar_proto::{
    order::v1::{CancelOrderRequest, ListOrdersRequest, OrderStatus},
    payment::v1::{PaymentStatus, RefundRequest},
};
use bazaar_runtime::auth::Role;

use crate::support::{Shop, as_user, backends, place, test_cards};

/// The slow card takes this long at the processor, so a client's deadline
/// falls in the middle of the charge.
const SLOW_CHARGE: Duration = Duration::from_millis(1_500);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checkout_cut_by_the_client_at_any_point_still_ends_consistent() {
    const INITIAL: i64 = 50;
    let deadlines = [1, 50, 500, 1_000, 2_000].map(Duration::from_millis);
    for backend in backends() {
        let shop = Shop::open_tuned(
            backend,
            |payment| payment.settings.processor.slow_latency = SLOW_CHARGE,
            // Recovery cannot take any order over while the test looks: the
            // drives the requests started must finish the orders themselves.
            |order| order.settings.saga.lease = Duration::from_secs(60),
        )
        .await;
        let mug = shop.stock("MUG", 1_000, INITIAL).await;
        let ada = shop.token("ada", Role::Customer);
        for (i, deadline) in deadlines.iter().enumerate() {
            let mut request = as_user(
                place(&format!("cut-{i}"), &[(&mug, 1)], test_cards::SLOW),
                &ada,
            );
            request.set_timeout(*deadline);
            let mut orders = shop.orders().await;
            // The client also goes away at its deadline, whatever the server
            // answers by then: dropping the call resets the stream.
            let _ = tokio::time::timeout(*deadline, orders.place_order(request)).await;
        }

        // Every order that was recorded reaches an end: none stays PENDING
        // with a pending payment or a held reservation.
        let admin = shop.token("admin", Role::Admin);
        let listed = shop
            .orders()
            .await
            .list_orders(as_user(
                ListOrdersRequest {
                    customer_id: "ada".into(),
                    page_size: 50,
                    ..ListOrdersRequest::default()
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .orders;
        assert!(
            !listed.is_empty() && listed.len() <= deadlines.len(),
            "{backend:?}: {listed:?}"
        );
        let mut confirmed = 0;
        for order in &listed {
            let order = shop.settled(&order.id).await;
            let payment = shop.payment_for(&order.id).await;
            match order.status() {
                OrderStatus::Confirmed => {
                    confirmed += 1;
                    let payment = payment.expect("a confirmed order was paid");
                    assert_eq!(
                        payment.status(),
                        PaymentStatus::Succeeded,
                        "{backend:?}: {payment:?}"
                    );
                    assert_eq!(payment.amount, order.total, "{backend:?}");
                }
                OrderStatus::Failed => {
                    // Either never charged, or charged and given back whole.
                    if let Some(payment) = payment {
                        assert!(
                            matches!(
                                payment.status(),
                                PaymentStatus::Declined | PaymentStatus::Refunded
                            ),
                            "{backend:?}: a failed order kept money: {payment:?}"
                        );
                    }
                }
                other => panic!("{backend:?}: order {} ended {other:?}", order.id),
            }
        }
        assert_eq!(
            shop.stock_of(&mug.id).await,
            INITIAL - confirmed,
            "{backend:?}: stock = initial - confirmed ({confirmed} of {})",
            listed.len()
        );
        // The longest deadlines outlast nothing of the saga but the charge:
        // at least those orders are sales.
        assert!(confirmed >= 1, "{backend:?}: {listed:?}");
        shop.close().await;
    }
}

#[tokio::test]
async fn cancelling_an_order_refunded_by_other_means_ends_cancelled() {
    for backend in backends() {
        let shop = Shop::open(backend).await;
        let mug = shop.stock("MUG", 1_000, 10).await;
        let ada = shop.token("ada", Role::Customer);
        let mut orders = shop.orders().await;
        let order = orders
            .place_order(as_user(
                place("refunded-elsewhere", &[(&mug, 2)], test_cards::APPROVED),
                &ada,
            ))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_eq!(order.status(), OrderStatus::Confirmed);
        assert_eq!(shop.stock_of(&mug.id).await, 8);

        // Support refunds the whole payment directly, not through the saga.
        let payment = shop.payment_for(&order.id).await.unwrap();
        let refunded = shop
            .payments()
            .await
            .refund(RefundRequest {
                payment_id: payment.id.clone(),
                amount: None,
                idempotency_key: "support-goodwill".into(),
                reason: "goodwill".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(refunded.payment.unwrap().status(), PaymentStatus::Refunded);

        let cancelled = orders
            .cancel_order(as_user(
                CancelOrderRequest {
                    order_id: order.id.clone(),
                    reason: "changed my mind".into(),
                },
                &ada,
            ))
            .await
            .unwrap_or_else(|status| panic!("{backend:?}: {status:?}"))
            .into_inner()
            .order
            .unwrap();
        assert_eq!(cancelled.status(), OrderStatus::Cancelled, "{backend:?}");
        assert_eq!(shop.stock_of(&mug.id).await, 10, "{backend:?}: restocked");
        // Given back once, by support: the saga asked for nothing more.
        let payment = shop.payment_for(&order.id).await.unwrap();
        assert_eq!(payment.refunds.len(), 1, "{backend:?}: {payment:?}");
        assert_eq!(payment.status(), PaymentStatus::Refunded);
        shop.close().await;
    }
}
