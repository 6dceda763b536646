//! Consuming: one notification per event however often it comes, events
//! that cannot be handled dead-lettered after `max_deliver` tries, and a
//! restarted service resuming where it stopped.

use std::time::Duration;

use bazaar_notification::consumer::{
    DEAD_LETTER_DELIVERIES, DEAD_LETTER_REASON, DEAD_LETTER_SUBJECT,
};
use bazaar_proto::notification::v1::NotificationKind;
use bazaar_runtime::{
    db::Backend,
    testing::{sample, scrape},
};

use crate::support::{Namespace, Service, backends, confirmed, jetstream, new_id, placed, shipped};

fn outcome(metrics: &str, outcome: &str) -> f64 {
    sample(
        metrics,
        &format!("bazaar_notification_events_total{{outcome=\"{outcome}\"}}"),
    )
    .unwrap_or(0.0)
}

async fn one_notification_per_event(backend: Backend) {
    let namespace = Namespace::new();
    let js = jetstream().await;
    // Started before the order service made its stream: it waits for it.
    let service = Service::start(backend, &namespace.events).await;
    namespace.create_stream(&js).await;

    let (order, confirmation, shipping) = (new_id(), new_id(), new_id());
    namespace
        .publish(
            &js,
            "OrderPlaced",
            &new_id(),
            placed(&new_id(), &order, "ada"),
        )
        .await;
    let payload = confirmed(&confirmation, &order, "ada");
    namespace
        .publish(&js, "OrderConfirmed", &confirmation, payload.clone())
        .await;
    // The broker drops a republish under the same id; a copy under another
    // (republished after the duplicate window) reaches the consumer.
    namespace
        .publish(&js, "OrderConfirmed", &confirmation, payload.clone())
        .await;
    namespace
        .publish(
            &js,
            "OrderConfirmed",
            &format!("{confirmation}-again"),
            payload,
        )
        .await;
    namespace
        .publish(
            &js,
            "OrderShipped",
            &shipping,
            shipped(&shipping, &order, "ada"),
        )
        .await;
    namespace.drained(&js).await;

    let notifications = service.notifications_of("ada").await;
    let kinds: Vec<_> = notifications.iter().map(|n| n.kind()).collect();
    assert_eq!(
        kinds,
        [
            NotificationKind::OrderShipped,
            NotificationKind::OrderConfirmed
        ],
        "{backend:?}: newest first, one per event: {notifications:?}"
    );
    let confirmed = &notifications[1];
    assert_eq!(confirmed.notification_id, confirmation);
    assert_eq!(confirmed.order_id, order);
    assert_eq!(confirmed.title, "Order confirmed");
    assert!(
        confirmed.body.contains("2 items") && confirmed.body.contains("25.00 USD"),
        "{backend:?}: {}",
        confirmed.body
    );
    assert!(service.notifications_of("bob").await.is_empty());

    let metrics = scrape(service.admin).await;
    assert_eq!(outcome(&metrics, "notified"), 2.0, "{backend:?}\n{metrics}");
    assert_eq!(outcome(&metrics, "duplicate"), 1.0, "{backend:?}");
    assert_eq!(outcome(&metrics, "ignored"), 1.0, "{backend:?}");
    service.stop().await;
}

#[tokio::test]
async fn each_event_makes_one_notification_however_often_it_is_delivered() {
    for backend in backends() {
        one_notification_per_event(backend).await;
    }
}

#[tokio::test]
async fn an_event_that_cannot_be_handled_is_dead_lettered_after_max_deliver_tries() {
    let mut namespace = Namespace::new();
    namespace.events.max_deliver = 3;
    let js = jetstream().await;
    namespace.create_stream(&js).await;
    let service = Service::start(Backend::Sqlite, &namespace.events).await;

    let poison = b"\x08\x96\x01 not an OrderConfirmed".to_vec();
    namespace
        .publish(&js, "OrderConfirmed", "poison-1", poison.clone())
        .await;
    // Behind it, a good event still gets through.
    let (order, event) = (new_id(), new_id());
    namespace
        .publish(&js, "OrderShipped", &event, shipped(&event, &order, "ada"))
        .await;
    namespace.drained(&js).await;

    let mut dead = js
        .get_stream(&namespace.events.dead_letter_stream)
        .await
        .expect("the dead-letter stream");
    let letter = dead.get_raw_message(1).await.expect("one dead letter");
    assert_eq!(
        letter.subject.as_str(),
        namespace.events.dead_letter_subject
    );
    assert_eq!(letter.payload.as_ref(), poison.as_slice());
    let header = |name: &str| {
        letter
            .headers
            .get(name)
            .map(|value| value.as_str().to_owned())
            .unwrap_or_else(|| panic!("no {name} header: {letter:?}"))
    };
    assert_eq!(header(DEAD_LETTER_DELIVERIES), "3");
    assert_eq!(
        header(DEAD_LETTER_SUBJECT),
        format!("{}.OrderConfirmed", namespace.events.subject_prefix)
    );
    assert!(
        header(DEAD_LETTER_REASON).contains("not a valid message"),
        "{}",
        header(DEAD_LETTER_REASON)
    );
    assert_eq!(header("Nats-Msg-Id"), "poison-1");
    let info = dead.info().await.expect("dead-letter stream info");
    assert_eq!(info.state.messages, 1, "dead-lettered once");

    let notifications = service.notifications_of("ada").await;
    assert_eq!(notifications.len(), 1, "{notifications:?}");
    assert_eq!(notifications[0].notification_id, event);
    let metrics = scrape(service.admin).await;
    assert_eq!(outcome(&metrics, "retried"), 2.0, "{metrics}");
    assert_eq!(outcome(&metrics, "dead_lettered"), 1.0, "{metrics}");
    service.stop().await;
}

#[tokio::test]
async fn a_restarted_service_resumes_where_its_consumer_stopped() {
    let namespace = Namespace::new();
    let js = jetstream().await;
    namespace.create_stream(&js).await;
    let service = Service::start(Backend::Sqlite, &namespace.events).await;
    let (order, first) = (new_id(), new_id());
    namespace
        .publish(
            &js,
            "OrderConfirmed",
            &first,
            confirmed(&first, &order, "ada"),
        )
        .await;
    namespace.drained(&js).await;
    let (database, signer) = service.stop().await;

    // Published while the service is down: the durable consumer keeps its
    // place, so these arrive after the restart and the first does not again.
    let second = new_id();
    namespace
        .publish(
            &js,
            "OrderShipped",
            &second,
            shipped(&second, &order, "ada"),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let service = Service::start_on(database, signer, &namespace.events).await;
    let notifications = service.wait_for("ada", 2).await;
    namespace.drained(&js).await;
    let ids: Vec<_> = service
        .notifications_of("ada")
        .await
        .into_iter()
        .map(|n| n.notification_id)
        .collect();
    assert_eq!(ids, [second, first], "{notifications:?}");
    let metrics = scrape(service.admin).await;
    assert_eq!(
        outcome(&metrics, "notified"),
        1.0,
        "only the new one: {metrics}"
    );
    assert_eq!(outcome(&metrics, "duplicate"), 0.0, "{metrics}");
    service.stop().await;
}
