use std::{net::SocketAddr, time::Duration};

use async_nats::{HeaderMap, jetstream};
use bazaar_mesh::MeshChannel;
use bazaar_notification::config::{Config, EventsConfig};
use bazaar_proto::{
    common::v1::Money,
    notification::v1::{
        ListNotificationsRequest, Notification,
        notification_service_client::NotificationServiceClient,
    },
    order::v1 as order_pb,
};
use bazaar_runtime::{
    auth::{AuthConfig, Role, TokenSigner},
    db::{Backend, timestamp},
    server::ServerConfig,
    testing::{Spawned, TestDatabase, free_addr, mesh},
};
use prost::Message;
use tonic::Request;

pub use bazaar_runtime::db::testing::backends;

pub fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// The machine's JetStream, or a loud failure saying how to start it.
pub async fn jetstream() -> jetstream::Context {
    let client = async_nats::connect(nats_url()).await.unwrap_or_else(|e| {
        panic!(
            "NATS with JetStream must answer at {} for these tests ({e}); start it with \
             `start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
             -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server`",
            nats_url()
        )
    });
    jetstream::new(client)
}

/// A test's own stream, subjects, consumer and dead-letter stream; both
/// streams are deleted when it is dropped, failed tests included.
pub struct Namespace {
    pub events: EventsConfig,
}

impl Namespace {
    pub fn new() -> Self {
        let id = bazaar_domain::id::Uuid::now_v7().simple().to_string();
        Self {
            events: EventsConfig {
                nats_url: Some(nats_url()),
                stream: format!("TEST_{id}"),
                subject_prefix: format!("test.{id}.bazaar.order.v1"),
                consumer: format!("notification_{id}"),
                retry_delay: Duration::from_millis(50),
                dead_letter_subject: format!("test.{id}.dead_letter"),
                dead_letter_stream: format!("TEST_DEAD_{id}"),
                ..EventsConfig::default()
            },
        }
    }

    /// Creates the order events stream, as the order service's relay does.
    pub async fn create_stream(&self, js: &jetstream::Context) {
        js.create_stream(jetstream::stream::Config {
            name: self.events.stream.clone(),
            subjects: vec![format!("{}.>", self.events.subject_prefix)],
            ..Default::default()
        })
        .await
        .expect("create the order events stream");
    }

    /// Publishes `payload` as the event `name` with the broker's
    /// deduplication id `msg_id`, and waits for the stream to have it.
    pub async fn publish(
        &self,
        js: &jetstream::Context,
        name: &str,
        msg_id: &str,
        payload: Vec<u8>,
    ) {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        js.publish_with_headers(
            format!("{}.{name}", self.events.subject_prefix),
            headers,
            payload.into(),
        )
        .await
        .expect("publish")
        .await
        .expect("the stream acknowledges");
    }

    /// Waits until the service's consumer has acknowledged everything in
    /// the stream (bounded: a loud failure after 20 s).
    pub async fn drained(&self, js: &jetstream::Context) {
        let stream = js
            .get_stream(&self.events.stream)
            .await
            .expect("the stream");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut consumer) = stream
                .get_consumer::<jetstream::consumer::pull::Config>(&self.events.consumer)
                .await
            {
                let info = consumer.info().await.expect("consumer info");
                if info.num_pending == 0 && info.num_ack_pending == 0 {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the consumer did not acknowledge every event within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let streams = [
            self.events.stream.clone(),
            self.events.dead_letter_stream.clone(),
        ];
        // Drop cannot await, and may run inside a runtime: a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(client) = async_nats::connect(nats_url()).await {
                    let js = jetstream::new(client);
                    for stream in streams {
                        let _ = js.delete_stream(&stream).await;
                    }
                }
            });
        })
        .join();
    }
}

pub fn metadata(event_id: &str, order_id: &str, customer: &str) -> Option<order_pb::EventMetadata> {
    Some(order_pb::EventMetadata {
        event_id: event_id.to_owned(),
        order_id: order_id.to_owned(),
        customer_id: customer.to_owned(),
        occur_time: Some(timestamp(bazaar_runtime::db::now_micros())),
        schema_version: 1,
    })
}

pub fn new_id() -> String {
    bazaar_domain::id::Uuid::now_v7().to_string()
}

pub fn confirmed(event_id: &str, order_id: &str, customer: &str) -> Vec<u8> {
    order_pb::OrderConfirmed {
        metadata: metadata(event_id, order_id, customer),
        items: vec![order_pb::EventItem {
            product_id: new_id(),
            quantity: 2,
            product_name: "Mug".into(),
            unit_price: Some(Money {
                currency_code: "USD".into(),
                amount_minor: 1250,
            }),
        }],
        total: Some(Money {
            currency_code: "USD".into(),
            amount_minor: 2500,
        }),
        payment_id: new_id(),
    }
    .encode_to_vec()
}

pub fn shipped(event_id: &str, order_id: &str, customer: &str) -> Vec<u8> {
    order_pb::OrderShipped {
        metadata: metadata(event_id, order_id, customer),
    }
    .encode_to_vec()
}

pub fn placed(event_id: &str, order_id: &str, customer: &str) -> Vec<u8> {
    order_pb::OrderPlaced {
        metadata: metadata(event_id, order_id, customer),
        items: Vec::new(),
    }
    .encode_to_vec()
}

/// A notification service in the test mesh on its own fresh database.
pub struct Service {
    pub signer: TokenSigner,
    pub admin: SocketAddr,
    pub server: Spawned,
    pub database: TestDatabase,
}

pub fn config(database: &TestDatabase, signer: &TokenSigner, events: &EventsConfig) -> Config {
    let mut config = Config::default();
    config.shared.server = ServerConfig {
        admin_listen: Some(free_addr()),
        ..ServerConfig::default()
    };
    config.shared.database = database.config.clone();
    config.shared.mesh = mesh().config();
    config.shared.auth = AuthConfig {
        jwks_url: None,
        keys: vec![signer.jwk().clone()],
        ..AuthConfig::default()
    };
    config.settings.events = events.clone();
    config
}

impl Service {
    pub async fn start(backend: Backend, events: &EventsConfig) -> Self {
        let database = TestDatabase::create(backend).await;
        let signer = TokenSigner::generate(&AuthConfig::default()).unwrap();
        Self::start_on(database, signer, events).await
    }

    /// Starts on an existing database (a restart).
    pub async fn start_on(
        database: TestDatabase,
        signer: TokenSigner,
        events: &EventsConfig,
    ) -> Self {
        let config = config(&database, &signer, events);
        let admin = config.shared.server.admin_listen.expect("an admin address");
        let server = Spawned::start_in_mesh("notification", |l, s| {
            bazaar_notification::run(config, l, s)
        })
        .await;
        Self {
            signer,
            admin,
            server,
            database,
        }
    }

    /// Stops the server, keeping its database and keys for a restart.
    pub async fn stop(self) -> (TestDatabase, TokenSigner) {
        self.server.stop().await.expect("a clean stop");
        (self.database, self.signer)
    }

    /// A client as the REST edge, the one caller of ListNotifications.
    pub fn client(&self) -> NotificationServiceClient<MeshChannel> {
        NotificationServiceClient::new(self.server.channel_as("gateway"))
    }

    pub fn token(&self, user: &str) -> String {
        self.signer
            .issue(user, &[Role::Customer], Duration::from_secs(300))
            .unwrap()
            .0
    }

    /// Every notification of `user`, newest first (one page of 100).
    pub async fn notifications_of(&self, user: &str) -> Vec<Notification> {
        self.client()
            .list_notifications(authorized(
                ListNotificationsRequest {
                    page_size: 100,
                    page_token: String::new(),
                },
                &self.token(user),
            ))
            .await
            .expect("ListNotifications")
            .into_inner()
            .notifications
    }

    /// `user`'s notifications once there are `count` of them (bounded).
    pub async fn wait_for(&self, user: &str, count: usize) -> Vec<Notification> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notifications = self.notifications_of(user).await;
            if notifications.len() >= count {
                return notifications;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{user} has {} of {count} notifications after 20 s: {notifications:?}",
                notifications.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn authorized<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}
