//! Placeholder: the order service is being built.
