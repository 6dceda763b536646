//! [`UserStore`] over the runtime's [`Database`]: one portable SQL dialect for
//! PostgreSQL and SQLite (TEXT ids, BIGINT microsecond times, `$n` params).

use std::fmt::Display;

use bazaar_runtime::{
    db::{self, Database, Migrations},
    status::ServiceError,
};
use sqlx::migrate::Migrator;

use super::{Credentials, NewRefresh, NewUser, UserPatch, UserStore};
use crate::domain::{DisplayName, Email, HashedPassword, Roles, User, UserId};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The schema, applied by [`Database::connect`]: the same DDL on both
/// backends.
pub const MIGRATIONS: Migrations = Migrations::Portable(&MIGRATOR);

/// A `SELECT` of every column with a `WHERE` clause, built at compile time
/// (SQL is never assembled at run time).
macro_rules! select_user_where {
    ($condition:literal) => {
        concat!(
            "SELECT id, email, display_name, roles, create_time, update_time, password_hash \
             FROM users WHERE ",
            $condition
        )
    };
}

#[derive(Debug, Clone)]
pub struct SqlUserStore {
    db: Database,
}

impl SqlUserStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// A `users` row as stored; parsed into domain types on the way out, so a
/// bad row is an error here rather than a surprise later.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    display_name: String,
    roles: String,
    create_time: i64,
    update_time: i64,
    password_hash: String,
}

impl UserRow {
    fn into_credentials(self) -> Result<Credentials, ServiceError> {
        // A stored row that no longer parses is a bug or a hand edit.
        let corrupt = |field: &str, problem: &dyn Display| {
            ServiceError::internal(format!(
                "stored account {} is invalid: {field} {problem}",
                self.id
            ))
        };
        let user = User {
            id: UserId::parse(&self.id).map_err(|e| corrupt("id", &e))?,
            email: Email::parse(&self.email).map_err(|e| corrupt("email", &e))?,
            display_name: DisplayName::parse(&self.display_name)
                .map_err(|e| corrupt("display_name", &e))?,
            roles: Roles::from_stored(&self.roles).map_err(|e| corrupt("roles", &e))?,
            create_time: self.create_time,
            update_time: self.update_time,
        };
        Ok(Credentials {
            user,
            password_hash: HashedPassword::from_phc(self.password_hash),
        })
    }
}

/// The unique index on `email` is the one that can refuse a write.
fn taken_or(error: sqlx::Error) -> ServiceError {
    if db::is_unique_violation(&error) {
        ServiceError::AlreadyExists("an account with this email".into())
    } else {
        error.into()
    }
}

