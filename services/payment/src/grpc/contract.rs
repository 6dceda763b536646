//! The payment service's request parsing against the field rules in
//! `payment.proto` and `money.proto` (see `bazaar-contract`).

use bazaar_contract::{Suite, refused};
use bazaar_proto::{common::v1::Money, payment::v1 as pb};

use super::parse;
use crate::domain::YearMonth;

const ID: &str = "0190e5a4-0000-7000-8000-000000000001";
const LUHN: &str = "a Luhn checksum no field rule can state";
const POSITIVE: &str = "charges and refunds are of more than nothing; Money itself allows zero";

fn euros(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        amount_minor,
    })
}

#[test]
fn parsing_follows_the_field_rules_of_payment_proto() {
    let mut suite = Suite::new("bazaar.payment.v1.PaymentService");
    suite
        .check(
            "bazaar.payment.v1.ChargeRequest",
            pb::ChargeRequest {
                idempotency_key: "order-1-charge".into(),
                order_id: ID.into(),
                amount: euros(2500),
                card: Some(pb::Card {
                    number: "4242 4242 4242 4242".into(),
                    exp_month: 12,
                    exp_year: 2099,
                    cvc: "123".into(),
                    holder_name: "Ada Lovelace".into(),
                }),
            },
            |r| refused(parse::charge(r, YearMonth::of(2026, 11))),
        )
        .stricter("card.number", LUHN)
        .stricter("card.exp_year", "an expiry before this month is refused")
        .stricter("amount.amount_minor", POSITIVE)
        .run();
    suite
        .check(
            "bazaar.payment.v1.RefundRequest",
            pb::RefundRequest {
                payment_id: ID.into(),
                amount: euros(500),
                idempotency_key: "refund-1".into(),
                reason: "damaged".into(),
            },
            |r| refused(parse::refund(r)),
        )
        .stricter("amount.amount_minor", POSITIVE)
        .run();
    suite
        .check(
            "bazaar.payment.v1.GetPaymentRequest",
            pb::GetPaymentRequest {
                payment_id: ID.into(),
            },
            |r| refused(parse::payment_id(&r.payment_id)),
        )
        .run();
    suite
        .check(
            "bazaar.payment.v1.LookupPaymentRequest",
            pb::LookupPaymentRequest {
                idempotency_key: "order-1-charge".into(),
            },
            |r| refused(parse::idempotency_key(&r.idempotency_key)),
        )
        .run();
    suite.finish();
}
