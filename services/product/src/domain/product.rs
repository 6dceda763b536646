//! A product and its fields.

use bazaar_domain::Money;

use super::newtype::{Length, TextRules, at_least, text_newtype};

bazaar_domain::uuid_id!(
    /// A product's server-assigned id.
    ProductId
);

/// What SKUs and categories share: 1 to 64 characters of a small ASCII set.
const CODE: TextRules = TextRules::required(Length::Bytes(64), "must be at most 64 characters");

text_newtype!(
    /// The shop's own code for a product: 1 to 64 of `A-Z`, `0-9`, `-`.
    Sku,
    CODE.only(
        |c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-',
        "may contain only A-Z, 0-9 and -",
    )
);

text_newtype!(
    /// What the shop calls a product: 1 to 200 characters, no control
    /// characters, no surrounding blanks.
    ProductName,
    TextRules::required(Length::Chars(200), "must be at most 200 characters")
        .trimmed()
        .only(|c| !c.is_control(), "must not contain control characters")
);

text_newtype!(
    /// Free text about a product, up to 5000 characters (may be empty).
    Description,
    TextRules::optional(Length::Chars(5000), "must be at most 5000 characters")
);

text_newtype!(
    /// A lower-case slug grouping products, e.g. `kitchen`: 1 to 64 of
    /// `a-z`, `0-9`, `-`.
    Category,
    CODE.only(
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
        "must be a lower-case slug: a-z, 0-9 and -",
    )
);

at_least!(
    /// Units on the shelf; never negative.
    StockLevel(i64) >= 0,
    "must not be negative"
);

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
