use std::{net::SocketAddr, time::Duration};

use bazaar_mesh::MeshChannel;
use bazaar_payment::config::Config;
use bazaar_proto::{
    common::v1::Money,
    payment::v1::{Card, ChargeRequest, payment_service_client::PaymentServiceClient},
};
use bazaar_runtime::{
    auth::{AuthConfig, Role, TokenSigner},
    db::Backend,
    server::ServerConfig,
    testing::{Spawned, TestDatabase, free_addr, mesh},
};
use tonic::Request;

pub use bazaar_payment::processor::test_cards;
pub use bazaar_runtime::db::testing::backends;

/// A payment service running in the test mesh on its own fresh database.
pub struct Service {
    pub url: String,
    pub signer: TokenSigner,
    /// Where `/metrics` is served.
    pub admin: SocketAddr,
    // Dropped before the database it uses.
    pub server: Spawned,
    pub database: TestDatabase,
}

impl Service {
    pub async fn start(backend: Backend) -> Self {
        let database = TestDatabase::create(backend).await;
        let signer = TokenSigner::generate(&AuthConfig::default()).unwrap();
        let mut config = Config::default();
        let admin = free_addr();
        config.shared.server = ServerConfig {
            admin_listen: Some(admin),
            ..ServerConfig::default()
        };
        config.shared.database = database.config.clone();
        config.shared.mesh = mesh().config();
        config.shared.auth = AuthConfig {
            jwks_url: None,
            keys: vec![signer.jwk().clone()],
            ..AuthConfig::default()
        };
        config.settings.processor.slow_latency = Duration::from_millis(1_500);
        let server =
            Spawned::start_in_mesh("payment", |l, s| bazaar_payment::run(config, l, s)).await;
        Self {
            url: server.url(),
            signer,
            admin,
            server,
            database,
        }
    }

    /// A client as the order service, the one caller of Charge, Refund and
    /// LookupPayment.
    pub async fn client(&self) -> PaymentServiceClient<MeshChannel> {
        self.client_as("order")
    }

    /// A client as the mesh workload `caller` (GetPayment is the edge's).
    pub fn client_as(&self, caller: &str) -> PaymentServiceClient<MeshChannel> {
        PaymentServiceClient::new(self.server.channel_as(caller))
    }

    /// A connection pool to the service's own database, to look at what it
    /// and its processor recorded.
    pub async fn sql(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.database.config.url)
            .await
            .unwrap()
    }

    pub fn token(&self, role: Role) -> String {
        self.signer
            .issue("someone", &[role], Duration::from_secs(300))
            .unwrap()
            .0
    }
}

pub fn authorized<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub fn eur(minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        amount_minor: minor,
    })
}

pub fn card(number: &str) -> Option<Card> {
    Some(Card {
        number: number.into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
        holder_name: "Ada Lovelace".into(),
    })
}

pub fn charge(key: &str, minor: i64, number: &str) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: key.into(),
        order_id: format!("order-{key}"),
        amount: eur(minor),
        card: card(number),
    }
}

/// How many captures the simulated processor's ledger holds under `key`.
pub async fn captures(pool: &sqlx::AnyPool, key: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(
        "SELECT COUNT(*) AS n FROM processor_charges \
         WHERE idempotency_key = $1 AND outcome = 'approved'",
    )
    .bind(key)
    .fetch_one(pool)
    .await
    .unwrap()
    .try_get::<i64, _>("n")
    .unwrap()
}

/// How many payments are recorded under `key`.
pub async fn payments(pool: &sqlx::AnyPool, key: &str) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) AS n FROM payments WHERE idempotency_key = $1")
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get::<i64, _>("n")
        .unwrap()
}
