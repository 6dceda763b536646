use super::{DisplayName, Email, Roles};

bazaar_domain::uuid_id!(
    /// An account's server-assigned id.
    UserId
);

/// An account as the rest of the service sees it; the password hash stays in
/// the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub roles: Roles,
    /// Microseconds since the Unix epoch, as stored.
    pub create_time: i64,
    pub update_time: i64,
}
