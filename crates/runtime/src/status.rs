//! One mapping from service errors to `tonic::Status`.
//!
//! Handlers return [`ServiceError`]; its `From` impl is the only place a
//! status is built. Invalid input carries `google.rpc.BadRequest` field
//! violations; declines carry `google.rpc.ErrorInfo`; internal errors are
//! logged with the trace id and reach the caller only as a generic message.

use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `domain` of `google.rpc.ErrorInfo` details Bazaar sends.
pub const ERROR_DOMAIN: &str = "bazaar.dev";

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong in a request, by who can act on it.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The caller's input is wrong; each violation names a field.
    #[error("invalid argument: {0}")]
    InvalidArgument(FieldViolations),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The request is valid but the system is not in a state to do it.
    /// `reason` is a stable UPPER_SNAKE code for programs; `metadata` names
    /// what it is about (e.g. `product_id`).
    #[error("{message}")]
    FailedPrecondition {
        reason: String,
        message: String,
        metadata: Vec<(String, String)>,
    },
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// A dependency is down or overloaded; the caller may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A concurrent change won; the caller may retry the whole operation.
    #[error("aborted: {0}")]
    Aborted(String),
    /// A bug or an unexpected failure. Logged, never shown to the caller.
    #[error("internal error: {0}")]
    Internal(BoxError),
}

impl ServiceError {
    /// A single invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::default();
        violations.add(field, description);
        Self::InvalidArgument(violations)
    }

    pub fn internal(error: impl Into<BoxError>) -> Self {
        Self::Internal(error.into())
    }

    pub fn failed_precondition(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::FailedPrecondition {
            reason: reason.into(),
            message: message.into(),
            metadata: Vec::new(),
        }
    }

    /// Adds a key/value to the `ErrorInfo` metadata of a failed precondition
    /// (other kinds carry no metadata and are returned unchanged).
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if let Self::FailedPrecondition { metadata, .. } = &mut self {
            metadata.push((key.into(), value.into()));
        }
        self
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::InvalidArgument(violations) => {
                let message = violations.to_string();
                let mut details = ErrorDetails::new();
                for v in violations.0 {
                    details.add_bad_request_violation(v.field, v.description);
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            ServiceError::NotFound(what) => Status::not_found(format!("{what} not found")),
            ServiceError::AlreadyExists(what) => {
                Status::already_exists(format!("{what} already exists"))
            }
            ServiceError::FailedPrecondition {
                reason,
                message,
                metadata,
            } => Status::with_error_details(
                Code::FailedPrecondition,
                message,
                ErrorDetails::with_error_info(
                    reason,
                    ERROR_DOMAIN,
                    metadata
                        .into_iter()
                        .collect::<std::collections::HashMap<_, _>>(),
                ),
            ),
            ServiceError::PermissionDenied(message) => Status::permission_denied(message),
            ServiceError::Unauthenticated(message) => Status::unauthenticated(message),
            ServiceError::Unavailable(message) => Status::unavailable(message),
            ServiceError::Aborted(message) => Status::aborted(message),
            ServiceError::Internal(error) => {
                let trace_id = crate::telemetry::current_trace_id();
                tracing::error!(error = %error, trace_id, "internal error");
                match trace_id {
                    Some(id) => Status::internal(format!("internal error (trace id {id})")),
                    None => Status::internal("internal error"),
                }
            }
        }
    }
}

/// One bad field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, e.g. `product.price.currency_code`.
    pub field: String,
    pub description: String,
}

/// Every bad field of a request, collected so the caller can fix them all at
/// once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldViolations(Vec<FieldViolation>);

impl FieldViolations {
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Records the error of a parse, passing its value on.
    pub fn check<T, E: fmt::Display>(
        &mut self,
        field: impl Into<String>,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn violations(&self) -> &[FieldViolation] {
        &self.0
    }

    /// `Ok(())` when nothing was wrong.
    pub fn into_result(self) -> Result<(), ServiceError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::InvalidArgument(self))
        }
    }
}

impl fmt::Display for FieldViolations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.description)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_every_field_violation() {
        let mut violations = FieldViolations::default();
        violations.add("email", "must contain @");
        let price: Result<u32, _> = "-3".parse::<u32>();
        assert_eq!(violations.check("price.amount_minor", price), None);

        let status = Status::from(violations.into_result().unwrap_err());
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("email: must contain @"));
        let bad_request = status
            .get_details_bad_request()
            .expect("BadRequest details");
        let fields: Vec<_> = bad_request
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["email", "price.amount_minor"]);
    }

    #[test]
    fn no_violations_is_ok() {
        assert!(FieldViolations::default().into_result().is_ok());
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let status = Status::from(ServiceError::internal("password=hunter2 in db"));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
    }

    #[test]
    fn declines_carry_a_machine_readable_reason() {
        let status = Status::from(
            ServiceError::failed_precondition("INSUFFICIENT_STOCK", "not enough stock")
                .with_metadata("product_id", "p-1"),
        );
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_details_error_info().expect("ErrorInfo details");
        assert_eq!(info.reason, "INSUFFICIENT_STOCK");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(
            info.metadata.get("product_id").map(String::as_str),
            Some("p-1")
        );
    }
}
