//! The transactional outbox: every saga outcome writes exactly the events
//! it should, in order, in the transaction of the change they announce; and
//! while NATS is away the outbox fills only up to its bound.

use bazaar_order::{
    outbox,
    store::sql::{MIGRATIONS, SqlOrderStore},
};
use bazaar_proto::order::v1::{
    CancelOrderRequest, OrderConfirmed, OrderFailed, OrderPlaced, ShipOrderRequest,
};
use bazaar_runtime::{
    auth::Role,
    db::{Backend, Database},
    testing::TestDatabase,
};
use prost::Message;

use crate::support::{Shop, as_user, backends, isolated_events, jetstream, place, test_cards};

async fn store(shop: &Shop) -> SqlOrderStore {
    SqlOrderStore::new(shop.order_database().await)
}

async fn subjects(store: &SqlOrderStore, order_id: &str) -> Vec<String> {
    store
        .events_of(order_id.parse().expect("an order id"))
        .await
        .expect("read the outbox")
        .into_iter()
        .map(|event| event.subject)
        .collect()
}

async fn every_outcome_writes_its_events_in_order(backend: Backend) {
    let events = isolated_events();
    let stream = events.stream.clone();
    let shop = Shop::open_with(backend, |config| config.settings.events = events).await;
    let mug = shop.stock("MUG-EV", 1250, 10).await;
    let ada = shop.token("ada", Role::Customer);
    let admin = shop.token("boss", Role::Admin);
    let mut orders = shop.orders().await;
    let outbox = store(&shop).await;

    let confirmed = shop
        .checkout(place("ev-ok", &[(&mug, 2)], test_cards::APPROVED), &ada)
        .await;
    let declined = shop
        .checkout(
            place("ev-declined", &[(&mug, 1)], test_cards::INSUFFICIENT_FUNDS),
            &ada,
        )
        .await;
    let cancelled = shop
        .checkout(place("ev-cancel", &[(&mug, 1)], test_cards::APPROVED), &ada)
        .await;
    orders
        .cancel_order(as_user(
            CancelOrderRequest {
                order_id: cancelled.id.clone(),
                reason: "changed my mind".into(),
            },
            &ada,
        ))
        .await
        .unwrap();
    let cancelled = shop.settled(&cancelled.id).await;
    orders
        .ship_order(as_user(
            ShipOrderRequest {
                order_id: confirmed.id.clone(),
            },
            &admin,
        ))
        .await
        .unwrap();

    assert_eq!(
        subjects(&outbox, &confirmed.id).await,
        [outbox::PLACED, outbox::CONFIRMED, outbox::SHIPPED]
    );
    assert_eq!(
        subjects(&outbox, &declined.id).await,
        [outbox::PLACED, outbox::FAILED]
    );
    assert_eq!(
        subjects(&outbox, &cancelled.id).await,
        [outbox::PLACED, outbox::CONFIRMED, outbox::CANCELLED]
    );

    // The payloads are the events, with one id each, the metadata filled.
    let events = outbox
        .events_of(confirmed.id.parse().unwrap())
        .await
        .unwrap();
    let placed = OrderPlaced::decode(&*events[0].payload).unwrap();
    let meta = placed.metadata.unwrap();
    assert_eq!(meta.event_id, events[0].event_id);
    assert_eq!(meta.order_id, confirmed.id);
    assert_eq!(meta.customer_id, confirmed.customer_id);
    assert_eq!(meta.schema_version, outbox::SCHEMA_VERSION);
    assert_eq!(placed.items[0].quantity, 2);
    let paid = OrderConfirmed::decode(&*events[1].payload).unwrap();
    assert_eq!(paid.total.unwrap().amount_minor, 2500);
    assert_eq!(paid.payment_id, confirmed.payment_id);
    assert_eq!(paid.items[0].product_name, mug.name);
    let ids: std::collections::HashSet<_> = events.iter().map(|e| &e.event_id).collect();
    assert_eq!(ids.len(), events.len(), "one id per event");

    let failed = outbox
        .events_of(declined.id.parse().unwrap())
        .await
        .unwrap();
    let failed = OrderFailed::decode(&*failed[1].payload).unwrap();
    assert_eq!(failed.reason, "payment_declined");
    jetstream().await.delete_stream(&stream).await.unwrap();
    shop.close().await;
}

#[tokio::test]
async fn every_saga_outcome_writes_exactly_its_events_in_order() {
    for backend in backends() {
        every_outcome_writes_its_events_in_order(backend).await;
    }
}

#[tokio::test]
async fn with_nats_away_checkout_goes_on_until_the_outbox_is_full() {
    let shop = Shop::open_with(Backend::Sqlite, |config| {
        config.settings.events = bazaar_order::config::EventsConfig {
            // Nothing listens there: every event waits.
            nats_url: Some("nats://127.0.0.1:1".to_owned()),
            max_pending: 3,
            ..isolated_events()
        };
    })
    .await;
    let mug = shop.stock("MUG-FULL", 1250, 10).await;
    let ada = shop.token("ada", Role::Customer);
    let mut orders = shop.orders().await;
    for key in ["full-1", "full-2"] {
        let order = shop
            .checkout(place(key, &[(&mug, 1)], test_cards::APPROVED), &ada)
            .await;
        assert_eq!(
            order.status,
            bazaar_proto::order::v1::OrderStatus::Confirmed as i32,
            "checkout goes on without NATS"
        );
    }
    // Four events wait (placed and confirmed, twice): once the relay has
    // counted them, a third order is refused, and none is recorded.
    let mut refused = None;
    for attempt in 0..100 {
        match orders
            .place_order(as_user(
                place(
                    &format!("full-3-{attempt}"),
                    &[(&mug, 1)],
                    test_cards::APPROVED,
                ),
                &ada,
            ))
            .await
        {
            Err(status) => {
                refused = Some(status);
                break;
            }
            Ok(placed) => {
                shop.settled(&placed.into_inner().order.unwrap().id).await;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    let status = refused.expect("refused once the outbox is full");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let waiting = store(&shop).await.pending_count().await.unwrap();
    assert!(waiting >= 3, "{waiting} events wait");
    shop.close().await;
}

#[tokio::test]
async fn marking_sent_covers_every_listed_event_and_no_other() {
    for backend in backends() {
        let test_db = TestDatabase::create(backend).await;
        let db = Database::connect(&test_db.config, MIGRATIONS)
            .await
            .unwrap();
        // More than two statements' worth (256 ids each) and a remainder.
        let ids: Vec<String> = (0..601).map(|n| format!("event-{n:04}")).collect();
        let mut tx = db.pool().begin().await.unwrap();
        for (n, id) in (0_i64..).zip(&ids) {
            sqlx::query(
                "INSERT INTO order_outbox (event_id, order_id, subject, payload, created_at) \
                 VALUES ($1, 'order', 'bazaar.order.v1.OrderPlaced', $2, $3)",
            )
            .bind(id)
            .bind(Vec::<u8>::new())
            .bind(n)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let store = SqlOrderStore::new(db);
        let (listed, left) = ids.split_at(600);
        store.mark_sent(listed, 42).await.unwrap();
        let pending = store.pending_events(1_000).await.unwrap();
        assert_eq!(
            pending.iter().map(|e| &e.event_id).collect::<Vec<_>>(),
            left.iter().collect::<Vec<_>>(),
            "{backend:?}"
        );
        assert_eq!(store.pending_count().await.unwrap(), 1, "{backend:?}");
    }
}
