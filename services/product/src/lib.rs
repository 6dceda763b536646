//! Placeholder: the product service is being built.
