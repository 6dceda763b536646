//! The account model: types that can only hold valid values.
//!
//! Requests are parsed into these once, at the gRPC edge; everything behind
//! it (the store, token issuing) trusts them instead of checking again.

mod display_name;
mod email;
mod password;
mod role;
mod user;

pub use display_name::DisplayName;
pub use email::Email;
pub use password::{HashedPassword, Password};
pub use role::{Role, Roles};
pub use user::{User, UserId};

/// Why a value was refused; the text goes to the caller as a field
/// violation, so it says what is expected, never what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// The checks every text field starts with: something there, and at most
/// `max` characters (not bytes, so accents count once).
fn check_length(text: &str, max: usize, too_long: &'static str) -> Result<(), Invalid> {
    if text.is_empty() {
        return Err(Invalid("must not be empty"));
    }
    if text.chars().count() > max {
        return Err(Invalid(too_long));
    }
    Ok(())
}
