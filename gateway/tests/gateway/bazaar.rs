//! The gateway on Bazaar's embedded contracts in front of the real product
//! service (SQLite, port 0): the REST API as frontends use it.

use std::time::Duration;

use bazaar_runtime::{
    auth::{AuthConfig, Role, TokenSigner},
    db::{Backend, testing::TestDatabase},
    server::ServerConfig,
};
use http::{Method, StatusCode};
use serde_json::json;
use tokio::sync::oneshot;

use crate::support::{Gateway, config, spawn_config};

struct Product {
    gateway: Gateway,
    admin: String,
    customer: String,
    _stop: oneshot::Sender<()>,
    _db: TestDatabase,
}

async fn product_behind_gateway() -> Product {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let signer = TokenSigner::generate(&AuthConfig::default()).expect("signing key");
    let mut service = bazaar_product::config::Config::default();
    service.shared.server = ServerConfig::default();
    service.shared.database = db.config.clone();
    service.shared.auth.keys = vec![signer.jwk().clone()];
    service.shared.auth.jwks_url = None;
    service.settings.seed_catalog = false;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(bazaar_product::run(service, listener, async {
        let _ = stopped.await;
    }));

    // The embedded set, with the product service routed to the test server.
    let gateway = spawn_config(bazaar_gateway::GatewayConfig {
        routes: vec![format!("bazaar.product.v1.ProductService={url}")],
        ..config()
    })
    .await;
    let token = |roles: &[Role]| {
        let (token, _) = signer
            .issue("user-1", roles, Duration::from_secs(600))
            .expect("token");
        format!("Bearer {token}")
    };
    Product {
        gateway,
        admin: token(&[Role::Customer, Role::Admin]),
        customer: token(&[Role::Customer]),
        _stop: stop,
        _db: db,
    }
}

fn as_json(body: serde_json::Value) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(&body).expect("json"))
}

#[tokio::test]
async fn the_catalog_over_rest() {
    let p = product_behind_gateway().await;
    let gw = &p.gateway;
    let mug = json!({
        "sku": "MUG-1", "name": "Mug", "description": "A mug.", "category": "kitchen",
        "price": {"currency_code": "EUR", "amount_minor": "1999"}, "stock": "5",
    });

    // Creating needs an admin token, forwarded as `authorization`.
    let anonymous = gw
        .send(Method::POST, "/v1/products", &[], as_json(mug.clone()))
        .await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.text()
    );
    assert_eq!(anonymous.json()["code"], 16);
    let customer = gw
        .send(
            Method::POST,
            "/v1/products",
            &[("authorization", &p.customer)],
            as_json(mug.clone()),
        )
        .await;
    assert_eq!(customer.status, StatusCode::FORBIDDEN);

    let created = gw
        .send(
            Method::POST,
            "/v1/products",
            &[("authorization", &p.admin)],
            as_json(mug),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let product = created.json()["product"].clone();
    let id = product["id"].as_str().expect("an id").to_owned();
    assert_eq!(product["price"]["amount_minor"], "1999");
    assert_eq!(product["stock"], "5");
    assert!(product["create_time"].as_str().unwrap().ends_with('Z'));

    // Reading is public.
    let fetched = gw.get(&format!("/v1/products/{id}")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.json()["product"]["name"], "Mug");
    let listed = gw.get("/v1/products?query=mug&page_size=10").await.json();
    assert_eq!(listed["products"][0]["id"], id.as_str());
    assert_eq!(listed["next_page_token"], "");

    // PATCH: the mask comes from the body's keys; other fields keep values.
    let patched = gw
        .send(
            Method::PATCH,
            &format!("/v1/products/{id}"),
            &[("authorization", &p.admin)],
            as_json(json!({"name": "Big mug", "price": {"currency_code": "EUR", "amount_minor": "2499"}})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    let product = &patched.json()["product"];
    assert_eq!(product["name"], "Big mug");
    assert_eq!(product["price"]["amount_minor"], "2499");
    assert_eq!(product["description"], "A mug.");
    assert_eq!(product["stock"], "5");

    // The service's field violations come back as BadRequest details.
    let invalid = gw
        .send(
            Method::POST,
            "/v1/products",
            &[("authorization", &p.admin)],
            as_json(json!({"sku": "bad sku", "name": "", "price": {"currency_code": "EUR", "amount_minor": "-1"}})),
        )
        .await;
    assert_eq!(
        invalid.status,
        StatusCode::BAD_REQUEST,
        "{}",
        invalid.text()
    );
    let details = &invalid.json()["details"];
    assert_eq!(
        details[0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert!(
        details[0]["field_violations"]
            .as_array()
            .is_some_and(|v| !v.is_empty()),
        "{details}"
    );

    let bad_id = gw.get("/v1/products/not-a-uuid").await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);

    let deleted = gw
        .send(
            Method::DELETE,
            &format!("/v1/products/{id}"),
            &[("authorization", &p.admin)],
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text());
    assert_eq!(deleted.json(), json!({}));
    let gone = gw.get(&format!("/v1/products/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.json()["code"], 5);
}
