//! A product and its fields.

use std::fmt;

use uuid::Uuid;

use bazaar_domain::Money;

use super::Invalid;

/// A product's server-assigned id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProductId(Uuid);

impl ProductId {
    /// A fresh id; v7 so ids sort roughly by creation, which keeps index
    /// inserts local.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        if value.is_empty() {
            return Err(Invalid("is required"));
        }
        Uuid::try_parse(value)
            .map(Self)
            .map_err(|_| Invalid("must be a UUID"))
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always the lower-case hyphenated form, so stored ids compare as text.
        self.0.hyphenated().fmt(f)
    }
}

/// The shop's own code for a product: 1 to 64 of `A-Z`, `0-9`, `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    pub fn parse(value: String) -> Result<Self, Invalid> {
        if value.is_empty() {
            return Err(Invalid("is required"));
        }
        if value.len() > 64 {
            return Err(Invalid("must be at most 64 characters"));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(Invalid("may contain only A-Z, 0-9 and -"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the shop calls a product: 1 to 200 characters, no control
/// characters, no surrounding blanks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    pub fn parse(value: String) -> Result<Self, Invalid> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(Invalid("is required"));
        }
        if trimmed.chars().count() > 200 {
            return Err(Invalid("must be at most 200 characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(Invalid("must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text about a product, up to 5000 characters (may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    pub fn parse(value: String) -> Result<Self, Invalid> {
        if value.chars().count() > 5000 {
            return Err(Invalid("must be at most 5000 characters"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A lower-case slug grouping products, e.g. `kitchen`: 1 to 64 of `a-z`,
/// `0-9`, `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category(String);

impl Category {
    pub fn parse(value: String) -> Result<Self, Invalid> {
        if value.is_empty() {
            return Err(Invalid("is required"));
        }
        if value.len() > 64 {
            return Err(Invalid("must be at most 64 characters"));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(Invalid("must be a lower-case slug: a-z, 0-9 and -"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Units on the shelf; never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StockLevel(i64);

impl StockLevel {
    pub fn parse(value: i64) -> Result<Self, Invalid> {
        if value < 0 {
            return Err(Invalid("must not be negative"));
        }
        Ok(Self(value))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A product as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub sku: Sku,
    pub name: ProductName,
    pub description: Description,
    pub category: Category,
    pub price: Money,
    pub stock: StockLevel,
    /// Microseconds since the Unix epoch.
    pub create_time: i64,
    pub update_time: i64,
}

/// What an admin supplies to add a product; the server adds id and times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: ProductName,
    pub description: Description,
    pub category: Category,
    pub price: Money,
    pub stock: StockLevel,
}

/// The fields an update changes; `None` keeps the stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductPatch {
    pub sku: Option<Sku>,
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    pub category: Option<Category>,
    pub price: Option<Money>,
    pub stock: Option<StockLevel>,
}

impl ProductPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_upper_case_codes() {
        assert!(Sku::parse("MUG-001".into()).is_ok());
        assert!(Sku::parse(String::new()).is_err());
        assert!(Sku::parse("mug-001".into()).is_err());
        assert!(Sku::parse("MUG 001".into()).is_err());
        assert!(Sku::parse("A".repeat(65)).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            ProductName::parse("  Mug ".into()).map(|n| n.as_str().to_owned()),
            Ok("Mug".to_owned())
        );
        assert!(ProductName::parse("   ".into()).is_err());
        assert!(ProductName::parse("é".repeat(200)).is_ok());
        assert!(ProductName::parse("é".repeat(201)).is_err());
        assert!(ProductName::parse("a\u{7}b".into()).is_err());
    }

    #[test]
    fn categories_are_slugs() {
        assert!(Category::parse("home-office".into()).is_ok());
        assert!(Category::parse("Kitchen".into()).is_err());
        assert!(Category::parse(String::new()).is_err());
    }

    #[test]
    fn product_ids_are_uuids() {
        let id = ProductId::generate();
        assert_eq!(ProductId::parse(&id.to_string()), Ok(id));
        assert!(ProductId::parse("42").is_err());
        assert!(ProductId::parse("").is_err());
    }
}
