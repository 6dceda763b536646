//! Checkout under chaos: the real release binaries (user, product, payment,
//! order) started the way `make run` starts them, 16 customers placing
//! retried orders with random short client deadlines and the slow card,
//! while order, product or payment is kill -9'd and restarted every 2–5 s.
//! Then the kills stop and the run checks that every order is terminal,
//! stock = initial − confirmed quantities, and money captured = confirmed
//! totals. Loopback only, bounded in time and count; exits non-zero when a
//! check fails.
//!
//! `cargo build --release -p bazaar-user -p bazaar-product -p bazaar-payment -p bazaar-order --bins`
//! `cargo run --release -p bazaar-bench --bin chaos [-- --postgres postgres://postgres@127.0.0.1:5432]`

use std::{
    collections::{BTreeMap, HashMap},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use bazaar_devstack::{Databases, Service, Stack, ready};
use bazaar_mesh::MeshChannel;
use bazaar_proto::{
    common::v1::Money,
    order::v1::{
        ListOrdersRequest, Order, OrderStatus, PaymentMethod, PlaceOrderRequest,
        order_service_client::OrderServiceClient, payment_method::Method,
        place_order_request::LineItem,
    },
    payment::v1::{
        Card, LookupPaymentRequest, PaymentStatus, payment_service_client::PaymentServiceClient,
    },
    product::v1::{
        CreateProductRequest, GetProductRequest, Product,
        product_service_client::ProductServiceClient,
    },
    user::v1::{LoginRequest, RegisterRequest, user_service_client::UserServiceClient},
};
use tonic::{Code, Request};

const CLIENTS: usize = 16;
const LOAD_TIME: Duration = Duration::from_secs(45);
const MAX_ORDERS: u64 = 3_000;
/// How long the kills-free tail may take to bring every order to an end.
const SETTLE_TIME: Duration = Duration::from_secs(60);
/// A restarted binary must be SERVING within this.
const READY_TIME: Duration = Duration::from_secs(30);
const PRODUCTS: usize = 5;
const INITIAL_STOCK: i64 = 400;
const APPROVED: &str = "4242424242424242";
const SLOW: &str = "4000000000003220";
const DECLINED: &str = "4000000000000002";
const VICTIMS: [Service; 3] = [Service::Order, Service::Product, Service::Payment];

/// A small xorshift generator: the run needs variety, not cryptography.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn seeded(salt: u64) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self((nanos ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `low..=high`.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn authorized<T>(message: T, token: &str) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `url`'s scheme and authority (`postgres://user@host:port`).
fn server_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    format!("{scheme}://{authority}")
}

/// The running binaries and how to restart them.
struct Processes {
    stack: Stack,
    bin_dir: PathBuf,
    logs: PathBuf,
    children: HashMap<Service, Child>,
}

