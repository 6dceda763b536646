//! Placeholder: the user service is being built.
