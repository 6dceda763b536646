//! Journeys over gRPC, straight to the services: what the REST edge does
//! for browsers, and what the services do for each other (the order service
//! reserving stock and charging cards on every checkout).

use bazaar_proto::{
    common::v1::Money,
    order::v1::{
        CancelOrderRequest, ListOrdersRequest, OrderStatus, ShipOrderRequest, WatchOrderRequest,
    },
    payment::v1::PaymentStatus,
    product::v1::{
        CreateProductRequest, ListProductsRequest, Product, UpdateProductRequest,
        UpdateProductResponse,
    },
    user::v1::GetUserRequest,
};
use tonic::{Code, Request};

use crate::{
    journeys::{
        admin, authed, cards, customer, customer_journey, get_order, order_of, payment, place,
        product, settled,
    },
    system::System,
};

#[tokio::test]
async fn a_customer_registers_browses_buys_watches_and_cancels() {
    let system = System::start().await;
    customer_journey(&system).await;
    system.stop_cleanly().await;
}

#[tokio::test]
async fn an_admin_creates_and_reprices_a_product_that_then_sells_out() {
    let system = System::start().await;
    let admin = admin(&system).await;
    let ada = customer(&system, "ada").await;
    let teapot = || Product {
        sku: "E2E-TEAPOT".into(),
        name: "Cast Iron Teapot".into(),
        description: "Holds a litre.".into(),
        category: "kitchen".into(),
        price: Some(Money {
            currency_code: "EUR".into(),
            amount_minor: 4_500,
        }),
        stock: 3,
        ..Product::default()
    };

    // Only an admin manages the catalog.
    let create = |product| CreateProductRequest {
        product: Some(product),
    };
    let anonymous = system
        .products()
        .await
        .create_product(Request::new(create(teapot())))
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let customer_try = system
        .products()
        .await
        .create_product(authed(create(teapot()), &ada.token))
        .await
        .expect_err("a customer");
    assert_eq!(customer_try.code(), Code::PermissionDenied);

    let created = system
        .products()
        .await
        .create_product(authed(create(teapot()), &admin.token))
        .await
        .expect("create")
        .into_inner()
        .product
        .expect("product");
    assert_eq!(created.stock, 3);

    // A partial update: price and stock only.
    let UpdateProductResponse { product: updated } = system
        .products()
        .await
        .update_product(authed(
            UpdateProductRequest {
                product: Some(Product {
                    id: created.id.clone(),
                    price: Some(Money {
                        currency_code: "EUR".into(),
                        amount_minor: 3_900,
                    }),
                    stock: 5,
                    name: "ignored: not in the mask".into(),
                    ..Product::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["price".into(), "stock".into()],
                }),
            },
            &admin.token,
        ))
        .await
        .expect("update")
        .into_inner();
    let updated = updated.expect("product");
    assert_eq!(updated.name, "Cast Iron Teapot");
    assert_eq!(updated.stock, 5);
    assert_eq!(updated.price.as_ref().map(|p| p.amount_minor), Some(3_900));

    // Customers find it by name and pay the new price.
    let found = system
        .products()
        .await
        .list_products(ListProductsRequest {
            query: "teapot".into(),
            ..ListProductsRequest::default()
        })
        .await
        .expect("search")
        .into_inner()
        .products;
    assert_eq!(
        found.iter().map(|p| &p.id).collect::<Vec<_>>(),
        [&created.id]
    );
    let order = place(
        &system,
        &ada,
        order_of("teapots", &[(&created.id, 5)], cards::APPROVED),
    )
    .await;
    let order = settled(&system, &ada, &order.id).await;
    assert_eq!(order.status(), OrderStatus::Confirmed);
    assert_eq!(order.total.map(|t| t.amount_minor), Some(5 * 3_900));
    assert_eq!(product(&system, &created.id).await.stock, 0);

    // Sold out: the next order fails and holds nothing.
    let late = place(
        &system,
        &ada,
        order_of("one-more", &[(&created.id, 1)], cards::APPROVED),
    )
    .await;
    assert_eq!(late.status(), OrderStatus::Failed, "{late:?}");
    assert!(late.failure_reason.contains("stock"), "{late:?}");

    // Shipped orders can no longer be cancelled.
    let shipped = system
        .orders()
        .await
        .ship_order(authed(
            ShipOrderRequest {
                order_id: order.id.clone(),
            },
            &admin.token,
        ))
        .await
        .expect("ship")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(shipped.status(), OrderStatus::Shipped);
    let too_late = system
        .orders()
        .await
        .cancel_order(authed(
            CancelOrderRequest {
                order_id: order.id.clone(),
                reason: "too late".into(),
            },
            &ada.token,
        ))
        .await
        .expect_err("shipped");
    assert_eq!(too_late.code(), Code::FailedPrecondition);
    system.stop_cleanly().await;
}

