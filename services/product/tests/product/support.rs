//! Starting the service for a test, and small helpers for talking to it.

use std::{net::SocketAddr, time::Duration};

use bazaar_mesh::MeshChannel;
use bazaar_product::config::Config;
use bazaar_proto::{
    common::v1::Money,
    product::v1::{
        CreateProductRequest, GetProductRequest, Product, ReserveStockRequest, StockItem,
        product_service_client::ProductServiceClient,
    },
};
use bazaar_runtime::{
    auth::{AuthConfig, Role, TokenSigner},
    db::Backend,
    server::ServerConfig,
    testing::{Spawned, TestDatabase, mesh},
};
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

pub type Client = ProductServiceClient<MeshChannel>;

/// A running product service with its own database.
pub struct App {
    pub backend: Backend,
    config: Config,
    signer: TokenSigner,
    server: Option<Spawned>,
    // Dropped last: the database outlives the server using it.
    _db: TestDatabase,
}

/// Starts the service on `backend` with an empty catalog.
pub async fn spawn_app(backend: Backend) -> App {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the service on `backend`, with `tweak` applied to the test config.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> App {
    let db = TestDatabase::create(backend).await;
    let signer = TokenSigner::generate(&AuthConfig::default()).expect("signing key");
    let mut config = Config::default();
    config.shared.server = ServerConfig::default();
    config.shared.database = db.config.clone();
    config.shared.mesh = mesh().config();
    config.shared.auth.keys = vec![signer.jwk().clone()];
    config.shared.auth.jwks_url = None;
    config.settings.seed_catalog = false;
    tweak(&mut config);
    let server = start(config.clone()).await;
    App {
        backend,
        config,
        signer,
        server: Some(server),
        _db: db,
    }
}

async fn start(config: Config) -> Spawned {
    Spawned::start_in_mesh("product", |listener, shutdown| {
        bazaar_product::run(config, listener, shutdown)
    })
    .await
}

impl App {
    fn server(&self) -> &Spawned {
        self.server.as_ref().expect("the service is running")
    }

    /// A client as the edge (the REST gateway), the caller of the catalog
    /// RPCs.
    pub async fn client(&self) -> Client {
        self.client_as("gateway")
    }

    /// A client as the order service, the one caller of the stock RPCs.
    pub fn stock_client(&self) -> Client {
        self.client_as("order")
    }

    /// A client as the mesh workload `caller`.
    pub fn client_as(&self, caller: &str) -> Client {
        ProductServiceClient::new(self.server().channel_as(caller))
    }

    /// Where the service serves `/metrics`, if the test config asked for it.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.config.shared.server.admin_listen
    }

    /// Where the service listens, for clients outside the mesh.
    pub fn addr(&self) -> SocketAddr {
        self.server().addr
    }

    /// Stops the server gracefully; panics unless it stops cleanly.
    pub async fn stop(mut self) {
        self.stop_server().await;
    }

    async fn stop_server(&mut self) {
        if let Some(server) = self.server.take() {
            let outcome = server.stop().await;
            assert_eq!(outcome, Ok(()), "{:?}: clean shutdown", self.backend);
        }
    }

    /// Stops the server and starts it again on the same database.
    pub async fn restart(&mut self) {
        self.stop_server().await;
        self.server = Some(start(self.config.clone()).await);
    }

    fn token(&self, roles: &[Role]) -> String {
        let (token, _) = self
            .signer
            .issue("user-1", roles, Duration::from_secs(600))
            .expect("token");
        token
    }

    pub fn as_admin<T>(&self, message: T) -> Request<T> {
        with_token(message, &self.token(&[Role::Customer, Role::Admin]))
    }

    pub fn as_customer<T>(&self, message: T) -> Request<T> {
        with_token(message, &self.token(&[Role::Customer]))
    }

    /// Creates `product` as an admin.
    pub async fn create(&self, product: Product) -> Product {
        let mut client = self.client().await;
        client
            .create_product(self.as_admin(CreateProductRequest {
                product: Some(product),
            }))
            .await
            .unwrap_or_else(|s| panic!("{:?}: create failed: {s:?}", self.backend))
            .into_inner()
            .product
            .expect("product")
    }

    /// The product's current stock.
    pub async fn stock(&self, id: &str) -> i64 {
        let mut client = self.client().await;
        client
            .get_product(GetProductRequest {
                product_id: id.to_owned(),
            })
            .await
            .expect("get product")
            .into_inner()
            .product
            .expect("product")
            .stock
    }
}

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header value"),
    );
    request
}

pub fn eur(minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        amount_minor: minor,
    })
}

/// A valid product to create.
pub fn product(sku: &str, name: &str, category: &str, stock: i64) -> Product {
    Product {
        sku: sku.into(),
        name: name.into(),
        description: format!("All about {name}."),
        category: category.into(),
        price: eur(1_999),
        stock,
        ..Product::default()
    }
}

pub fn reserve(order_id: &str, items: &[(&str, i32)]) -> ReserveStockRequest {
    ReserveStockRequest {
        order_id: order_id.into(),
        items: items
            .iter()
            .map(|(product_id, quantity)| StockItem {
                product_id: (*product_id).into(),
                quantity: *quantity,
            })
            .collect(),
    }
}

/// The fields named by a status's `BadRequest` details; panics unless it is
/// `INVALID_ARGUMENT` with details.
pub fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "expected INVALID_ARGUMENT, got {status:?}"
    );
    status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// The `ErrorInfo` reason of a status.
pub fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}
