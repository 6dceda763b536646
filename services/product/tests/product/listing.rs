//! Listing: keyset pages, search text and category filters.

use std::collections::HashSet;

use bazaar_proto::product::v1::{ListProductsRequest, Product};
use bazaar_runtime::db::testing::backends;

use crate::support::{App, Client, product, spawn_app, violated_fields};

/// Walks every page of `request`, calling `between_pages` after each.
async fn walk(
    client: &mut Client,
    request: ListProductsRequest,
    mut between_pages: impl AsyncFnMut(usize),
) -> (Vec<Product>, usize) {
    let mut all = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_products(ListProductsRequest {
                page_token: token.clone(),
                ..request.clone()
            })
            .await
            .expect("list")
            .into_inner();
        pages += 1;
        assert!(
            page.products.len() <= request.page_size.max(1) as usize || request.page_size == 0,
            "page too long"
        );
        all.extend(page.products);
        if page.next_page_token.is_empty() {
            return (all, pages);
        }
        token = page.next_page_token;
        between_pages(pages).await;
        assert!(pages < 1_000, "the walk does not end");
    }
}

fn key(p: &Product) -> (String, String) {
    (p.name.clone(), p.id.clone())
}

/// 50 products whose names do not follow creation order, ten sharing one
/// name so the id breaks ties.
async fn fifty_products(app: &App) -> Vec<Product> {
    let mut created = Vec::new();
    for i in 0..50 {
        let name = if i % 5 == 0 {
            "Twin".to_owned()
        } else {
            format!("Item {:02}", (i * 37) % 50)
        };
        let category = if i % 2 == 0 { "even" } else { "odd" };
        created.push(
            app.create(product(&format!("SKU-{i:03}"), &name, category, 1))
                .await,
        );
    }
    created
}

#[tokio::test]
async fn paging_through_fifty_products_yields_each_once_in_order() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let mut expected = fifty_products(&app).await;
        expected.sort_by_key(key);

        let request = ListProductsRequest {
            page_size: 7,
            ..ListProductsRequest::default()
        };
        let (seen, pages) = walk(&mut client, request.clone(), async |_| {}).await;
        assert_eq!(pages, 8, "{backend:?}: 50 products in pages of 7");
        let seen_keys: Vec<_> = seen.iter().map(key).collect();
        let expected_keys: Vec<_> = expected.iter().map(key).collect();
        assert_eq!(seen_keys, expected_keys, "{backend:?}");

        // Products added during a walk, before and after the cursor, never
        // make it repeat or skip the others.
        let mut added = 0;
        let (seen, _) = walk(&mut client, request, async |page| {
            for name in ["Aardvark", "Zebra"] {
                added += 1;
                app.create(product(&format!("NEW-{page}-{added}"), name, "even", 1))
                    .await;
            }
        })
        .await;
        let keys: Vec<_> = seen.iter().map(key).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted, "{backend:?}: strictly ordered, no repeats");
        let originals: Vec<_> = keys
            .iter()
            .filter(|k| expected_keys.contains(k))
            .cloned()
            .collect();
        assert_eq!(originals, expected_keys, "{backend:?}: none skipped");
        app.stop().await;
    }
}

#[tokio::test]
async fn page_size_zero_means_twenty() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        fifty_products(&app).await;
        let page = client
            .list_products(ListProductsRequest::default())
            .await
            .expect("list")
            .into_inner();
        assert_eq!(page.products.len(), 20, "{backend:?}");
        assert!(!page.next_page_token.is_empty());
        app.stop().await;
    }
}

#[tokio::test]
async fn search_text_matches_name_and_description_case_insensitively() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        app.create(product("MUG-1", "Blue Coffee Mug", "kitchen", 1))
            .await;
        let mut described = product("CUP-1", "Espresso Cup", "kitchen", 1);
        described.description = "Pairs well with any COFFEE machine.".into();
        app.create(described).await;
        app.create(product("TEA-1", "Teapot", "kitchen", 1)).await;
        app.create(product("PCT-1", "100% Cotton Towel", "bath", 1))
            .await;

        let names = async |client: &mut Client, query: &str| -> Vec<String> {
            let (products, _) = walk(
                client,
                ListProductsRequest {
                    query: query.into(),
                    page_size: 2,
                    ..ListProductsRequest::default()
                },
                async |_| {},
            )
            .await;
            products.into_iter().map(|p| p.name).collect()
        };
        assert_eq!(
            names(&mut client, "cOfFeE").await,
            ["Blue Coffee Mug", "Espresso Cup"],
            "{backend:?}"
        );
        assert_eq!(names(&mut client, "teapot").await, ["Teapot"]);
        // The caller's % and _ are literal characters, not wildcards.
        assert_eq!(names(&mut client, "100%").await, ["100% Cotton Towel"]);
        assert!(names(&mut client, "%").await.len() == 1, "{backend:?}");
        assert!(names(&mut client, "_").await.is_empty(), "{backend:?}");
        assert!(names(&mut client, "nothing like it").await.is_empty());
        app.stop().await;
    }
}

#[tokio::test]
async fn the_category_filter_lists_only_that_category() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let created = fifty_products(&app).await;
        let odd: HashSet<_> = created
            .iter()
            .filter(|p| p.category == "odd")
            .map(|p| p.id.clone())
            .collect();

        let request = ListProductsRequest {
            category: "odd".into(),
            page_size: 6,
            ..ListProductsRequest::default()
        };
        let (seen, _) = walk(&mut client, request, async |_| {}).await;
        let seen_ids: HashSet<_> = seen.iter().map(|p| p.id.clone()).collect();
        assert_eq!(seen.len(), 25, "{backend:?}");
        assert_eq!(seen_ids, odd, "{backend:?}");

        let unknown = client
            .list_products(ListProductsRequest {
                category: "garden".into(),
                ..ListProductsRequest::default()
            })
            .await
            .expect("list")
            .into_inner();
        assert!(unknown.products.is_empty() && unknown.next_page_token.is_empty());
        app.stop().await;
    }
}

#[tokio::test]
async fn a_page_token_works_only_with_its_own_filter() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        fifty_products(&app).await;
        let first = client
            .list_products(ListProductsRequest {
                category: "odd".into(),
                page_size: 5,
                ..ListProductsRequest::default()
            })
            .await
            .expect("list")
            .into_inner();
        assert!(!first.next_page_token.is_empty());

        for (category, query) in [("even", ""), ("", ""), ("odd", "item")] {
            let status = client
                .list_products(ListProductsRequest {
                    category: category.into(),
                    query: query.into(),
                    page_size: 5,
                    page_token: first.next_page_token.clone(),
                })
                .await
                .unwrap_err();
            assert_eq!(violated_fields(&status), ["page_token"], "{backend:?}");
        }
        // The page size may change between pages.
        let next = client
            .list_products(ListProductsRequest {
                category: "odd".into(),
                page_size: 50,
                page_token: first.next_page_token,
                ..ListProductsRequest::default()
            })
            .await
            .expect("list")
            .into_inner();
        assert_eq!(next.products.len(), 20, "{backend:?}");
        app.stop().await;
    }
}
