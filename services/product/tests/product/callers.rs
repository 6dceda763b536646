//! Who may move stock: the order service alone, over mTLS with a
//! certificate of the mesh. Anyone else is refused before a handler runs,
//! and the stock stays where it was.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use bazaar_mesh::{CertPaths, Credentials, Upstream, devcerts::DevCa};
use bazaar_proto::product::v1::{
    CommitReservationRequest, CreateProductRequest, ReleaseReservationRequest, ReservationState,
    product_service_client::ProductServiceClient,
};
use bazaar_runtime::{db::testing::backends, testing::mesh};
use tonic::{
    Code, Status,
    transport::{Channel, Endpoint},
};

use crate::support::{App, Client, product, reserve, spawn_app};

const SERVICE: &str = "/bazaar.product.v1.ProductService";

/// An order id no one has reserved for.
const MADE_UP_ORDER: &str = "order-made-up";

fn commit(order_id: &str) -> CommitReservationRequest {
    CommitReservationRequest {
        order_id: order_id.into(),
    }
}

fn release(order_id: &str) -> ReleaseReservationRequest {
    ReleaseReservationRequest {
        order_id: order_id.into(),
    }
}

/// A plaintext HTTP/2 client, as if the mesh were not there.
fn plaintext(addr: SocketAddr) -> ProductServiceClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect_lazy();
    ProductServiceClient::new(channel)
}

/// A TLS client that trusts the mesh CA and verifies the server, but
/// presents no certificate of its own.
fn without_certificate(addr: SocketAddr) -> ProductServiceClient<Channel> {
    let ca = mesh().config().certs_dir.join("ca.pem");
    ProductServiceClient::new(
        bazaar_mesh::devcerts::anonymous_channel(&ca, addr).expect("an anonymous TLS channel"),
    )
}

/// A client as `order`, but with a certificate of another CA written to
/// `dir`.
fn from_another_ca(dir: &Path, addr: SocketAddr) -> Client {
    DevCa::generate("other")
        .and_then(|ca| ca.write_all(dir, mesh().policy()))
        .expect("another CA's certificates");
    let policy = mesh().policy();
    let upstream = Upstream {
        name: "product".into(),
        url: format!("http://{addr}"),
        policy: Arc::new(policy.services["product"].clone()),
        tls: Some((
            Credentials::load(CertPaths::in_dir(dir, "order")).expect("the stranger's cert"),
            policy.identity("product").expect("product's identity"),
        )),
        connect_timeout: Duration::from_secs(2),
        metrics: None,
    };
    ProductServiceClient::new(upstream.channel().expect("a channel"))
}

/// A failed TLS handshake: the connection is dropped before any request is
/// read.
fn assert_transport_error(status: &Status) {
    assert!(
        matches!(status.code(), Code::Unavailable | Code::Unknown)
            && status.message().contains("transport error"),
        "{status:?}"
    );
}

fn assert_no_certificate(status: &Status) {
    // TLS 1.3 lets the client finish first; the server then refuses it.
    assert!(
        format!("{status:?}").contains("CertificateRequired"),
        "{status:?}"
    );
}

fn assert_denied(status: &Status, caller: &str, method: &str) {
    assert_eq!(
        status.code(),
        Code::PermissionDenied,
        "{caller}: {status:?}"
    );
    assert_eq!(
        status.message(),
        format!("{caller} may not call {SERVICE}/{method}"),
        "{status:?}"
    );
}

/// The made-up order has no reservation: nothing refused created one.
async fn assert_nothing_reserved(app: &App) {
    let status = app
        .stock_client()
        .commit_reservation(commit(MADE_UP_ORDER))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::NotFound,
        "{:?}: {status:?}",
        app.backend
    );
}

