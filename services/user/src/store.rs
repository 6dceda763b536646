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

    /// An account with its password hash, by id.
    fn get_credentials(
        &self,
        id: UserId,
    ) -> impl Future<Output = Result<Option<Credentials>, ServiceError>> + Send;

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

    /// Replaces the account's password hash and revokes every refresh token
    /// of the account, atomically; false if there is no such account.
    fn set_password(
        &self,
        id: UserId,
        hash: HashedPassword,
    ) -> impl Future<Output = Result<bool, ServiceError>> + Send;

    /// Stores a new refresh token (by its hash) for `user`.
    fn add_refresh(
        &self,
        token: NewRefresh,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// Revokes the live, unexpired refresh token `old_hash` and stores
    /// `next` for the same account in its place, atomically; the account's
    /// id, or `None` if `old_hash` is unknown, expired or revoked. A revoked
    /// token presented again was stolen or replayed: every refresh token of
    /// its account is revoked then.
    fn rotate_refresh(
        &self,
        old_hash: &str,
        next: NewRefresh,
    ) -> impl Future<Output = Result<Option<UserId>, ServiceError>> + Send;

    /// Revokes one refresh token; nothing happens if it is unknown.
    fn revoke_refresh(&self, hash: &str) -> impl Future<Output = Result<(), ServiceError>> + Send;
}

/// A refresh token to store: its SHA-256 (never the token), and until when
/// (microseconds since the epoch) it is accepted. `user_id` is unset when
/// rotating: the new token belongs to the old one's account.
#[derive(Debug, Clone)]
pub struct NewRefresh {
    pub hash: String,
    pub user_id: Option<UserId>,
    pub expire_time: i64,
}
