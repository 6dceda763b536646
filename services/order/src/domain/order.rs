//! An order and the state machine of its checkout saga.

pub use bazaar_domain::IdempotencyKey;
use bazaar_domain::Money;

bazaar_domain::uuid_id!(
    /// An order's id (v7, so ids sort by creation).
    OrderId
);

bazaar_domain::uuid_id!(
    /// A product's id, as the product service issued it.
    ProductId
);

bazaar_domain::uuid_id!(
    /// The id the payment service gave an order's charge.
    PaymentId
);

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
    pub fn status(self) -> OrderStatus {
        match self {
            Self::Reserving
            | Self::Charging
            | Self::Committing
            | Self::Releasing
            | Self::Refunding => OrderStatus::Pending,
            // Still confirmed until the refund and restock are done.
            Self::Confirmed | Self::Cancelling => OrderStatus::Confirmed,
            Self::Shipped => OrderStatus::Shipped,
            Self::Failed => OrderStatus::Failed,
            Self::Cancelled => OrderStatus::Cancelled,
        }
    }
}

/// Why an order failed, as one of a few kinds: what metrics and dashboards
/// group failures by (the reason text says the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Product refused the reservation: not enough stock.
    OutOfStock,
    /// The order cannot be placed as asked: an unknown product, a card
    /// refused as malformed, lines that cannot be priced together.
    Invalid,
    /// Product could not be reached, or did not answer.
    ProductUnavailable,
    /// The card was declined.
    PaymentDeclined,
    /// Payment could not be reached; nothing was charged.
    PaymentUnavailable,
    /// The reservation lapsed while the card was charged; the money went
    /// back.
    ReservationExpired,
    /// The request driving the checkout went away before paying.
    Interrupted,
    Other,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutOfStock => "out_of_stock",
            Self::Invalid => "invalid",
            Self::ProductUnavailable => "product_unavailable",
            Self::PaymentDeclined => "payment_declined",
            Self::PaymentUnavailable => "payment_unavailable",
            Self::ReservationExpired => "reservation_expired",
            Self::Interrupted => "interrupted",
            Self::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    pub const ALL: [Self; 8] = [
        Self::OutOfStock,
        Self::Invalid,
        Self::ProductUnavailable,
        Self::PaymentDeclined,
        Self::PaymentUnavailable,
        Self::ReservationExpired,
        Self::Interrupted,
        Self::Other,
    ];
}

/// An order's status as customers see it: the saga's states, coarsened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Shipped,
    Failed,
    Cancelled,
}

/// A line of an order: what was asked, and once reserved, what it costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub product_id: ProductId,
    pub quantity: u32,
    /// Known from the reservation on.
    pub product_name: Option<String>,
    /// Known from the reservation on.
    pub unit_price: Option<Money>,
}

impl LineItem {
    /// The price of the line, once its unit price is known.
    pub fn total(&self) -> Option<Money> {
        self.unit_price.and_then(|p| p.times(self.quantity).ok())
    }
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub customer_id: String,
    pub idempotency_key: String,
    pub fingerprint: String,
    pub state: SagaState,
    pub items: Vec<LineItem>,
    pub total: Option<Money>,
    /// Why the order failed or was cancelled.
    pub failure_reason: Option<String>,
    /// Which kind of failure that was; none for a cancellation.
    pub failure_kind: Option<FailureKind>,
    /// Set once the card is charged.
    pub payment_id: Option<PaymentId>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// At most this many distinct products per order, and units per product.
pub const MAX_LINES: usize = 100;
pub const MAX_QUANTITY: u32 = 1_000;

/// What of a card tells two requests apart without keeping the card: its
/// last four digits and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSummary {
    last4: String,
    exp_month: i32,
    exp_year: i32,
}

impl CardSummary {
    /// Of a card number as typed (spaces and dashes ignored).
    pub fn of(number: &str, exp_month: i32, exp_year: i32) -> Self {
        let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
        Self {
            last4: digits[digits.len().saturating_sub(4)..].iter().collect(),
            exp_month,
            exp_year,
        }
    }
}

/// A valid PlaceOrder request, but for the card: that travels on to payment
/// untouched (it is validated there and never stored here, beyond the
/// fingerprint's last four digits and expiry).
#[derive(Debug)]
pub struct PlaceCommand {
    pub idempotency_key: IdempotencyKey,
    /// (product, quantity), in the order given.
    pub items: Vec<(ProductId, u32)>,
    /// What was asked, so a repeat under the same key can be compared.
    pub fingerprint: String,
}

impl PlaceCommand {
    pub fn new(
        idempotency_key: IdempotencyKey,
        items: Vec<(ProductId, u32)>,
        card: &CardSummary,
    ) -> Self {
        let fingerprint = fingerprint(&items, card);
        Self {
            idempotency_key,
            items,
            fingerprint,
        }
    }
}

/// `id×qty,...|last4|MM/YYYY` with items sorted: equal for equal requests.
fn fingerprint(items: &[(ProductId, u32)], card: &CardSummary) -> String {
    let mut sorted: Vec<_> = items.iter().collect();
    sorted.sort();
    let lines: Vec<String> = sorted.iter().map(|(id, q)| format!("{id}x{q}")).collect();
    format!(
        "{}|{}|{:02}/{}",
        lines.join(","),
        card.last4,
        card.exp_month,
        card.exp_year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(items: &[(&str, u32)]) -> PlaceCommand {
        let items = items
            .iter()
            .map(|(id, q)| (ProductId::parse(id).unwrap(), *q))
            .collect();
        let card = CardSummary::of("4242 4242 4242 4242", 1, 2030);
        PlaceCommand::new(IdempotencyKey::parse("k").unwrap(), items, &card)
    }

    const A: &str = "0190e5a4-0000-7000-8000-000000000001";
    const B: &str = "0190e5a4-0000-7000-8000-000000000002";

    #[test]
    fn the_fingerprint_ignores_item_order_and_hides_the_card() {
        let one = command(&[(A, 1), (B, 2)]);
        let two = command(&[(B, 2), (A, 1)]);
        assert_eq!(one.fingerprint, two.fingerprint);
        assert!(!one.fingerprint.contains("42424242"), "{}", one.fingerprint);
        let other = command(&[(A, 2), (B, 2)]);
        assert_ne!(one.fingerprint, other.fingerprint);
    }

    #[test]
    fn failure_kinds_round_trip() {
        for kind in FailureKind::ALL {
            assert_eq!(FailureKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(FailureKind::parse(""), None);
    }

    #[test]
    fn states_round_trip_and_only_in_flight_ones_are_pending() {
        for state in SagaState::ALL {
            assert_eq!(SagaState::parse(state.as_str()), Some(state));
            if state.in_flight() && state != SagaState::Cancelling {
                assert_eq!(state.status(), OrderStatus::Pending);
            }
        }
    }
}
