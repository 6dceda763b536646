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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another account has this email (the unique index said so).
    #[error("the email is taken")]
    EmailTaken,
    /// A stored row no longer parses: a bug or a hand edit.
    #[error("stored account {id} is invalid: {field} {problem}")]
    Corrupt {
        id: String,
        field: &'static str,
        problem: &'static str,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The one mapping from store failures to what the caller sees.
impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::EmailTaken => Self::AlreadyExists("an account with this email".into()),
            StoreError::Database(error) => error.into(),
            corrupt @ StoreError::Corrupt { .. } => Self::internal(corrupt),
        }
    }
}

/// Account storage. Methods return `Send` futures so handlers can await them
/// on any worker thread.
pub trait UserStore: Send + Sync + 'static {
    /// Inserts an account; [`StoreError::EmailTaken`] if the email is in use.
    fn create(&self, user: NewUser) -> impl Future<Output = Result<User, StoreError>> + Send;

    fn get(&self, id: UserId) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    fn find_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<Credentials>, StoreError>> + Send;

    /// Applies `patch` atomically and returns the account as it now is;
    /// `None` if there is no such account.
    fn update(
        &self,
        id: UserId,
        patch: UserPatch,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
}
