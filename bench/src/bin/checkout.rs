//! Checkout throughput: PlaceOrder end to end (order → product reserve →
//! payment charge → product commit), all three services in this process on
//! loopback, each on its own database. PostgreSQL when `TEST_DATABASE_URL`
//! (or `BENCH_DATABASE_URL`) names a server, else SQLite. Bounded.
//!
//! `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run --release -p bazaar-bench --bin checkout`
//!
//! When a PostgreSQL server is known, pgbench's TPC-B runs on it first (a
//! scratch database, dropped after), and checkout is reported as a ratio of
//! its transactions/s: the database's own limit in the same run.
//! `BENCH_BACKEND=sqlite` puts the services on SQLite all the same;
//! `BENCH_POOL=<n>` sizes every service's pool. After
//! the timed rounds, a census of 200 orders placed one at a time counts the
//! statements and commits each service sends its database per order (and,
//! on PostgreSQL, each database's `xact_commit`), and the order service's
//! `bazaar_saga_step_duration_seconds` gives the mean time of each step.
//! `BENCH_CENSUS_ONLY=<orders>` skips pgbench and the timed rounds: a
//! warm-up, that many orders one at a time and a short census, for
//! instruction counts under `valgrind --tool=callgrind` (the difference of
//! two sizes is per order).
//!
//! With `BENCH_EVENTS=nats://127.0.0.1:4222`, a second order service on its
//! own database publishes its order events there (a stream of its own,
//! deleted after), and rounds alternate between the two, 10 s each: the
//! cost of the outbox and its relay per checkout, in one run.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use bazaar_bench::{
    Report, TABLE_HEADER,
    census::{self, Census},
    closed_loop, cpu, pgbench,
};
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
    db::{Backend, DatabaseConfig},
    server::ServerConfig,
    service::ServiceConfig,
    testing::{Spawned, TestDatabase, free_addr, mesh, scrape},
};
use sqlx::{Connection as _, PgConnection};
use tonic::Request;
use tracing_subscriber::{EnvFilter, prelude::*};

const CONCURRENCY: usize = 64;
const MAX_ORDERS: u64 = 30_000;
const RUN_TIME: Duration = Duration::from_secs(20);
const PRODUCTS: usize = 50;
/// Orders the census places, one at a time.
const CENSUS_ORDERS: u64 = 200;

