use std::{sync::Arc, time::Duration};

use bazaar_mesh::MeshChannel;
use bazaar_order::{Config as OrderConfig, Hooks, store::sql::MIGRATIONS};
use bazaar_proto::{
    common::v1::Money,
    order::v1::{
        Order, OrderStatus, PaymentMethod, PlaceOrderRequest,
        order_service_client::OrderServiceClient, payment_method::Method,
        place_order_request::LineItem,
    },
    payment::v1::{
        Card, LookupPaymentRequest, Payment, payment_service_client::PaymentServiceClient,
    },
    product::v1::{
        CreateProductRequest, GetProductRequest, Product,
        product_service_client::ProductServiceClient,
    },
};
use bazaar_runtime::{
    auth::{AuthConfig, Role, TokenSigner},
    client::ClientConfig,
    db::{Backend, Database},
    server::ServerConfig,
    service::ServiceConfig,
    testing::{Spawned, TestDatabase, mesh},
};
use tonic::{Code, Request};

pub use bazaar_payment::processor::test_cards;
pub use bazaar_runtime::testing::backends;

/// product, payment and order in the test mesh, wired together and trusting
/// one signing key.
pub struct Shop {
    pub signer: Arc<TokenSigner>,
    pub product: Spawned,
    pub payment: Spawned,
    pub order: Option<Spawned>,
    pub order_config: OrderConfig,
    // Dropped last: the databases outlive the servers using them.
    _databases: Vec<TestDatabase>,
}

/// A service's shared sections for a test: port 0, `database`, the test
/// mesh, and only `signer`'s tokens accepted.
pub fn shared(
    mut defaults: ServiceConfig,
    database: &TestDatabase,
    signer: &TokenSigner,
) -> ServiceConfig {
    defaults.server = ServerConfig::default();
    defaults.database = database.config.clone();
    defaults.mesh = mesh().config();
    defaults.auth = AuthConfig {
        jwks_url: None,
        keys: vec![signer.jwk().clone()],
        ..AuthConfig::default()
    };
    defaults
}

impl Shop {
    pub async fn open(backend: Backend) -> Self {
        Self::open_with(backend, |_| {}).await
    }

    pub async fn open_with(backend: Backend, tweak: impl FnOnce(&mut OrderConfig)) -> Self {
        Self::open_tuned(backend, |_| {}, tweak).await
    }

    /// [`Self::open_with`], also tuning the payment service.
    pub async fn open_tuned(
        backend: Backend,
        tweak_payment: impl FnOnce(&mut bazaar_payment::config::Config),
        tweak: impl FnOnce(&mut OrderConfig),
    ) -> Self {
        let signer = Arc::new(TokenSigner::generate(&AuthConfig::default()).unwrap());
        let product_db = TestDatabase::create(backend).await;
        let payment_db = TestDatabase::create(backend).await;
        let order_db = TestDatabase::create(backend).await;

        let mut product_config = bazaar_product::config::Config::default();
        product_config.shared = shared(product_config.shared, &product_db, &signer);
        product_config.settings.seed_catalog = false;
        let product =
            Spawned::start_in_mesh("product", |l, s| bazaar_product::run(product_config, l, s))
                .await;
        let mut payment_config = bazaar_payment::config::Config::default();
        payment_config.shared = shared(payment_config.shared, &payment_db, &signer);
        payment_config.settings.processor.slow_latency = Duration::from_millis(300);
        tweak_payment(&mut payment_config);
        let payment =
            Spawned::start_in_mesh("payment", |l, s| bazaar_payment::run(payment_config, l, s))
                .await;

        let mut order_config = OrderConfig::default();
        order_config.shared = shared(order_config.shared, &order_db, &signer);
        let settings = &mut order_config.settings;
        settings.product = ClientConfig::for_url(product.url());
        settings.payment = ClientConfig::for_url(payment.url());
        // Retries are the mesh policy's: 3 attempts within its budget.
        // Longer than any checkout takes here (mTLS handshakes included, on a
        // busy machine), so recovery never takes over a live request; the
        // crash tests shorten it to recover quickly.
        settings.saga.lease = Duration::from_secs(3);
        settings.saga.recovery_interval = Duration::from_millis(100);
        tweak(&mut order_config);
        let mut shop = Self {
            signer,
            product,
            payment,
            order: None,
            order_config,
            _databases: vec![product_db, payment_db, order_db],
        };
        shop.start_order(Hooks::default()).await;
        shop
    }

