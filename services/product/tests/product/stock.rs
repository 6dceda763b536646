//! Reserving, committing and releasing stock: atomic, idempotent, and never
//! overselling under concurrency.

use std::time::{Duration, Instant};

use bazaar_proto::product::v1::{
    CommitReservationRequest, Product, ReleaseReservationRequest, Reservation, ReservationState,
    UpdateProductRequest,
};
use bazaar_runtime::db::testing::backends;
use tokio::task::JoinSet;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{App, eur, product, reason, reserve, spawn_app, spawn_app_with};

async fn reserved(app: &App, order_id: &str, items: &[(&str, i32)]) -> Reservation {
    let mut client = app.stock_client();
    client
        .reserve_stock(reserve(order_id, items))
        .await
        .unwrap_or_else(|s| panic!("{:?}: reserve failed: {s:?}", app.backend))
        .into_inner()
        .reservation
        .expect("reservation")
}

fn state(reservation: &Reservation) -> ReservationState {
    ReservationState::try_from(reservation.state).unwrap_or(ReservationState::Unspecified)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_reservations_never_oversell() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let client = app.stock_client();
        let scarce = app.create(product("HOT-1", "Hot Item", "deals", 10)).await;

        let mut calls = JoinSet::new();
        for i in 0..100 {
            let mut client = client.clone();
            let request = reserve(&format!("order-{i}"), &[(&scarce.id, 1)]);
            calls.spawn(async move { client.reserve_stock(request).await });
        }
        let (mut won, mut lost) = (0, 0);
        while let Some(result) = calls.join_next().await {
            match result.expect("task") {
                Ok(_) => won += 1,
                Err(status) => {
                    assert_eq!(
                        status.code(),
                        Code::FailedPrecondition,
                        "{backend:?}: {status:?}"
                    );
                    assert_eq!(reason(&status), "INSUFFICIENT_STOCK");
                    assert!(
                        status.message().contains(&scarce.id),
                        "{}",
                        status.message()
                    );
                    lost += 1;
                }
            }
        }
        assert_eq!((won, lost), (10, 90), "{backend:?}");
        assert_eq!(app.stock(&scarce.id).await, 0, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_reservation_is_all_or_nothing() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.stock_client();
        let plenty = app.create(product("A-1", "Plenty", "deals", 10)).await;
        let scarce = app.create(product("B-1", "Scarce", "deals", 1)).await;

        let status = client
            .reserve_stock(reserve("order-1", &[(&plenty.id, 3), (&scarce.id, 2)]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend:?}");
        assert_eq!(reason(&status), "INSUFFICIENT_STOCK");
        assert!(
            status.message().contains(&scarce.id),
            "{}",
            status.message()
        );
        let info = status.get_details_error_info().expect("ErrorInfo details");
        assert_eq!(
            info.metadata.get("product_id"),
            Some(&scarce.id),
            "the details name the product that ran short"
        );
        assert_eq!(app.stock(&plenty.id).await, 10, "{backend:?}");
        assert_eq!(app.stock(&scarce.id).await, 1, "{backend:?}");

        // The failed attempt left no reservation behind: the order can retry
        // with what is available.
        let ok = reserved(&app, "order-1", &[(&plenty.id, 3), (&scarce.id, 1)]).await;
        assert_eq!(state(&ok), ReservationState::Reserved);
        assert_eq!(app.stock(&plenty.id).await, 7);
        assert_eq!(app.stock(&scarce.id).await, 0);

        let unknown = uuid::Uuid::new_v4().to_string();
        let status = client
            .reserve_stock(reserve("order-2", &[(&plenty.id, 1), (&unknown, 1)]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{backend:?}");
        assert_eq!(app.stock(&plenty.id).await, 7);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_reservation_keeps_the_price_and_name_it_was_made_at() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let mut stock = app.stock_client();
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 10)).await;

        let first = reserved(&app, "order-1", &[(&mug.id, 2)]).await;
        assert_eq!(first.order_id, "order-1");
        assert_eq!(first.items.len(), 1);
        assert_eq!(first.items[0].product_id, mug.id);
        assert_eq!(first.items[0].quantity, 2);
        assert_eq!(first.items[0].product_name, "Mug");
        assert_eq!(first.items[0].unit_price, eur(1_999));
        let seconds = |t: &Option<prost_types::Timestamp>| t.as_ref().map_or(0, |t| t.seconds);
        // The default TTL is 15 minutes.
        assert!(
            seconds(&first.expire_time) >= seconds(&first.create_time) + 899,
            "{backend:?}"
        );

        client
            .update_product(app.as_admin(UpdateProductRequest {
                product: Some(Product {
                    id: mug.id.clone(),
                    name: "Dearer Mug".into(),
                    price: eur(2_999),
                    ..Product::default()
                }),
                update_mask: None,
            }))
            .await
            .expect("update");
        let retried = reserved(&app, "order-1", &[(&mug.id, 2)]).await;
        assert_eq!(retried, first, "{backend:?}");
        let committed = stock
            .commit_reservation(CommitReservationRequest {
                order_id: "order-1".into(),
            })
            .await
            .expect("commit")
            .into_inner()
            .reservation
            .expect("reservation");
        assert_eq!(committed.items, first.items, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeating_a_reservation_returns_it_and_takes_stock_once() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let client = app.stock_client();
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 10)).await;
        let cup = app.create(product("CUP-1", "Cup", "kitchen", 10)).await;
        let items = [(mug.id.as_str(), 2), (cup.id.as_str(), 1)];

        // Ten at once, as a retrying caller might.
        let mut calls = JoinSet::new();
        for _ in 0..10 {
            let mut client = client.clone();
            let request = reserve("order-1", &items);
            calls.spawn(async move { client.reserve_stock(request).await });
        }
        let mut reservations = Vec::new();
        while let Some(result) = calls.join_next().await {
            let response = result
                .expect("task")
                .unwrap_or_else(|s| panic!("{backend:?}: {s:?}"));
            reservations.push(response.into_inner().reservation.expect("reservation"));
        }
        assert!(
            reservations.windows(2).all(|w| w[0] == w[1]),
            "{backend:?}: all the same reservation"
        );
        assert_eq!(app.stock(&mug.id).await, 8, "{backend:?}");
        assert_eq!(app.stock(&cup.id).await, 9, "{backend:?}");

        // Again later, items in another order: still the same reservation.
        let again = reserved(&app, "order-1", &[(&cup.id, 1), (&mug.id, 2)]).await;
        assert_eq!(again, reservations[0], "{backend:?}");
        assert_eq!(app.stock(&mug.id).await, 8);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_same_order_with_different_items_is_already_exists() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.stock_client();
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 10)).await;
        let cup = app.create(product("CUP-1", "Cup", "kitchen", 10)).await;
        reserved(&app, "order-1", &[(&mug.id, 2)]).await;

        for items in [
            vec![(mug.id.as_str(), 3)],
            vec![(cup.id.as_str(), 2)],
            vec![(mug.id.as_str(), 2), (cup.id.as_str(), 1)],
        ] {
            let status = client
                .reserve_stock(reserve("order-1", &items))
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::AlreadyExists, "{backend:?}");
        }
        assert_eq!(app.stock(&mug.id).await, 8, "{backend:?}");
        assert_eq!(app.stock(&cup.id).await, 10, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn commit_then_release_returns_the_stock_once() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.stock_client();
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 10)).await;
        reserved(&app, "order-1", &[(&mug.id, 4)]).await;
        assert_eq!(app.stock(&mug.id).await, 6);

        let commit = CommitReservationRequest {
            order_id: "order-1".into(),
        };
        for _ in 0..2 {
            let committed = client
                .commit_reservation(commit.clone())
                .await
                .expect("commit is idempotent")
                .into_inner()
                .reservation
                .expect("reservation");
            assert_eq!(
                state(&committed),
                ReservationState::Committed,
                "{backend:?}"
            );
        }
        assert_eq!(
            app.stock(&mug.id).await,
            6,
            "committing takes no more stock"
        );

        let release = ReleaseReservationRequest {
            order_id: "order-1".into(),
        };
        for _ in 0..2 {
            let released = client
                .release_reservation(release.clone())
                .await
                .expect("release is idempotent")
                .into_inner()
                .reservation
                .expect("reservation");
            assert_eq!(state(&released), ReservationState::Released, "{backend:?}");
            assert_eq!(app.stock(&mug.id).await, 10, "{backend:?}: returned once");
        }

        let status = client.commit_reservation(commit).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend:?}");
        assert_eq!(reason(&status), "RESERVATION_RELEASED");

        // Releasing a reservation that was never committed returns it too.
        reserved(&app, "order-2", &[(&mug.id, 3)]).await;
        assert_eq!(app.stock(&mug.id).await, 7);
        client
            .release_reservation(ReleaseReservationRequest {
                order_id: "order-2".into(),
            })
            .await
            .expect("release");
        assert_eq!(app.stock(&mug.id).await, 10, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_reservation_outlives_its_deleted_product() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let mut stock = app.stock_client();
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 10)).await;
        let held = reserved(&app, "order-1", &[(&mug.id, 2)]).await;
        client
            .delete_product(
                app.as_admin(bazaar_proto::product::v1::DeleteProductRequest {
                    product_id: mug.id.clone(),
                }),
            )
            .await
            .expect("delete");

        let released = stock
            .release_reservation(ReleaseReservationRequest {
                order_id: "order-1".into(),
            })
            .await
            .expect("release")
            .into_inner()
            .reservation
            .expect("reservation");
        assert_eq!(state(&released), ReservationState::Released, "{backend:?}");
        assert_eq!(
            released.items, held.items,
            "{backend:?}: name and price kept"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn an_unknown_reservation_is_not_found() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.stock_client();
        let commit = client
            .commit_reservation(CommitReservationRequest {
                order_id: "nobody".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(commit.code(), Code::NotFound, "{backend:?}");
        let release = client
            .release_reservation(ReleaseReservationRequest {
                order_id: "nobody".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(release.code(), Code::NotFound, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn the_sweeper_returns_the_stock_of_expired_reservations() {
    for backend in backends() {
        let app = spawn_app_with(backend, |config| {
            // Long enough to commit order-2 in time on a loaded machine.
            config.settings.stock.reservation_ttl = Duration::from_secs(1);
            config.settings.stock.sweep_interval = Duration::from_millis(50);
        })
        .await;
        let mut client = app.stock_client();
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 10)).await;
        reserved(&app, "order-1", &[(&mug.id, 4)]).await;
        reserved(&app, "order-2", &[(&mug.id, 1)]).await;
        client
            .commit_reservation(CommitReservationRequest {
                order_id: "order-2".into(),
            })
            .await
            .expect("commit in time");

        let deadline = Instant::now() + Duration::from_secs(10);
        while app.stock(&mug.id).await != 9 {
            assert!(
                Instant::now() < deadline,
                "{backend:?}: stock never came back"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let status = client
            .commit_reservation(CommitReservationRequest {
                order_id: "order-1".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend:?}");
        assert_eq!(reason(&status), "RESERVATION_EXPIRED");
        let released = client
            .release_reservation(ReleaseReservationRequest {
                order_id: "order-1".into(),
            })
            .await
            .expect("releasing an expired reservation is a no-op")
            .into_inner()
            .reservation
            .expect("reservation");
        assert_eq!(state(&released), ReservationState::Expired);
        // The committed one was not touched, and nothing came back twice.
        assert_eq!(app.stock(&mug.id).await, 9, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_late_commit_fails_even_before_the_sweeper_runs() {
    for backend in backends() {
        let app = spawn_app_with(backend, |config| {
            config.settings.stock.reservation_ttl = Duration::from_millis(1);
            config.settings.stock.sweep_interval = Duration::from_secs(3_600);
        })
        .await;
        let mut client = app.stock_client();
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 10)).await;
        reserved(&app, "order-1", &[(&mug.id, 4)]).await;
        tokio::time::sleep(Duration::from_millis(5)).await;

        let status = client
            .commit_reservation(CommitReservationRequest {
                order_id: "order-1".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend:?}");
        assert_eq!(reason(&status), "RESERVATION_EXPIRED");
        assert_eq!(app.stock(&mug.id).await, 10, "{backend:?}");
        app.stop().await;
    }
}
