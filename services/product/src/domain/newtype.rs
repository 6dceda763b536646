//! The one shape of the catalog's small value types: a newtype that can only
//! hold values meeting its rules, so each type states just those rules.

use super::Invalid;

/// How a text's length is counted.
#[derive(Debug, Clone, Copy)]
pub enum Length {
    Bytes(usize),
    Chars(usize),
}

/// What a text field accepts, checked in this order: surrounding blanks
/// dropped (if trimmed), required, length, characters.
#[derive(Debug, Clone, Copy)]
pub struct TextRules {
    trim: bool,
    required: bool,
    max: Length,
    too_long: &'static str,
    allowed: Option<Charset>,
}

/// The characters a text may hold, and what a value with another is told.
#[derive(Debug, Clone, Copy)]
struct Charset {
    allows: fn(char) -> bool,
    refused: &'static str,
}

impl TextRules {
    /// Not empty ("is required") and at most `max`, else `too_long`.
    pub const fn required(max: Length, too_long: &'static str) -> Self {
        Self {
            trim: false,
            required: true,
            max,
            too_long,
            allowed: None,
        }
    }

    /// At most `max`, else `too_long`; may be empty.
    pub const fn optional(max: Length, too_long: &'static str) -> Self {
        Self {
            required: false,
            ..Self::required(max, too_long)
        }
    }

    /// Surrounding blanks are dropped before anything is checked.
    pub const fn trimmed(self) -> Self {
        Self { trim: true, ..self }
    }

    /// Only characters `allows` accepts; `refused` otherwise.
    pub const fn only(self, allows: fn(char) -> bool, refused: &'static str) -> Self {
        Self {
            allowed: Some(Charset { allows, refused }),
            ..self
        }
    }

    pub fn check(&self, value: String) -> Result<String, Invalid> {
        let value = if self.trim {
            value.trim().to_owned()
        } else {
            value
        };
        if self.required && value.is_empty() {
            return Err(Invalid("is required"));
        }
        let too_long = match self.max {
            Length::Bytes(max) => value.len() > max,
            Length::Chars(max) => value.chars().count() > max,
        };
        if too_long {
            return Err(Invalid(self.too_long));
        }
        if let Some(charset) = self.allowed
            && !value.chars().all(charset.allows)
        {
            return Err(Invalid(charset.refused));
        }
        Ok(value)
    }
}

/// Declares a text newtype held to a [`TextRules`] constant:
/// `text_newtype!(/** doc */ Sku, TextRules::required(..).only(..));`.
macro_rules! text_newtype {
    ($(#[$meta:meta])* $name:ident, $rules:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            const RULES: $crate::domain::newtype::TextRules = $rules;

            pub fn parse(value: String) -> Result<Self, $crate::domain::Invalid> {
                Self::RULES.check(value).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Declares an integer newtype with a lower bound:
/// `at_least!(/** doc */ Quantity(i32) >= 1, "must be at least 1");`.
macro_rules! at_least {
    ($(#[$meta:meta])* $name:ident($int:ty) >= $min:literal, $refused:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub struct $name($int);

        impl $name {
            pub fn parse(value: $int) -> Result<Self, $crate::domain::Invalid> {
                if value < $min {
                    return Err($crate::domain::Invalid($refused));
                }
                Ok(Self(value))
            }

            pub fn get(self) -> $int {
                self.0
            }
        }
    };
}

pub(crate) use {at_least, text_newtype};
