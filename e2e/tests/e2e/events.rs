//! Order events from the built binaries to the notification service, none
//! lost and none doubled, through what goes wrong in production: NATS down
//! while customers check out, the order service killed between publishing
//! its events and marking them sent, the notification service killed.
//!
//! The system uses a NATS server of this test's own (the machine's one
//! serves every other test and must stay up), with a duplicate window of
//! one second, so that republished copies get past the broker and the
//! notification service's idempotence by event id is what keeps them out.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use bazaar_devstack::Service;
use bazaar_runtime::{
    db::Backend,
    testing::{sample, scrape},
};
use http::StatusCode;

use crate::{
    journeys::cards,
    nats::NatsServer,
    rest_client::{Account, Rest, order_body, settled, sign_up, text},
    system::System,
};

/// How long an event may take to become a notification, outages over.
const NOTIFIED_WITHIN: Duration = Duration::from_secs(30);

/// One approved checkout of one unit of `product`; the order's id.
async fn buy(rest: &Rest, account: &Account, key: &str, product: &str) -> String {
    let placed = rest
        .post(
            "/v1/orders",
            Some(&account.token),
            &order_body(key, &[(product, 1)], cards::APPROVED),
        )
        .await;
    assert_eq!(placed.status, StatusCode::OK, "{placed:?}");
    let order = settled(rest, &account.token, placed.body["order"].clone()).await;
    assert_eq!(order["status"], "ORDER_STATUS_CONFIRMED", "{order}");
    text(&order["id"])
}

/// How many ORDER_CONFIRMED notifications `account` has per order.
async fn confirmations(rest: &Rest, account: &Account) -> BTreeMap<String, usize> {
    let listed = rest
        .get("/v1/notifications?page_size=100", Some(&account.token))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
    let mut counts = BTreeMap::new();
    for notification in listed.body["notifications"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
    {
        assert_eq!(
            notification["kind"], "NOTIFICATION_KIND_ORDER_CONFIRMED",
            "{notification}"
        );
        *counts.entry(text(&notification["order_id"])).or_insert(0) += 1;
    }
    counts
}

/// Waits until `account` has a notification for each of `orders`, then
/// checks it has exactly one for each and none for anything else.
async fn notified_once_each(system: &System, rest: &Rest, account: &Account, orders: &[String]) {
    let deadline = Instant::now() + NOTIFIED_WITHIN;
    let counts = loop {
        let counts = confirmations(rest, account).await;
        if orders.iter().all(|order| counts.contains_key(order)) {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "not every order notified within {NOTIFIED_WITHIN:?}: {counts:?} of {orders:?}\n{}",
            system.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let expected: BTreeMap<String, usize> = orders.iter().map(|o| (o.clone(), 1)).collect();
    assert_eq!(counts, expected, "one notification per confirmed order");
}

/// Waits (bounded) until `check` holds of `service`'s metrics.
async fn metrics_until(
    system: &System,
    service: Service,
    what: &str,
    check: impl Fn(&str) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = scrape(system.admin_addr(service)).await;
        if check(&metrics) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (bounded) until the durable consumer has acknowledged everything
/// in the stream.
async fn consumed(js: &async_nats::jetstream::Context, stream: &str, consumer: &str) {
    let deadline = Instant::now() + NOTIFIED_WITHIN;
    loop {
        let stream = js.get_stream(stream).await.expect("the events stream");
        let mut durable = stream
            .get_consumer::<async_nats::jetstream::consumer::pull::Config>(consumer)
            .await
            .expect("the durable consumer");
        let info = durable.info().await.expect("consumer info");
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "not consumed: {info:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_event_reaches_the_notifications_once_across_outages_and_kills() {
    let mut nats = NatsServer::start().await;
    let url = nats.url();
    let mut system = System::start_with_env(
        Backend::Sqlite,
        &[
            ("BAZAAR__EVENTS__NATS_URL", url.as_str()),
            ("BAZAAR__EVENTS__DUPLICATE_WINDOW", "1s"),
            // A delivery the killed broker lost track of comes again soon.
            ("BAZAAR__EVENTS__ACK_WAIT", "2s"),
        ],
    )
    .await;
    let (stream, consumer) = match &system.events {
        Some(events) => (events.stream.clone(), events.consumer.clone()),
        None => ("BAZAAR_ORDER_EVENTS".to_owned(), "notification".to_owned()),
    };
    let rest = Rest::new(&system.rest_url());
    let ada = sign_up(&rest, "ada").await;
    let products = rest.get("/v1/products?page_size=1", None).await;
    let product = text(&products.body["products"][0]["id"]);
    let mut orders = vec![buy(&rest, &ada, "before", &product).await];
    notified_once_each(&system, &rest, &ada, &orders).await;

    // NATS down: checkout goes on, the events wait in the outbox.
    nats.kill();
    orders.push(buy(&rest, &ada, "outage-1", &product).await);
    orders.push(buy(&rest, &ada, "outage-2", &product).await);
    metrics_until(
        &system,
        Service::Order,
        "the two orders' four events wait",
        |m| sample(m, "bazaar_order_outbox_pending").is_some_and(|pending| pending >= 4.0),
    )
    .await;
    assert_eq!(
        confirmations(&rest, &ada).await.len(),
        1,
        "nothing delivered meanwhile"
    );
    nats.resume().await;
    notified_once_each(&system, &rest, &ada, &orders).await;

    // The order service dies after publishing, before marking sent: every
    // event of the three orders is pending again when it comes back, and
    // past the broker's duplicate window its republished copies reach the
    // stream.
    system.kill(Service::Order);
    sqlx::any::install_default_drivers();
    let outbox = sqlx::AnyPool::connect(&system.database_url(Service::Order))
        .await
        .expect("the order database");
    let unsent = sqlx::query("UPDATE order_outbox SET sent_at = NULL")
        .execute(&outbox)
        .await
        .expect("mark every event unsent");
    assert_eq!(
        unsent.rows_affected(),
        6,
        "placed and confirmed, three orders"
    );
    outbox.close().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    system.restart(Service::Order).await;
    let js = nats.jetstream().await;
    let deadline = Instant::now() + NOTIFIED_WITHIN;
    loop {
        let mut events = js.get_stream(&stream).await.expect("the events stream");
        let held = events.info().await.expect("stream info").state.messages;
        if held >= 12 {
            assert_eq!(held, 12, "each event published twice, no more");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{held} of 12 messages in the stream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    consumed(&js, &stream, &consumer).await;
    // At least the three republished confirmations came as duplicates; a
    // broker killed with -9 may also redeliver what it had not yet recorded
    // as acknowledged: at least once.
    metrics_until(
        &system,
        Service::Notification,
        "the three republished confirmations arrive as duplicates",
        |m| {
            sample(m, "bazaar_notification_events_total{outcome=\"duplicate\"}")
                .is_some_and(|duplicates| duplicates >= 3.0)
        },
    )
    .await;
    notified_once_each(&system, &rest, &ada, &orders).await;

    // The notification service dies; what is published meanwhile waits in
    // its durable consumer.
    system.kill(Service::Notification);
    orders.push(buy(&rest, &ada, "consumer-down", &product).await);
    system.restart(Service::Notification).await;
    notified_once_each(&system, &rest, &ada, &orders).await;
    consumed(&js, &stream, &consumer).await;
    notified_once_each(&system, &rest, &ada, &orders).await;
    system.stop_cleanly().await;
}
