use bazaar_proto::{
    order::v1::{
        CancelOrderRequest, GetOrderRequest, OrderStatus, ShipOrderRequest, WatchOrderRequest,
    },
    payment::v1::PaymentStatus,
};
use bazaar_runtime::auth::Role;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{Shop, as_user, backends, place, test_cards};

#[tokio::test]
async fn a_paid_order_is_confirmed_at_catalog_prices_and_sells_its_stock() {
    for backend in backends() {
        let shop = Shop::open(backend).await;
        let mug = shop.stock("MUG", 1_250, 10).await;
        let pot = shop.stock("POT", 3_999, 5).await;
        let ada = shop.token("ada", Role::Customer);

        let order = shop
            .orders()
            .await
            .place_order(as_user(
                place("k1", &[(&mug, 2), (&pot, 1)], test_cards::APPROVED),
                &ada,
            ))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_eq!(
            order.status(),
            OrderStatus::Confirmed,
            "{backend:?}: {order:?}"
        );
        assert_eq!(order.customer_id, "ada");
        assert_eq!(
            order.total.as_ref().unwrap().amount_minor,
            2 * 1_250 + 3_999
        );
        assert_eq!(
            order.items[0].line_total.as_ref().unwrap().amount_minor,
            2_500
        );
        assert_eq!(order.items[1].product_name, "Product POT");
        assert_eq!(shop.stock_of(&mug.id).await, 8);
        assert_eq!(shop.stock_of(&pot.id).await, 4);

        let payment = shop.payment_for(&order.id).await.expect("charged");
        assert_eq!(payment.status(), PaymentStatus::Succeeded);
        assert_eq!(payment.amount, order.total);
        assert_eq!(payment.id, order.payment_id);
        shop.close().await;
    }
}

#[tokio::test]
async fn a_declined_card_fails_the_order_and_leaves_the_stock() {
    for backend in backends() {
        let shop = Shop::open(backend).await;
        let mug = shop.stock("MUG", 1_250, 10).await;
        let ada = shop.token("ada", Role::Customer);
        let order = shop
            .orders()
            .await
            .place_order(as_user(
                place("k1", &[(&mug, 3)], test_cards::INSUFFICIENT_FUNDS),
                &ada,
            ))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_eq!(order.status(), OrderStatus::Failed, "{backend:?}");
        assert!(
            order.failure_reason.contains("insufficient funds"),
            "{}",
            order.failure_reason
        );
        assert_eq!(
            shop.stock_of(&mug.id).await,
            10,
            "{backend:?}: the stock went back"
        );
        let payment = shop
            .payment_for(&order.id)
            .await
            .expect("the decline is recorded");
        assert_eq!(payment.status(), PaymentStatus::Declined);
        shop.close().await;
    }
}

