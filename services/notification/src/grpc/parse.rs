//! Wire requests → domain values, one field violation per bad field.

use bazaar_proto::notification::v1 as pb;
use bazaar_runtime::status::{FieldViolations, ServiceError};

use crate::domain::{PageSize, PageToken};

/// The page size and where the page starts.
pub fn page(
    request: &pb::ListNotificationsRequest,
) -> Result<(PageSize, Option<PageToken>), ServiceError> {
    let mut violations = FieldViolations::default();
    let size = violations.check("page_size", PageSize::parse(request.page_size));
    let after = if request.page_token.is_empty() {
        None
    } else {
        violations.check("page_token", PageToken::decode(&request.page_token))
    };
    match size {
        Some(size) if violations.is_empty() => Ok((size, after)),
        _ => Err(ServiceError::InvalidArgument(violations)),
    }
}
