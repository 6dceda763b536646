//! The order service's request parsing against the field rules in
//! `order.proto`, and the `Card` rules of `payment.proto` that checkout
//! applies too (see `bazaar-contract`).

use bazaar_contract::{Suite, refused};
use bazaar_domain::card::YearMonth;
use bazaar_proto::{
    order::v1::{self as pb, payment_method::Method},
    payment::v1::Card,
};

use super::parse;

const ID: &str = "0190e5a4-0000-7000-8000-000000000001";

fn order_id(raw: &str) -> Vec<String> {
    refused(parse::order_id(raw))
}

#[test]
fn parsing_follows_the_field_rules_of_order_proto() {
    let mut suite = Suite::new("bazaar.order.v1.OrderService");
    suite
        .check(
            "bazaar.order.v1.PlaceOrderRequest",
            pb::PlaceOrderRequest {
                idempotency_key: "ada-first-order".into(),
                items: vec![pb::place_order_request::LineItem {
                    product_id: ID.into(),
                    quantity: 2,
                }],
                payment_method: Some(pb::PaymentMethod {
                    method: Some(Method::Card(Card {
                        number: "4242 4242 4242 4242".into(),
                        exp_month: 12,
                        exp_year: 2099,
                        cvc: "123".into(),
                        holder_name: "Ada Lovelace".into(),
                    })),
                }),
            },
            |r| refused(parse::place_order(r, YearMonth::of(2026, 11))),
        )
        .stricter(
            "payment_method.card.number",
            "a Luhn checksum no field rule can state",
        )
        .stricter(
            "payment_method.card.exp_year",
            "an expiry before this month is refused",
        )
        .run();
    suite
        .check(
            "bazaar.order.v1.GetOrderRequest",
            pb::GetOrderRequest {
                order_id: ID.into(),
            },
            |r| order_id(&r.order_id),
        )
        .run();
    suite
        .check(
            "bazaar.order.v1.ListOrdersRequest",
            pb::ListOrdersRequest {
                page_size: 10,
                ..pb::ListOrdersRequest::default()
            },
            |r| refused(parse::page(&r, "")),
        )
        .run();
    suite
        .check(
            "bazaar.order.v1.CancelOrderRequest",
            pb::CancelOrderRequest {
                order_id: ID.into(),
                reason: "changed my mind".into(),
            },
            |r| order_id(&r.order_id),
        )
        .run();
    suite
        .check(
            "bazaar.order.v1.ShipOrderRequest",
            pb::ShipOrderRequest {
                order_id: ID.into(),
            },
            |r| order_id(&r.order_id),
        )
        .run();
    suite
        .check(
            "bazaar.order.v1.WatchOrderRequest",
            pb::WatchOrderRequest {
                order_id: ID.into(),
            },
            |r| order_id(&r.order_id),
        )
        .run();
    suite.finish();
}
