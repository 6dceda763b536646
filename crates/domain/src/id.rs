//! Server-assigned ids: one shape for every entity, each its own type so an
//! order id can never be passed where a payment id is meant.
//!
//! [`uuid_id!`](crate::uuid_id) declares one. Ids are UUID v7, so they sort
//! by creation and keep index inserts local, and print in one canonical form
//! (lower-case hyphenated), so stored ids compare as text.

pub use uuid::Uuid;

/// Why a text is not an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("is required")]
    Empty,
    #[error("must be a UUID")]
    NotUuid,
}

/// Parses the text form of any id.
pub fn parse_uuid(raw: &str) -> Result<Uuid, IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty);
    }
    Uuid::try_parse(raw).map_err(|_| IdError::NotUuid)
}

/// Declares a UUID id type: `uuid_id!(/** An order's id. */ OrderId);`.
#[macro_export]
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($crate::id::Uuid);

        impl $name {
            /// A fresh id.
            pub fn generate() -> Self {
                Self($crate::id::Uuid::now_v7())
            }

            pub fn parse(raw: &str) -> Result<Self, $crate::id::IdError> {
                $crate::id::parse_uuid(raw).map(Self)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::id::IdError;

            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::parse(raw)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::uuid_id!(
        /// An id for the tests.
        ThingId
    );

    #[test]
    fn parses_and_prints_one_canonical_form() {
        let id = ThingId::parse("0191F3C4-7A2B-7C3D-8E4F-0123456789AB").unwrap();
        assert_eq!(id.to_string(), "0191f3c4-7a2b-7c3d-8e4f-0123456789ab");
        assert_eq!(id.to_string().parse::<ThingId>(), Ok(id));
    }

    #[test]
    fn refuses_what_is_not_a_uuid() {
        assert_eq!(ThingId::parse(""), Err(IdError::Empty));
        assert_eq!(ThingId::parse("42"), Err(IdError::NotUuid));
    }

    #[test]
    fn fresh_ids_differ_and_sort_by_creation() {
        let first = ThingId::generate();
        let second = ThingId::generate();
        assert_ne!(first, second);
        assert!(first < second);
    }
}
