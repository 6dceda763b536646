//! Stock held for an order: what was asked for and what was reserved.

use std::collections::HashSet;

use bazaar_domain::Money;

use super::{
    Invalid,
    newtype::{Length, TextRules, at_least, text_newtype},
    product::ProductId,
};

text_newtype!(
    /// The order a reservation belongs to: its idempotency key. The order
    /// service owns the format; this only bounds it.
    OrderId,
    TextRules::required(Length::Bytes(128), "must be at most 128 bytes")
        .only(
            |c| !c.is_control() && !c.is_whitespace(),
            "must not contain spaces or control characters",
        )
);

at_least!(
    /// How many units of one product: at least 1.
    Quantity(i32) >= 1,
    "must be at least 1"
);

/// One requested line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StockItem {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

/// Distinct products, at least one, in the order the caller listed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockItems(Vec<StockItem>);

/// Why a list of items was refused, and which entry is to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidItems {
    Empty,
    /// The index of the repeated entry.
    Duplicate(usize),
}

impl StockItems {
    pub fn parse(items: Vec<StockItem>) -> Result<Self, InvalidItems> {
        if items.is_empty() {
            return Err(InvalidItems::Empty);
        }
        let mut seen = HashSet::with_capacity(items.len());
        if let Some(index) = items.iter().position(|i| !seen.insert(i.product_id)) {
            return Err(InvalidItems::Duplicate(index));
        }
        Ok(Self(items))
    }

    pub fn as_slice(&self) -> &[StockItem] {
        &self.0
    }

    /// The items by product id: the order every transaction takes product
    /// row locks in, so two reservations can never deadlock.
    pub fn sorted(&self) -> Vec<StockItem> {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted
    }
}

/// A request to hold stock for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveRequest {
    pub order_id: OrderId,
    pub items: StockItems,
}

/// Where a reservation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationState {
    Reserved,
    Committed,
    Released,
    Expired,
}

impl ReservationState {
    /// How the state is stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "RESERVED",
            Self::Committed => "COMMITTED",
            Self::Released => "RELEASED",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        match value {
            "RESERVED" => Ok(Self::Reserved),
            "COMMITTED" => Ok(Self::Committed),
            "RELEASED" => Ok(Self::Released),
            "EXPIRED" => Ok(Self::Expired),
            _ => Err(Invalid("is not a reservation state")),
        }
    }
}

/// One reserved line, with the product as it was at reservation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedItem {
    pub product_id: ProductId,
    pub quantity: Quantity,
    pub product_name: String,
    pub unit_price: Money,
}

/// Stock held for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub order_id: OrderId,
    /// In the order the caller listed them.
    pub items: Vec<ReservedItem>,
    pub state: ReservationState,
    /// Microseconds since the Unix epoch.
    pub create_time: i64,
    pub expire_time: i64,
}

impl Reservation {
    /// True when `request` asks for exactly what this reservation holds (in
    /// any order): a retry, not a conflicting second reservation.
    pub fn matches(&self, items: &StockItems) -> bool {
        let mut held: Vec<StockItem> = self
            .items
            .iter()
            .map(|i| StockItem {
                product_id: i.product_id,
                quantity: i.quantity,
            })
            .collect();
        held.sort();
        held == items.sorted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(quantity: i32) -> StockItem {
        StockItem {
            product_id: ProductId::generate(),
            quantity: Quantity(quantity),
        }
    }

    #[test]
    fn items_are_distinct_and_not_empty() {
        assert_eq!(StockItems::parse(vec![]), Err(InvalidItems::Empty));
        let a = item(1);
        let b = item(2);
        assert!(StockItems::parse(vec![a, b]).is_ok());
        assert_eq!(
            StockItems::parse(vec![a, b, a]),
            Err(InvalidItems::Duplicate(2))
        );
    }

    #[test]
    fn quantities_are_positive() {
        assert!(Quantity::parse(1).is_ok());
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(-3).is_err());
    }

    #[test]
    fn states_round_trip() {
        for state in [
            ReservationState::Reserved,
            ReservationState::Committed,
            ReservationState::Released,
            ReservationState::Expired,
        ] {
            assert_eq!(ReservationState::parse(state.as_str()), Ok(state));
        }
    }
}
