//! Requests → domain types, collecting every bad field at once.
//!
//! Field paths are the request's own (`product.price.currency_code`,
//! `items[2].quantity`), so a client can point at the exact input.

use std::collections::HashSet;

use bazaar_domain::{Currency, Money};
use bazaar_proto::{
    common::v1 as common,
    product::v1::{self as pb},
};
use bazaar_runtime::status::{FieldViolations, ServiceError};

use crate::domain::{
    listing::{ListFilter, ListQuery, PageSize, SearchText, decode_page_token},
    product::{
        Category, Description, NewProduct, ProductId, ProductName, ProductPatch, Sku, StockLevel,
    },
    reservation::{InvalidItems, OrderId, Quantity, ReserveRequest, StockItem, StockItems},
};

/// The paths an update mask may name.
const UPDATABLE: [&str; 6] = ["sku", "name", "description", "category", "price", "stock"];
/// Paths that exist but only the server sets.
const IMMUTABLE: [&str; 3] = ["id", "create_time", "update_time"];

fn money(
    field: &str,
    money: Option<common::Money>,
    violations: &mut FieldViolations,
) -> Option<Money> {
    let Some(money) = money else {
        violations.add(field, "is required");
        return None;
    };
    let currency = violations.check(
        format!("{field}.currency_code"),
        Currency::parse(&money.currency_code),
    );
    if money.amount_minor < 0 {
        violations.add(format!("{field}.amount_minor"), "must not be negative");
        return None;
    }
    Money::new(currency?, money.amount_minor).ok()
}

pub fn product_id(field: &str, value: &str) -> Result<ProductId, ServiceError> {
    ProductId::parse(value).map_err(|e| ServiceError::invalid(field, e.to_string()))
}

pub fn order_id(value: String) -> Result<OrderId, ServiceError> {
    OrderId::parse(value).map_err(|e| ServiceError::invalid("order_id", e.to_string()))
}

pub fn create_product(request: pb::CreateProductRequest) -> Result<NewProduct, ServiceError> {
    let Some(product) = request.product else {
        return Err(ServiceError::invalid("product", "is required"));
    };
    let mut v = FieldViolations::default();
    let sku = v.check("product.sku", Sku::parse(product.sku));
    let name = v.check("product.name", ProductName::parse(product.name));
    let description = v.check(
        "product.description",
        Description::parse(product.description),
    );
    let category = v.check("product.category", Category::parse(product.category));
    let price = money("product.price", product.price, &mut v);
    let stock = v.check("product.stock", StockLevel::parse(product.stock));
    match (sku, name, description, category, price, stock) {
        (Some(sku), Some(name), Some(description), Some(category), Some(price), Some(stock))
            if v.is_empty() =>
        {
            Ok(NewProduct {
                sku,
                name,
                description,
                category,
                price,
                stock,
            })
        }
        _ => Err(ServiceError::InvalidArgument(v)),
    }
}

/// The product to change and the masked fields' new values. An empty mask
/// means every field the request sets to a non-default value.
pub fn update_product(
    request: pb::UpdateProductRequest,
) -> Result<(ProductId, ProductPatch), ServiceError> {
    let Some(product) = request.product else {
        return Err(ServiceError::invalid("product", "is required"));
    };
    let mut v = FieldViolations::default();
    let id = v.check("product.id", ProductId::parse(&product.id));

    let paths: Vec<String> = match request.update_mask {
        Some(mask) if !mask.paths.is_empty() => mask.paths,
        _ => {
            let present = [
                !product.sku.is_empty(),
                !product.name.is_empty(),
                !product.description.is_empty(),
                !product.category.is_empty(),
                product.price.is_some(),
                product.stock != 0,
            ];
            UPDATABLE
                .iter()
                .zip(present)
                .filter(|(_, present)| *present)
                .map(|(path, _)| (*path).to_owned())
                .collect()
        }
    };

    let mut wanted = HashSet::new();
    for path in &paths {
        let path = path.as_str();
        if UPDATABLE.contains(&path) {
            wanted.insert(path);
        } else if IMMUTABLE.contains(&path) {
            v.add("update_mask.paths", format!("`{path}` cannot be changed"));
        } else {
            v.add(
                "update_mask.paths",
                format!("`{path}` is not one of {}", UPDATABLE.join(", ")),
            );
        }
    }
    let wants = |path: &str| wanted.contains(path);
    let patch = ProductPatch {
        sku: wants("sku")
            .then(|| v.check("product.sku", Sku::parse(product.sku)))
            .flatten(),
        name: wants("name")
            .then(|| v.check("product.name", ProductName::parse(product.name)))
            .flatten(),
        description: wants("description")
            .then(|| {
                v.check(
                    "product.description",
                    Description::parse(product.description),
                )
            })
            .flatten(),
        category: wants("category")
            .then(|| v.check("product.category", Category::parse(product.category)))
            .flatten(),
        price: wants("price")
            .then(|| money("product.price", product.price, &mut v))
            .flatten(),
        stock: wants("stock")
            .then(|| v.check("product.stock", StockLevel::parse(product.stock)))
            .flatten(),
    };
    match id {
        Some(id) if v.is_empty() => Ok((id, patch)),
        _ => Err(ServiceError::InvalidArgument(v)),
    }
}

pub fn list_products(request: pb::ListProductsRequest) -> Result<ListQuery, ServiceError> {
    let mut v = FieldViolations::default();
    let page_size = v.check("page_size", PageSize::parse(request.page_size));
    let search = v.check("query", SearchText::parse(&request.query));
    let category = if request.category.is_empty() {
        Some(None)
    } else {
        v.check("category", Category::parse(request.category).map(Some))
    };
    let (Some(page_size), Some(search), Some(category)) = (page_size, search, category) else {
        return Err(ServiceError::InvalidArgument(v));
    };
    let filter = ListFilter { search, category };
    let after = v.check(
        "page_token",
        decode_page_token(&request.page_token, &filter),
    );
    match after {
        Some(after) if v.is_empty() => Ok(ListQuery {
            filter,
            page_size,
            after,
        }),
        _ => Err(ServiceError::InvalidArgument(v)),
    }
}

pub fn reserve_stock(request: pb::ReserveStockRequest) -> Result<ReserveRequest, ServiceError> {
    let mut v = FieldViolations::default();
    let order_id = v.check("order_id", OrderId::parse(request.order_id));
    if request.items.is_empty() {
        v.add("items", "is required");
    }
    let mut items = Vec::with_capacity(request.items.len());
    for (index, item) in request.items.iter().enumerate() {
        let product_id = v.check(
            format!("items[{index}].product_id"),
            ProductId::parse(&item.product_id),
        );
        let quantity = v.check(
            format!("items[{index}].quantity"),
            Quantity::parse(item.quantity),
        );
        if let (Some(product_id), Some(quantity)) = (product_id, quantity) {
            items.push(StockItem {
                product_id,
                quantity,
            });
        }
    }
    let (Some(order_id), true) = (order_id, v.is_empty()) else {
        return Err(ServiceError::InvalidArgument(v));
    };
    // Every item parsed, so indices here are the request's.
    let items = StockItems::parse(items).map_err(|error| match error {
        InvalidItems::Empty => ServiceError::invalid("items", "is required"),
        InvalidItems::Duplicate(index) => ServiceError::invalid(
            format!("items[{index}].product_id"),
            "repeats an earlier item; list each product once",
        ),
    })?;
    Ok(ReserveRequest { order_id, items })
}