impl Processes {
    fn spawn(&mut self, service: Service) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{}.log", service.name())))?;
        let child = self
            .stack
            .command(service, &self.bin_dir)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {}", service.binary()))?;
        self.children.insert(service, child);
        Ok(())
    }

    async fn wait_ready(&self, service: Service) -> anyhow::Result<()> {
        let until = Instant::now() + READY_TIME;
        while !ready::check(&self.stack, service).await {
            anyhow::ensure!(
                Instant::now() < until,
                "{} not SERVING within {READY_TIME:?} (log in {})",
                service.name(),
                self.logs.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// kill -9, reaped, then started again on the same port and database.
    async fn kill_and_restart(&mut self, service: Service) -> anyhow::Result<()> {
        if let Some(mut child) = self.children.remove(&service) {
            // SIGKILL: no shutdown hook runs, the way a crash looks.
            let _ = child.kill();
            let _ = child.wait();
        }
        self.spawn(service)?;
        self.wait_ready(service).await
    }

    fn stop_all(&mut self) {
        for child in self.children.values() {
            bazaar_devstack::process::terminate(child.id());
        }
        for (_, mut child) in self.children.drain() {
            let _ = child.wait();
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.stop_all();
    }
}

#[derive(Default)]
struct Tally {
    /// PlaceOrder attempts by answer (`OK` or the gRPC code).
    answers: Mutex<BTreeMap<String, u64>>,
    /// Orders that got an answer carrying an order, by id.
    answered: Mutex<Vec<String>>,
    /// Orders that never got an answer before the retry bound.
    unanswered: AtomicU64,
    placed: AtomicU64,
}

impl Tally {
    fn count(&self, answer: String) {
        if let Ok(mut answers) = self.answers.lock() {
            *answers.entry(answer).or_default() += 1;
        }
    }
}

/// Whether a PlaceOrder failure is one to retry with the same key.
fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::Internal
            | Code::Aborted
            | Code::ResourceExhausted
    )
}

struct Customer {
    token: String,
    channel: MeshChannel,
    products: Arc<Vec<String>>,
    tally: Arc<Tally>,
    load_until: Instant,
    retry_until: Instant,
    rng: Rng,
    name: usize,
}

impl Customer {
    async fn run(mut self) {
        let mut n = 0u64;
        while Instant::now() < self.load_until {
            if self.tally.placed.fetch_add(1, Ordering::Relaxed) >= MAX_ORDERS {
                break;
            }
            n += 1;
            let key = format!("chaos-{}-{n}-{:x}", self.name, self.rng.next());
            self.place(&key).await;
        }
    }

    async fn place(&mut self, key: &str) {
        let first = self.rng.range(0, PRODUCTS as u64 - 1) as usize;
        let mut items = vec![LineItem {
            product_id: self.products[first].clone(),
            quantity: self.rng.range(1, 2) as i32,
        }];
        if self.rng.chance(50) {
            let second = (first + self.rng.range(1, PRODUCTS as u64 - 1) as usize) % PRODUCTS;
            items.push(LineItem {
                product_id: self.products[second].clone(),
                quantity: self.rng.range(1, 2) as i32,
            });
        }
        let card = match self.rng.next() % 100 {
            0..20 => SLOW,
            20..25 => DECLINED,
            _ => APPROVED,
        };
        let message = PlaceOrderRequest {
            idempotency_key: key.to_owned(),
            items,
            payment_method: Some(PaymentMethod {
                method: Some(Method::Card(Card {
                    number: card.into(),
                    exp_month: 12,
                    exp_year: 2099,
                    cvc: "123".into(),
                    holder_name: "Chaos".into(),
                })),
            }),
        };
        // The same key, every attempt, until an answer.
        while Instant::now() < self.retry_until {
            let Ok(mut request) = authorized(message.clone(), &self.token) else {
                return;
            };
            // A third of the attempts give up early: 1 ms – 2 s.
            let deadline = if self.rng.chance(33) {
                Duration::from_millis(self.rng.range(1, 2_000))
            } else {
                Duration::from_secs(20)
            };
            request.set_timeout(deadline);
            let mut client = OrderServiceClient::new(self.channel.clone());
            // Dropping the call at the deadline is a client going away.
            let outcome = tokio::time::timeout(deadline, client.place_order(request)).await;
            match outcome {
                Ok(Ok(response)) => {
                    self.tally.count("OK".into());
                    if let Some(order) = response.into_inner().order
                        && let Ok(mut answered) = self.tally.answered.lock()
                    {
                        answered.push(order.id);
                    }
                    return;
                }
                Ok(Err(status)) => {
                    self.tally.count(format!("{:?}", status.code()));
                    if !retryable(status.code()) {
                        return;
                    }
                }
                Err(_) => self.tally.count("client deadline".into()),
            }
            tokio::time::sleep(Duration::from_millis(self.rng.range(20, 200))).await;
        }
        self.tally.unanswered.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // Children die with the thread that spawned them: on a current-thread
    // runtime that is the main thread, which outlives the whole run.
    let mut args = std::env::args().skip(1);
    let mut postgres = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--postgres" => postgres = Some(args.next().context("--postgres needs a URL")?),
            other => anyhow::bail!("unknown argument {other} (only --postgres URL)"),
        }
    }
    let dir = tempfile::tempdir()?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from);
    let bin_dir = target.join("release");
    for service in Service::GRPC {
        let binary = bin_dir.join(service.binary());
        anyhow::ensure!(
            binary.is_file(),
            "{} is missing: cargo build --release -p {} --bins",
            binary.display(),
            service.binary()
        );
    }

    let mut stack = Stack::local(dir.path());
    stack.gateway = false;
    for service in Service::GRPC {
        stack.ports.set(service, free_port()?);
    }
    let mut rng = Rng::seeded(std::process::id() as u64);
    let mut created_databases = Vec::new();
    if let Some(url) = &postgres {
        let server = server_of(url);
        let suffix = format!("{:08x}", rng.next() as u32);
        let mut urls = Vec::new();
        for service in Service::GRPC {
            let name = format!("bazaar_chaos_{}_{suffix}", service.name());
            urls.push((service, format!("{server}/{name}")));
            created_databases.push(name);
        }
        stack.databases = Databases::Explicit(urls);
    }
    stack.ensure_mesh_certs()?;
    let backend = if postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };

    let result = run(&stack, bin_dir, dir.path(), rng).await;
    if let Some(url) = &postgres {
        drop_databases(&server_of(url), &created_databases).await;
    }
    let summary = result?;
    println!("chaos load on {backend}\n\n{}", summary.text);
    if !summary.passed {
        std::process::exit(1);
    }
    Ok(())
}

