//! Creating, reading, changing and deleting products, and who may.

use bazaar_proto::product::v1::{
    CreateProductRequest, DeleteProductRequest, GetProductRequest, Product, UpdateProductRequest,
};
use bazaar_runtime::db::testing::backends;
use prost_types::FieldMask;
use tonic::{Code, Request};

use crate::support::{eur, product, spawn_app, violated_fields};

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

#[tokio::test]
async fn an_admin_creates_gets_updates_and_deletes_a_product() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;

        let created = app
            .create(product("MUG-001", "Blue Mug", "kitchen", 12))
            .await;
        assert!(uuid::Uuid::parse_str(&created.id).is_ok(), "{backend:?}");
        assert_eq!(created.sku, "MUG-001");
        assert_eq!(created.price, eur(1_999));
        assert!(created.create_time.is_some() && created.update_time.is_some());

        // Reading is public: no token needed.
        let fetched = client
            .get_product(GetProductRequest {
                product_id: created.id.clone(),
            })
            .await
            .expect("get")
            .into_inner()
            .product
            .expect("product");
        assert_eq!(fetched, created, "{backend:?}");

        let updated = client
            .update_product(app.as_admin(UpdateProductRequest {
                product: Some(Product {
                    id: created.id.clone(),
                    name: "Big Blue Mug".into(),
                    ..Product::default()
                }),
                update_mask: mask(&["name"]),
            }))
            .await
            .expect("update")
            .into_inner()
            .product
            .expect("product");
        assert_eq!(updated.name, "Big Blue Mug");
        assert_eq!(updated.sku, "MUG-001");

        client
            .delete_product(app.as_admin(DeleteProductRequest {
                product_id: created.id.clone(),
            }))
            .await
            .expect("delete");
        let gone = client
            .get_product(GetProductRequest {
                product_id: created.id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(gone.code(), Code::NotFound, "{backend:?}");
        let again = client
            .delete_product(app.as_admin(DeleteProductRequest {
                product_id: created.id,
            }))
            .await
            .unwrap_err();
        assert_eq!(again.code(), Code::NotFound, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn customers_may_not_change_the_catalog() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let existing = app.create(product("MUG-001", "Mug", "kitchen", 5)).await;

        let create = client
            .create_product(app.as_customer(CreateProductRequest {
                product: Some(product("MUG-002", "Mug", "kitchen", 5)),
            }))
            .await
            .unwrap_err();
        assert_eq!(create.code(), Code::PermissionDenied, "{backend:?}");

        let update = client
            .update_product(app.as_customer(UpdateProductRequest {
                product: Some(Product {
                    id: existing.id.clone(),
                    stock: 1_000,
                    ..Product::default()
                }),
                update_mask: mask(&["stock"]),
            }))
            .await
            .unwrap_err();
        assert_eq!(update.code(), Code::PermissionDenied, "{backend:?}");

        let delete = client
            .delete_product(app.as_customer(DeleteProductRequest {
                product_id: existing.id.clone(),
            }))
            .await
            .unwrap_err();
        assert_eq!(delete.code(), Code::PermissionDenied, "{backend:?}");
        assert_eq!(app.stock(&existing.id).await, 5);
        app.stop().await;
    }
}

#[tokio::test]
async fn anonymous_callers_may_read_but_not_write() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let existing = app.create(product("MUG-001", "Mug", "kitchen", 5)).await;

        let create = client
            .create_product(Request::new(CreateProductRequest {
                product: Some(product("MUG-002", "Mug", "kitchen", 5)),
            }))
            .await
            .unwrap_err();
        assert_eq!(create.code(), Code::Unauthenticated, "{backend:?}");

        let delete = client
            .delete_product(DeleteProductRequest {
                product_id: existing.id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(delete.code(), Code::Unauthenticated, "{backend:?}");

        // A bad token does not lock anyone out of reading.
        let mut request = Request::new(GetProductRequest {
            product_id: existing.id.clone(),
        });
        request
            .metadata_mut()
            .insert("authorization", "Bearer not-a-jwt".parse().expect("header"));
        assert!(client.get_product(request).await.is_ok(), "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_taken_sku_is_already_exists() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        app.create(product("MUG-001", "Mug", "kitchen", 5)).await;
        let other = app.create(product("MUG-002", "Mug", "kitchen", 5)).await;

        let duplicate = client
            .create_product(app.as_admin(CreateProductRequest {
                product: Some(product("MUG-001", "Other Mug", "kitchen", 1)),
            }))
            .await
            .unwrap_err();
        assert_eq!(duplicate.code(), Code::AlreadyExists, "{backend:?}");

        let renamed = client
            .update_product(app.as_admin(UpdateProductRequest {
                product: Some(Product {
                    id: other.id,
                    sku: "MUG-001".into(),
                    ..Product::default()
                }),
                update_mask: mask(&["sku"]),
            }))
            .await
            .unwrap_err();
        assert_eq!(renamed.code(), Code::AlreadyExists, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn an_unknown_product_is_not_found() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let id = uuid::Uuid::new_v4().to_string();

        let get = client
            .get_product(GetProductRequest {
                product_id: id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(get.code(), Code::NotFound, "{backend:?}");

        let update = client
            .update_product(app.as_admin(UpdateProductRequest {
                product: Some(Product {
                    id,
                    name: "Ghost".into(),
                    ..Product::default()
                }),
                update_mask: mask(&["name"]),
            }))
            .await
            .unwrap_err();
        assert_eq!(update.code(), Code::NotFound, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn an_update_touches_only_the_masked_fields() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let original = app
            .create(product("LAMP-1", "Desk Lamp", "office", 7))
            .await;

        // Every field carries a new value, but only price and stock are
        // named in the mask.
        let updated = client
            .update_product(app.as_admin(UpdateProductRequest {
                product: Some(Product {
                    id: original.id.clone(),
                    sku: "LAMP-2".into(),
                    name: "Floor Lamp".into(),
                    description: "Changed".into(),
                    category: "lighting".into(),
                    price: eur(4_500),
                    stock: 3,
                    ..Product::default()
                }),
                update_mask: mask(&["price", "stock"]),
            }))
            .await
            .expect("update")
            .into_inner()
            .product
            .expect("product");
        assert_eq!(updated.price, eur(4_500), "{backend:?}");
        assert_eq!(updated.stock, 3);
        assert_eq!(updated.sku, original.sku);
        assert_eq!(updated.name, original.name);
        assert_eq!(updated.description, original.description);
        assert_eq!(updated.category, original.category);
        assert_eq!(updated.create_time, original.create_time);

        // Stock can be set to zero when the mask names it.
        let emptied = client
            .update_product(app.as_admin(UpdateProductRequest {
                product: Some(Product {
                    id: original.id.clone(),
                    ..Product::default()
                }),
                update_mask: mask(&["stock"]),
            }))
            .await
            .expect("update")
            .into_inner()
            .product
            .expect("product");
        assert_eq!(emptied.stock, 0, "{backend:?}");
        assert_eq!(emptied.price, eur(4_500));
        app.stop().await;
    }
}

#[tokio::test]
async fn an_empty_mask_updates_the_fields_present() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let original = app
            .create(product("LAMP-1", "Desk Lamp", "office", 7))
            .await;

        let updated = client
            .update_product(app.as_admin(UpdateProductRequest {
                product: Some(Product {
                    id: original.id.clone(),
                    description: "Now dimmable.".into(),
                    ..Product::default()
                }),
                update_mask: None,
            }))
            .await
            .expect("update")
            .into_inner()
            .product
            .expect("product");
        assert_eq!(updated.description, "Now dimmable.", "{backend:?}");
        assert_eq!(updated.name, original.name);
        assert_eq!(updated.stock, 7);
        assert_eq!(updated.price, original.price);
        app.stop().await;
    }
}

#[tokio::test]
async fn unknown_or_immutable_mask_paths_are_rejected() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let mut client = app.client().await;
        let original = app
            .create(product("LAMP-1", "Desk Lamp", "office", 7))
            .await;

        for path in ["colour", "id", "create_time", "price.amount_minor"] {
            let status = client
                .update_product(app.as_admin(UpdateProductRequest {
                    product: Some(Product {
                        id: original.id.clone(),
                        name: "Renamed".into(),
                        ..Product::default()
                    }),
                    update_mask: mask(&["name", path]),
                }))
                .await
                .unwrap_err();
            assert_eq!(
                violated_fields(&status),
                ["update_mask.paths"],
                "{backend:?} {path}"
            );
        }
        // Nothing changed.
        let mut client = app.client().await;
        let current = client
            .get_product(GetProductRequest {
                product_id: original.id,
            })
            .await
            .expect("get")
            .into_inner()
            .product
            .expect("product");
        assert_eq!(current.name, "Desk Lamp", "{backend:?}");
        app.stop().await;
    }
}
