//! The product service's request parsing against the field rules in
//! `product.proto` and `money.proto` (see `bazaar-contract`).

use bazaar_contract::{Suite, refused};
use bazaar_proto::{common::v1::Money, product::v1 as pb};

use super::parse;

const ID: &str = "0190e5a4-0000-7000-8000-000000000001";
const ORDER: &str = "0190e5a4-0000-7000-8000-0000000000aa";

fn product() -> pb::Product {
    pb::Product {
        id: ID.into(),
        sku: "MUG-001".into(),
        name: "Enamel mug".into(),
        description: "Holds tea.".into(),
        category: "kitchen".into(),
        price: Some(Money {
            currency_code: "EUR".into(),
            amount_minor: 1250,
        }),
        stock: 12,
        ..pb::Product::default()
    }
}

/// Order ids are limited in bytes, and the probes add one multi-byte
/// character to a valid id: that stays inside the limit, so no case needs
/// `stricter` for it.
fn reservation(order_id: &str) -> Vec<String> {
    refused(parse::order_id(order_id.to_owned()))
}

#[test]
fn parsing_follows_the_field_rules_of_product_proto() {
    let mut suite = Suite::new("bazaar.product.v1.ProductService");
    suite
        .check(
            "bazaar.product.v1.CreateProductRequest",
            pb::CreateProductRequest {
                product: Some(product()),
            },
            |r| refused(parse::create_product(r)),
        )
        .run();
    suite
        .check(
            "bazaar.product.v1.GetProductRequest",
            pb::GetProductRequest {
                product_id: ID.into(),
            },
            |r| refused(parse::product_id("product_id", &r.product_id)),
        )
        .run();
    suite
        .check(
            "bazaar.product.v1.ListProductsRequest",
            pb::ListProductsRequest {
                page_size: 10,
                page_token: String::new(),
                query: "mug".into(),
                category: "kitchen".into(),
            },
            |r| refused(parse::list_products(r)),
        )
        .run();
    suite
        .check(
            "bazaar.product.v1.UpdateProductRequest",
            pb::UpdateProductRequest {
                product: Some(product()),
                update_mask: None,
            },
            |r| refused(parse::update_product(r)),
        )
        .partial("product")
        .run();
    suite
        .check(
            "bazaar.product.v1.DeleteProductRequest",
            pb::DeleteProductRequest {
                product_id: ID.into(),
            },
            |r| refused(parse::product_id("product_id", &r.product_id)),
        )
        .run();
    suite
        .check(
            "bazaar.product.v1.ReserveStockRequest",
            pb::ReserveStockRequest {
                order_id: ORDER.into(),
                items: vec![pb::StockItem {
                    product_id: ID.into(),
                    quantity: 2,
                }],
            },
            |r| refused(parse::reserve_stock(r)),
        )
        .run();
    suite
        .check(
            "bazaar.product.v1.CommitReservationRequest",
            pb::CommitReservationRequest {
                order_id: ORDER.into(),
            },
            |r| reservation(&r.order_id),
        )
        .run();
    suite
        .check(
            "bazaar.product.v1.ReleaseReservationRequest",
            pb::ReleaseReservationRequest {
                order_id: ORDER.into(),
            },
            |r| reservation(&r.order_id),
        )
        .run();
    suite.finish();
}
