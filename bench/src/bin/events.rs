//! Order events throughput: how fast the outbox relay empties a backlog into
//! NATS JetStream (publish, acknowledgement, mark sent), and how fast the
//! notification service turns the stream into notifications (deliver,
//! render, insert, acknowledge), each on SQLite and, when
//! `TEST_DATABASE_URL` names a server, PostgreSQL. The machine's NATS at
//! `BENCH_NATS_URL` (default `nats://127.0.0.1:4222`); each run uses a
//! stream of its own and deletes it. Bounded: 20 000 events, 120 s per stage.
//!
//! `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run --release -p bazaar-bench --bin events`

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_nats::jetstream;
use bazaar_notification::config::EventsConfig as ConsumerConfig;
use bazaar_observe::Metrics;
use bazaar_order::{config::EventsConfig, metrics::OrderMetrics, store::sql::SqlOrderStore};
use bazaar_proto::{common::v1::Money, order::v1 as pb};
use bazaar_runtime::{
    auth::{AuthConfig, TokenSigner},
    db::{Backend, Database, now_micros, timestamp},
    server::ServerConfig,
    telemetry::{self, TelemetryConfig},
    testing::{Spawned, TestDatabase, mesh},
};
use prost::Message;
use tokio::sync::watch;

const EVENTS: usize = 20_000;
const STAGE_LIMIT: Duration = Duration::from_secs(120);

fn nats_url() -> String {
    std::env::var("BENCH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// An OrderConfirmed of two lines, as the saga writes one.
fn confirmed(event_id: &str, order_id: &str, customer: &str) -> Vec<u8> {
    let money = |amount_minor| Money {
        currency_code: "EUR".into(),
        amount_minor,
    };
    let item = |quantity| pb::EventItem {
        product_id: bazaar_domain::id::Uuid::now_v7().to_string(),
        quantity,
        product_name: "Bench item".into(),
        unit_price: Some(money(1250)),
    };
    pb::OrderConfirmed {
        metadata: Some(pb::EventMetadata {
            event_id: event_id.to_owned(),
            order_id: order_id.to_owned(),
            customer_id: customer.to_owned(),
            occur_time: Some(timestamp(now_micros())),
            schema_version: 1,
        }),
        items: vec![item(1), item(2)],
        total: Some(money(3750)),
        payment_id: bazaar_domain::id::Uuid::now_v7().to_string(),
    }
    .encode_to_vec()
}

/// Writes `EVENTS` pending outbox rows, 500 per transaction.
async fn fill_outbox(db: &Database, prefix: &str) -> anyhow::Result<()> {
    let subject = format!("{prefix}.OrderConfirmed");
    for chunk in 0..EVENTS.div_ceil(500) {
        let mut tx = db.begin_write().await?;
        for i in chunk * 500..((chunk + 1) * 500).min(EVENTS) {
            let event_id = bazaar_domain::id::Uuid::now_v7().to_string();
            let order_id = bazaar_domain::id::Uuid::now_v7().to_string();
            let payload = confirmed(&event_id, &order_id, &format!("customer-{}", i % 64));
            sqlx::query(
                "INSERT INTO order_outbox (event_id, order_id, subject, payload, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&event_id)
            .bind(&order_id)
            .bind(&subject)
            .bind(payload)
            .bind(now_micros())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Polls `done` every 10 ms until it holds; the time it took.
async fn time_until<F, Fut>(started: Instant, mut done: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    loop {
        if done().await? {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < STAGE_LIMIT,
            "not done within {STAGE_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn run(backend: Backend, js: &jetstream::Context) -> anyhow::Result<(f64, f64)> {
    let id = bazaar_domain::id::Uuid::now_v7().simple().to_string();
    let events = EventsConfig {
        nats_url: Some(nats_url()),
        stream: format!("BENCH_{id}"),
        subject_prefix: format!("bench.{id}.bazaar.order.v1"),
        ..EventsConfig::default()
    };
    let order_database = TestDatabase::create(backend).await;
    let db =
        Database::connect(&order_database.config, bazaar_order::store::sql::MIGRATIONS).await?;
    fill_outbox(&db, &events.subject_prefix).await?;
    let store = Arc::new(SqlOrderStore::new(db.clone()).with_outbox(true));

    // The relay, as the order service runs it, from a full outbox.
    let (stop, stopped) = watch::channel(false);
    let metrics = OrderMetrics::register(&Metrics::new());
    let started = Instant::now();
    let relay = tokio::spawn(bazaar_order::relay::run(
        Arc::clone(&store),
        events.clone(),
        metrics,
        stopped,
    ));
    let relayed = time_until(started, || {
        let store = Arc::clone(&store);
        async move { Ok(store.pending_count().await? == 0) }
    })
    .await?;
    let _ = stop.send(true);
    relay.await?;

    // The notification service, from a full stream.
    let notification_database = TestDatabase::create(backend).await;
    let signer = TokenSigner::generate(&AuthConfig::default())?;
    let mut config = bazaar_notification::Config::default();
    config.shared.server = ServerConfig::default();
    config.shared.database = notification_database.config.clone();
    config.shared.mesh = mesh().config();
    config.shared.auth = AuthConfig {
        jwks_url: None,
        keys: vec![signer.jwk().clone()],
        ..AuthConfig::default()
    };
    config.settings.events = ConsumerConfig {
        nats_url: Some(nats_url()),
        stream: events.stream.clone(),
        subject_prefix: events.subject_prefix.clone(),
        consumer: format!("bench_{id}"),
        dead_letter_subject: format!("bench.{id}.dead_letter"),
        dead_letter_stream: format!("BENCH_DEAD_{id}"),
        ..ConsumerConfig::default()
    };
    let notifications = Database::connect(
        &notification_database.config,
        bazaar_notification::store::MIGRATIONS,
    )
    .await?;
    let started = Instant::now();
    let service = Spawned::start_in_mesh("notification", |l, s| {
        bazaar_notification::run(config, l, s)
    })
    .await;
    let consumed = time_until(started, || {
        let pool = notifications.pool().clone();
        async move {
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notifications")
                .fetch_one(&pool)
                .await?;
            Ok(usize::try_from(count)? >= EVENTS)
        }
    })
    .await?;
    service.stop().await.map_err(anyhow::Error::msg)?;
    js.delete_stream(&events.stream).await?;
    js.delete_stream(format!("BENCH_DEAD_{id}")).await?;
    let rate = |elapsed: Duration| EVENTS as f64 / elapsed.as_secs_f64();
    Ok((rate(relayed), rate(consumed)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init(
        "bench",
        &TelemetryConfig {
            log_filter: "warn".into(),
            ..TelemetryConfig::default()
        },
    )?;
    let js = jetstream::new(async_nats::connect(nats_url()).await?);
    println!(
        "| backend | relay: outbox → JetStream (events/s) | notification: JetStream → notifications (events/s) |"
    );
    println!("|---|---|---|");
    for backend in bazaar_runtime::testing::backends() {
        let (relayed, consumed) = run(backend, &js).await?;
        println!("| {backend:?} | {relayed:.0} | {consumed:.0} |");
    }
    println!("\n{EVENTS} events each (OrderConfirmed of two lines).");
    Ok(())
}
