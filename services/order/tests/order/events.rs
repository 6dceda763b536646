//! The outbox relay against the machine's real NATS JetStream: events reach
//! the stream in order, with their ids as `Nats-Msg-Id`, and a relay that
//! republishes after a crash between publishing and marking sent adds no
//! copy; and each message carries the trace of the request that made its
//! change. Each test has its own stream and subject prefix, and deletes them.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use bazaar_order::{outbox, store::sql::SqlOrderStore};
use bazaar_proto::order::v1::ShipOrderRequest;
use bazaar_runtime::{auth::Role, db::Backend};
use tokio_stream::StreamExt as _;
use tracing::Instrument as _;

use crate::support::{
    Shop, as_user, backends, isolated_events, jetstream, nats_url, place, span_in_fresh_trace,
    telemetry, test_cards,
};

/// Waits (bounded) until the stream holds `count` messages.
async fn stream_holds(js: &jetstream::Context, name: &str, count: u64) {
    for _ in 0..250 {
        if let Ok(mut stream) = js.get_stream(name).await
            && stream.info().await.is_ok_and(|i| i.state.messages >= count)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the stream {name} never held {count} messages");
}

async fn relays_in_order_once(backend: Backend) {
    let events = isolated_events();
    let (stream_name, prefix) = (events.stream.clone(), events.subject_prefix.clone());
    let shop = Shop::open_with(backend, |config| config.settings.events = events).await;
    let js = jetstream().await;
    let mug = shop.stock("MUG-NATS", 1250, 10).await;
    let ada = shop.token("ada", Role::Customer);
    let ok = shop
        .checkout(place("n-ok", &[(&mug, 1)], test_cards::APPROVED), &ada)
        .await;
    let declined = shop
        .checkout(
            place("n-no", &[(&mug, 1)], test_cards::INSUFFICIENT_FUNDS),
            &ada,
        )
        .await;
    stream_holds(&js, &stream_name, 4).await;

    let db = shop.order_database().await;
    let store = SqlOrderStore::new(db.clone());
    let mut stream = js.get_stream(&stream_name).await.unwrap();
    let mut seen = Vec::new();
    for sequence in 1..=4 {
        let message = stream.get_raw_message(sequence).await.unwrap();
        let id = message
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
            .expect("a Nats-Msg-Id");
        seen.push((message.subject.to_string(), id));
    }
    let mut expected = Vec::new();
    for order in [&ok.id, &declined.id] {
        for event in store.events_of(order.parse().unwrap()).await.unwrap() {
            assert!(event.sent_at.is_some(), "{event:?} marked sent");
            let name = event.subject.rsplit('.').next().unwrap().to_owned();
            expected.push((format!("{prefix}.{name}"), event.event_id));
        }
    }
    assert_eq!(seen, expected, "every event, once, in order");
    assert!(expected[1].0.ends_with("OrderConfirmed") && expected[3].0.ends_with("OrderFailed"));
    assert_eq!(
        [outbox::PLACED, outbox::CONFIRMED].map(|s| s.rsplit('.').next().unwrap()),
        ["OrderPlaced", "OrderConfirmed"]
    );

    // A relay that died after publishing, before marking: everything is
    // pending again and goes out again; the broker keeps one copy of each.
    sqlx::query("UPDATE order_outbox SET sent_at = NULL")
        .execute(db.pool())
        .await
        .unwrap();
    for _ in 0..250 {
        if store.pending_events(10).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        store.pending_events(10).await.unwrap().is_empty(),
        "republished"
    );
    let info = stream.info().await.unwrap();
    assert_eq!(info.state.messages, 4, "no duplicate reached the stream");

    js.delete_stream(&stream_name).await.unwrap();
    shop.close().await;
}

#[tokio::test]
async fn the_relay_publishes_every_event_once_in_order() {
    for backend in backends() {
        relays_in_order_once(backend).await;
    }
}

/// `(trace id, parent span id)` of a `traceparent` header value.
fn trace_of(traceparent: &str) -> (String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "a W3C traceparent: {traceparent:?}");
    (fields[1].to_owned(), fields[2].to_owned())
}

