//! Checkout throughput: PlaceOrder end to end (order → product reserve →
//! payment charge → product commit), all three services in this process on
//! loopback, each on its own database. PostgreSQL when `TEST_DATABASE_URL`
//! (or `BENCH_DATABASE_URL`) names a server, else SQLite. Bounded.
//!
//! `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run --release -p bazaar-bench --bin checkout`
//!
//! With `BENCH_EVENTS=nats://127.0.0.1:4222`, a second order service on its
//! own database publishes its order events there (a stream of its own,
//! deleted after), and rounds alternate between the two, 10 s each: the
//! cost of the outbox and its relay per checkout, in one run.

use std::{sync::Arc, time::Duration};

use bazaar_bench::{TABLE_HEADER, closed_loop};
use bazaar_mesh::MeshChannel;
use bazaar_order::config::EventsConfig;
use bazaar_proto::{
    common::v1::Money,
    order::v1::{
        OrderStatus, PaymentMethod, PlaceOrderRequest, order_service_client::OrderServiceClient,
        payment_method::Method, place_order_request::LineItem,
    },
    payment::v1::Card,
    product::v1::{CreateProductRequest, Product, product_service_client::ProductServiceClient},
};
use bazaar_runtime::{
    auth::{AuthConfig, Role, TokenSigner},
    client::ClientConfig,
    db::Backend,
    server::ServerConfig,
    service::ServiceConfig,
    telemetry::{self, TelemetryConfig},
    testing::{Spawned, TestDatabase, mesh},
};
use tonic::Request;

const CONCURRENCY: usize = 64;
const MAX_ORDERS: u64 = 30_000;
const RUN_TIME: Duration = Duration::from_secs(20);
const PRODUCTS: usize = 50;

