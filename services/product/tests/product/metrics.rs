//! The stock metrics on the admin port: what really happened to stock,
//! counted once.

use std::time::{Duration, Instant};

use bazaar_runtime::{
    db::testing::backends,
    testing::{free_addr, sample, scrape},
};
use tonic::Code;

use crate::support::{App, product, reserve, spawn_app_with};

async fn metric(app: &App, series: &str) -> Option<f64> {
    let addr = app.admin_addr().expect("an admin port");
    sample(&scrape(addr).await, series)
}

#[tokio::test]
async fn a_refused_reservation_counts_one_stockout() {
    for backend in backends() {
        let app = spawn_app_with(backend, |config| {
            config.shared.server.admin_listen = Some(free_addr());
        })
        .await;
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 3)).await;
        assert_eq!(metric(&app, "bazaar_stockouts_total").await, Some(0.0));
        let mut client = app.stock_client();
        let status = client
            .reserve_stock(reserve("order-1", &[(&mug.id, 4)]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend:?}");
        // One that fits is no stockout.
        client
            .reserve_stock(reserve("order-2", &[(&mug.id, 3)]))
            .await
            .unwrap();
        assert_eq!(
            metric(&app, "bazaar_stockouts_total").await,
            Some(1.0),
            "{backend:?}"
        );
        assert_eq!(
            metric(
                &app,
                "grpc_server_handled_total{grpc_type=\"unary\",grpc_service=\"bazaar.product.v1.ProductService\",grpc_method=\"ReserveStock\",grpc_code=\"FailedPrecondition\"}"
            )
            .await,
            Some(1.0),
            "{backend:?}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn the_sweeper_counts_the_reservations_it_expired() {
    for backend in backends() {
        let app = spawn_app_with(backend, |config| {
            config.shared.server.admin_listen = Some(free_addr());
            config.settings.stock.reservation_ttl = Duration::from_millis(300);
            config.settings.stock.sweep_interval = Duration::from_millis(50);
        })
        .await;
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 10)).await;
        let mut client = app.stock_client();
        for order in ["order-1", "order-2"] {
            client
                .reserve_stock(reserve(order, &[(&mug.id, 2)]))
                .await
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while metric(&app, "bazaar_reservations_expired_total").await != Some(2.0) {
            assert!(
                Instant::now() < deadline,
                "{backend:?}: the sweeper never counted both"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Further sweeps find nothing left to expire.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            metric(&app, "bazaar_reservations_expired_total").await,
            Some(2.0),
            "{backend:?}"
        );
        assert_eq!(app.stock(&mug.id).await, 10, "{backend:?}");
        app.stop().await;
    }
}
