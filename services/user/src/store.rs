//! Where accounts live: one trait, so the service logic does not care which
//! database is behind it, and one SQL implementation that serves both
//! PostgreSQL and SQLite.

mod sql;

use std::future::Future;

use bazaar_runtime::status::ServiceError;

use crate::domain::{DisplayName, Email, HashedPassword, Roles, User, UserId};

pub use sql::{MIGRATIONS, SqlUserStore};

/// A new account, ready to insert.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub password_hash: HashedPassword,
    pub roles: Roles,
}

/// An account with its password hash, for checking a login.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: HashedPassword,
}

/// The fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub email: Option<Email>,
    pub display_name: Option<DisplayName>,
    pub roles: Option<Roles>,
}

impl UserPatch {
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.display_name.is_none() && self.roles.is_none()
    }
}

/// Account storage. Methods return `Send` futures so handlers can await them
/// on any worker thread. Failures are [`ServiceError`]s: a database that is
/// down is `UNAVAILABLE`, a row that no longer parses is internal.
pub trait UserStore: Send + Sync + 'static {
    /// Inserts an account; [`ServiceError::AlreadyExists`] if the email is in
    /// use.
    fn create(&self, user: NewUser) -> impl Future<Output = Result<User, ServiceError>> + Send;

    fn get(&self, id: UserId) -> impl Future<Output = Result<Option<User>, ServiceError>> + Send;

    fn find_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<Credentials>, ServiceError>> + Send;

    /// Applies `patch` atomically and returns the account as it now is;
    /// `None` if there is no such account, [`ServiceError::AlreadyExists`] if
    /// the new email is in use.
    fn update(
        &self,
        id: UserId,
        patch: UserPatch,
    ) -> impl Future<Output = Result<Option<User>, ServiceError>> + Send;
}