fn authorized<T>(message: T, token: &str) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
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
    if std::env::var("TEST_DATABASE_URL").is_err()
        && let Ok(url) = std::env::var("BENCH_DATABASE_URL")
    {
        // SAFETY: set before any other thread reads the environment.
        unsafe { std::env::set_var("TEST_DATABASE_URL", url) };
    }
    let backend = *bazaar_runtime::testing::backends()
        .last()
        .unwrap_or(&Backend::Sqlite);
    let signer = TokenSigner::generate(&AuthConfig::default())?;
    let trust = AuthConfig {
        jwks_url: None,
        keys: vec![signer.jwk().clone()],
        ..AuthConfig::default()
    };
    let databases = [
        TestDatabase::create(backend).await,
        TestDatabase::create(backend).await,
        TestDatabase::create(backend).await,
        TestDatabase::create(backend).await,
    ];
    let events_url = std::env::var("BENCH_EVENTS").ok();
    // Every service on port 0, its own database, trusting the bench's key.
    let shared = |workload: &'static str, database: &TestDatabase| ServiceConfig {
        workload,
        server: ServerConfig::default(),
        database: database.config.clone(),
        auth: trust.clone(),
        mesh: mesh().config(),
        ..ServiceConfig::new("bench", 0)
    };
    let product = {
        let mut config = bazaar_product::config::Config {
            shared: shared("product", &databases[0]),
            ..Default::default()
        };
        config.settings.seed_catalog = false;
        Spawned::start_in_mesh("product", |l, s| bazaar_product::run(config, l, s)).await
    };
    let payment = {
        let config = bazaar_payment::config::Config {
            shared: shared("payment", &databases[1]),
            ..Default::default()
        };
        Spawned::start_in_mesh("payment", |l, s| bazaar_payment::run(config, l, s)).await
    };
    let start_order = |database: &TestDatabase, events: EventsConfig| {
        let mut config = bazaar_order::config::Config {
            shared: shared("order", database),
            ..Default::default()
        };
        config.settings.product = ClientConfig::for_url(product.url());
        config.settings.payment = ClientConfig::for_url(payment.url());
        config.settings.events = events;
        Spawned::start_in_mesh("order", |l, s| bazaar_order::run(config, l, s))
    };
    let order = start_order(&databases[2], EventsConfig::default()).await;
    let publishing = match &events_url {
        Some(url) => {
            let id = bazaar_domain::id::Uuid::now_v7().simple().to_string();
            let events = EventsConfig {
                nats_url: Some(url.clone()),
                stream: format!("BENCH_{id}"),
                subject_prefix: format!("bench.{id}.bazaar.order.v1"),
                ..EventsConfig::default()
            };
            let stream = events.stream.clone();
            Some((start_order(&databases[3], events).await, stream))
        }
        None => None,
    };

    let (admin, _) = signer.issue("admin", &[Role::Admin], Duration::from_secs(3600))?;
    let mut catalog = ProductServiceClient::new(product.channel_as("gateway"));
    let mut ids = Vec::new();
    for i in 0..PRODUCTS {
        let created = catalog
            .create_product(authorized(
                CreateProductRequest {
                    product: Some(Product {
                        sku: format!("BENCH-{i}"),
                        name: format!("Bench item {i}"),
                        category: "bench".into(),
                        price: Some(Money {
                            currency_code: "EUR".into(),
                            amount_minor: 100 + i as i64,
                        }),
                        stock: 100_000_000,
                        ..Product::default()
                    }),
                },
                &admin,
            )?)
            .await?
            .into_inner()
            .product
            .ok_or_else(|| anyhow::anyhow!("no product"))?;
        ids.push(created.id);
    }
    let ids = Arc::new(ids);
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..CONCURRENCY)
            .map(|i| {
                signer
                    .issue(
                        &format!("customer-{i}"),
                        &[Role::Customer],
                        Duration::from_secs(3600),
                    )
                    .map(|(t, _)| t)
            })
            .collect::<Result<_, _>>()?,
    );
    let channels_to = |order: &Spawned| {
        Arc::new(
            (0..4)
                .map(|_| order.channel_as("gateway"))
                .collect::<Vec<_>>(),
        )
    };
    let plain = channels_to(&order);

    let run = |channels: &Arc<Vec<MeshChannel>>, max: u64, time: Duration, round: String| {
        let (ids, tokens, channels) = (Arc::clone(&ids), Arc::clone(&tokens), Arc::clone(channels));
        closed_loop(CONCURRENCY, max, time, move |n| {
            let first = &ids[(n as usize) % PRODUCTS];
            let second = &ids[(n as usize * 7 + 1) % PRODUCTS];
            let mut items = vec![LineItem {
                product_id: first.clone(),
                quantity: 1,
            }];
            if first != second {
                items.push(LineItem {
                    product_id: second.clone(),
                    quantity: 2,
                });
            }
            let message = PlaceOrderRequest {
                idempotency_key: format!("{round}-{n}"),
                items,
                payment_method: Some(PaymentMethod {
                    method: Some(Method::Card(Card {
                        number: "4242424242424242".into(),
                        exp_month: 12,
                        exp_year: 2099,
                        cvc: "123".into(),
                        holder_name: "Bench".into(),
                    })),
                }),
            };
            let request = authorized(message, &tokens[(n as usize) % tokens.len()]);
            let channel = channels[(n % 4) as usize].clone();
            async move {
                let Ok(request) = request else { return false };
                match OrderServiceClient::new(channel).place_order(request).await {
                    Ok(response) => response
                        .into_inner()
                        .order
                        .is_some_and(|o| o.status() == OrderStatus::Confirmed),
                    Err(_) => false,
                }
            }
        })
    };
    run(&plain, 2_000, Duration::from_secs(3), "warmup".into()).await;
    let Some((with_events, stream)) = publishing else {
        let report = run(&plain, MAX_ORDERS, RUN_TIME, "run".into()).await;
        println!("PlaceOrder on {backend:?}, {CONCURRENCY} in flight, each order 1-2 lines\n");
        println!("{TABLE_HEADER}");
        println!("{}", report.line("checkout (confirmed orders)"));
        drop((order, payment, product));
        return Ok(());
    };
    let evented = channels_to(&with_events);
    run(
        &evented,
        2_000,
        Duration::from_secs(3),
        "warmup-events".into(),
    )
    .await;
    let mut lines = Vec::new();
    for round in 1..=2 {
        let report = run(
            &plain,
            MAX_ORDERS,
            Duration::from_secs(10),
            format!("plain-{round}"),
        )
        .await;
        lines.push(report.line(&format!("round {round}: events off")));
        let report = run(
            &evented,
            MAX_ORDERS,
            Duration::from_secs(10),
            format!("events-{round}"),
        )
        .await;
        lines.push(report.line(&format!(
            "round {round}: events on (outbox + relay to NATS)"
        )));
    }
    println!(
        "PlaceOrder on {backend:?}, {CONCURRENCY} in flight, each order 1-2 lines, events off and on alternately\n"
    );
    println!("{TABLE_HEADER}");
    for line in lines {
        println!("{line}");
    }
    drop((order, with_events, payment, product));
    if let Some(url) = events_url {
        let js = async_nats::jetstream::new(async_nats::connect(url).await?);
        js.delete_stream(&stream).await?;
    }
    Ok(())
}
