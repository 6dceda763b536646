//! The same journeys as people's browsers and scripts make them: REST/JSON
//! through the gateway, with the paths and field names of the protos'
//! `google.api.http` rules. They run only when the gateway is part of the
//! workspace (see [`crate::binaries`]); otherwise each says so and passes.

use std::time::{Duration, Instant};

use bazaar_proto::notification::v1::{ListNotificationsRequest, NotificationKind};
use http::StatusCode;
use serde_json::{Value, json};

use crate::{
    journeys::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, SEEDED_PRODUCTS, authed, cards},
    rest_client::{Account, Reply, Rest, int, order_body, query_value, settled, sign_in, text},
    system::System,
};

/// A system and a REST client of its gateway.
async fn start() -> (System, Rest) {
    let system = System::start().await;
    let rest = Rest::new(&system.rest_url());
    (system, rest)
}

fn ok(reply: &Reply, what: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{what}: {reply:?}");
}

async fn register(rest: &Rest, name: &str) -> Account {
    let email = format!("{name}@example.com");
    let reply = rest
        .post(
            "/v1/users",
            None,
            &json!({"email": email, "password": PASSWORD, "display_name": name}),
        )
        .await;
    ok(&reply, "register");
    assert_eq!(reply.body["user"]["email"], email.as_str());
    assert_eq!(reply.body["user"]["roles"], json!(["ROLE_CUSTOMER"]));
    let account = sign_in(rest, &email, PASSWORD).await;
    assert_eq!(account.id, text(&reply.body["user"]["id"]));
    account
}

/// Places an order and waits (bounded) until it leaves PENDING.
async fn buy(rest: &Rest, who: &Account, key: &str, lines: &[(&str, i64)], card: &str) -> Value {
    let reply = rest
        .post(
            "/v1/orders",
            Some(&who.token),
            &order_body(key, lines, card),
        )
        .await;
    ok(&reply, "place order");
    settled(rest, &who.token, reply.body["order"].clone()).await
}

async fn stock(rest: &Rest, product_id: &str) -> i64 {
    let reply = rest.get(&format!("/v1/products/{product_id}"), None).await;
    ok(&reply, "get product");
    int(&reply.body["product"]["stock"])
}

