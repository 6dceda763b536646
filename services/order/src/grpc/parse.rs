//! Requests → domain types, collecting every bad field at once.
//!
//! Field paths are the request's own (`items[2].quantity`), so a client can
//! point at the exact input.

use bazaar_domain::card::{YearMonth, check_card};
use bazaar_proto::{
    order::v1::{self as pb, payment_method::Method},
    payment::v1::Card,
};
use bazaar_runtime::status::{FieldViolations, ServiceError};

use crate::domain::{
    CardSummary, IdempotencyKey, OrderId, PageSize, PageToken, PlaceCommand, ProductId,
    order::{MAX_LINES, MAX_QUANTITY},
};

/// What callers are told of an id that is missing or not a UUID.
const NOT_A_UUID: &str = "must be a UUID";

pub fn order_id(raw: &str) -> Result<OrderId, ServiceError> {
    OrderId::parse(raw).map_err(|_| ServiceError::invalid("order_id", NOT_A_UUID))
}

/// The order asked for, and the card to charge, which goes on to payment
/// untouched.
/// `today` is the month a card's expiry is checked against: the payment
/// service checks the card again, but a malformed one is the caller's mistake
/// and refused here, before any stock is reserved.
pub fn place_order(
    request: pb::PlaceOrderRequest,
    today: YearMonth,
) -> Result<(PlaceCommand, Card), ServiceError> {
    let mut violations = FieldViolations::default();
    let key = violations.check(
        "idempotency_key",
        IdempotencyKey::parse(&request.idempotency_key),
    );
    if request.items.is_empty() {
        violations.add("items", "must list at least one product");
    } else if request.items.len() > MAX_LINES {
        violations.add("items", format!("must list at most {MAX_LINES} products"));
    }
    let mut items = Vec::with_capacity(request.items.len());
    // Every valid id so far, whether or not its line is otherwise valid.
    let mut listed = Vec::with_capacity(request.items.len());
    for (i, item) in request.items.iter().enumerate() {
        let field = format!("items[{i}].product_id");
        let product_id = match ProductId::parse(&item.product_id) {
            Err(_) => {
                violations.add(field, NOT_A_UUID);
                None
            }
            Ok(id) if listed.contains(&id) => {
                violations.add(field, "is listed twice");
                None
            }
            Ok(id) => {
                listed.push(id);
                Some(id)
            }
        };
        let quantity = u32::try_from(item.quantity)
            .ok()
            .filter(|q| (1..=MAX_QUANTITY).contains(q));
        match (product_id, quantity) {
            (Some(product_id), Some(quantity)) => items.push((product_id, quantity)),
            (None, Some(_)) => {}
            (_, None) => violations.add(
                format!("items[{i}].quantity"),
                format!("must be 1 to {MAX_QUANTITY}"),
            ),
        }
    }
    let card = match request.payment_method.and_then(|m| m.method) {
        Some(Method::Card(card)) => match check_card(&card, today) {
            Ok(_) => Some(card),
            Err(refused) => {
                for (field, error) in refused {
                    violations.add(format!("payment_method.card.{field}"), error.to_string());
                }
                None
            }
        },
        None => {
            violations.add("payment_method.card", "is required");
            None
        }
    };
    match (key, card) {
        (Some(key), Some(card)) if violations.is_empty() => {
            let summary = CardSummary::of(&card.number, card.exp_month, card.exp_year);
            Ok((PlaceCommand::new(key, items, &summary), card))
        }
        _ => Err(ServiceError::InvalidArgument(violations)),
    }
}

/// The page size and where the page starts, for a listing of `filter`.
pub fn page(
    request: &pb::ListOrdersRequest,
    filter: &str,
) -> Result<(PageSize, Option<PageToken>), ServiceError> {
    let mut violations = FieldViolations::default();
    let size = violations.check("page_size", PageSize::parse(request.page_size));
    let after = if request.page_token.is_empty() {
        None
    } else {
        violations.check("page_token", PageToken::decode(&request.page_token, filter))
    };
    match size {
        Some(size) if violations.is_empty() => Ok((size, after)),
        _ => Err(ServiceError::InvalidArgument(violations)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(items: &[(&str, i32)]) -> pb::PlaceOrderRequest {
        pb::PlaceOrderRequest {
            idempotency_key: "k".into(),
            items: items
                .iter()
                .map(|(id, q)| pb::place_order_request::LineItem {
                    product_id: (*id).into(),
                    quantity: *q,
                })
                .collect(),
            payment_method: Some(pb::PaymentMethod {
                method: Some(Method::Card(Card {
                    number: "4242 4242 4242 4242".into(),
                    exp_month: 1,
                    exp_year: 2030,
                    cvc: "123".into(),
                    holder_name: String::new(),
                })),
            }),
        }
    }

    fn place_order_now(
        request: pb::PlaceOrderRequest,
    ) -> Result<(PlaceCommand, Card), ServiceError> {
        place_order(request, YearMonth::of(2026, 11))
    }

    const A: &str = "0190e5a4-0000-7000-8000-000000000001";
    const B: &str = "0190e5a4-0000-7000-8000-000000000002";

    #[test]
    fn the_fingerprint_ignores_item_order_and_hides_the_card() {
        let (one, card) = place_order_now(request(&[(A, 1), (B, 2)])).unwrap();
        let (two, _) = place_order_now(request(&[(B, 2), (A, 1)])).unwrap();
        assert_eq!(one.fingerprint, two.fingerprint);
        assert!(!one.fingerprint.contains("42424242"), "{}", one.fingerprint);
        let (other, _) = place_order_now(request(&[(A, 2), (B, 2)])).unwrap();
        assert_ne!(one.fingerprint, other.fingerprint);
        assert_eq!(
            card.number, "4242 4242 4242 4242",
            "the card goes on as given"
        );
    }

    #[test]
    fn every_bad_line_is_named() {
        let Err(ServiceError::InvalidArgument(error)) =
            place_order_now(request(&[(A, 0), ("nope", 1), (A, 1)]))
        else {
            panic!("not refused as invalid");
        };
        let fields: Vec<_> = error
            .violations()
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "items[0].quantity",
                "items[1].product_id",
                "items[2].product_id"
            ]
        );
        assert!(place_order_now(request(&[])).is_err());
    }
}