async fn drop_databases(server: &str, names: &[String]) {
    sqlx::any::install_default_drivers();
    let Ok(pool) = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{server}/postgres"))
        .await
    else {
        eprintln!("cannot connect to {server} to drop {names:?}");
        return;
    };
    for name in names {
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        if let Err(error) = sqlx::raw_sql(&sql).execute(&pool).await {
            eprintln!("cannot drop {name}: {error}");
        }
    }
    pool.close().await;
}

struct Summary {
    text: String,
    passed: bool,
}

async fn run(stack: &Stack, bin_dir: PathBuf, dir: &Path, mut rng: Rng) -> anyhow::Result<Summary> {
    let mut processes = Processes {
        stack: stack.clone(),
        bin_dir,
        logs: dir.to_path_buf(),
        children: HashMap::new(),
    };
    for service in Service::GRPC {
        processes.spawn(service)?;
        processes.wait_ready(service).await?;
    }
    let mesh = stack.mesh_dir();
    let channel = |caller: &str, service: Service| {
        ready::mesh_channel(&mesh, caller, service.name(), stack.addr(service))
    };

    // The dev admin (the launcher's development mode) creates the catalog.
    let mut users = UserServiceClient::new(channel(ready::DEV_CLIENT, Service::User)?);
    let login = |email: String, password: String| LoginRequest { email, password };
    let admin = users
        .login(login(
            "admin@bazaar.local".into(),
            "bazaar-admin-dev".into(),
        ))
        .await
        .context("dev admin login")?
        .into_inner()
        .access_token;
    let mut catalog = ProductServiceClient::new(channel(ready::DEV_CLIENT, Service::Product)?);
    let mut products = Vec::new();
    let mut prices = HashMap::new();
    for i in 0..PRODUCTS {
        let price = 1_000 + 250 * i as i64;
        let created = catalog
            .create_product(authorized(
                CreateProductRequest {
                    product: Some(Product {
                        sku: format!("CHAOS-{i}-{:X}", rng.next() as u32),
                        name: format!("Chaos item {i}"),
                        category: "chaos".into(),
                        price: Some(Money {
                            currency_code: "EUR".into(),
                            amount_minor: price,
                        }),
                        stock: INITIAL_STOCK,
                        ..Product::default()
                    }),
                },
                &admin,
            )?)
            .await?
            .into_inner()
            .product
            .context("no product")?;
        prices.insert(created.id.clone(), price);
        products.push(created.id);
    }
    let products = Arc::new(products);

    let mut tokens = Vec::new();
    for i in 0..CLIENTS {
        let email = format!("chaos-{i}-{:x}@example.com", rng.next() as u32);
        let password = "chaos-password-42".to_owned();
        let register = RegisterRequest {
            email: email.clone(),
            password: password.clone(),
            display_name: format!("Chaos {i}"),
        };
        // Register and login may be throttled per client address: wait it out.
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            match users.register(register.clone()).await {
                Ok(_) => break,
                Err(status)
                    if status.code() == Code::ResourceExhausted && Instant::now() < until =>
                {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(status) => anyhow::bail!("register {email}: {status}"),
            }
        }
        let token = loop {
            match users.login(login(email.clone(), password.clone())).await {
                Ok(response) => break response.into_inner().access_token,
                Err(status)
                    if status.code() == Code::ResourceExhausted && Instant::now() < until =>
                {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(status) => anyhow::bail!("login {email}: {status}"),
            }
        };
        tokens.push(token);
    }

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let load_until = started + LOAD_TIME;
    let mut customers = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let customer = Customer {
            token,
            channel: channel(ready::DEV_CLIENT, Service::Order)?,
            products: Arc::clone(&products),
            tally: Arc::clone(&tally),
            load_until,
            // The last order of the load may retry into the settle phase.
            retry_until: load_until + SETTLE_TIME,
            rng: Rng::seeded(rng.next() ^ i as u64),
            name: i,
        };
        customers.push(tokio::spawn(customer.run()));
    }

    // The killer runs on this (the main) thread, so restarted children are
    // bound to it too.
    let mut kills: BTreeMap<&str, u64> = BTreeMap::new();
    let mut kill_error = None;
    loop {
        let pause = Duration::from_millis(rng.range(2_000, 5_000));
        if Instant::now() + pause >= load_until {
            break;
        }
        tokio::time::sleep(pause).await;
        let victim = VICTIMS[rng.range(0, VICTIMS.len() as u64 - 1) as usize];
        if let Err(error) = processes.kill_and_restart(victim).await {
            kill_error = Some(error);
            break;
        }
        *kills.entry(victim.name()).or_default() += 1;
    }
    for customer in customers {
        let _ = customer.await;
    }
    let load_time = started.elapsed();
    if let Some(error) = kill_error {
        return Err(error);
    }

    // No more kills: every order must reach an end within SETTLE_TIME.
    let mut orders_client = OrderServiceClient::new(channel(ready::DEV_CLIENT, Service::Order)?);
    let settle_started = Instant::now();
    let orders = loop {
        let orders = list_orders(&mut orders_client, &admin).await;
        let pending = orders.as_ref().map_or(usize::MAX, |orders| {
            orders.iter().filter(|o| !terminal(o.status())).count()
        });
        if pending == 0 || settle_started.elapsed() >= SETTLE_TIME {
            break orders?;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let settle_time = settle_started.elapsed();

    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    for order in &orders {
        *by_status
            .entry(format!("{:?}", order.status()))
            .or_default() += 1;
        if order.status() == OrderStatus::Failed {
            // The reason's head (e.g. "out of stock", "card declined"), not
            // its ids, so equal causes group.
            let reason: String = order.failure_reason.chars().take(40).collect();
            *failures.entry(reason).or_default() += 1;
        }
    }
    let stuck: Vec<&Order> = orders.iter().filter(|o| !terminal(o.status())).collect();
    let answered = tally.answered.lock().map(|a| a.clone()).unwrap_or_default();
    let listed: std::collections::HashSet<&str> = orders.iter().map(|o| o.id.as_str()).collect();
    let missing = answered
        .iter()
        .filter(|id| !listed.contains(id.as_str()))
        .count();

    // Stock: initial − confirmed quantities, per product.
    let mut confirmed_quantity: HashMap<&str, i64> = HashMap::new();
    let mut confirmed_total = 0i64;
    for order in orders
        .iter()
        .filter(|o| o.status() == OrderStatus::Confirmed)
    {
        for item in &order.items {
            *confirmed_quantity
                .entry(item.product_id.as_str())
                .or_default() += i64::from(item.quantity);
        }
        confirmed_total += order.total.as_ref().map_or(0, |m| m.amount_minor);
    }
    let mut stock_lines = Vec::new();
    let mut stock_ok = true;
    for id in products.iter() {
        let product = catalog
            .get_product(authorized(
                GetProductRequest {
                    product_id: id.clone(),
                },
                &admin,
            )?)
            .await?
            .into_inner()
            .product
            .context("no product")?;
        let expected = INITIAL_STOCK - confirmed_quantity.get(id.as_str()).copied().unwrap_or(0);
        if product.stock != expected {
            stock_ok = false;
            stock_lines.push(format!(
                "  {} ({}): stock {} but initial − confirmed = {expected}",
                product.name, prices[id], product.stock
            ));
        }
    }

    // Money: what payment holds captured (succeeded minus refunded) for each
    // order's charge key (the order id), read as the order workload, the
    // only caller LookupPayment admits.
    let mut payments = PaymentServiceClient::new(channel("order", Service::Payment)?);
    let mut captured = 0i64;
    let mut money_lines = Vec::new();
    let mut pending_payments = 0;
    for order in &orders {
        let found = payments
            .lookup_payment(LookupPaymentRequest {
                idempotency_key: order.id.clone(),
            })
            .await;
        let held = match found {
            Ok(response) => {
                let payment = response.into_inner().payment.unwrap_or_default();
                let minor = |m: Option<&Money>| m.map_or(0, |m| m.amount_minor);
                match payment.status() {
                    PaymentStatus::Succeeded
                    | PaymentStatus::PartiallyRefunded
                    | PaymentStatus::Refunded => {
                        minor(payment.amount.as_ref()) - minor(payment.refunded_amount.as_ref())
                    }
                    PaymentStatus::Pending => {
                        pending_payments += 1;
                        0
                    }
                    _ => 0,
                }
            }
            Err(status) if status.code() == Code::NotFound => 0,
            Err(status) => anyhow::bail!("LookupPayment {}: {status}", order.id),
        };
        captured += held;
        let owed = if order.status() == OrderStatus::Confirmed {
            order.total.as_ref().map_or(0, |m| m.amount_minor)
        } else {
            0
        };
        if held != owed && money_lines.len() < 10 {
            money_lines.push(format!(
                "  order {} {:?}: captured {held}, owed {owed}",
                order.id,
                order.status()
            ));
        }
    }
    let money_ok = captured == confirmed_total && pending_payments == 0;
    let terminal_ok = stuck.is_empty() && missing == 0;
    processes.stop_all();

    let answers = tally.answers.lock().map(|a| a.clone()).unwrap_or_default();
    let total_kills: u64 = kills.values().sum();
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let mut text = String::new();
    let mut line = |s: String| {
        text.push_str(&s);
        text.push('\n');
    };
    line(format!(
        "{CLIENTS} customers, {:.0} s of new orders, {:.1} s until the last was answered, {PRODUCTS} products × {INITIAL_STOCK} stock, \
         every PlaceOrder retried with its key; 1/3 of attempts with a 1 ms–2 s client \
         deadline, 20% slow card, 5% declined card",
        LOAD_TIME.as_secs_f64(),
        load_time.as_secs_f64()
    ));
    line(format!(
        "kills (kill -9 + restart): {total_kills} ({})",
        counts(kills.iter())
    ));
    line(format!(
        "orders: {} in the order service ({}); {} answered to clients, {} never answered",
        orders.len(),
        counts(by_status.iter()),
        answered.len(),
        tally.unanswered.load(Ordering::Relaxed)
    ));
    line(format!(
        "failure reasons: {}",
        counts(
            failures
                .iter()
                .map(|(reason, n)| (format!("{reason:?}"), n))
        )
    ));
    line(format!(
        "PlaceOrder attempts by answer: {}",
        counts(answers.iter())
    ));
    line(format!(
        "settled in {:.1} s after the last kill",
        settle_time.as_secs_f64()
    ));
    line(format!(
        "check every order terminal: {} ({} not terminal, {} answered orders missing)",
        verdict(terminal_ok),
        stuck.len(),
        missing
    ));
    for order in stuck.iter().take(10) {
        line(format!("  order {} is {:?}", order.id, order.status()));
    }
    line(format!(
        "check stock = initial − confirmed: {}",
        verdict(stock_ok)
    ));
    for l in stock_lines {
        line(l);
    }
    line(format!(
        "check money captured = confirmed totals: {} (captured {captured}, confirmed {confirmed_total}, {pending_payments} payments pending)",
        verdict(money_ok)
    ));
    for l in money_lines {
        line(l);
    }
    Ok(Summary {
        text,
        passed: terminal_ok && stock_ok && money_ok,
    })
}

fn terminal(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Confirmed
            | OrderStatus::Failed
            | OrderStatus::Cancelled
            | OrderStatus::Shipped
    )
}

/// Every order, as the admin.
async fn list_orders(
    client: &mut OrderServiceClient<MeshChannel>,
    admin: &str,
) -> anyhow::Result<Vec<Order>> {
    let mut orders = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_orders(authorized(
                ListOrdersRequest {
                    page_size: 50,
                    page_token: page_token.clone(),
                    customer_id: String::new(),
                },
                admin,
            )?)
            .await?
            .into_inner();
        orders.extend(page.orders);
        if page.next_page_token.is_empty() {
            return Ok(orders);
        }
        page_token = page.next_page_token;
    }
}

/// `a 3, b 5`: a tally as the summary prints it.
fn counts<K: std::fmt::Display, V: std::fmt::Display>(
    tally: impl Iterator<Item = (K, V)>,
) -> String {
    tally
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
