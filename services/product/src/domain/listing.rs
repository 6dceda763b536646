//! Listing the catalog: filters, page sizes and opaque page tokens.
//!
//! Pages are keyset-paginated on `(name, id)`: a token holds the last
//! product's name and id, so a walk never repeats or skips a product that
//! exists throughout, however many are added meanwhile. A token also holds a
//! fingerprint of the filter it was issued for; using it with another filter
//! is refused rather than silently walking a different list.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use super::{
    Invalid,
    product::{Category, Product, ProductId},
};

/// Products per page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    pub const DEFAULT: u32 = 20;
    pub const MAX: u32 = 100;

    /// `0` means the default; otherwise 1 to 100.
    pub fn parse(value: i32) -> Result<Self, Invalid> {
        match u32::try_from(value) {
            Ok(0) => Ok(Self(Self::DEFAULT)),
            Ok(size @ 1..=Self::MAX) => Ok(Self(size)),
            _ => Err(Invalid("must be between 0 and 100")),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// Text searched for in names and descriptions, case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    /// Blank means no search.
    pub fn parse(value: &str) -> Result<Option<Self>, Invalid> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.chars().count() > 200 {
            return Err(Invalid("must be at most 200 characters"));
        }
        Ok(Some(Self(trimmed.to_lowercase())))
    }

    /// A `LIKE` pattern matching the text anywhere, with `!` escaping the
    /// caller's own `%`, `_` and `!` so they match literally.
    pub fn like_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.0.len() + 2);
        pattern.push('%');
        for c in self.0.chars() {
            if matches!(c, '%' | '_' | '!') {
                pattern.push('!');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which products a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub search: Option<SearchText>,
    pub category: Option<Category>,
}

impl ListFilter {
    /// A stable fingerprint (FNV-1a, fixed across builds and processes) that
    /// ties a page token to its filter. Not a security measure: tokens are
    /// opaque, not secret.
    fn fingerprint(&self) -> u64 {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let search = self.search.as_ref().map_or("", SearchText::as_str);
        let category = self.category.as_ref().map_or("", Category::as_str);
        [search.as_bytes(), &[0xff], category.as_bytes()]
            .into_iter()
            .flatten()
            .fold(OFFSET, |hash, byte| {
                (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
            })
    }
}

/// The position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub name: String,
    pub id: ProductId,
}

impl Cursor {
    pub fn after(product: &Product) -> Self {
        Self {
            name: product.name.as_str().to_owned(),
            id: product.id,
        }
    }
}

/// What a page token carries, before base64.
#[derive(Serialize, Deserialize)]
struct TokenBody {
    #[serde(rename = "n")]
    name: String,
    #[serde(rename = "i")]
    id: String,
    #[serde(rename = "f")]
    filter: u64,
}

/// Encodes a cursor for `filter` as an opaque page token.
pub fn encode_page_token(cursor: &Cursor, filter: &ListFilter) -> String {
    let body = TokenBody {
        name: cursor.name.clone(),
        id: cursor.id.to_string(),
        filter: filter.fingerprint(),
    };
    // Serialising a struct of strings and an integer cannot fail.
    let json = serde_json::to_vec(&body).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a token issued by [`encode_page_token`] for the same filter;
/// empty means the first page.
pub fn decode_page_token(token: &str, filter: &ListFilter) -> Result<Option<Cursor>, Invalid> {
    if token.is_empty() {
        return Ok(None);
    }
    let garbage = Invalid("is not a page token this service issued");
    let json = URL_SAFE_NO_PAD.decode(token).map_err(|_| garbage.clone())?;
    let body: TokenBody = serde_json::from_slice(&json).map_err(|_| garbage.clone())?;
    let id = ProductId::parse(&body.id).map_err(|_| garbage)?;
    if body.filter != filter.fingerprint() {
        return Err(Invalid(
            "was issued for another query or category; start again without it",
        ));
    }
    Ok(Some(Cursor {
        name: body.name,
        id,
    }))
}

/// One listing request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: ListFilter,
    pub page_size: PageSize,
    pub after: Option<Cursor>,
}

/// One page of products and where the next starts, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub products: Vec<Product>,
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(search: &str, category: Option<&str>) -> ListFilter {
        ListFilter {
            search: SearchText::parse(search).ok().flatten(),
            category: category.and_then(|c| Category::parse(c.to_owned()).ok()),
        }
    }

    #[test]
    fn page_sizes() {
        assert_eq!(PageSize::parse(0).map(PageSize::get), Ok(20));
        assert_eq!(PageSize::parse(1).map(PageSize::get), Ok(1));
        assert_eq!(PageSize::parse(100).map(PageSize::get), Ok(100));
        assert!(PageSize::parse(101).is_err());
        assert!(PageSize::parse(-1).is_err());
    }

    #[test]
    fn tokens_round_trip_for_their_filter_only() {
        let cursor = Cursor {
            name: "Mug %".into(),
            id: ProductId::generate(),
        };
        let mugs = filter("mug", Some("kitchen"));
        let token = encode_page_token(&cursor, &mugs);
        assert_eq!(decode_page_token(&token, &mugs), Ok(Some(cursor)));
        assert!(decode_page_token(&token, &filter("mug", None)).is_err());
        assert!(decode_page_token(&token, &filter("", Some("kitchen"))).is_err());
        // The search text is case-insensitive, so its token is too.
        assert!(decode_page_token(&token, &filter("MUG", Some("kitchen"))).is_ok());
    }

    #[test]
    fn garbage_tokens_are_refused() {
        let any = ListFilter::default();
        assert_eq!(decode_page_token("", &any), Ok(None));
        assert!(decode_page_token("not a token!", &any).is_err());
        assert!(decode_page_token(&URL_SAFE_NO_PAD.encode("{}"), &any).is_err());
        let bad_id = URL_SAFE_NO_PAD.encode(r#"{"n":"a","i":"x","f":0}"#);
        assert!(decode_page_token(&bad_id, &any).is_err());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        let text = SearchText::parse(" 100%_Off! ").ok().flatten();
        assert_eq!(
            text.map(|t| t.like_pattern()),
            Some("%100!%!_off!!%".to_owned())
        );
        assert_eq!(SearchText::parse("   "), Ok(None));
    }
}