#[tokio::test]
async fn plaintext_callers_cannot_move_stock() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 10)).await;
        let mut client = plaintext(app.addr());

        let status = client
            .reserve_stock(reserve(MADE_UP_ORDER, &[(&mug.id, 3)]))
            .await
            .unwrap_err();
        assert_transport_error(&status);
        let status = client
            .commit_reservation(commit(MADE_UP_ORDER))
            .await
            .unwrap_err();
        assert_transport_error(&status);

        assert_eq!(app.stock(&mug.id).await, 10, "{backend:?}");
        assert_nothing_reserved(&app).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn tls_callers_without_a_certificate_cannot_move_stock() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 10)).await;
        let mut client = without_certificate(app.addr());

        let status = client
            .reserve_stock(reserve(MADE_UP_ORDER, &[(&mug.id, 3)]))
            .await
            .unwrap_err();
        assert_no_certificate(&status);
        let status = client
            .commit_reservation(commit(MADE_UP_ORDER))
            .await
            .unwrap_err();
        assert_no_certificate(&status);

        assert_eq!(app.stock(&mug.id).await, 10, "{backend:?}");
        assert_nothing_reserved(&app).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn a_certificate_from_another_ca_cannot_move_stock() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 10)).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut client = from_another_ca(dir.path(), app.addr());

        let status = client
            .reserve_stock(reserve(MADE_UP_ORDER, &[(&mug.id, 3)]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{backend:?}: {status:?}");
        let status = client
            .commit_reservation(commit(MADE_UP_ORDER))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{backend:?}: {status:?}");

        assert_eq!(app.stock(&mug.id).await, 10, "{backend:?}");
        assert_nothing_reserved(&app).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn only_the_order_service_moves_stock() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 10)).await;
        let items = [(mug.id.as_str(), 2)];

        // The edge may not, not even for an admin.
        for caller in ["gateway", "dev-client"] {
            let mut client = app.client_as(caller);
            let status = client
                .reserve_stock(app.as_admin(reserve("order-1", &items)))
                .await
                .unwrap_err();
            assert_denied(&status, caller, "ReserveStock");
            let status = client
                .commit_reservation(commit("order-1"))
                .await
                .unwrap_err();
            assert_denied(&status, caller, "CommitReservation");
            let status = client
                .release_reservation(release("order-1"))
                .await
                .unwrap_err();
            assert_denied(&status, caller, "ReleaseReservation");
        }
        assert_eq!(app.stock(&mug.id).await, 10, "{backend:?}");

        let mut order = app.stock_client();
        let reserved = order
            .reserve_stock(reserve("order-1", &items))
            .await
            .unwrap_or_else(|s| panic!("{backend:?}: order reserves: {s:?}"))
            .into_inner()
            .reservation
            .expect("reservation");
        assert_eq!(reserved.state, ReservationState::Reserved as i32);
        assert_eq!(app.stock(&mug.id).await, 8, "{backend:?}");

        // A real reservation the edge may not release or commit either.
        for caller in ["gateway", "dev-client"] {
            let mut client = app.client_as(caller);
            let status = client
                .release_reservation(release("order-1"))
                .await
                .unwrap_err();
            assert_denied(&status, caller, "ReleaseReservation");
            let status = client
                .commit_reservation(commit("order-1"))
                .await
                .unwrap_err();
            assert_denied(&status, caller, "CommitReservation");
        }
        assert_eq!(app.stock(&mug.id).await, 8, "{backend:?}");

        // Still reserved (a release would make this commit fail), so the
        // order service commits it, then releases it and the stock returns.
        let committed = order
            .commit_reservation(commit("order-1"))
            .await
            .unwrap_or_else(|s| panic!("{backend:?}: order commits: {s:?}"))
            .into_inner()
            .reservation
            .expect("reservation");
        assert_eq!(committed.state, ReservationState::Committed as i32);
        assert_eq!(app.stock(&mug.id).await, 8, "{backend:?}");
        let released = order
            .release_reservation(release("order-1"))
            .await
            .unwrap_or_else(|s| panic!("{backend:?}: order releases: {s:?}"))
            .into_inner()
            .reservation
            .expect("reservation");
        assert_eq!(released.state, ReservationState::Released as i32);
        assert_eq!(app.stock(&mug.id).await, 10, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn the_catalog_is_the_edges_to_change_and_a_token_is_still_needed() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let new = || CreateProductRequest {
            product: Some(product("MUG-2", "Mug", "kitchen", 5)),
        };

        // Another workload may not, even carrying an admin's token.
        let status = app
            .stock_client()
            .create_product(app.as_admin(new()))
            .await
            .unwrap_err();
        assert_denied(&status, "order", "CreateProduct");

        // The edge needs a token, and an admin's.
        for caller in ["gateway", "dev-client"] {
            let mut client = app.client_as(caller);
            let status = client.create_product(new()).await.unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated, "{caller}: {status:?}");
            let status = client
                .create_product(app.as_customer(new()))
                .await
                .unwrap_err();
            assert_eq!(
                status.code(),
                Code::PermissionDenied,
                "{caller}: {status:?}"
            );
        }
        let created = app
            .client_as("dev-client")
            .create_product(app.as_admin(new()))
            .await
            .unwrap_or_else(|s| panic!("{backend:?}: an admin creates: {s:?}"))
            .into_inner()
            .product
            .expect("product");
        assert_eq!(app.stock(&created.id).await, 5, "{backend:?}");
        app.stop().await;
    }
}