impl UserStore for SqlUserStore {
    async fn create(&self, user: NewUser) -> Result<User, ServiceError> {
        let now = db::now_micros();
        sqlx::query(
            "INSERT INTO users \
             (id, email, display_name, password_hash, roles, create_time, update_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(user.id.to_string())
        .bind(user.email.as_str())
        .bind(user.display_name.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.roles.to_stored())
        .bind(now)
        .bind(now)
        .execute(self.db.pool())
        .await
        .map_err(taken_or)?;
        Ok(User {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            roles: user.roles,
            create_time: now,
            update_time: now,
        })
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, ServiceError> {
        let row: Option<UserRow> = sqlx::query_as(select_user_where!("id = $1"))
            .bind(id.to_string())
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|r| r.into_credentials().map(|c| c.user))
            .transpose()
    }

    async fn get_credentials(&self, id: UserId) -> Result<Option<Credentials>, ServiceError> {
        let row: Option<UserRow> = sqlx::query_as(select_user_where!("id = $1"))
            .bind(id.to_string())
            .fetch_optional(self.db.pool())
            .await?;
        row.map(UserRow::into_credentials).transpose()
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<Credentials>, ServiceError> {
        let row: Option<UserRow> = sqlx::query_as(select_user_where!("email = $1"))
            .bind(email.as_str())
            .fetch_optional(self.db.pool())
            .await?;
        row.map(UserRow::into_credentials).transpose()
    }

    async fn update(&self, id: UserId, patch: UserPatch) -> Result<Option<User>, ServiceError> {
        let mut tx = self.db.begin_write().await?;
        // One conditional UPDATE: unchanged fields keep their value, so
        // concurrent patches of different fields never undo each other.
        let updated = sqlx::query(
            "UPDATE users SET \
             email = COALESCE($2, email), \
             display_name = COALESCE($3, display_name), \
             roles = COALESCE($4, roles), \
             update_time = $5 \
             WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(patch.email.as_ref().map(Email::as_str))
        .bind(patch.display_name.as_ref().map(DisplayName::as_str))
        .bind(patch.roles.as_ref().map(Roles::to_stored))
        .bind(db::now_micros())
        .execute(&mut *tx)
        .await
        .map_err(taken_or)?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        if patch.roles.is_some() {
            // A role change ends every session: access tokens already out
            // keep the old roles only until they expire, none is renewed,
            // and the next login carries the new roles.
            revoke_all(&mut tx, id).await?;
        }
        let row: UserRow = sqlx::query_as(select_user_where!("id = $1"))
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        row.into_credentials().map(|c| Some(c.user))
    }

    async fn set_password(&self, id: UserId, hash: HashedPassword) -> Result<bool, ServiceError> {
        let mut tx = self.db.begin_write().await?;
        let updated =
            sqlx::query("UPDATE users SET password_hash = $2, update_time = $3 WHERE id = $1")
                .bind(id.to_string())
                .bind(hash.as_str())
                .bind(db::now_micros())
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        // Whoever knew the old password may hold a session: end them all.
        revoke_all(&mut tx, id).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn add_refresh(&self, token: NewRefresh) -> Result<(), ServiceError> {
        let user_id = token
            .user_id
            .ok_or_else(|| ServiceError::internal("a new refresh token names no account"))?;
        insert_refresh(self.db.pool(), &token, user_id).await
    }

    async fn rotate_refresh(
        &self,
        old_hash: &str,
        next: NewRefresh,
    ) -> Result<Option<UserId>, ServiceError> {
        let mut tx = self.db.begin_write().await?;
        let now = db::now_micros();
        // The conditional UPDATE is the claim: of two concurrent refreshes
        // with one token, only one sees a row affected.
        let claimed = sqlx::query(
            "UPDATE refresh_tokens SET revoked = $3 \
             WHERE token_hash = $1 AND revoked = 0 AND expire_time > $2",
        )
        .bind(old_hash)
        .bind(now)
        .bind(ROTATED)
        .execute(&mut *tx)
        .await?;
        let owner: Option<(String, i64)> =
            sqlx::query_as("SELECT user_id, revoked FROM refresh_tokens WHERE token_hash = $1")
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((owner, revoked_before)) = owner else {
            return Ok(None);
        };
        let user_id = UserId::parse(&owner).map_err(|e| {
            ServiceError::internal(format!("stored refresh token names a bad account: {e}"))
        })?;
        if claimed.rows_affected() == 0 {
            if revoked_before == ROTATED {
                // A token already used came back: someone else holds a copy.
                // (One revoked by logout is merely stale, and refused.)
                revoke_all(&mut tx, user_id).await?;
                tx.commit().await?;
                tracing::warn!(%user_id, "a revoked refresh token was reused; sessions revoked");
            }
            return Ok(None);
        }
        insert_refresh(&mut *tx, &next, user_id).await?;
        tx.commit().await?;
        Ok(Some(user_id))
    }

    async fn revoke_refresh(&self, hash: &str) -> Result<(), ServiceError> {
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = $1")
            .bind(hash)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}

async fn insert_refresh<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    token: &NewRefresh,
    user_id: UserId,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, expire_time, revoked, create_time) \
         VALUES ($1, $2, $3, 0, $4)",
    )
    .bind(&token.hash)
    .bind(user_id.to_string())
    .bind(token.expire_time)
    .bind(db::now_micros())
    .execute(executor)
    .await?;
    Ok(())
}

/// `refresh_tokens.revoked` of a token replaced by rotation; `1` is one
/// revoked by logout, a password change or a role change.
const ROTATED: i64 = 2;

/// Revokes every refresh token of `user_id`, inside the caller's write.
async fn revoke_all(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: UserId,
) -> Result<(), ServiceError> {
    sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = $1 AND revoked = 0")
        .bind(user_id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
