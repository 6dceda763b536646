//! An order and the state machine of its checkout saga.

pub use bazaar_domain::IdempotencyKey;
use bazaar_domain::Money;
use bazaar_proto::{order::v1 as pb, payment::v1::Card};
use bazaar_runtime::{db::timestamp, status::FieldViolations};

/// An order's id: a UUID (v7, so ids sort by creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderId(uuid::Uuid);

impl OrderId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        uuid::Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| "must be a UUID")
    }

    pub fn as_string(&self) -> String {
        self.0.to_string()
    }
}

impl Default for OrderId {
    fn default() -> Self {
        Self::new()
    }
}

/// Where an order's saga stands. Each state is persisted before the call to
/// another service that it names, so recovery knows what may have happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaState {
    /// Asking product to reserve the stock.
    Reserving,
    /// Stock held and prices known; asking payment to charge the card.
    Charging,
    /// Paid; asking product to commit the reservation.
    Committing,
    Confirmed,
    Shipped,
    /// Checkout failed; handing the stock back.
    Releasing,
    /// Paid but the stock could not be sold; giving the money back.
    Refunding,
    Failed,
    /// Cancelled by the customer or an admin; refunding and restocking.
    Cancelling,
    Cancelled,
}

impl SagaState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserving => "reserving",
            Self::Charging => "charging",
            Self::Committing => "committing",
            Self::Confirmed => "confirmed",
            Self::Shipped => "shipped",
            Self::Releasing => "releasing",
            Self::Refunding => "refunding",
            Self::Failed => "failed",
            Self::Cancelling => "cancelling",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub const ALL: [Self; 10] = [
        Self::Reserving,
        Self::Charging,
        Self::Committing,
        Self::Confirmed,
        Self::Shipped,
        Self::Releasing,
        Self::Refunding,
        Self::Failed,
        Self::Cancelling,
        Self::Cancelled,
    ];

    /// States a saga passes through on its way somewhere else: a request or
    /// the recovery worker must drive them on.
    pub const IN_FLIGHT: [Self; 6] = [
        Self::Reserving,
        Self::Charging,
        Self::Committing,
        Self::Releasing,
        Self::Refunding,
        Self::Cancelling,
    ];

    pub fn in_flight(self) -> bool {
        Self::IN_FLIGHT.contains(&self)
    }

    /// Nothing more will happen to the order.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Shipped | Self::Failed | Self::Cancelled)
    }

    /// What customers see.
    pub fn status(self) -> pb::OrderStatus {
        match self {
            Self::Reserving
            | Self::Charging
            | Self::Committing
            | Self::Releasing
            | Self::Refunding => pb::OrderStatus::Pending,
            // Still confirmed until the refund and restock are done.
            Self::Confirmed | Self::Cancelling => pb::OrderStatus::Confirmed,
            Self::Shipped => pb::OrderStatus::Shipped,
            Self::Failed => pb::OrderStatus::Failed,
            Self::Cancelled => pb::OrderStatus::Cancelled,
        }
    }
}

/// A line of an order: what was asked, and once reserved, what it costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub product_id: String,
    pub quantity: u32,
    pub product_name: String,
    /// Known from the reservation on.
    pub unit_price: Option<Money>,
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub customer_id: String,
    pub idempotency_key: String,
    pub fingerprint: String,
    pub state: SagaState,
    pub items: Vec<LineItem>,
    pub total: Option<Money>,
    pub failure_reason: String,
    pub payment_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Order {
    pub fn to_proto(&self) -> pb::Order {
        pb::Order {
            id: self.id.clone(),
            customer_id: self.customer_id.clone(),
            items: self
                .items
                .iter()
                .map(|item| pb::OrderItem {
                    product_id: item.product_id.clone(),
                    product_name: item.product_name.clone(),
                    quantity: i32::try_from(item.quantity).unwrap_or(i32::MAX),
                    unit_price: item.unit_price.map(Money::to_wire),
                    line_total: item
                        .unit_price
                        .and_then(|p| p.times(item.quantity).ok())
                        .map(Money::to_wire),
                })
                .collect(),
            total: self.total.map(Money::to_wire),
            status: self.state.status().into(),
            failure_reason: self.failure_reason.clone(),
            payment_id: self.payment_id.clone(),
            idempotency_key: self.idempotency_key.clone(),
            create_time: Some(timestamp(self.created_at)),
            update_time: Some(timestamp(self.updated_at)),
        }
    }
}

