//! Starting the service for a test, and small helpers for talking to it.

use std::{net::SocketAddr, time::Duration};

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
    db::{Backend, testing::TestDatabase},
    server::ServerConfig,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Code, Request, Status, transport::Channel};
use tonic_types::StatusExt;

pub type Client = ProductServiceClient<Channel>;

/// A running product service with its own database.
pub struct App {
    pub backend: Backend,
    pub config: Config,
    addr: SocketAddr,
    signer: TokenSigner,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
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
    let mut config = Config {
        server: ServerConfig::default(),
        database: db.config.clone(),
        seed_catalog: false,
        ..Config::default()
    };
    config.auth.keys = vec![signer.jwk().clone()];
    config.auth.jwks_url = None;
    tweak(&mut config);
    let (addr, stop, task) = start(config.clone()).await;
    App {
        backend,
        config,
        addr,
        signer,
        stop: Some(stop),
        task: Some(task),
        _db: db,
    }
}

type Started = (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<anyhow::Result<()>>,
);

async fn start(config: Config) -> Started {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(bazaar_product::run(config, listener, async {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

impl App {
    pub async fn client(&self) -> Client {
        // The server may still be migrating; connecting retries until the
        // listener answers (it is bound already, so this is quick).
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("valid url")
            .timeout(Duration::from_secs(30));
        ProductServiceClient::new(endpoint.connect().await.expect("connects"))
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }

    /// Stops the server and starts it again on the same database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let (addr, stop, task) = start(self.config.clone()).await;
        self.addr = addr;
        self.stop = Some(stop);
        self.task = Some(task);
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

impl Drop for App {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
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
