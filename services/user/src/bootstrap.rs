//! The first admin: without one, nobody could grant the admin role, so it is
//! created from configuration when missing.

use anyhow::{Context as _, anyhow};
use bazaar_runtime::status::ServiceError;

use crate::{
    config::AdminConfig,
    domain::{DisplayName, Email, Password, Role, Roles, UserId},
    password::Passwords,
    store::{NewUser, UserStore},
};

/// Creates the configured admin unless an account already has its email.
/// An existing account is left exactly as it is (its password and roles may
/// have been changed on purpose since).
pub async fn ensure_admin<S: UserStore>(
    store: &S,
    passwords: &Passwords,
    admin: &AdminConfig,
) -> anyhow::Result<()> {
    let invalid = |field: &str, e| anyhow!("bootstrap_admin.{field} {e}");
    let email = Email::parse(&admin.email).map_err(|e| invalid("email", e))?;
    let display_name =
        DisplayName::parse(&admin.display_name).map_err(|e| invalid("display_name", e))?;
    let password = Password::parse(admin.password.clone()).map_err(|e| invalid("password", e))?;

    if store
        .find_by_email(&email)
        .await
        .context("looking up the bootstrap admin")?
        .is_some()
    {
        tracing::debug!("the bootstrap admin exists");
        return Ok(());
    }
    if admin.password == AdminConfig::DEV_PASSWORD {
        tracing::warn!(
            "creating the bootstrap admin with the development password; \
             set bootstrap_admin.password outside development"
        );
    }
    let password_hash = passwords
        .hash(password)
        .await
        .context("hashing the bootstrap admin's password")?;
    let created = store
        .create(NewUser {
            id: UserId::generate(),
            email,
            display_name,
            password_hash,
            roles: Roles::only(Role::Admin),
        })
        .await;
    match created {
        Ok(user) => {
            tracing::info!(user_id = %user.id, "created the bootstrap admin");
            Ok(())
        }
        // Another replica created it first.
        Err(ServiceError::AlreadyExists(_)) => Ok(()),
        Err(error) => Err(error).context("creating the bootstrap admin"),
    }
}
