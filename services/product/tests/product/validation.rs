//! Bad input is `INVALID_ARGUMENT` naming each bad field, never `INTERNAL`.

use bazaar_proto::{
    common::v1::Money,
    product::v1::{
        CommitReservationRequest, CreateProductRequest, GetProductRequest, ListProductsRequest,
        Product, UpdateProductRequest,
    },
};
use bazaar_runtime::db::testing::backends;

use crate::support::{product, reserve, spawn_app, violated_fields};

#[tokio::test]
async fn a_bad_product_reports_every_bad_field() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let create = async |product: Product| {
            let mut client = app.client().await;
            let status = client
                .create_product(app.as_admin(CreateProductRequest {
                    product: Some(product),
                }))
                .await
                .unwrap_err();
            violated_fields(&status)
        };

        let mut negative = product("MUG-1", "Mug", "kitchen", 1);
        negative.price = Some(Money {
            currency_code: "EUR".into(),
            amount_minor: -1,
        });
        assert_eq!(
            create(negative).await,
            ["product.price.amount_minor"],
            "{backend:?}"
        );

        let mut unknown_currency = product("MUG-1", "Mug", "kitchen", 1);
        unknown_currency.price = Some(Money {
            currency_code: "XYZ".into(),
            amount_minor: 100,
        });
        assert_eq!(
            create(unknown_currency).await,
            ["product.price.currency_code"]
        );

        let mut lower_case_currency = product("MUG-1", "Mug", "kitchen", 1);
        lower_case_currency.price = Some(Money {
            currency_code: "eur".into(),
            amount_minor: 100,
        });
        assert_eq!(
            create(lower_case_currency).await,
            ["product.price.currency_code"]
        );

        assert_eq!(
            create(product("", "Mug", "kitchen", 1)).await,
            ["product.sku"]
        );

        // Everything wrong at once: each field is reported.
        let all_wrong = Product {
            sku: "lower case".into(),
            name: " ".into(),
            description: "x".repeat(5_001),
            category: "Kitchen".into(),
            price: None,
            stock: -5,
            ..Product::default()
        };
        assert_eq!(
            create(all_wrong).await,
            [
                "product.sku",
                "product.name",
                "product.description",
                "product.category",
                "product.price",
                "product.stock"
            ],
            "{backend:?}"
        );

        let status = client
            .create_product(app.as_admin(CreateProductRequest { product: None }))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["product"]);
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_updates_name_the_field() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let existing = app.create(product("MUG-1", "Mug", "kitchen", 1)).await;

        let status = client
            .update_product(app.as_admin(UpdateProductRequest {
                product: Some(Product {
                    id: existing.id.clone(),
                    stock: -1,
                    price: Some(Money {
                        currency_code: "EUR".into(),
                        amount_minor: -100,
                    }),
                    ..Product::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["stock".into(), "price".into()],
                }),
            }))
            .await
            .unwrap_err();
        assert_eq!(
            violated_fields(&status),
            ["product.price.amount_minor", "product.stock"],
            "{backend:?}"
        );

        let status = client
            .update_product(app.as_admin(UpdateProductRequest {
                product: Some(Product {
                    id: "not-a-uuid".into(),
                    name: "Mug".into(),
                    ..Product::default()
                }),
                update_mask: None,
            }))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["product.id"], "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_listing_requests_are_invalid_arguments() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        app.create(product("MUG-1", "Mug", "kitchen", 1)).await;

        let cases = [
            (
                ListProductsRequest {
                    page_size: 10_000,
                    ..ListProductsRequest::default()
                },
                "page_size",
            ),
            (
                ListProductsRequest {
                    page_size: -1,
                    ..ListProductsRequest::default()
                },
                "page_size",
            ),
            (
                ListProductsRequest {
                    page_token: "garbage!!".into(),
                    ..ListProductsRequest::default()
                },
                "page_token",
            ),
            (
                ListProductsRequest {
                    // Valid base64url, but not a token this service made.
                    page_token: "eyJoZWxsbyI6IndvcmxkIn0".into(),
                    ..ListProductsRequest::default()
                },
                "page_token",
            ),
            (
                ListProductsRequest {
                    category: "Not A Slug".into(),
                    ..ListProductsRequest::default()
                },
                "category",
            ),
        ];
        for (request, field) in cases {
            let status = client.list_products(request).await.unwrap_err();
            assert_eq!(violated_fields(&status), [field], "{backend:?}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn ids_must_be_uuids() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let status = client
            .get_product(GetProductRequest {
                product_id: "42".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["product_id"], "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_reservations_name_the_item() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.stock_client();
        let mug = app.create(product("MUG-1", "Mug", "kitchen", 5)).await;
        let cup = app.create(product("CUP-1", "Cup", "kitchen", 5)).await;

        let cases = [
            (reserve("order-1", &[]), vec!["items"]),
            (reserve("", &[(&mug.id, 1)]), vec!["order_id"]),
            (
                reserve("order-1", &[(&mug.id, 1), (&cup.id, 0)]),
                vec!["items[1].quantity"],
            ),
            (
                reserve("order-1", &[(&mug.id, -2), ("nope", 1)]),
                vec!["items[0].quantity", "items[1].product_id"],
            ),
            (
                reserve("order-1", &[(&mug.id, 1), (&cup.id, 1), (&mug.id, 2)]),
                vec!["items[2].product_id"],
            ),
        ];
        for (request, fields) in cases {
            let status = client.reserve_stock(request).await.unwrap_err();
            assert_eq!(violated_fields(&status), fields, "{backend:?}");
        }
        let status = client
            .commit_reservation(CommitReservationRequest {
                order_id: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["order_id"]);
        // Nothing was taken.
        assert_eq!(app.stock(&mug.id).await, 5, "{backend:?}");
        app.stop().await;
    }
}