#[tokio::test]
async fn too_little_stock_fails_the_order_without_charging() {
    for backend in backends() {
        let shop = Shop::open(backend).await;
        let mug = shop.stock("MUG", 1_250, 1).await;
        let ada = shop.token("ada", Role::Customer);
        let order = shop
            .orders()
            .await
            .place_order(as_user(
                place("k1", &[(&mug, 2)], test_cards::APPROVED),
                &ada,
            ))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_eq!(order.status(), OrderStatus::Failed, "{backend:?}");
        assert_eq!(shop.stock_of(&mug.id).await, 1);
        assert!(
            shop.payment_for(&order.id).await.is_none(),
            "nothing charged"
        );
        shop.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_retries_make_one_order_and_one_charge() {
    for backend in backends() {
        let shop = Shop::open(backend).await;
        let mug = shop.stock("MUG", 1_000, 50).await;
        let ada = shop.token("ada", Role::Customer);
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let request = as_user(place("same-key", &[(&mug, 2)], test_cards::APPROVED), &ada);
                // A connection each, as separate gateway replicas would have.
                let channel = shop.order.as_ref().unwrap().channel_as("gateway");
                tokio::spawn(async move {
                    bazaar_proto::order::v1::order_service_client::OrderServiceClient::new(channel)
                        .place_order(request)
                        .await
                        .map(|r| r.into_inner().order.unwrap())
                })
            })
            .collect();
        let mut ids = Vec::new();
        for call in calls {
            let order = call.await.unwrap().unwrap();
            assert_eq!(
                order.status(),
                OrderStatus::Confirmed,
                "{backend:?}: {order:?}"
            );
            ids.push(order.id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{backend:?}: one order");
        assert_eq!(
            shop.stock_of(&mug.id).await,
            48,
            "{backend:?}: stock taken once"
        );
        assert_eq!(
            shop.payment_for(&ids[0])
                .await
                .unwrap()
                .amount
                .unwrap()
                .amount_minor,
            2_000
        );

        let second = shop
            .orders()
            .await
            .place_order(as_user(
                place("other-key", &[(&mug, 2)], test_cards::APPROVED),
                &ada,
            ))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_ne!(second.id, ids[0], "a new key is a new order");
        assert_eq!(shop.stock_of(&mug.id).await, 46);
        shop.close().await;
    }
}

#[tokio::test]
async fn a_key_reused_for_another_order_is_refused() {
    let shop = Shop::open(bazaar_runtime::db::Backend::Sqlite).await;
    let mug = shop.stock("MUG", 1_000, 50).await;
    let ada = shop.token("ada", Role::Customer);
    let mut orders = shop.orders().await;
    orders
        .place_order(as_user(
            place("k", &[(&mug, 1)], test_cards::APPROVED),
            &ada,
        ))
        .await
        .unwrap();
    let status = orders
        .place_order(as_user(
            place("k", &[(&mug, 5)], test_cards::APPROVED),
            &ada,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "IDEMPOTENCY_KEY_REUSED"
    );
    shop.close().await;
}

#[tokio::test]
async fn payment_processor_down_fails_fast_and_releases_the_stock() {
    for backend in backends() {
        let shop = Shop::open(backend).await;
        let mug = shop.stock("MUG", 1_000, 10).await;
        let ada = shop.token("ada", Role::Customer);
        let status = shop
            .orders()
            .await
            .place_order(as_user(
                place("k", &[(&mug, 4)], test_cards::PROCESSOR_ERROR),
                &ada,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{backend:?}: {status:?}");
        assert_eq!(
            shop.stock_of(&mug.id).await,
            10,
            "{backend:?}: reservation released"
        );

        let listed = shop
            .orders()
            .await
            .list_orders(as_user(Default::default(), &ada))
            .await
            .unwrap()
            .into_inner()
            .orders;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].status(), OrderStatus::Failed, "no order stuck");
        shop.close().await;
    }
}

#[tokio::test]
async fn payment_service_unreachable_fails_fast_and_releases_the_stock() {
    for backend in backends() {
        // A port nothing listens on.
        let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead_url = format!("http://{}", dead.local_addr().unwrap());
        drop(dead);
        let shop = Shop::open_with(backend, |config| {
            config.settings.payment = bazaar_runtime::client::ClientConfig::for_url(dead_url);
        })
        .await;
        let mug = shop.stock("MUG", 1_000, 10).await;
        let ada = shop.token("ada", Role::Customer);
        let status = shop
            .orders()
            .await
            .place_order(as_user(
                place("k", &[(&mug, 4)], test_cards::APPROVED),
                &ada,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{backend:?}: {status:?}");
        assert_eq!(
            shop.stock_of(&mug.id).await,
            10,
            "{backend:?}: reservation released"
        );
        let listed = shop
            .orders()
            .await
            .list_orders(as_user(Default::default(), &ada))
            .await
            .unwrap()
            .into_inner()
            .orders;
        assert_eq!(listed[0].status(), OrderStatus::Failed, "no order stuck");
        shop.close().await;
    }
}

#[tokio::test]
async fn cancelling_refunds_and_restocks_and_watchers_see_it() {
    for backend in backends() {
        let shop = Shop::open(backend).await;
        let mug = shop.stock("MUG", 1_000, 10).await;
        let ada = shop.token("ada", Role::Customer);
        let mut orders = shop.orders().await;
        let order = orders
            .place_order(as_user(
                place("k", &[(&mug, 3)], test_cards::APPROVED),
                &ada,
            ))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_eq!(shop.stock_of(&mug.id).await, 7);

        let mut watch = orders
            .watch_order(as_user(
                WatchOrderRequest {
                    order_id: order.id.clone(),
                },
                &ada,
            ))
            .await
            .unwrap()
            .into_inner();
        let first = watch.next().await.unwrap().unwrap().order.unwrap();
        assert_eq!(first.status(), OrderStatus::Confirmed);

        let cancel = || CancelOrderRequest {
            order_id: order.id.clone(),
            reason: "changed my mind".into(),
        };
        let cancelled = orders
            .cancel_order(as_user(cancel(), &ada))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_eq!(cancelled.status(), OrderStatus::Cancelled, "{backend:?}");
        assert_eq!(shop.stock_of(&mug.id).await, 10, "{backend:?}: restocked");
        let payment = shop.payment_for(&order.id).await.unwrap();
        assert_eq!(payment.status(), PaymentStatus::Refunded);

        // The stream reports the cancellation, then ends.
        let mut last = None;
        while let Some(update) = watch.next().await {
            last = Some(update.unwrap().order.unwrap().status());
        }
        assert_eq!(last, Some(OrderStatus::Cancelled));

        // Again: unchanged, no second refund.
        let again = orders
            .cancel_order(as_user(cancel(), &ada))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.order.unwrap().status(), OrderStatus::Cancelled);
        assert_eq!(shop.payment_for(&order.id).await.unwrap().refunds.len(), 1);
        shop.close().await;
    }
}

#[tokio::test]
async fn a_shipped_order_cannot_be_cancelled_and_only_admins_ship() {
    let shop = Shop::open(bazaar_runtime::db::Backend::Sqlite).await;
    let mug = shop.stock("MUG", 1_000, 10).await;
    let ada = shop.token("ada", Role::Customer);
    let admin = shop.token("boss", Role::Admin);
    let mut orders = shop.orders().await;
    let order = orders
        .place_order(as_user(
            place("k", &[(&mug, 1)], test_cards::APPROVED),
            &ada,
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let ship = || ShipOrderRequest {
        order_id: order.id.clone(),
    };
    let denied = orders.ship_order(as_user(ship(), &ada)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let shipped = orders
        .ship_order(as_user(ship(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shipped.order.unwrap().status(), OrderStatus::Shipped);

    let status = orders
        .cancel_order(as_user(
            CancelOrderRequest {
                order_id: order.id.clone(),
                reason: String::new(),
            },
            &ada,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let fetched = orders
        .get_order(as_user(
            GetOrderRequest {
                order_id: order.id.clone(),
            },
            &ada,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched.order.unwrap().status(), OrderStatus::Shipped);
    shop.close().await;
}

#[tokio::test]
async fn bad_orders_name_every_bad_field() {
    let shop = Shop::open(bazaar_runtime::db::Backend::Sqlite).await;
    let ada = shop.token("ada", Role::Customer);
    let mut request = place("", &[], test_cards::APPROVED);
    request.payment_method = None;
    let status = shop
        .orders()
        .await
        .place_order(as_user(request, &ada))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<_> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["idempotency_key", "items", "payment_method.card"]);

    let unknown = bazaar_proto::product::v1::Product {
        id: "0190e5a4-0000-7000-8000-00000000beef".into(),
        ..Default::default()
    };
    let status = shop
        .orders()
        .await
        .place_order(as_user(
            place("k", &[(&unknown, 1)], test_cards::APPROVED),
            &ada,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    shop.close().await;
}
