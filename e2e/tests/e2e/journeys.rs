//! What customers and admins do over gRPC, as steps the scenarios share.

use std::time::Duration;

use bazaar_proto::{
    order::v1::{
        CancelOrderRequest, GetOrderRequest, ListOrdersRequest, Order, OrderStatus, PaymentMethod,
        PlaceOrderRequest, WatchOrderRequest, payment_method::Method,
        place_order_request::LineItem,
    },
    payment::v1::{Card, GetPaymentRequest, Payment, PaymentStatus},
    product::v1::{GetProductRequest, ListProductsRequest, Product},
    user::v1::{GetMeRequest, LoginRequest, RegisterRequest, Role},
};
use tonic::{Code, Request};

use crate::system::System;

/// The bootstrap admin every fresh user service creates.
pub const ADMIN_EMAIL: &str = "admin@bazaar.local";
pub const ADMIN_PASSWORD: &str = "bazaar-admin-dev";
pub const PASSWORD: &str = "correct-horse-battery";
/// The demo catalog the product service seeds on first start.
pub const SEEDED_PRODUCTS: usize = 12;

pub mod cards {
    pub const APPROVED: &str = "4242424242424242";
    pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";
}

/// A signed-in account.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub token: String,
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

/// Registers `name`@example.com and signs in.
pub async fn customer(system: &System, name: &str) -> Session {
    let email = format!("{name}@example.com");
    let user = system
        .users()
        .await
        .register(RegisterRequest {
            email: email.clone(),
            password: PASSWORD.into(),
            display_name: name.into(),
        })
        .await
        .expect("register")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(user.email, email);
    assert_eq!(user.roles, [Role::Customer as i32]);
    let session = login(system, &email, PASSWORD).await;
    assert_eq!(session.user_id, user.id);
    session
}

pub async fn admin(system: &System) -> Session {
    login(system, ADMIN_EMAIL, ADMIN_PASSWORD).await
}

pub async fn login(system: &System, email: &str, password: &str) -> Session {
    let response = system
        .users()
        .await
        .login(LoginRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
        .unwrap_or_else(|s| panic!("login {email}: {s:?}"))
        .into_inner();
    assert_eq!(response.token_type, "Bearer");
    Session {
        user_id: response.user.expect("user").id,
        token: response.access_token,
    }
}

pub fn card(number: &str) -> PaymentMethod {
    PaymentMethod {
        method: Some(Method::Card(Card {
            number: number.into(),
            exp_month: 12,
            exp_year: 2099,
            cvc: "123".into(),
            holder_name: "Ada Lovelace".into(),
        })),
    }
}

pub fn order_of(key: &str, lines: &[(&str, i32)], card_number: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        idempotency_key: key.into(),
        items: lines
            .iter()
            .map(|(product_id, quantity)| LineItem {
                product_id: (*product_id).into(),
                quantity: *quantity,
            })
            .collect(),
        payment_method: Some(card(card_number)),
    }
}

pub async fn place(system: &System, who: &Session, request: PlaceOrderRequest) -> Order {
    system
        .orders()
        .await
        .place_order(authed(request, &who.token))
        .await
        .expect("place order")
        .into_inner()
        .order
        .expect("order")
}

pub async fn get_order(system: &System, who: &Session, order_id: &str) -> Result<Order, Code> {
    system
        .orders()
        .await
        .get_order(authed(
            GetOrderRequest {
                order_id: order_id.into(),
            },
            &who.token,
        ))
        .await
        .map(|r| r.into_inner().order.expect("order"))
        .map_err(|s| s.code())
}

pub async fn product(system: &System, product_id: &str) -> Product {
    system
        .products()
        .await
        .get_product(GetProductRequest {
            product_id: product_id.into(),
        })
        .await
        .expect("get product")
        .into_inner()
        .product
        .expect("product")
}

pub async fn payment(system: &System, admin: &Session, payment_id: &str) -> Payment {
    system
        .payments()
        .await
        .get_payment(authed(
            GetPaymentRequest {
                payment_id: payment_id.into(),
            },
            &admin.token,
        ))
        .await
        .expect("get payment")
        .into_inner()
        .payment
        .expect("payment")
}

/// Every product, `page_size` at a time; checks the pages fit together.
pub async fn browse(system: &System, page_size: i32) -> Vec<Product> {
    let mut products = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = system
            .products()
            .await
            .list_products(ListProductsRequest {
                page_size,
                page_token: page_token.clone(),
                ..ListProductsRequest::default()
            })
            .await
            .expect("list products")
            .into_inner();
        pages += 1;
        assert!(page.products.len() <= page_size as usize);
        products.extend(page.products);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
        assert!(pages < 100, "paging does not end");
    }
    let mut ids: Vec<&str> = products.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), products.len(), "a product appeared on two pages");
    products
}

