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

/// Says how to get a first admin when none is configured: with the
/// bootstrap admin off (the default outside `make run`), nobody is created.
pub fn explain_disabled(admin: Option<&AdminConfig>) {
    // A password set without `enabled` is a half-done configuration: say
    // so louder than the usual hint.
    if admin.is_some_and(|a| a.password != AdminConfig::DEV_PASSWORD) {
        tracing::warn!(
            "bootstrap_admin.password is set but bootstrap_admin.enabled is off, so no \
             admin is created; set BAZAAR__BOOTSTRAP_ADMIN__ENABLED=true to create it"
        );
        return;
    }
    tracing::info!(
        "no bootstrap admin is created (bootstrap_admin.enabled is off); to create \
         one, start with BAZAAR__BOOTSTRAP_ADMIN__ENABLED=true, \
         BAZAAR__BOOTSTRAP_ADMIN__EMAIL=<email> and \
         BAZAAR__BOOTSTRAP_ADMIN__PASSWORD=<8 to 128 characters>"
    );
}

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
