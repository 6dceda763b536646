//! The demo catalog is loaded once, on a start that finds no products.

use bazaar_proto::product::v1::{ListProductsRequest, Product};
use bazaar_runtime::db::testing::backends;

use crate::support::{App, spawn_app_with};

async fn catalog(app: &App) -> Vec<Product> {
    let mut client = app.client().await;
    client
        .list_products(ListProductsRequest {
            page_size: 100,
            ..ListProductsRequest::default()
        })
        .await
        .expect("list")
        .into_inner()
        .products
}

#[tokio::test]
async fn the_seed_catalog_loads_once() {
    for backend in backends() {
        let mut app = spawn_app_with(backend, |config| config.settings.seed_catalog = true).await;
        let seeded = catalog(&app).await;
        assert_eq!(seeded.len(), 12, "{backend:?}");
        let mut categories: Vec<_> = seeded.iter().map(|p| p.category.as_str()).collect();
        categories.sort_unstable();
        categories.dedup();
        assert_eq!(categories.len(), 4, "{backend:?}");
        assert!(seeded.iter().all(|p| {
            p.price.as_ref().is_some_and(|m| m.currency_code == "EUR")
                && (20..=200).contains(&p.stock)
        }));

        app.restart().await;
        let after_restart = catalog(&app).await;
        assert_eq!(after_restart, seeded, "{backend:?}: not loaded twice");
        app.stop().await;
    }
}