    /// Stops the three services gracefully, order first, asserting each
    /// stopped cleanly.
    pub async fn close(self) {
        if let Some(order) = self.order {
            order.stop().await.expect("the order service stops cleanly");
        }
        self.payment
            .stop()
            .await
            .expect("the payment service stops cleanly");
        self.product
            .stop()
            .await
            .expect("the product service stops cleanly");
    }

    /// (Re)starts the order service on its database.
    pub async fn start_order(&mut self, hooks: Hooks) {
        let config = self.order_config.clone();
        self.order = Some(
            Spawned::start_in_mesh("order", move |l, s| {
                bazaar_order::run_with_hooks(config, l, s, hooks)
            })
            .await,
        );
    }

    pub fn token(&self, user: &str, role: Role) -> String {
        self.signer
            .issue(user, &[role], Duration::from_secs(600))
            .unwrap()
            .0
    }

    /// The order service as the REST gateway calls it.
    pub async fn orders(&self) -> OrderServiceClient<MeshChannel> {
        OrderServiceClient::new(
            self.order
                .as_ref()
                .expect("order service running")
                .channel_as("gateway"),
        )
    }

    /// The catalog as the REST gateway calls it.
    pub async fn products(&self) -> ProductServiceClient<MeshChannel> {
        ProductServiceClient::new(self.product.channel_as("gateway"))
    }

    /// Payments as the order service sees them (LookupPayment is its alone).
    pub async fn payments(&self) -> PaymentServiceClient<MeshChannel> {
        PaymentServiceClient::new(self.payment.channel_as("order"))
    }

    /// Adds a product priced `price_minor` EUR with `stock` units.
    pub async fn stock(&self, sku: &str, price_minor: i64, stock: i64) -> Product {
        let request = as_user(
            CreateProductRequest {
                product: Some(Product {
                    sku: sku.into(),
                    name: format!("Product {sku}"),
                    description: String::new(),
                    category: "test".into(),
                    price: Some(Money {
                        currency_code: "EUR".into(),
                        amount_minor: price_minor,
                    }),
                    stock,
                    ..Product::default()
                }),
            },
            &self.token("admin", Role::Admin),
        );
        self.products()
            .await
            .create_product(request)
            .await
            .unwrap()
            .into_inner()
            .product
            .unwrap()
    }

