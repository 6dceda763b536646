//! Requests → domain commands, collecting every bad field at once.
//!
//! Field paths are the request's own (`card.exp_year`, `amount.amount_minor`),
//! so a client can point at the exact input.

use bazaar_domain::{Money, card::check_card};
use bazaar_proto::{common::v1 as common, payment::v1 as pb};
use bazaar_runtime::status::{FieldViolations, ServiceError};

use crate::domain::{Card, ChargeCommand, IdempotencyKey, PaymentId, RefundCommand, YearMonth};

/// The longest order id accepted, in bytes.
const MAX_ORDER_ID_LEN: usize = 128;
/// The longest refund reason accepted, in characters.
const MAX_REASON_CHARS: usize = 500;

/// Callers have always been told this for any bad payment id, empty or not.
fn any_payment_id(raw: &str) -> Result<PaymentId, &'static str> {
    PaymentId::parse(raw).map_err(|_| "must be a UUID")
}

pub fn payment_id(raw: &str) -> Result<PaymentId, ServiceError> {
    any_payment_id(raw).map_err(|e| ServiceError::invalid("payment_id", e))
}

pub fn idempotency_key(raw: &str) -> Result<IdempotencyKey, ServiceError> {
    IdempotencyKey::parse(raw).map_err(|e| ServiceError::invalid("idempotency_key", e))
}

/// `today` is the month the card's expiry is checked against.
pub fn charge(request: pb::ChargeRequest, today: YearMonth) -> Result<ChargeCommand, ServiceError> {
    let mut v = FieldViolations::default();
    let key = v.check(
        "idempotency_key",
        IdempotencyKey::parse(&request.idempotency_key),
    );
    if request.order_id.is_empty() || request.order_id.len() > MAX_ORDER_ID_LEN {
        v.add("order_id", "must be 1 to 128 characters");
    }
    let amount = positive_amount(request.amount.as_ref(), &mut v);
    let card = card(request.card.as_ref(), today, &mut v);
    match (key, amount, card) {
        (Some(idempotency_key), Some(amount), Some(card)) if v.is_empty() => Ok(ChargeCommand {
            idempotency_key,
            order_id: request.order_id,
            amount,
            card,
        }),
        _ => Err(ServiceError::InvalidArgument(v)),
    }
}

pub fn refund(request: pb::RefundRequest) -> Result<RefundCommand, ServiceError> {
    let mut v = FieldViolations::default();
    let payment_id = v.check("payment_id", any_payment_id(&request.payment_id));
    let amount = match request.amount.as_ref() {
        None => Some(None),
        Some(wire) => positive_amount(Some(wire), &mut v).map(Some),
    };
    let key = v.check(
        "idempotency_key",
        IdempotencyKey::parse(&request.idempotency_key),
    );
    if request.reason.chars().count() > MAX_REASON_CHARS {
        v.add("reason", "must be at most 500 characters");
    }
    match (payment_id, amount, key) {
        (Some(payment_id), Some(amount), Some(idempotency_key)) if v.is_empty() => {
            Ok(RefundCommand {
                payment_id,
                amount,
                idempotency_key,
                reason: Some(request.reason).filter(|reason| !reason.is_empty()),
            })
        }
        _ => Err(ServiceError::InvalidArgument(v)),
    }
}

/// The request's `amount`: money, and not nothing.
fn positive_amount(wire: Option<&common::Money>, v: &mut FieldViolations) -> Option<Money> {
    let amount = match Money::from_wire(wire) {
        Ok(amount) => amount,
        Err(error) => {
            let field = match error.field() {
                Some(part) => format!("amount.{part}"),
                None => "amount".to_owned(),
            };
            v.add(field, error.to_string());
            return None;
        }
    };
    if amount.is_zero() {
        v.add("amount.amount_minor", "must be more than zero");
        return None;
    }
    Some(amount)
}

/// The request's `card`; only the parts Bazaar may keep survive.
fn card(card: Option<&pb::Card>, today: YearMonth, v: &mut FieldViolations) -> Option<Card> {
    let Some(card) = card else {
        v.add("card", "is required");
        return None;
    };
    match check_card(card, today) {
        Ok(checked) => Some(Card::new(checked.number, checked.expiry)),
        Err(refused) => {
            for (field, error) in refused {
                v.add(format!("card.{field}"), error.to_string());
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CardBrand;

    fn wire_card(number: &str, month: i32, year: i32, cvc: &str) -> pb::Card {
        pb::Card {
            number: number.into(),
            exp_month: month,
            exp_year: year,
            cvc: cvc.into(),
            holder_name: "Ada Lovelace".into(),
        }
    }

    fn parse(card: &pb::Card) -> (Option<Card>, Vec<String>) {
        let mut violations = FieldViolations::default();
        let parsed = super::card(Some(card), YearMonth::of(2026, 11), &mut violations);
        let fields = violations
            .violations()
            .iter()
            .map(|v| v.field.clone())
            .collect();
        (parsed, fields)
    }

    #[test]
    fn a_good_card_keeps_only_what_may_be_stored() {
        let (parsed, fields) = parse(&wire_card("4242 4242 4242 4242", 12, 2030, "123"));
        let parsed = parsed.unwrap();
        assert!(fields.is_empty());
        assert_eq!(parsed.brand(), CardBrand::Visa);
        assert_eq!(parsed.last4(), "4242");
        assert_eq!(parsed.expiry(), "12/2030");
        let printed = format!("{parsed:?}");
        assert!(!printed.contains("42424242"), "{printed}");
    }

    #[test]
    fn brands_come_from_the_prefix() {
        for (number, brand) in [
            ("5555555555554444", CardBrand::Mastercard),
            ("378282246310005", CardBrand::Amex),
        ] {
            assert_eq!(
                parse(&wire_card(number, 1, 2030, "1234"))
                    .0
                    .unwrap()
                    .brand(),
                brand
            );
        }
    }

    #[test]
    fn every_bad_field_is_reported() {
        let (parsed, fields) = parse(&wire_card("4242 4242 4242 4241", 13, 99, "12"));
        assert!(parsed.is_none());
        assert_eq!(
            fields,
            ["card.number", "card.exp_month", "card.exp_year", "card.cvc"]
        );
    }

    #[test]
    fn an_expired_card_is_refused_and_this_month_is_fine() {
        assert_eq!(
            parse(&wire_card("4242424242424242", 10, 2026, "123")).1,
            ["card.exp_year"]
        );
        assert!(
            parse(&wire_card("4242424242424242", 11, 2026, "123"))
                .0
                .is_some()
        );
    }

    #[test]
    fn letters_are_not_digits() {
        assert_eq!(
            parse(&wire_card("4242-4242-4242-4242", 1, 2030, "123")).1,
            ["card.number"]
        );
    }
}
