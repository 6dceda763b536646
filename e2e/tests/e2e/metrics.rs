//! A real Prometheus scrapes the running system through the same scrape
//! configuration `make run --observe` writes, and sees what a checkout
//! through the REST edge did: every binary up, the order service's
//! PlaceOrder handled and its rate, the gateway's requests by route
//! template, and the confirmed order in the domain metrics. promtool checks
//! the generated configuration and the repository's alerting rules.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bazaar_devstack::{Service, observe, ready};
use http::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use crate::{
    binaries::workspace_root,
    journeys::cards,
    rest_client::{Rest, order_body, query_value, settled, sign_up, text},
    system::{System, free_port_list},
};

/// How often the test's Prometheus scrapes: short, so the test is.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);
/// How long Prometheus may take to answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long what the journey did may take to show in Prometheus.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// `name` on PATH, or a loud failure saying how to get it: this test must
/// never pass by not running.
fn required_tool(name: &str) -> PathBuf {
    observe::find_on_path(name).unwrap_or_else(|| {
        let how = "`scripts/tools.sh prometheus` (which `make test` runs) or \
                   `apt-get install -y prometheus` installs prometheus and promtool";
        if std::env::var_os("CI").is_some() {
            panic!("{name} is not on PATH in CI: the job must install it first ({how})");
        }
        panic!("{name} is not on PATH: {how}");
    })
}

