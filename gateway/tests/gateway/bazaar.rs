//! The gateway on Bazaar's embedded contracts in front of the real product
//! service (SQLite, port 0), both in the test mesh: the REST API as
//! frontends use it, over mTLS as the `gateway` workload.

use std::time::Duration;

use bazaar_mesh::{MeshConfig, MeshPolicy, devcerts::DevCa};
use bazaar_runtime::{
    auth::{AuthConfig, Role, TokenSigner},
    db::{Backend, testing::TestDatabase},
    server::ServerConfig,
    testing::{Spawned, free_addr, mesh, sample, scrape},
};
use http::{Method, StatusCode};
use serde_json::json;

use crate::support::{Gateway, config, spawn_in_mesh};

const PRODUCT_SERVICE: &str = "bazaar.product.v1.ProductService";
const USER_SERVICE: &str = "bazaar.user.v1.UserService";

struct Product {
    gateway: Gateway,
    admin: String,
    customer: String,
    service: Spawned,
    _db: TestDatabase,
}

/// The real product service, in the test mesh.
async fn meshed_product() -> (Spawned, TokenSigner, TestDatabase) {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let signer = TokenSigner::generate(&AuthConfig::default()).expect("signing key");
    let mut service = bazaar_product::config::Config::default();
    service.shared.server = ServerConfig::default();
    service.shared.database = db.config.clone();
    service.shared.auth.keys = vec![signer.jwk().clone()];
    service.shared.auth.jwks_url = None;
    service.shared.mesh = mesh().config();
    service.settings.seed_catalog = false;
    let spawned = Spawned::start_in_mesh("product", |listener, shutdown| {
        bazaar_product::run(service, listener, shutdown)
    })
    .await;
    (spawned, signer, db)
}

/// The embedded set, with the product service (and any `extra` routes)
/// routed to the test server, proxyless with `mesh` as its `[mesh]`.
async fn gateway_to(service: &Spawned, mesh: MeshConfig, extra: &[&str]) -> Gateway {
    let mut routes = vec![format!("{PRODUCT_SERVICE}={}", service.url())];
    routes.extend(extra.iter().map(|s| format!("{s}={}", service.url())));
    spawn_in_mesh(bazaar_gateway::GatewayConfig { routes, ..config() }, mesh).await
}

async fn product_behind_gateway() -> Product {
    let (service, signer, db) = meshed_product().await;
    // The test mesh's certificates, as `make run` points it at data/mesh.
    let gateway = gateway_to(
        &service,
        MeshConfig {
            certs_dir: mesh().config().certs_dir,
            ..MeshConfig::default()
        },
        &[],
    )
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
        service,
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

#[tokio::test]
async fn readiness_is_checked_over_mtls_and_a_stopped_service_is_503() {
    let p = product_behind_gateway().await;
    // Only the product service runs; the other Bazaar services are routed
    // to their default ports.
    let ready = p.gateway.get("/readyz").await.json();
    assert_eq!(ready["upstreams"][PRODUCT_SERVICE], "SERVING", "{ready}");
    // Stopped, the service is unavailable to the edge: 503, never 500.
    p.service.stop().await.expect("a clean stop");
    let gone = p.gateway.get("/v1/products?page_size=1").await;
    assert_eq!(
        gone.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        gone.text()
    );
    assert_eq!(gone.json()["code"], 14);
    let ready = p.gateway.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let product = ready.json()["upstreams"][PRODUCT_SERVICE].to_string();
    assert!(product.contains("Unavailable"), "{product}");
}

#[tokio::test]
async fn a_gateway_with_another_cas_certificate_gets_503_not_200() {
    let (service, _signer, _db) = meshed_product().await;
    let policy = MeshPolicy::built_in().expect("the built-in policy");
    let foreign = tempfile::tempdir().expect("temp dir");
    DevCa::generate("not the mesh's CA")
        .and_then(|ca| ca.write_all(foreign.path(), &policy))
        .expect("foreign certificates");
    let gateway = gateway_to(
        &service,
        MeshConfig {
            certs_dir: foreign.path().to_path_buf(),
            ..MeshConfig::default()
        },
        &[],
    )
    .await;

    let listed = gateway.get("/v1/products?page_size=1").await;
    assert_eq!(
        listed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        listed.text()
    );
    assert_eq!(listed.json()["code"], 14);
    let ready = gateway.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json()["ready"], false);
}

#[tokio::test]
async fn a_server_that_cannot_prove_the_routed_identity_gets_503() {
    // The user service routed to the product service's address: it proves
    // `product`, the gateway wants `user`, and refuses to send it anything.
    let (service, _signer, _db) = meshed_product().await;
    let gateway = gateway_to(&service, mesh().config(), &[USER_SERVICE]).await;
    let me = gateway
        .send(
            Method::GET,
            "/v1/me",
            &[("authorization", "Bearer not-checked")],
            None,
        )
        .await;
    assert_eq!(me.status, StatusCode::SERVICE_UNAVAILABLE, "{}", me.text());
    assert_eq!(me.json()["code"], 14);
    // The product service itself is fine.
    let listed = gateway.get("/v1/products?page_size=1").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
}

#[tokio::test]
async fn calls_through_the_mesh_stack_are_measured_by_workload() {
    let (service, _signer, _db) = meshed_product().await;
    let admin = free_addr();
    let routes = vec![format!("{PRODUCT_SERVICE}={}", service.url())];
    let gateway = spawn_in_mesh(
        bazaar_gateway::GatewayConfig {
            routes,
            admin_listen: Some(admin),
            ..config()
        },
        mesh().config(),
    )
    .await;
    let missing = gateway
        .get("/v1/products/5f0c6b5e-8d8a-4c4e-9a53-1f1b7c1e0a01")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text());
    let listed = gateway.get("/v1/products?page_size=1").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());

    let text = scrape(admin).await;
    let expected = [
        r#"http_server_requests_total{method="GET",route="/v1/products/{product_id}",status="404"}"#,
        r#"http_server_requests_total{method="GET",route="/v1/products",status="200"}"#,
        // The upstream is the workload of the mesh policy.
        r#"bazaar_gateway_upstream_errors_total{upstream="product",code="NotFound"}"#,
        r#"grpc_client_handled_total{grpc_type="unary",grpc_service="bazaar.product.v1.ProductService",grpc_method="GetProduct",grpc_code="NotFound"}"#,
        r#"grpc_client_handled_total{grpc_type="unary",grpc_service="bazaar.product.v1.ProductService",grpc_method="ListProducts",grpc_code="OK"}"#,
    ];
    for series in expected {
        assert_eq!(sample(&text, series), Some(1.0), "{series} in\n{text}");
    }
    // The mesh stack's own metrics share the gateway's registry.
    assert_eq!(
        sample(&text, r#"bazaar_mesh_circuit_open{upstream="product"}"#),
        Some(0.0),
        "{text}"
    );
}