/// At most this many distinct products per order, and units per product.
const MAX_LINES: usize = 100;
const MAX_QUANTITY: i32 = 1_000;

/// A valid PlaceOrder request. The card travels on to payment untouched (it
/// is validated there and never stored here, beyond the fingerprint's last
/// four digits and expiry).
#[derive(Debug)]
pub struct PlaceCommand {
    pub idempotency_key: IdempotencyKey,
    /// (product id, quantity), in the order given.
    pub items: Vec<(String, u32)>,
    pub card: Card,
    /// What was asked, so a repeat under the same key can be compared.
    pub fingerprint: String,
}

impl PlaceCommand {
    pub fn parse(request: pb::PlaceOrderRequest) -> Result<Self, FieldViolations> {
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
        for (i, item) in request.items.iter().enumerate() {
            if uuid::Uuid::parse_str(&item.product_id).is_err() {
                violations.add(format!("items[{i}].product_id"), "must be a UUID");
            } else if request.items[..i]
                .iter()
                .any(|earlier| earlier.product_id == item.product_id)
            {
                violations.add(format!("items[{i}].product_id"), "is listed twice");
            }
            match u32::try_from(item.quantity) {
                Ok(quantity) if (1..=MAX_QUANTITY).contains(&item.quantity) => {
                    items.push((item.product_id.clone(), quantity));
                }
                _ => violations.add(
                    format!("items[{i}].quantity"),
                    format!("must be 1 to {MAX_QUANTITY}"),
                ),
            }
        }
        let card = match request.payment_method.and_then(|m| m.method) {
            Some(pb::payment_method::Method::Card(card)) if !card.number.trim().is_empty() => {
                Some(card)
            }
            Some(pb::payment_method::Method::Card(_)) => {
                violations.add("payment_method.card.number", "is required");
                None
            }
            None => {
                violations.add("payment_method.card", "is required");
                None
            }
        };
        match (key, card) {
            (Some(idempotency_key), Some(card)) if violations.is_empty() => {
                let fingerprint = fingerprint(&items, &card);
                Ok(Self {
                    idempotency_key,
                    items,
                    card,
                    fingerprint,
                })
            }
            _ => Err(violations),
        }
    }
}

/// `id×qty,...|last4|MM/YYYY` with items sorted: equal for equal requests.
fn fingerprint(items: &[(String, u32)], card: &Card) -> String {
    let mut sorted: Vec<_> = items.iter().collect();
    sorted.sort();
    let lines: Vec<String> = sorted.iter().map(|(id, q)| format!("{id}x{q}")).collect();
    let digits: Vec<char> = card.number.chars().filter(char::is_ascii_digit).collect();
    let last4: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!(
        "{}|{last4}|{:02}/{}",
        lines.join(","),
        card.exp_month,
        card.exp_year
    )
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
                method: Some(pb::payment_method::Method::Card(Card {
                    number: "4242 4242 4242 4242".into(),
                    exp_month: 1,
                    exp_year: 2030,
                    cvc: "123".into(),
                    holder_name: String::new(),
                })),
            }),
        }
    }

    const A: &str = "0190e5a4-0000-7000-8000-000000000001";
    const B: &str = "0190e5a4-0000-7000-8000-000000000002";

    #[test]
    fn the_fingerprint_ignores_item_order_and_hides_the_card() {
        let one = PlaceCommand::parse(request(&[(A, 1), (B, 2)])).unwrap();
        let two = PlaceCommand::parse(request(&[(B, 2), (A, 1)])).unwrap();
        assert_eq!(one.fingerprint, two.fingerprint);
        assert!(!one.fingerprint.contains("42424242"), "{}", one.fingerprint);
        let other = PlaceCommand::parse(request(&[(A, 2), (B, 2)])).unwrap();
        assert_ne!(one.fingerprint, other.fingerprint);
    }

    #[test]
    fn every_bad_line_is_named() {
        let error = PlaceCommand::parse(request(&[(A, 0), ("nope", 1), (A, 1)])).unwrap_err();
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
        assert!(PlaceCommand::parse(request(&[])).is_err());
    }

    #[test]
    fn states_round_trip_and_only_in_flight_ones_are_pending() {
        for state in SagaState::ALL {
            assert_eq!(SagaState::parse(state.as_str()), Some(state));
            if state.in_flight() && state != SagaState::Cancelling {
                assert_eq!(state.status(), pb::OrderStatus::Pending);
            }
        }
    }
}
