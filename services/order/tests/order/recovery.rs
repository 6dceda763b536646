//! The order service dies at each step of the saga in turn; a fresh instance
//! on the same database must bring every order to an end with stock and money
//! consistent.

use std::time::Duration;

use bazaar_order::{HaltPoint, Halted, Hooks, domain::SagaState};
use bazaar_proto::{order::v1::OrderStatus, payment::v1::PaymentStatus};
use bazaar_runtime::auth::Role;

use crate::support::{Shop, as_user, backends, place, test_cards};

/// Where to die (after persisting a state, or after a call answered but
/// before its outcome was persisted), and whether the sale must survive:
/// once the card is charged, recovery completes the order.
fn crash_points() -> Vec<(&'static str, HaltPoint, bool)> {
    let after = HaltPoint::After;
    let before_leaving = HaltPoint::BeforeLeaving;
    vec![
        (
            "after recording the order",
            after(SagaState::Reserving),
            false,
        ),
        (
            "after reserving, unrecorded",
            before_leaving(SagaState::Reserving),
            false,
        ),
        (
            "after recording the reservation, before charging",
            after(SagaState::Charging),
            false,
        ),
        (
            "after charging, unrecorded",
            before_leaving(SagaState::Charging),
            true,
        ),
        (
            "after recording the charge",
            after(SagaState::Committing),
            true,
        ),
        (
            "after committing, unrecorded",
            before_leaving(SagaState::Committing),
            true,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_order_ends_consistent_after_a_crash_at_any_step() {
    for backend in backends() {
        for (point, halt_at, keeps_the_sale) in crash_points() {
            // A short lease: the fresh instance takes the order over soon.
            let mut shop = Shop::open_with(backend, |config| {
                config.settings.saga.lease = Duration::from_millis(300);
            })
            .await;
            let mug = shop.stock("MUG", 1_500, 10).await;
            let ada = shop.token("ada", Role::Customer);

            // Restart with the hook, place an order, and once the saga has
            // halted at the point, let the service die there.
            shop.order.take().unwrap().crash();
            let (hooks, mut halted) = Hooks::halt_at(halt_at);
            shop.start_order(hooks).await;
            let mut orders = shop.orders().await;
            let request = as_user(place("k", &[(&mug, 3)], test_cards::APPROVED), &ada);
            let call = tokio::spawn(async move { orders.place_order(request).await });
            let reached = tokio::time::timeout(HALT_TIMEOUT, halted.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("{backend:?} {point}: the saga never reached {halt_at:?}")
                })
                .expect("the hooks outlive the service");
            let order_id = wait_for_an_order(&shop, &ada).await;
            assert_eq!(
                reached,
                Halted {
                    at: halt_at,
                    order_id: order_id.parse().unwrap(),
                },
                "{backend:?} {point}: halted where intended"
            );
            shop.order.take().unwrap().crash();
            call.abort();

            // A fresh instance recovers it.
            shop.start_order(Hooks::default()).await;
            let order = shop.settled(&order_id).await;
            let payment = shop.payment_for(&order_id).await;
            let stock = shop.stock_of(&mug.id).await;
            match order.status() {
                OrderStatus::Confirmed => {
                    let payment = payment
                        .unwrap_or_else(|| panic!("{backend:?} {point}: confirmed but not paid"));
                    assert_eq!(
                        payment.status(),
                        PaymentStatus::Succeeded,
                        "{backend:?} {point}"
                    );
                    assert_eq!(
                        payment.amount.unwrap().amount_minor,
                        4_500,
                        "{backend:?} {point}"
                    );
                    assert_eq!(stock, 7, "{backend:?} {point}: sold stock");
                }
                OrderStatus::Failed => {
                    if let Some(payment) = payment {
                        assert!(
                            matches!(
                                payment.status(),
                                PaymentStatus::Refunded | PaymentStatus::Declined
                            ),
                            "{backend:?} {point}: failed but charged: {payment:?}"
                        );
                    }
                    assert_eq!(stock, 10, "{backend:?} {point}: stock back");
                }
                other => panic!("{backend:?} {point}: ended {other:?}"),
            }
            if keeps_the_sale {
                assert_eq!(
                    order.status(),
                    OrderStatus::Confirmed,
                    "{backend:?} {point}"
                );
            }
            shop.close().await;
        }
    }
}

/// Far longer than any step takes: reaching it means the point never is.
const HALT_TIMEOUT: Duration = Duration::from_secs(30);

async fn wait_for_an_order(shop: &Shop, token: &str) -> String {
    for _ in 0..200 {
        let listed = shop
            .orders()
            .await
            .list_orders(as_user(Default::default(), token))
            .await
            .unwrap()
            .into_inner()
            .orders;
        if let Some(order) = listed.first() {
            return order.id.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the order was never recorded");
}
