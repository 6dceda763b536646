//! Placeholder: the payment service is being built.