/// Polls (bounded) until the order leaves PENDING.
pub async fn settled(system: &System, who: &Session, order_id: &str) -> Order {
    for _ in 0..200 {
        let order = get_order(system, who, order_id).await.expect("get order");
        if order.status() != OrderStatus::Pending {
            return order;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("order {order_id} stayed PENDING");
}

/// The customer journey: register, sign in, browse every page, buy, watch
/// the order confirm, find it in the list, cancel it, and see the money
/// refunded and the stock back on the shelf.
pub async fn customer_journey(system: &System) {
    let ada = customer(system, "ada").await;
    let admin = admin(system).await;

    // Signing in: the account is there, a wrong password is refused.
    let me = system
        .users()
        .await
        .get_me(authed(GetMeRequest {}, &ada.token))
        .await
        .expect("get me")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(me.email, "ada@example.com");
    let wrong = system
        .users()
        .await
        .login(LoginRequest {
            email: "ada@example.com".into(),
            password: "not-her-password".into(),
        })
        .await
        .expect_err("a wrong password");
    assert_eq!(wrong.code(), Code::Unauthenticated);

    // Browsing, five at a time.
    let catalog = browse(system, 5).await;
    assert_eq!(catalog.len(), SEEDED_PRODUCTS);
    let lamp = catalog
        .iter()
        .find(|p| p.stock >= 2)
        .expect("a product in stock");
    let price = lamp.price.clone().expect("price");

    // Buying two, and watching the order.
    let order = place(
        system,
        &ada,
        order_of("ada-1", &[(&lamp.id, 2)], cards::APPROVED),
    )
    .await;
    assert_eq!(order.customer_id, ada.user_id);
    let total = order.total.clone().expect("total");
    assert_eq!(total.amount_minor, 2 * price.amount_minor);
    assert_eq!(total.currency_code, price.currency_code);
    let mut watch = system
        .orders()
        .await
        .watch_order(authed(
            WatchOrderRequest {
                order_id: order.id.clone(),
            },
            &ada.token,
        ))
        .await
        .expect("watch")
        .into_inner();
    let mut seen = watch
        .message()
        .await
        .expect("watch stream")
        .and_then(|m| m.order)
        .expect("current state first");
    while seen.status() == OrderStatus::Pending {
        seen = watch
            .message()
            .await
            .expect("watch stream")
            .and_then(|m| m.order)
            .expect("the order settles");
    }
    assert_eq!(seen.status(), OrderStatus::Confirmed, "{seen:?}");
    assert_eq!(product(system, &lamp.id).await.stock, lamp.stock - 2);
    let charged = payment(system, &admin, &seen.payment_id).await;
    assert_eq!(charged.status(), PaymentStatus::Succeeded);
    assert_eq!(charged.amount.as_ref(), Some(&total));

    // My orders.
    let mine = system
        .orders()
        .await
        .list_orders(authed(ListOrdersRequest::default(), &ada.token))
        .await
        .expect("list orders")
        .into_inner();
    assert_eq!(
        mine.orders.iter().map(|o| &o.id).collect::<Vec<_>>(),
        [&order.id]
    );

    // Cancelling: refunded, restocked, and the watch ends on it.
    let cancelled = system
        .orders()
        .await
        .cancel_order(authed(
            CancelOrderRequest {
                order_id: order.id.clone(),
                reason: "changed my mind".into(),
            },
            &ada.token,
        ))
        .await
        .expect("cancel")
        .into_inner()
        .order
        .expect("order");
    assert_eq!(cancelled.status(), OrderStatus::Cancelled);
    let mut last = seen;
    while let Some(message) = watch.message().await.expect("watch stream") {
        last = message.order.expect("order");
    }
    assert_eq!(
        last.status(),
        OrderStatus::Cancelled,
        "the watch ends on it"
    );
    let refunded = payment(system, &admin, &cancelled.payment_id).await;
    assert_eq!(refunded.status(), PaymentStatus::Refunded);
    assert_eq!(refunded.refunded_amount.as_ref(), Some(&total));
    assert_eq!(product(system, &lamp.id).await.stock, lamp.stock);

    // The same idempotency key again is the same order, not a new charge.
    let again = place(
        system,
        &ada,
        order_of("ada-1", &[(&lamp.id, 2)], cards::APPROVED),
    )
    .await;
    assert_eq!(again.id, order.id);
    assert_eq!(again.status(), OrderStatus::Cancelled);
}
