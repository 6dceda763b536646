//! The catalog's vocabulary: types that can only hold valid values.
//!
//! Money is the shared `bazaar-domain` type, so orders multiply the very
//! prices reserved here.
//!
//! Requests are parsed into these at the gRPC edge, once; the store and the
//! handlers then trust them (parse, don't validate). Each parser says what is
//! wrong in words for the caller; the edge adds the field path.

pub mod listing;
mod newtype;
pub mod product;
pub mod reservation;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);