#[tokio::test]
async fn rest_a_customer_registers_browses_buys_watches_and_cancels() {
    let (system, rest) = start().await;
    let ada = register(&rest, "ada").await;
    let admin = sign_in(&rest, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let again = rest
        .post(
            "/v1/users",
            None,
            &json!({"email": "ada@example.com", "password": PASSWORD, "display_name": "Ada"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");
    let wrong = rest
        .post(
            "/v1/sessions",
            None,
            &json!({"email": "ada@example.com", "password": "not-her-password"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{wrong:?}");
    let me = rest.get("/v1/me", Some(&ada.token)).await;
    ok(&me, "me");
    assert_eq!(me.body["user"]["id"], ada.id.as_str());

    // Browsing, five at a time, following next_page_token.
    let mut catalog: Vec<Value> = Vec::new();
    let mut page_token = String::new();
    loop {
        let reply = rest
            .get(
                &format!(
                    "/v1/products?page_size=5&page_token={}",
                    query_value(&page_token)
                ),
                None,
            )
            .await;
        ok(&reply, "list products");
        let page = reply.body["products"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(page.len() <= 5);
        catalog.extend(page);
        page_token = text(&reply.body["next_page_token"]);
        if page_token.is_empty() {
            break;
        }
        assert!(catalog.len() <= SEEDED_PRODUCTS, "paging does not end");
    }
    assert_eq!(catalog.len(), SEEDED_PRODUCTS);
    let item = &catalog[0];
    let item_id = text(&item["id"]);
    let before = int(&item["stock"]);
    let price = int(&item["price"]["amount_minor"]);

    let order = buy(&rest, &ada, "ada-1", &[(&item_id, 2)], cards::APPROVED).await;
    let order_id = text(&order["id"]);
    assert_eq!(order["status"], "ORDER_STATUS_CONFIRMED", "{order}");
    assert_eq!(int(&order["total"]["amount_minor"]), 2 * price);
    assert_eq!(stock(&rest, &item_id).await, before - 2);

    // Watching: an NDJSON stream whose first line is the current state.
    let (status, first) = rest
        .first_line(&format!("/v1/orders/{order_id}:watch"), Some(&ada.token))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first["result"]["order"]["status"], "ORDER_STATUS_CONFIRMED",
        "{first}"
    );

    let mine = rest.get("/v1/orders", Some(&ada.token)).await;
    ok(&mine, "list orders");
    let ids: Vec<String> = mine.body["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| text(&o["id"]))
        .collect();
    assert_eq!(ids, std::slice::from_ref(&order_id));

    let cancelled = rest
        .post(
            &format!("/v1/orders/{order_id}:cancel"),
            Some(&ada.token),
            &json!({"reason": "changed my mind"}),
        )
        .await;
    ok(&cancelled, "cancel");
    assert_eq!(cancelled.body["order"]["status"], "ORDER_STATUS_CANCELLED");
    assert_eq!(stock(&rest, &item_id).await, before);

    // The refund, as the admin sees it; customers may not look.
    let payment_path = format!("/v1/payments/{}", text(&order["payment_id"]));
    let refund = rest.get(&payment_path, Some(&admin.token)).await;
    ok(&refund, "get payment");
    assert_eq!(refund.body["payment"]["status"], "PAYMENT_STATUS_REFUNDED");
    assert_eq!(
        int(&refund.body["payment"]["refunded_amount"]["amount_minor"]),
        2 * price
    );
    let forbidden = rest.get(&payment_path, Some(&ada.token)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN, "{forbidden:?}");
    system.stop_cleanly().await;
}

#[tokio::test]
async fn rest_an_admin_creates_and_reprices_a_product() {
    let (system, rest) = start().await;
    let admin = sign_in(&rest, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let ada = register(&rest, "ada").await;
    let teapot = json!({
        "sku": "E2E-TEAPOT", "name": "Cast Iron Teapot", "description": "Holds a litre.",
        "category": "kitchen", "price": {"currency_code": "EUR", "amount_minor": "4500"},
        "stock": "3"
    });

    let anonymous = rest.post("/v1/products", None, &teapot).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{anonymous:?}");
    let customer = rest.post("/v1/products", Some(&ada.token), &teapot).await;
    assert_eq!(customer.status, StatusCode::FORBIDDEN, "{customer:?}");
    let created = rest.post("/v1/products", Some(&admin.token), &teapot).await;
    ok(&created, "create product");
    let id = text(&created.body["product"]["id"]);
    assert_eq!(int(&created.body["product"]["stock"]), 3);

    let updated = rest
        .patch(
            &format!("/v1/products/{id}"),
            Some(&admin.token),
            &json!({"price": {"currency_code": "EUR", "amount_minor": "3900"}, "stock": "5"}),
        )
        .await;
    ok(&updated, "update product");
    assert_eq!(updated.body["product"]["name"], "Cast Iron Teapot");
    assert_eq!(int(&updated.body["product"]["stock"]), 5);
    assert_eq!(
        int(&updated.body["product"]["price"]["amount_minor"]),
        3_900
    );

    let found = rest.get("/v1/products?query=teapot", None).await;
    ok(&found, "search");
    assert_eq!(found.body["products"][0]["id"], id.as_str(), "{found:?}");
    let order = buy(&rest, &ada, "teapots", &[(&id, 5)], cards::APPROVED).await;
    assert_eq!(order["status"], "ORDER_STATUS_CONFIRMED", "{order}");
    assert_eq!(int(&order["total"]["amount_minor"]), 5 * 3_900);
    assert_eq!(stock(&rest, &id).await, 0);
    system.stop_cleanly().await;
}

#[tokio::test]
async fn rest_a_declined_card_fails_the_order() {
    let (system, rest) = start().await;
    let ada = register(&rest, "ada").await;
    let products = rest.get("/v1/products?page_size=1", None).await;
    let item_id = text(&products.body["products"][0]["id"]);
    let before = stock(&rest, &item_id).await;
    let order = buy(
        &rest,
        &ada,
        "broke",
        &[(&item_id, 1)],
        cards::INSUFFICIENT_FUNDS,
    )
    .await;
    assert_eq!(order["status"], "ORDER_STATUS_FAILED", "{order}");
    assert!(
        text(&order["failure_reason"]).contains("insufficient funds"),
        "{order}"
    );
    assert_eq!(stock(&rest, &item_id).await, before);
    system.stop_cleanly().await;
}

/// How long an order event may take to become a notification: the relay's
/// poll, JetStream and the consumer, on a loaded test machine.
const NOTIFIED_WITHIN: Duration = Duration::from_secs(10);

/// The notifications of `who` about `order_id`, as `GET /v1/notifications`
/// lists them.
async fn notifications_about(rest: &Rest, who: &Account, order_id: &str) -> Vec<Value> {
    let reply = rest.get("/v1/notifications", Some(&who.token)).await;
    ok(&reply, "list notifications");
    reply.body["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["order_id"] == order_id)
        .cloned()
        .collect()
}

#[tokio::test]
async fn rest_a_confirmed_order_notifies_its_customer_and_no_one_else() {
    let (system, rest) = start().await;
    if system.events.is_none() {
        // Under CI System::start has already failed for want of NATS.
        eprintln!("not run: NATS does not answer, so no order events are consumed (outside CI)");
        return;
    }
    let ada = register(&rest, "ada").await;
    let bob = register(&rest, "bob").await;
    let products = rest.get("/v1/products?page_size=1", None).await;
    let item_id = text(&products.body["products"][0]["id"]);
    let order = buy(
        &rest,
        &ada,
        "ada-notified",
        &[(&item_id, 1)],
        cards::APPROVED,
    )
    .await;
    assert_eq!(order["status"], "ORDER_STATUS_CONFIRMED", "{order}");
    let order_id = text(&order["id"]);

    let confirmed = |n: &Value| n["kind"] == "NOTIFICATION_KIND_ORDER_CONFIRMED";
    let deadline = Instant::now() + NOTIFIED_WITHIN;
    let hers = loop {
        let hers = notifications_about(&rest, &ada, &order_id).await;
        if hers.iter().any(confirmed) {
            break hers;
        }
        assert!(
            Instant::now() < deadline,
            "no ORDER_CONFIRMED notification for {order_id} within {NOTIFIED_WITHIN:?}: {hers:?}\n{}",
            system.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(hers.iter().filter(|n| confirmed(n)).count(), 1, "{hers:?}");

    let his = rest.get("/v1/notifications", Some(&bob.token)).await;
    ok(&his, "his notifications");
    assert_eq!(
        his.body["notifications"].as_array().map_or(0, Vec::len),
        0,
        "{his:?}"
    );
    let anonymous = rest.get("/v1/notifications", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{anonymous:?}");

    // The same over gRPC: the contract the edge transcodes.
    let listed = system
        .notifications()
        .await
        .list_notifications(authed(ListNotificationsRequest::default(), &ada.token))
        .await
        .expect("ListNotifications over gRPC")
        .into_inner();
    assert!(
        listed
            .notifications
            .iter()
            .any(|n| n.order_id == order_id && n.kind() == NotificationKind::OrderConfirmed),
        "{listed:?}"
    );
    system.stop_cleanly().await;
}

#[tokio::test]
async fn rest_another_customer_cannot_see_my_order() {
    let (system, rest) = start().await;
    let ada = register(&rest, "ada").await;
    let bob = register(&rest, "bob").await;
    let products = rest.get("/v1/products?page_size=1", None).await;
    let item_id = text(&products.body["products"][0]["id"]);
    let order = buy(&rest, &ada, "ada-1", &[(&item_id, 1)], cards::APPROVED).await;
    let order_path = format!("/v1/orders/{}", text(&order["id"]));

    let peek = rest.get(&order_path, Some(&bob.token)).await;
    assert_eq!(peek.status, StatusCode::NOT_FOUND, "{peek:?}");
    let cancel = rest
        .post(
            &format!("{order_path}:cancel"),
            Some(&bob.token),
            &json!({"reason": "not mine"}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::NOT_FOUND, "{cancel:?}");
    let his = rest.get("/v1/orders", Some(&bob.token)).await;
    ok(&his, "his orders");
    assert_eq!(his.body["orders"].as_array().map_or(0, Vec::len), 0);
    let filtered = rest
        .get(
            &format!("/v1/orders?customer_id={}", ada.id),
            Some(&bob.token),
        )
        .await;
    assert_eq!(filtered.status, StatusCode::FORBIDDEN, "{filtered:?}");
    let account = rest
        .get(&format!("/v1/users/{}", ada.id), Some(&bob.token))
        .await;
    assert_eq!(account.status, StatusCode::FORBIDDEN, "{account:?}");
    let anonymous = rest.get(&order_path, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{anonymous:?}");
    ok(&rest.get(&order_path, Some(&ada.token)).await, "her order");
    system.stop_cleanly().await;
}

#[tokio::test]
async fn rest_the_edge_serves_health_docs_and_structured_errors() {
    let (system, rest) = start().await;
    ok(&rest.get("/healthz", None).await, "healthz");
    ok(&rest.get("/readyz", None).await, "readyz");
    let openapi = rest.get("/openapi.json", None).await;
    ok(&openapi, "openapi");
    assert!(
        text(&openapi.body["openapi"]).starts_with('3'),
        "{openapi:?}"
    );
    let docs = rest.get("/docs", None).await;
    ok(&docs, "docs");
    assert!(docs.content_type.starts_with("text/html"), "{docs:?}");

    // Invalid input: 400 with the offending field named.
    let invalid = rest
        .post(
            "/v1/users",
            None,
            &json!({"email": "not-an-email", "password": PASSWORD, "display_name": "X"}),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST, "{invalid:?}");
    assert_eq!(invalid.body["code"], 3, "INVALID_ARGUMENT: {invalid:?}");
    assert!(
        invalid.body["details"].to_string().contains("email"),
        "{invalid:?}"
    );

    // Internal RPCs have no route, nor does raw gRPC get through.
    let reserve = rest
        .post(
            "/bazaar.product.v1.ProductService/ReserveStock",
            None,
            &json!({"order_id": "x", "items": []}),
        )
        .await;
    assert_eq!(reserve.status, StatusCode::NOT_FOUND, "{reserve:?}");
    let charge = rest
        .post("/v1/payments", None, &json!({"idempotency_key": "x"}))
        .await;
    assert!(
        charge.status == StatusCode::NOT_FOUND || charge.status == StatusCode::METHOD_NOT_ALLOWED,
        "{charge:?}"
    );
    system.stop_cleanly().await;
}
