//! The order service's domain metrics on its admin port, and the saga's span
//! in the trace of the request that placed the order.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bazaar_order::{HaltPoint, Hooks, domain::SagaState};
use bazaar_proto::order::v1::OrderStatus;
use bazaar_runtime::{
    auth::Role,
    testing::{free_addr, sample, scrape},
};
use tracing::{
    Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};
use tracing_subscriber::{Layer, layer::Context, prelude::*, registry::LookupSpan};

use crate::support::{Shop, as_user, backends, place, test_cards};

/// Gives the (next) order service instance an admin port of its own.
fn admin_port(shop: &mut Shop) -> SocketAddr {
    let addr = free_addr();
    shop.order_config.shared.server.admin_listen = Some(addr);
    addr
}

/// Scrapes `addr` until `series` reads `value`, for at most 10 s.
async fn wait_for(addr: SocketAddr, series: &str, value: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(addr).await;
        if sample(&text, series) == Some(value) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never read {value}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn step_count(text: &str, step: &str, outcome: &str) -> Option<f64> {
    sample(
        text,
        &format!(
            "bazaar_saga_step_duration_seconds_count{{step=\"{step}\",outcome=\"{outcome}\"}}"
        ),
    )
}

const CONFIRMED: &str = "bazaar_orders_finished_total{state=\"confirmed\",reason=\"none\"}";
const DECLINED: &str = "bazaar_orders_finished_total{state=\"failed\",reason=\"payment_declined\"}";
const PLACED_OK: &str = "grpc_server_handled_total{grpc_type=\"unary\",grpc_service=\"bazaar.order.v1.OrderService\",grpc_method=\"PlaceOrder\",grpc_code=\"OK\"}";

#[tokio::test]
async fn checkouts_count_once_by_how_they_ended_with_each_step_timed() {
    for backend in backends() {
        let mut shop = Shop::open(backend).await;
        shop.order.take().unwrap().crash();
        let admin = admin_port(&mut shop);
        shop.start_order(Hooks::default()).await;
        let mug = shop.stock("MUG", 1_250, 10).await;
        let ada = shop.token("ada", Role::Customer);
        let mut orders = shop.orders().await;
        for (key, card) in [
            ("paid", test_cards::APPROVED),
            ("declined", test_cards::INSUFFICIENT_FUNDS),
            // A replay of a finished order finishes nothing.
            ("paid", test_cards::APPROVED),
        ] {
            orders
                .place_order(as_user(place(key, &[(&mug, 1)], card), &ada))
                .await
                .unwrap();
        }

        // Recovery's next scan finds nothing unsettled.
        let text = wait_for(admin, "bazaar_orders_unfinished", 0.0).await;
        assert_eq!(sample(&text, CONFIRMED), Some(1.0), "{backend:?}\n{text}");
        assert_eq!(sample(&text, DECLINED), Some(1.0), "{backend:?}\n{text}");
        assert_eq!(step_count(&text, "reserve", "ok"), Some(2.0), "{backend:?}");
        assert_eq!(step_count(&text, "charge", "ok"), Some(1.0), "{backend:?}");
        assert_eq!(
            step_count(&text, "charge", "error"),
            Some(1.0),
            "{backend:?}"
        );
        assert_eq!(step_count(&text, "commit", "ok"), Some(1.0), "{backend:?}");
        assert_eq!(step_count(&text, "release", "ok"), Some(1.0), "{backend:?}");
        assert_eq!(
            sample(&text, "bazaar_order_recovery_takeovers_total"),
            Some(0.0),
            "{backend:?}"
        );
        assert_eq!(
            sample(&text, "bazaar_orders_unfinished_oldest_seconds"),
            Some(0.0),
            "{backend:?}"
        );
        assert_eq!(sample(&text, PLACED_OK), Some(3.0), "{backend:?}\n{text}");
        shop.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recovery_counts_what_it_finds_unsettled_and_takes_over() {
    for backend in backends() {
        let mut shop = Shop::open_with(backend, |config| {
            config.settings.saga.lease = Duration::from_millis(300);
        })
        .await;
        let mug = shop.stock("MUG", 1_500, 10).await;
        let ada = shop.token("ada", Role::Customer);

        // An instance whose drive halts before charging: the order stays
        // unsettled, its lease renewed, so its own recovery leaves it be.
        shop.order.take().unwrap().crash();
        let halted_admin = admin_port(&mut shop);
        let (hooks, mut halted) = Hooks::halt_at(HaltPoint::After(SagaState::Charging));
        shop.start_order(hooks).await;
        let mut orders = shop.orders().await;
        let request = as_user(place("k", &[(&mug, 1)], test_cards::APPROVED), &ada);
        let call = tokio::spawn(async move { orders.place_order(request).await });
        let order_id = tokio::time::timeout(Duration::from_secs(30), halted.recv())
            .await
            .expect("the saga halts")
            .expect("the hooks outlive the service")
            .order_id;
        let text = wait_for(halted_admin, "bazaar_orders_unfinished", 1.0).await;
        let oldest = sample(&text, "bazaar_orders_unfinished_oldest_seconds");
        assert!(
            oldest.is_some_and(|age| age > 0.0),
            "{backend:?}: {oldest:?}"
        );
        assert_eq!(
            sample(&text, "bazaar_order_recovery_takeovers_total"),
            Some(0.0),
            "{backend:?}"
        );

        // Crashed there, a fresh instance takes the order over and, without
        // the card, fails it.
        shop.order.take().unwrap().crash();
        call.abort();
        let admin = admin_port(&mut shop);
        shop.start_order(Hooks::default()).await;
        let order = shop.settled(&order_id.to_string()).await;
        assert_eq!(order.status(), OrderStatus::Failed, "{backend:?}");
        let text = wait_for(admin, "bazaar_orders_unfinished", 0.0).await;
        assert_eq!(
            sample(&text, "bazaar_order_recovery_takeovers_total"),
            Some(1.0),
            "{backend:?}"
        );
        assert_eq!(
            sample(
                &text,
                "bazaar_orders_finished_total{state=\"failed\",reason=\"interrupted\"}"
            ),
            Some(1.0),
            "{backend:?}\n{text}"
        );
        assert_eq!(
            step_count(&text, "charge", "error"),
            Some(1.0),
            "{backend:?}"
        );
        assert_eq!(step_count(&text, "release", "ok"), Some(1.0), "{backend:?}");
        shop.close().await;
    }
}

/// A span as the capturing layer saw it.
#[derive(Debug, Clone, Default)]
struct Seen {
    name: &'static str,
    /// Its ancestors, innermost first, each as `name` or `name otel.name`.
    ancestry: Vec<String>,
    fields: HashMap<&'static str, String>,
}

impl Seen {
    fn label(&self) -> String {
        match self.fields.get("otel.name") {
            Some(otel_name) => format!("{} {otel_name}", self.name),
            None => self.name.to_owned(),
        }
    }
}

/// Keeps every span with its ancestry and fields. Span ids are reused once
/// a span closes, so ancestry is read while the ancestors are open.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Spans>>);

#[derive(Default)]
struct Spans {
    open: HashMap<u64, Seen>,
    closed: Vec<Seen>,
}

struct Fields<'a>(&'a mut HashMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        let ancestry = ctx
            .span(id)
            .map(|span| {
                span.scope()
                    .skip(1)
                    .filter_map(|ancestor| spans.open.get(&ancestor.id().into_u64()))
                    .map(Seen::label)
                    .collect()
            })
            .unwrap_or_default();
        let mut seen = Seen {
            name: attrs.metadata().name(),
            ancestry,
            ..Seen::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        spans.open.insert(id.into_u64(), seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(seen) = self.0.lock().unwrap().open.get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        if let Some(seen) = spans.open.remove(&id.into_u64()) {
            spans.closed.push(seen);
        }
    }
}

/// One thread runs the test and every service, so the thread's default
/// subscriber sees all their spans.
#[tokio::test(flavor = "current_thread")]
async fn a_failed_saga_is_an_error_span_inside_the_place_order_request() {
    let capture = Capture::default();
    let _subscriber = tracing_subscriber::registry()
        .with(capture.clone())
        .set_default();
    let backend = backends()[0];
    let shop = Shop::open(backend).await;
    let mug = shop.stock("MUG", 1_250, 10).await;
    let ada = shop.token("ada", Role::Customer);
    let order = shop
        .orders()
        .await
        .place_order(as_user(
            place("k", &[(&mug, 1)], test_cards::INSUFFICIENT_FUNDS),
            &ada,
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.status(), OrderStatus::Failed);
    shop.close().await;

    let spans = capture.0.lock().unwrap();
    let saga = spans
        .closed
        .iter()
        .chain(spans.open.values())
        .find(|span| span.name == "saga" && span.fields.get("order.id") == Some(&order.id))
        .expect("a saga span for the order");
    assert_eq!(saga.fields["order.state"], "failed", "{saga:?}");
    assert_eq!(
        saga.fields["order.failure_reason"], "payment_declined",
        "{saga:?}"
    );
    assert_eq!(saga.fields["otel.status_code"], "ERROR", "{saga:?}");
    assert!(
        saga.fields["otel.status_description"].contains("insufficient funds"),
        "{saga:?}"
    );
    assert!(
        saga.ancestry
            .iter()
            .any(|ancestor| ancestor == "grpc.server bazaar.order.v1.OrderService/PlaceOrder"),
        "the saga span is outside PlaceOrder's: {saga:?}"
    );
}
