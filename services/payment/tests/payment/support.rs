use std::time::Duration;

use bazaar_payment::config::Config;
use bazaar_proto::{
    common::v1::Money,
    payment::v1::{Card, ChargeRequest, payment_service_client::PaymentServiceClient},
};
use bazaar_runtime::{
    auth::{AuthConfig, Role, TokenSigner},
    db::{Backend, testing::TestDatabase},
    server::ServerConfig,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Request, transport::Channel};

pub use bazaar_payment::processor::test_cards;
pub use bazaar_runtime::db::testing::backends;

/// A payment service running on its own fresh database.
pub struct Service {
    pub url: String,
    pub signer: TokenSigner,
    pub database: TestDatabase,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

impl Service {
    pub async fn start(backend: Backend) -> Self {
        let database = TestDatabase::create(backend).await;
        let signer = TokenSigner::generate(&AuthConfig::default()).unwrap();
        let config = Config {
            server: ServerConfig::default(),
            database: database.config.clone(),
            auth: AuthConfig {
                jwks_url: None,
                keys: vec![signer.jwk().clone()],
                ..AuthConfig::default()
            },
            processor: bazaar_payment::config::ProcessorConfig {
                slow_latency: Duration::from_millis(1_500),
            },
            ..Config::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bazaar_payment::run(config, listener, async {
            let _ = stopped.await;
        }));
        let service = Self {
            url,
            signer,
            database,
            stop: Some(stop),
            task,
        };
        service.wait_until_serving().await;
        service
    }

    async fn wait_until_serving(&self) {
        for _ in 0..100 {
            if let Ok(channel) = Channel::from_shared(self.url.clone())
                .unwrap()
                .connect()
                .await
            {
                let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
                let ok = health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: "bazaar.payment.v1.PaymentService".into(),
                    })
                    .await
                    .is_ok();
                if ok {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the payment service did not start");
    }

    pub async fn client(&self) -> PaymentServiceClient<Channel> {
        let channel = Channel::from_shared(self.url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        PaymentServiceClient::new(channel)
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