async fn messages_carry_the_request_trace(backend: Backend) {
    let events = isolated_events();
    let stream_name = events.stream.clone();
    let shop = Shop::open_with(backend, |config| config.settings.events = events).await;
    let js = jetstream().await;
    let mug = shop.stock("MUG-TRACE", 1250, 10).await;
    let ada = shop.token("ada", Role::Customer);
    let admin = shop.token("boss", Role::Admin);
    let mut orders = shop.orders().await;

    // Two requests, each in a trace of the test's own, sent as the gateway
    // sends them (its client span injects `traceparent`): the placing one
    // (placed and confirmed: the drive runs in its trace) and the shipping one.
    let (placing, placing_trace) = span_in_fresh_trace("placing");
    let request = as_user(place("t-ok", &[(&mug, 1)], test_cards::APPROVED), &ada);
    let placed = orders
        .place_order(request)
        .instrument(placing)
        .await
        .unwrap()
        .into_inner();
    let order_id = placed.order.unwrap().id;
    shop.settled(&order_id).await;
    let (shipping, shipping_trace) = span_in_fresh_trace("shipping");
    let request = as_user(
        ShipOrderRequest {
            order_id: order_id.clone(),
        },
        &admin,
    );
    orders
        .ship_order(request)
        .instrument(shipping)
        .await
        .unwrap();
    stream_holds(&js, &stream_name, 3).await;

    let store = SqlOrderStore::new(shop.order_database().await);
    let rows = store.events_of(order_id.parse().unwrap()).await.unwrap();
    let stream = js.get_stream(&stream_name).await.unwrap();
    let expected = [
        ("OrderPlaced", &placing_trace),
        ("OrderConfirmed", &placing_trace),
        ("OrderShipped", &shipping_trace),
    ];
    for (sequence, (name, trace_id)) in (1..).zip(expected) {
        let message = stream.get_raw_message(sequence).await.unwrap();
        assert!(message.subject.ends_with(name), "{backend:?}: {message:?}");
        let row = &rows[usize::try_from(sequence - 1).unwrap()];
        assert_eq!(
            message.headers.get("Nats-Msg-Id").map(|v| v.as_str()),
            Some(row.event_id.as_str())
        );
        // The row kept the change's context, in the request's trace.
        let (row_trace, row_parent) = trace_of(&row.traceparent);
        assert_eq!(&row_trace, trace_id, "{backend:?} {name}: {row:?}");
        let header = message
            .headers
            .get("traceparent")
            .unwrap_or_else(|| panic!("{backend:?} {name}: no traceparent header"))
            .as_str()
            .to_owned();
        let (message_trace, message_parent) = trace_of(&header);
        assert_eq!(&message_trace, trace_id, "{backend:?} {name}: {header}");
        // The message's parent is the relay's publish span, not the change's
        // span: the trace shows the publish in between.
        assert_ne!(message_parent, row_parent, "{backend:?} {name}: {header}");
    }

    js.delete_stream(&stream_name).await.unwrap();
    shop.close().await;
}

#[tokio::test]
async fn each_message_carries_the_trace_of_the_request_that_made_its_change() {
    telemetry();
    for backend in backends() {
        messages_carry_the_request_trace(backend).await;
    }
}

async fn events_go_out_at_once(backend: Backend) {
    // A relay that polled would take a minute: only the commit's wake-up can
    // get an event out in time.
    let events = bazaar_order::config::EventsConfig {
        poll_interval: Duration::from_secs(60),
        ..isolated_events()
    };
    let (stream_name, prefix) = (events.stream.clone(), events.subject_prefix.clone());
    let shop = Shop::open_with(backend, |config| config.settings.events = events).await;
    let nats = async_nats::connect(nats_url()).await.unwrap();
    let mut published = nats.subscribe(format!("{prefix}.>")).await.unwrap();
    nats.flush().await.unwrap();
    let mug = shop.stock("MUG-SOON", 1250, 10).await;
    let ada = shop.token("ada", Role::Customer);
    let admin = shop.token("boss", Role::Admin);
    let order = shop
        .checkout(place("soon", &[(&mug, 1)], test_cards::APPROVED), &ada)
        .await;
    for name in ["OrderPlaced", "OrderConfirmed"] {
        let message = tokio::time::timeout(Duration::from_secs(5), published.next())
            .await
            .unwrap_or_else(|_| panic!("{backend:?}: no {name} within 5 s"))
            .unwrap();
        assert!(message.subject.ends_with(name), "{backend:?}: {message:?}");
    }

    let mut orders = shop.orders().await;
    let sent = Instant::now();
    orders
        .ship_order(as_user(
            ShipOrderRequest {
                order_id: order.id.clone(),
            },
            &admin,
        ))
        .await
        .unwrap();
    let returned = Instant::now();
    let message = tokio::time::timeout(Duration::from_secs(2), published.next())
        .await
        .unwrap_or_else(|_| panic!("{backend:?}: no OrderShipped within 2 s"))
        .unwrap();
    let (since_sent, since_returned) = (sent.elapsed(), returned.elapsed());
    assert!(
        message.subject.ends_with("OrderShipped"),
        "{backend:?}: {message:?}"
    );
    eprintln!(
        "{backend:?}: OrderShipped on NATS {since_sent:?} after ShipOrder was sent, \
         {since_returned:?} after it returned"
    );
    assert!(
        since_returned < Duration::from_millis(100),
        "{backend:?}: {since_returned:?}"
    );

    jetstream().await.delete_stream(&stream_name).await.unwrap();
    shop.close().await;
}

#[tokio::test]
async fn an_event_reaches_nats_as_soon_as_its_change_commits() {
    for backend in backends() {
        events_go_out_at_once(backend).await;
    }
}