fn authorized<T>(message: T, token: &str) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Warnings to stdout as the services log them, and the census, idle
    // until switched on.
    let census = Census::default();
    let (census_layer, census_switch) = census.layer();
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        ))
        .with(census_layer)
        .try_init()?;
    if std::env::var("TEST_DATABASE_URL").is_err()
        && let Ok(url) = std::env::var("BENCH_DATABASE_URL")
    {
        // SAFETY: set before any other thread reads the environment.
        unsafe { std::env::set_var("TEST_DATABASE_URL", url) };
    }
    let postgres = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"));
    let backend = match std::env::var("BENCH_BACKEND").as_deref() {
        Ok("sqlite") => Backend::Sqlite,
        _ => *bazaar_runtime::testing::backends()
            .last()
            .unwrap_or(&Backend::Sqlite),
    };
    // First, alone on the machine's share of it, the database's own limit.
    let census_only: Option<u64> = std::env::var("BENCH_CENSUS_ONLY")
        .ok()
        .map(|n| n.parse())
        .transpose()?;
    let tps = match &postgres {
        Some(url) if census_only.is_none() => Some(pgbench::tpc_b(url).await?),
        _ => None,
    };
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
    // `BENCH_POOL`: each service's pool size, instead of the default.
    let pool: Option<u32> = std::env::var("BENCH_POOL")
        .ok()
        .map(|n| n.parse())
        .transpose()?;
    // Every service on port 0, its own database, trusting the bench's key.
    let shared = |workload: &'static str, database: &TestDatabase| ServiceConfig {
        workload,
        server: ServerConfig::default(),
        database: DatabaseConfig {
            max_connections: pool.unwrap_or(database.config.max_connections),
            ..database.config.clone()
        },
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
    let admin = free_addr();
    let start_order = |database: &TestDatabase, events: EventsConfig| {
        let mut config = bazaar_order::config::Config {
            shared: shared("order", database),
            ..Default::default()
        };
        // Only the plain service's steps are read: the evented one has none.
        if events.nats_url.is_none() {
            config.shared.server.admin_listen = Some(admin);
        }
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

    let (admin_token, _) = signer.issue("admin", &[Role::Admin], Duration::from_secs(3600))?;
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
                &admin_token,
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

    let run_with = |concurrency: usize,
                    channels: &Arc<Vec<MeshChannel>>,
                    max: u64,
                    time: Duration,
                    round: String| {
        let (ids, tokens, channels) = (Arc::clone(&ids), Arc::clone(&tokens), Arc::clone(channels));
        closed_loop(concurrency, max, time, move |n| {
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
    let run = |channels: &Arc<Vec<MeshChannel>>, max: u64, time: Duration, round: String| {
        run_with(CONCURRENCY, channels, max, time, round)
    };
    let database_names: Vec<(&str, String)> = [("product", 0), ("payment", 1), ("order", 2)]
        .into_iter()
        .map(|(service, i)| (service, database_name(&databases[i].config.url)))
        .collect();
    // The census: one order at a time, so a service's statements can be
    // told to be in a transaction or not.
    let count_per_order = || async {
        let before = match &postgres {
            Some(url) if backend == Backend::Postgres => {
                Some(xact_commits(url, &database_names).await?)
            }
            _ => None,
        };
        census_switch.on()?;
        let counted = run_with(
            1,
            &plain,
            if census_only.is_some() {
                20
            } else {
                CENSUS_ORDERS
            },
            Duration::from_secs(600),
            "census".into(),
        )
        .await;
        census_switch.off()?;
        let tallies = census.take();
        let after = match &postgres {
            Some(url) if backend == Backend::Postgres => {
                Some(xact_commits(url, &database_names).await?)
            }
            _ => None,
        };
        let xacts = before.zip(after).map(|(before, after)| {
            database_names
                .iter()
                .map(|(service, name)| {
                    let delta = after.get(name).copied().unwrap_or(0)
                        - before.get(name).copied().unwrap_or(0);
                    (*service, delta)
                })
                .collect::<Vec<_>>()
        });
        anyhow::Ok(census_report(backend, &counted, &tallies, xacts.as_deref()))
    };
    if let Some(orders) = census_only {
        // Every statement prepared on the connections first, as in a run;
        // then the orders to count instructions over, census off (it costs
        // instructions of its own); then a short census.
        run_with(1, &plain, 200, Duration::from_secs(600), "warmup".into()).await;
        let counted = run_with(
            1,
            &plain,
            orders,
            Duration::from_secs(600),
            "counted".into(),
        )
        .await;
        println!(
            "{orders} orders one at a time: {} not confirmed",
            counted.errors
        );
        println!("{}", count_per_order().await?);
        return Ok(());
    }
    run(&plain, 2_000, Duration::from_secs(3), "warmup".into()).await;
    let pg_cpu = || async {
        match &postgres {
            Some(url) if backend == Backend::Postgres => backend_ticks(url, &database_names).await,
            _ => Ok(BTreeMap::new()),
        }
    };
    let Some((with_events, stream)) = publishing else {
        let (own_before, pg_before) = (cpu::own_ticks(), pg_cpu().await?);
        let report = run(&plain, MAX_ORDERS, RUN_TIME, "run".into()).await;
        let (own_after, pg_after) = (cpu::own_ticks(), pg_cpu().await?);
        let cpu = cpu_report(
            report.requests,
            own_after.saturating_sub(own_before),
            ticks_spent(&pg_before, &pg_after),
        );
        let steps = step_means(&scrape(admin).await);
        let counts = count_per_order().await?;
        println!("PlaceOrder on {backend:?}, {CONCURRENCY} in flight, each order 1-2 lines\n");
        println!("{TABLE_HEADER}");
        println!("{}", report.line("checkout (confirmed orders)"));
        println!();
        print_against_pgbench(tps, &[("checkout", &report)]);
        println!("{cpu}");
        println!("{steps}");
        println!("{counts}");
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
    let mut reports = Vec::new();
    for round in 1..=2 {
        let report = run(
            &plain,
            MAX_ORDERS,
            Duration::from_secs(10),
            format!("plain-{round}"),
        )
        .await;
        lines.push(report.line(&format!("round {round}: events off")));
        reports.push((format!("round {round}, events off"), report));
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
        reports.push((format!("round {round}, events on"), report));
    }
    let steps = step_means(&scrape(admin).await);
    let counts = count_per_order().await?;
    println!(
        "PlaceOrder on {backend:?}, {CONCURRENCY} in flight, each order 1-2 lines, events off and on alternately\n"
    );
    println!("{TABLE_HEADER}");
    for line in lines {
        println!("{line}");
    }
    println!();
    let named: Vec<(&str, &Report)> = reports.iter().map(|(n, r)| (n.as_str(), r)).collect();
    print_against_pgbench(tps, &named);
    println!("events off: {steps}");
    println!("events off, {counts}");
    drop((order, with_events, payment, product));
    if let Some(url) = events_url {
        let js = async_nats::jetstream::new(async_nats::connect(url).await?);
        js.delete_stream(&stream).await?;
    }
    Ok(())
}

/// The database name at the end of a URL.
fn database_name(url: &str) -> String {
    let path = url.rsplit('/').next().unwrap_or_default();
    path.split('?').next().unwrap_or_default().to_owned()
}

/// Every database's `xact_commit` on the server, once the backends have
/// flushed their counts (an idle backend flushes within a second, or 10 s
/// later when its flush met contention): past those 10 s, read until three
/// reads a second apart agree on `names`, for at most 15 s more.
async fn xact_commits(
    admin_url: &str,
    names: &[(&str, String)],
) -> anyhow::Result<BTreeMap<String, i64>> {
    let mut conn = PgConnection::connect(admin_url).await?;
    let (mut last, mut same) = (BTreeMap::new(), 0);
    tokio::time::sleep(Duration::from_secs(10)).await;
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        // A fresh snapshot each read (stats_fetch_consistency caches them
        // per transaction).
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT datname::text, xact_commit FROM pg_stat_database WHERE datname IS NOT NULL",
        )
        .fetch_all(&mut conn)
        .await?;
        let now: BTreeMap<String, i64> = rows
            .into_iter()
            .filter(|(name, _)| names.iter().any(|(_, ours)| ours == name))
            .collect();
        same = if now == last { same + 1 } else { 0 };
        if same == 2 {
            break;
        }
        last = now;
    }
    conn.close().await?;
    Ok(last)
}

fn print_against_pgbench(tps: Option<f64>, reports: &[(&str, &Report)]) {
    let Some(tps) = tps else {
        println!("(no PostgreSQL server: pgbench not run)");
        return;
    };
    println!("{}: {tps:.0} transactions/s", pgbench::describe());
    for (name, report) in reports {
        println!(
            "{name}: {:.0} orders/s = {:.2}x pgbench, p99 {:.1} ms",
            report.per_second(),
            report.per_second() / tps,
            report.p99.as_secs_f64() * 1e3
        );
    }
}

/// The mean time of each saga step over the timed rounds, from the
/// histogram's sums and counts.
fn step_means(metrics: &str) -> String {
    let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix("bazaar_saga_step_duration_seconds_") else {
            continue;
        };
        let (kind, rest) = match rest.split_once('{') {
            Some((kind @ ("sum" | "count"), rest)) => (kind, rest),
            _ => continue,
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let entry = sums.entry(labels.to_owned()).or_default();
        if kind == "sum" {
            entry.0 += value;
        } else {
            entry.1 += value;
        }
    }
    let steps: Vec<String> = sums
        .iter()
        .filter(|(_, (_, count))| *count > 0.0)
        .map(|(labels, (sum, count))| format!("{labels}: {:.2} ms", sum / count * 1e3))
        .collect();
    format!("saga step means: {}", steps.join("; "))
}

/// Statements and commits per order, by service.
fn census_report(
    backend: Backend,
    counted: &Report,
    tallies: &BTreeMap<String, census::Tally>,
    xacts: Option<&[(&str, i64)]>,
) -> String {
    let orders = counted.requests.max(1) as f64;
    let logged = backend == Backend::Postgres;
    let mut out = format!(
        "census: {} orders one at a time ({} not confirmed), per order:\n\n\
         | service | statements (round trips) | transactions | commits |\n|---|---|---|---|\n",
        counted.requests, counted.errors
    );
    let per = |n: u64| n as f64 / orders;
    let commits = |n: u64| {
        if logged {
            format!("{:.2}", per(n))
        } else {
            "not logged".to_owned()
        }
    };
    let mut all = census::Tally::default();
    for (service, tally) in tallies {
        if service != census::BACKGROUND {
            all.statements += tally.statements;
            all.transactions += tally.transactions;
            all.commits += tally.commits;
        }
        out.push_str(&format!(
            "| {service} | {:.2} | {:.2} | {} |\n",
            per(tally.round_trips(logged)),
            per(tally.transactions),
            commits(tally.commits)
        ));
    }
    out.push_str(&format!(
        "| all requests | {:.2} | {:.2} | {} |\n",
        per(all.round_trips(logged)),
        per(all.transactions),
        commits(all.commits)
    ));
    if let Some(xacts) = xacts {
        let per: Vec<String> = xacts
            .iter()
            .map(|(service, n)| format!("{service} {:.2}", *n as f64 / orders))
            .collect();
        let total: i64 = xacts.iter().map(|(_, n)| n).sum();
        out.push_str(&format!(
            "\nPostgreSQL xact_commit per order (background included): {}; all {:.2}\n",
            per.join(", "),
            total as f64 / orders
        ));
    }
    out
}

/// CPU ticks so far of each PostgreSQL backend serving `names`, by pid.
async fn backend_ticks(
    admin_url: &str,
    names: &[(&str, String)],
) -> anyhow::Result<BTreeMap<i32, u64>> {
    let mut conn = PgConnection::connect(admin_url).await?;
    let names: Vec<String> = names.iter().map(|(_, name)| name.clone()).collect();
    let pids: Vec<(i32,)> =
        sqlx::query_as("SELECT pid FROM pg_stat_activity WHERE datname = ANY($1)")
            .bind(&names)
            .fetch_all(&mut conn)
            .await?;
    conn.close().await?;
    Ok(pids
        .into_iter()
        .filter_map(|(pid,)| Some((pid, cpu::ticks_of(u32::try_from(pid).ok()?)?)))
        .collect())
}

/// Ticks the backends spent between two readings; one that appeared in
/// between counts from zero, one that left is lost (the pools keep theirs).
fn ticks_spent(before: &BTreeMap<i32, u64>, after: &BTreeMap<i32, u64>) -> u64 {
    after
        .iter()
        .map(|(pid, ticks)| ticks.saturating_sub(before.get(pid).copied().unwrap_or(0)))
        .sum()
}

fn cpu_report(orders: u64, own: u64, postgres: u64) -> String {
    let ms = |ticks: u64| ticks as f64 / cpu::TICKS_PER_SECOND * 1e3 / orders.max(1) as f64;
    format!(
        "CPU per order: this process (client and the three services) {:.2} ms, \
         PostgreSQL backends {:.2} ms, together {:.2} ms",
        ms(own),
        ms(postgres),
        ms(own + postgres)
    )
}