    pub async fn stock_of(&self, product_id: &str) -> i64 {
        self.products()
            .await
            .get_product(GetProductRequest {
                product_id: product_id.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .product
            .unwrap()
            .stock
    }

    /// The payment made for `order_id`, if any.
    pub async fn payment_for(&self, order_id: &str) -> Option<Payment> {
        match self
            .payments()
            .await
            .lookup_payment(LookupPaymentRequest {
                idempotency_key: order_id.into(),
            })
            .await
        {
            Ok(response) => response.into_inner().payment,
            Err(status) if status.code() == Code::NotFound => None,
            Err(status) => panic!("lookup failed: {status:?}"),
        }
    }

    /// Places `request` as `token`'s customer and waits until it settles.
    pub async fn checkout(&self, request: PlaceOrderRequest, token: &str) -> Order {
        let placed = self
            .orders()
            .await
            .place_order(as_user(request, token))
            .await
            .expect("the order is placed")
            .into_inner()
            .order
            .expect("PlaceOrder answers the order");
        self.settled(&placed.id).await
    }

    /// The order service's own database, for reading its outbox.
    pub async fn order_database(&self) -> Database {
        Database::connect(&self.order_config.shared.database, MIGRATIONS)
            .await
            .expect("the order database")
    }

    /// Waits (bounded) until the order leaves PENDING, as seen by an admin.
    pub async fn settled(&self, order_id: &str) -> Order {
        let admin = self.token("admin", Role::Admin);
        for _ in 0..200 {
            let order = self
                .orders()
                .await
                .get_order(as_user(
                    bazaar_proto::order::v1::GetOrderRequest {
                        order_id: order_id.into(),
                    },
                    &admin,
                ))
                .await
                .unwrap()
                .into_inner()
                .order
                .unwrap();
            if order.status() != OrderStatus::Pending {
                return order;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("order {order_id} never settled");
    }
}

pub fn as_user<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub fn place(key: &str, lines: &[(&Product, i32)], card_number: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        idempotency_key: key.into(),
        items: lines
            .iter()
            .map(|(product, quantity)| LineItem {
                product_id: product.id.clone(),
                quantity: *quantity,
            })
            .collect(),
        payment_method: Some(PaymentMethod {
            method: Some(Method::Card(Card {
                number: card_number.into(),
                exp_month: 12,
                exp_year: 2099,
                cvc: "123".into(),
                holder_name: "Ada Lovelace".into(),
            })),
        }),
    }
}

/// The runtime's telemetry as a service's `main` installs it (log lines to
/// nowhere), once per test process: spans then carry OpenTelemetry context
/// and the W3C propagator reads and writes `traceparent`, as in production.
pub fn telemetry() {
    static INSTALLED: std::sync::OnceLock<bazaar_runtime::telemetry::TelemetryGuard> =
        std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        bazaar_runtime::telemetry::init_with_writer(
            "order-test",
            &bazaar_runtime::telemetry::TelemetryConfig::default(),
            std::io::sink,
        )
        .expect("telemetry installs (no other global subscriber in this process)")
    });
}

/// A span in a trace of the test's own choosing, and that trace's id. Calls
/// made inside it carry the trace: the mesh client's span is its child and
/// injects `traceparent` (overwriting any set on the request by hand).
pub fn span_in_fresh_trace(name: &'static str) -> (tracing::Span, String) {
    let trace_id = bazaar_domain::id::Uuid::now_v7().simple().to_string();
    let span_id = &bazaar_domain::id::Uuid::now_v7().simple().to_string()[16..];
    let mut headers = tonic::codegen::http::HeaderMap::new();
    headers.insert(
        "traceparent",
        format!("00-{trace_id}-{span_id}-01").parse().unwrap(),
    );
    // Active while the span is made, the context becomes its parent.
    let _active = bazaar_runtime::telemetry::extract_context(&headers).attach();
    let span = tracing::info_span!("test", otel.name = name);
    assert_eq!(
        span.in_scope(bazaar_runtime::telemetry::current_trace_id),
        Some(trace_id.clone()),
        "the test's span is in the chosen trace (telemetry installed?)"
    );
    (span, trace_id)
}

pub fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// Events on, to a stream and subject prefix of the test's own.
pub fn isolated_events() -> bazaar_order::config::EventsConfig {
    let id = bazaar_domain::id::Uuid::now_v7().simple().to_string();
    bazaar_order::config::EventsConfig {
        nats_url: Some(nats_url()),
        stream: format!("TEST_{id}"),
        subject_prefix: format!("test.{id}.bazaar.order.v1"),
        poll_interval: Duration::from_millis(20),
        ..bazaar_order::config::EventsConfig::default()
    }
}

/// The machine's JetStream, or a loud failure saying how to start it.
pub async fn jetstream() -> async_nats::jetstream::Context {
    let client = async_nats::connect(nats_url()).await.unwrap_or_else(|e| {
        panic!(
            "NATS with JetStream must answer at {} for these tests ({e}); start it with \
             `start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
             -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server`",
            nats_url()
        )
    });
    async_nats::jetstream::new(client)
}