#[tokio::test]
async fn a_declined_card_fails_the_order_and_takes_nothing() {
    let system = System::start().await;
    let admin = admin(&system).await;
    let ada = customer(&system, "ada").await;
    let catalog = crate::journeys::browse(&system, 100).await;
    let knife = &catalog[0];

    let order = place(
        &system,
        &ada,
        order_of("broke", &[(&knife.id, 1)], cards::INSUFFICIENT_FUNDS),
    )
    .await;
    let order = settled(&system, &ada, &order.id).await;
    assert_eq!(order.status(), OrderStatus::Failed);
    assert!(
        order.failure_reason.contains("insufficient funds"),
        "{order:?}"
    );
    assert_eq!(product(&system, &knife.id).await.stock, knife.stock);
    if !order.payment_id.is_empty() {
        let declined = payment(&system, &admin, &order.payment_id).await;
        assert_eq!(declined.status(), PaymentStatus::Declined);
    }

    // Another card, another key: it goes through.
    let retry = place(
        &system,
        &ada,
        order_of("good-card", &[(&knife.id, 1)], cards::APPROVED),
    )
    .await;
    let retry = settled(&system, &ada, &retry.id).await;
    assert_eq!(retry.status(), OrderStatus::Confirmed);
    assert_eq!(product(&system, &knife.id).await.stock, knife.stock - 1);
    system.stop_cleanly().await;
}

#[tokio::test]
async fn another_customer_can_neither_see_nor_touch_my_order() {
    let system = System::start().await;
    let admin = admin(&system).await;
    let ada = customer(&system, "ada").await;
    let bob = customer(&system, "bob").await;
    let catalog = crate::journeys::browse(&system, 100).await;
    let order = place(
        &system,
        &ada,
        order_of("ada-1", &[(&catalog[1].id, 1)], cards::APPROVED),
    )
    .await;

    // Bob is told it does not exist, whatever he tries.
    assert_eq!(
        get_order(&system, &bob, &order.id).await.err(),
        Some(Code::NotFound)
    );
    let cancel = system
        .orders()
        .await
        .cancel_order(authed(
            CancelOrderRequest {
                order_id: order.id.clone(),
                reason: "not mine".into(),
            },
            &bob.token,
        ))
        .await
        .expect_err("not his");
    assert_eq!(cancel.code(), Code::NotFound);
    let watch = system
        .orders()
        .await
        .watch_order(authed(
            WatchOrderRequest {
                order_id: order.id.clone(),
            },
            &bob.token,
        ))
        .await
        .map(|_| ())
        .expect_err("not his");
    assert_eq!(watch.code(), Code::NotFound);
    let his = system
        .orders()
        .await
        .list_orders(authed(ListOrdersRequest::default(), &bob.token))
        .await
        .expect("list")
        .into_inner();
    assert!(his.orders.is_empty(), "{his:?}");
    let filtered = system
        .orders()
        .await
        .list_orders(authed(
            ListOrdersRequest {
                customer_id: ada.user_id.clone(),
                ..ListOrdersRequest::default()
            },
            &bob.token,
        ))
        .await
        .expect_err("a customer filtering by another");
    assert_eq!(filtered.code(), Code::PermissionDenied);
    let ada_account = system
        .users()
        .await
        .get_user(authed(
            GetUserRequest {
                user_id: ada.user_id.clone(),
            },
            &bob.token,
        ))
        .await
        .expect_err("not his account");
    assert_eq!(ada_account.code(), Code::PermissionDenied);

    // No token, no answer; the owner and the admin see it.
    let anonymous = system
        .orders()
        .await
        .get_order(Request::new(bazaar_proto::order::v1::GetOrderRequest {
            order_id: order.id.clone(),
        }))
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    assert!(get_order(&system, &ada, &order.id).await.is_ok());
    assert!(get_order(&system, &admin, &order.id).await.is_ok());
    let hers = system
        .orders()
        .await
        .list_orders(authed(
            ListOrdersRequest {
                customer_id: ada.user_id.clone(),
                ..ListOrdersRequest::default()
            },
            &admin.token,
        ))
        .await
        .expect("admin lists her orders")
        .into_inner();
    assert_eq!(hers.orders.len(), 1);
    system.stop_cleanly().await;
}