/// `promtool <args>`, which must succeed.
fn promtool(promtool: &Path, args: &[&str]) {
    let output = Command::new(promtool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", promtool.display()));
    assert!(
        output.status.success(),
        "promtool {}: {}\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A Prometheus process of this test; dropping it kills it, panics
/// included, and prints its log when the test failed.
struct Prometheus {
    child: Child,
    api: Rest,
    log: PathBuf,
    _dir: TempDir,
}

impl Prometheus {
    /// Runs `binary` on `config` (a file in `dir`) on a free loopback port
    /// with its data in `dir`, and waits until it is ready.
    async fn start(binary: &Path, config: &Path, dir: TempDir) -> Self {
        let port = free_port_list(1)[0];
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = dir.path().join("prometheus.log");
        let file = std::fs::File::create(&log).expect("prometheus log");
        let mut command =
            observe::prometheus_command(binary, config, &dir.path().join("tsdb"), addr);
        command
            .stdout(Stdio::from(file.try_clone().expect("prometheus log")))
            .stderr(Stdio::from(file));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut prometheus = Self {
            child,
            api: Rest::new(&format!("http://{addr}")),
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        while !ready::http_ok(addr, "/-/ready").await {
            let exited = prometheus.child.try_wait().ok().flatten();
            assert!(
                exited.is_none(),
                "prometheus exited during start-up ({exited:?})"
            );
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within {READY_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        prometheus
    }

    /// `GET path` of the HTTP API, which must answer 200 with status
    /// "success"; the whole answer.
    async fn api(&self, path: &str) -> Value {
        let reply = self.api.get(path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "GET {path}: {reply:?}");
        assert_eq!(reply.body["status"], "success", "GET {path}: {reply:?}");
        reply.body
    }

    /// An instant query's answer.
    async fn query(&self, promql: &str) -> Value {
        self.api(&format!("/api/v1/query?query={}", query_value(promql)))
            .await
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            eprintln!("--- prometheus (last 30 lines)\n{tail}");
        }
    }
}

/// The samples of an instant vector answer: each series' labels and value.
fn samples(answer: &Value) -> Vec<(&serde_json::Map<String, Value>, f64)> {
    answer["data"]["result"]
        .as_array()
        .map(|result| {
            result
                .iter()
                .filter_map(|series| {
                    let labels = series["metric"].as_object()?;
                    let value = series["value"][1].as_str()?.parse().ok()?;
                    Some((labels, value))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What Prometheus must come to see.
enum Expect {
    /// The query's single sample (a `sum(...)`) is at least this.
    AtLeast(f64),
    /// The query's single sample is greater than this.
    Above(f64),
    /// `up` is 1 for exactly these jobs.
    UpFor(Vec<&'static str>),
}

impl Expect {
    fn holds(&self, answer: &Value) -> bool {
        let samples = samples(answer);
        match self {
            Self::AtLeast(minimum) => matches!(samples[..], [(_, value)] if value >= *minimum),
            Self::Above(bound) => matches!(samples[..], [(_, value)] if value > *bound),
            Self::UpFor(jobs) => {
                let mut up: Vec<&str> = samples
                    .iter()
                    .filter(|(_, value)| *value == 1.0)
                    .filter_map(|(labels, _)| labels.get("job")?.as_str())
                    .collect();
                up.sort_unstable();
                let mut expected = jobs.clone();
                expected.sort_unstable();
                samples.len() == jobs.len() && up == expected
            }
        }
    }
}

/// Polls (bounded) until every `(query, expectation)` holds; otherwise
/// fails naming each that did not, with Prometheus's last answer.
async fn eventually(prometheus: &Prometheus, checks: Vec<(String, Expect)>) {
    let deadline = Instant::now() + QUERY_TIMEOUT;
    let mut pending: Vec<(String, Expect, Value)> = checks
        .into_iter()
        .map(|(query, expect)| (query, expect, Value::Null))
        .collect();
    loop {
        let mut still = Vec::new();
        for (query, expect, _) in pending {
            let answer = prometheus.query(&query).await;
            if !expect.holds(&answer) {
                still.push((query, expect, answer));
            }
        }
        pending = still;
        if pending.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let unmet: Vec<String> = pending
                .iter()
                .map(|(query, expect, answer)| {
                    let wanted = match expect {
                        Expect::AtLeast(minimum) => format!("one sample >= {minimum}"),
                        Expect::Above(bound) => format!("one sample > {bound}"),
                        Expect::UpFor(jobs) => format!("1 for exactly the jobs {jobs:?}"),
                    };
                    format!("  {query}\n    wanted {wanted}; Prometheus answered {answer}")
                })
                .collect();
            panic!(
                "not seen by Prometheus within {QUERY_TIMEOUT:?}:\n{}",
                unmet.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Places an order for one of `product_id` and waits (bounded) until it is
/// confirmed; its id.
async fn checkout(rest: &Rest, token: &str, key: &str, product_id: &str) -> String {
    let body = order_body(key, &[(product_id, 1)], cards::APPROVED);
    let placed = rest.post("/v1/orders", Some(token), &body).await;
    assert_eq!(placed.status, StatusCode::OK, "place order: {placed:?}");
    let order_id = text(&placed.body["order"]["id"]);
    assert!(!order_id.is_empty(), "place order: {placed:?}");
    settled(rest, token, placed.body["order"].clone()).await;
    // The journey reads its order back: the gateway's GET route counts it.
    let got = rest
        .get(&format!("/v1/orders/{order_id}"), Some(token))
        .await;
    assert_eq!(got.status, StatusCode::OK, "get order: {got:?}");
    assert_eq!(
        got.body["order"]["status"], "ORDER_STATUS_CONFIRMED",
        "order {order_id} did not confirm: {got:?}"
    );
    order_id
}

#[tokio::test]
async fn prometheus_scrapes_every_service_and_sees_a_checkout() {
    let promtool_path = required_tool("promtool");
    let prometheus_path = required_tool("prometheus");
    let rules = workspace_root().join(observe::ALERT_RULES);
    assert!(
        rules.is_file(),
        "{} is missing: the alerting rules belong in the repository",
        rules.display()
    );
    promtool(
        &promtool_path,
        &["check", "rules", &rules.display().to_string()],
    );

    let system = System::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("prometheus.yml");
    let scrape =
        observe::scrape_config(&system.stack, SCRAPE_INTERVAL, std::slice::from_ref(&rules));
    std::fs::write(&config, &scrape).expect("write the scrape config");
    // `check config` also checks the rule files it names.
    promtool(
        &promtool_path,
        &["check", "config", &config.display().to_string()],
    );
    let prometheus = Prometheus::start(&prometheus_path, &config, dir).await;
    let loaded = prometheus.api("/api/v1/rules").await;
    assert!(
        loaded["data"]["groups"]
            .as_array()
            .is_some_and(|groups| !groups.is_empty()),
        "Prometheus loaded no rule group from {}: {loaded}",
        rules.display()
    );

    // The checkout journey through the REST edge.
    let rest = Rest::new(&system.rest_url());
    let account = sign_up(&rest, "ada").await;
    let token = account.token;
    let products = rest.get("/v1/products?page_size=3", None).await;
    assert_eq!(
        products.status,
        StatusCode::OK,
        "list products: {products:?}"
    );
    let product_id = text(&products.body["products"][0]["id"]);
    assert!(!product_id.is_empty(), "list products: {products:?}");
    let first = checkout(&rest, &token, "metrics-first", &product_id).await;

    let jobs: Vec<&'static str> = system.stack.services().map(Service::name).collect();
    assert_eq!(jobs.len(), 6, "the gateway is part of this system");
    let placed_ok = r#"sum(grpc_server_handled_total{grpc_service="bazaar.order.v1.OrderService",grpc_method="PlaceOrder",grpc_code="OK"})"#;
    eventually(
        &prometheus,
        vec![
            ("up".to_owned(), Expect::UpFor(jobs)),
            (placed_ok.to_owned(), Expect::AtLeast(1.0)),
        ],
    )
    .await;

    // A second checkout once the first is scraped: a rate needs the counter
    // to rise between two scrapes (a series' first sample is no increase).
    let second = checkout(&rest, &token, "metrics-second", &product_id).await;
    eventually(
        &prometheus,
        vec![
            (placed_ok.to_owned(), Expect::AtLeast(2.0)),
            (
                r#"sum(rate(grpc_server_handled_total{grpc_method="PlaceOrder"}[1m]))"#.to_owned(),
                Expect::Above(0.0),
            ),
            (
                r#"sum(http_server_requests_total{route=~"/v1/orders.*"})"#.to_owned(),
                Expect::AtLeast(1.0),
            ),
            // The gateway labels requests by route template, not path.
            (
                r#"sum(http_server_requests_total{method="POST",route="/v1/orders"})"#.to_owned(),
                Expect::AtLeast(2.0),
            ),
            (
                r#"sum(http_server_requests_total{method="GET",route="/v1/orders/{order_id}"})"#
                    .to_owned(),
                Expect::AtLeast(2.0),
            ),
            (
                r#"sum(bazaar_orders_finished_total{state="confirmed"})"#.to_owned(),
                Expect::AtLeast(2.0),
            ),
        ],
    )
    .await;

    // Bounded cardinality: no order or user id became a label value.
    let user_id = account.id;
    let names = prometheus.api("/api/v1/labels").await;
    let names: Vec<String> = names["data"]
        .as_array()
        .map(|names| names.iter().map(text).collect())
        .unwrap_or_default();
    assert!(
        names.iter().any(|n| n == "grpc_method"),
        "labels: {names:?}"
    );
    for name in names {
        let values = prometheus
            .api(&format!("/api/v1/label/{name}/values"))
            .await;
        for id in [&first, &second, &user_id] {
            assert!(
                !values.to_string().contains(id.as_str()),
                "the id {id} is a value of the label {name}: {values}"
            );
        }
    }

    drop(prometheus);
    system.stop_cleanly().await;
}
