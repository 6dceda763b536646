//! WatchOrder is bounded: capped per connection and in total, fed by the
//! service's events rather than a database read per watcher, and ended at its
//! maximum lifetime; and a watch on one replica sees changes made on another
//! through the published order events.

use std::time::{Duration, Instant};

use bazaar_order::store::sql::reads;
use bazaar_proto::order::v1::{
    OrderStatus, ShipOrderRequest, WatchOrderRequest, order_service_client::OrderServiceClient,
};
use bazaar_runtime::{auth::Role, db::Backend, testing::Spawned};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::support::{Shop, as_user, backends, isolated_events, jetstream, place, test_cards};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_watches_hit_the_caps_and_cost_no_reads_each() {
    for backend in backends() {
        let shop = Shop::open_with(backend, |config| {
            config.settings.watch.per_connection = 100;
            config.settings.watch.total = 1_000;
            config.settings.watch.replica_poll = Duration::from_millis(500);
        })
        .await;
        let mug = shop.stock("MUG", 1_000, 10).await;
        let ada = shop.token("ada", Role::Customer);
        let order = shop
            .orders()
            .await
            .place_order(as_user(
                place("watched", &[(&mug, 1)], test_cards::APPROVED),
                &ada,
            ))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_eq!(order.status(), OrderStatus::Confirmed);
        let watch = || {
            as_user(
                WatchOrderRequest {
                    order_id: order.id.clone(),
                },
                &ada,
            )
        };
        let running = shop.order.as_ref().unwrap();

        // 20 connections: the first asks for 110 watches (10 beyond its
        // cap), the others 100 each (all beyond the total once it is full).
        let (before, started) = (reads(), Instant::now());
        let (mut open, mut per_connection_refused, mut total_refused) = (Vec::new(), 0, 0);
        for connection in 0..20 {
            let mut client = OrderServiceClient::new(running.channel_as("gateway"));
            let asks = if connection == 0 { 110 } else { 100 };
            for _ in 0..asks {
                match client.watch_order(watch()).await {
                    Ok(stream) => open.push(stream.into_inner()),
                    Err(status) => {
                        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                        if status.message().contains("connection") {
                            per_connection_refused += 1;
                        } else {
                            total_refused += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(open.len(), 1_000, "{backend:?}");
        assert_eq!(per_connection_refused, 10, "{backend:?}");
        assert_eq!(total_refused, 1_000, "{backend:?}");
        // The first watch read the order; the others found it known, and the
        // refused ones read nothing. The rest is the shared poller's one read
        // of the one watched order per 500 ms while the watches opened.
        let opening = reads() - before;
        let polls = u64::try_from(started.elapsed().as_millis() / 500).unwrap() + 2;
        assert!(
            opening <= 1 + polls,
            "{backend:?}: {opening} reads opening 2 010 watches in {:?}",
            started.elapsed()
        );
        for stream in &mut open {
            let first = stream.next().await.unwrap().unwrap().order.unwrap();
            assert_eq!(first.status(), OrderStatus::Confirmed);
        }

        // While 1 000 watchers wait, the one shared poller reads the one
        // watched order every 500 ms: a handful of reads, not 1 000 a second.
        let idle = reads();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idling = reads() - idle;
        assert!(idling <= 8, "{backend:?}: {idling} reads while idle");

        // A closed watch gives its place back.
        drop(open.pop());
        let mut client = OrderServiceClient::new(running.channel_as("gateway"));
        let mut admitted = None;
        for _ in 0..50 {
            match client.watch_order(watch()).await {
                Ok(stream) => {
                    admitted = Some(stream);
                    break;
                }
                Err(status) => {
                    assert_eq!(status.code(), Code::ResourceExhausted);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        assert!(
            admitted.is_some(),
            "{backend:?}: the freed place was reused"
        );
        drop(admitted);
        drop(open);
        shop.close().await;
    }
}

#[tokio::test]
async fn a_watch_ends_at_its_maximum_lifetime() {
    for backend in backends() {
        let lifetime = Duration::from_millis(500);
        let shop = Shop::open_with(backend, |config| {
            config.settings.watch.max_lifetime = lifetime;
        })
        .await;
        let mug = shop.stock("MUG", 1_000, 10).await;
        let ada = shop.token("ada", Role::Customer);
        let mut orders = shop.orders().await;
        let order = orders
            .place_order(as_user(
                place("short-watch", &[(&mug, 1)], test_cards::APPROVED),
                &ada,
            ))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        // CONFIRMED can still change (cancel, ship): the watch stays open
        // until its lifetime ends, then ends cleanly.
        let started = Instant::now();
        let mut stream = orders
            .watch_order(as_user(
                WatchOrderRequest {
                    order_id: order.id.clone(),
                },
                &ada,
            ))
            .await
            .unwrap()
            .into_inner();
        let first = stream.next().await.unwrap().unwrap().order.unwrap();
        assert_eq!(first.status(), OrderStatus::Confirmed);
        let end = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the watch ends by itself");
        assert!(end.is_none(), "{backend:?}: {end:?}");
        let lasted = started.elapsed();
        assert!(
            lasted >= lifetime - Duration::from_millis(50),
            "{backend:?}: {lasted:?}"
        );
        shop.close().await;
    }
}

async fn watch_across_replicas(backend: Backend) {
    let events = isolated_events();
    let stream_name = events.stream.clone();
    // A minute between replica polls: only the published events can bring
    // replica A's change to replica B's watch in time.
    let shop = Shop::open_with(backend, |config| {
        config.settings.events = events;
        config.settings.watch.replica_poll = Duration::from_secs(60);
    })
    .await;
    // Replica B: the same configuration, so the same database and events.
    let config = shop.order_config.clone();
    let replica_b =
        Spawned::start_in_mesh("order", move |l, s| bazaar_order::run(config, l, s)).await;
    let mug = shop.stock("MUG-REPLICA", 1_000, 10).await;
    let ada = shop.token("ada", Role::Customer);
    let admin = shop.token("boss", Role::Admin);
    let mut on_a = shop.orders().await;
    let order = shop
        .checkout(place("replicas", &[(&mug, 1)], test_cards::APPROVED), &ada)
        .await;
    assert_eq!(order.status(), OrderStatus::Confirmed, "{backend:?}");

    let mut on_b = OrderServiceClient::new(replica_b.channel_as("gateway"));
    let mut watch = on_b
        .watch_order(as_user(
            WatchOrderRequest {
                order_id: order.id.clone(),
            },
            &ada,
        ))
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("the watch answers the order as it is")
        .unwrap()
        .unwrap()
        .order
        .unwrap();
    assert_eq!(first.status(), OrderStatus::Confirmed, "{backend:?}");

    on_a.ship_order(as_user(
        ShipOrderRequest {
            order_id: order.id.clone(),
        },
        &admin,
    ))
    .await
    .unwrap();
    let returned = Instant::now();
    let next = tokio::time::timeout(Duration::from_millis(100), watch.next())
        .await
        .unwrap_or_else(|_| {
            panic!("{backend:?}: replica B's watch heard nothing within 100 ms of A shipping")
        })
        .expect("the watch goes on")
        .unwrap()
        .order
        .unwrap();
    let latency = returned.elapsed();
    eprintln!(
        "{backend:?}: replica B's watch saw SHIPPED {latency:?} after A's ShipOrder returned"
    );
    assert_eq!(next.status(), OrderStatus::Shipped, "{backend:?}: {next:?}");
    assert_eq!(next.id, order.id);

    drop(watch);
    replica_b.stop().await.expect("replica B stops cleanly");
    jetstream().await.delete_stream(&stream_name).await.unwrap();
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_on_one_replica_sees_a_change_made_on_another_at_once() {
    for backend in backends() {
        watch_across_replicas(backend).await;
    }
}
