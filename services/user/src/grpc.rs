//! `bazaar.user.v1.UserService` over gRPC: parse the request, check who may
//! do it, call the store, answer. Errors are [`ServiceError`]s, turned into
//! statuses by the runtime's single mapping.

mod convert;
mod parse;

#[cfg(test)]
mod contract;

use std::{sync::Arc, time::Duration};

use base64::Engine as _;
use bazaar_proto::user::v1::{
    ChangePasswordRequest, ChangePasswordResponse, GetJwksRequest, GetJwksResponse, GetMeRequest,
    GetMeResponse, GetUserRequest, GetUserResponse, LoginRequest, LoginResponse, LogoutRequest,
    LogoutResponse, RefreshTokenRequest, RefreshTokenResponse, RegisterRequest, RegisterResponse,
    ResetPasswordRequest, ResetPasswordResponse, UpdateUserRequest, UpdateUserResponse,
    user_service_server::UserService,
};
use bazaar_runtime::{
    auth::{Jwk, Principal, TokenSigner, principal},
    status::ServiceError,
};
use sha2::{Digest as _, Sha256};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use self::parse::{LoginAttempt, PasswordChange, PasswordReset, Registration, Update};
use crate::{
    config::TokenConfig,
    domain::{Role, Roles, User, UserId},
    metrics::{AccountMetrics, LoginOutcome},
    password::{HashError, Passwords},
    store::{NewRefresh, NewUser, UserStore},
    throttle::{Limit, Throttle, Throttled, account_key, client_address},
};

/// The one answer to bad credentials, whichever part was wrong.
const BAD_CREDENTIALS: &str = "invalid email or password";

/// The user service's handlers over a store `S`.
pub struct UserApi<S> {
    store: S,
    passwords: Passwords,
    signer: Arc<TokenSigner>,
    /// What GetJwks answers: the signer's key, then the previous one.
    published: Vec<Jwk>,
    token_ttl: Duration,
    refresh_ttl: Duration,
    throttle: Throttle,
    metrics: AccountMetrics,
}

impl<S: UserStore> UserApi<S> {
    pub fn new(
        store: S,
        passwords: Passwords,
        signer: Arc<TokenSigner>,
        published: Vec<Jwk>,
        tokens: &TokenConfig,
        throttle: Throttle,
        metrics: AccountMetrics,
    ) -> Self {
        Self {
            store,
            passwords,
            signer,
            published,
            token_ttl: tokens.ttl,
            refresh_ttl: tokens.refresh_ttl,
            throttle,
            metrics,
        }
    }

    /// An access token for `user` with its roles as they are now.
    fn access_token(&self, user: &User) -> Result<(String, prost_types::Timestamp), Status> {
        let (token, claims) = self.signer.issue(
            &user.id.to_string(),
            &user.roles.to_claims(),
            self.token_ttl,
        )?;
        Ok((token, seconds(claims.exp)))
    }

    /// A new refresh token: what the client gets, and what is stored.
    fn new_refresh(&self, user_id: Option<UserId>) -> Result<(String, NewRefresh), Status> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| ServiceError::internal(format!("no randomness for a token: {e}")))?;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let ttl = i64::try_from(self.refresh_ttl.as_micros()).unwrap_or(i64::MAX);
        let record = NewRefresh {
            hash: refresh_hash(&token),
            user_id,
            expire_time: bazaar_runtime::db::now_micros().saturating_add(ttl),
        };
        Ok((token, record))
    }

    /// Sets `id`'s password (which revokes its refresh tokens).
    async fn set_password(
        &self,
        id: UserId,
        password: crate::domain::Password,
    ) -> Result<(), Status> {
        let hash = self.passwords.hash(password).await.map_err(hashing)?;
        if self.store.set_password(id, hash).await? {
            Ok(())
        } else {
            Err(no_such_user().into())
        }
    }

    async fn existing(&self, id: UserId) -> Result<User, ServiceError> {
        self.store.get(id).await?.ok_or_else(no_such_user)
    }
}

/// `RESOURCE_EXHAUSTED` with when to come back: whole seconds, rounded up,
/// as `ErrorInfo` metadata `retry_after_seconds` and as `RetryInfo`.
fn exhausted(reason: &str, message: &str, retry_after: Duration) -> Status {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut details = ErrorDetails::with_error_info(
        reason,
        bazaar_runtime::status::ERROR_DOMAIN,
        [("retry_after_seconds".to_owned(), seconds.to_string())]
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    );
    details.set_retry_info(Some(Duration::from_secs(seconds)));
    Status::with_error_details(Code::ResourceExhausted, message, details)
}

fn throttled(refused: Throttled) -> Status {
    tracing::info!(limit = ?refused.limit, "attempt throttled");
    exhausted(
        "TOO_MANY_ATTEMPTS",
        "too many attempts; try again later",
        refused.retry_after,
    )
}

fn hashing(error: HashError) -> Status {
    match error {
        // The slots free up within a hash's time (well under a second).
        HashError::Saturated => exhausted(
            "OVERLOADED",
            "too many password checks in progress; try again shortly",
            Duration::from_secs(1),
        ),
        HashError::Failed(error) => error.into(),
    }
}

/// The stored form of a refresh token: a leaked table holds no usable
/// token. Unsalted is enough: the token is 256 random bits, not a password.
fn refresh_hash(token: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

fn seconds(unix: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: i64::try_from(unix).unwrap_or(i64::MAX),
        nanos: 0,
    }
}

fn micros(time: i64) -> prost_types::Timestamp {
    bazaar_runtime::db::timestamp(time)
}

/// Every refusal of a refresh token looks the same, whatever was wrong.
fn bad_refresh() -> Status {
    ServiceError::Unauthenticated("the refresh token is unknown, expired or revoked".into()).into()
}

/// A refresh token field: required, and refused unhashed when it cannot be
/// one we issued (43 base64url characters; up to 256 allowed), so a garbage
/// megabyte costs nothing.
fn refresh_field(value: &str) -> Result<&str, ServiceError> {
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if value.is_empty() {
        Err(ServiceError::invalid("refresh_token", "must not be empty"))
    } else if value.len() > 256 || !value.chars().all(base64url) {
        Err(ServiceError::invalid(
            "refresh_token",
            "is not a refresh token",
        ))
    } else {
        Ok(value)
    }
}

fn no_such_user() -> ServiceError {
    ServiceError::NotFound("user".into())
}

/// Refuses a customer acting on an account other than their own; checked
/// before any lookup, so a customer learns nothing about which ids exist.
fn check_access(caller: &Principal, id: UserId, refusal: &str) -> Result<(), ServiceError> {
    if caller.may_access(&id.to_string()) {
        Ok(())
    } else {
        Err(ServiceError::PermissionDenied(refusal.into()))
    }
}

/// The caller's own account id, from their token.
fn caller_id(principal: &Principal) -> Result<UserId, ServiceError> {
    // Only this service signs tokens, always with a UUID subject; anything
    // else is a token for no account.
    parse::parse_id(&principal.user_id)
        .map_err(|_| ServiceError::Unauthenticated("the access token names no account".into()))
}

#[tonic::async_trait]
impl<S: UserStore> UserService for UserApi<S> {
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let address = client_address(request.metadata(), request.remote_addr().map(|a| a.ip()));
        let registration = Registration::parse(request.into_inner())?;
        // Every attempt counts, before the hash: a refused one costs no
        // argon2 work, and neither does an email that is already taken.
        let account = account_key(registration.email.as_str());
        let keys = [
            (Limit::RegistrationsPerAccount, account.as_str()),
            (Limit::RegistrationsPerAddress, address.as_str()),
        ];
        self.throttle.check(&keys).map_err(throttled)?;
        self.throttle.record(&keys);
        let password_hash = self
            .passwords
            .hash(registration.password)
            .await
            .map_err(hashing)?;
        let user = self
            .store
            .create(NewUser {
                id: UserId::generate(),
                email: registration.email,
                display_name: registration.display_name,
                password_hash,
                roles: Roles::only(Role::Customer),
            })
            .await?;
        self.metrics.registrations.inc();
        tracing::info!(user_id = %user.id, "account registered");
        Ok(Response::new(RegisterResponse {
            user: Some(user.into()),
        }))
    }

    async fn login(
        &self,
        request: Request<LoginRequest>,
    ) -> Result<Response<LoginResponse>, Status> {
        let address = client_address(request.metadata(), request.remote_addr().map(|a| a.ip()));
        let account = account_key(&request.get_ref().email);
        let attempt = LoginAttempt::parse(request.into_inner())?;
        let keys = [
            (Limit::LoginFailuresPerAccount, account.as_str()),
            (Limit::LoginFailuresPerAddress, address.as_str()),
        ];
        // Checked before the password, so a throttled guess is never tried.
        self.throttle.check(&keys).map_err(|refused| {
            self.metrics.login(LoginOutcome::Throttled);
            throttled(refused)
        })?;
        let credentials = match &attempt.email {
            Some(email) => self.store.find_by_email(email).await?,
            None => None,
        };
        let (user, hash) = match credentials {
            Some(c) => (Some(c.user), Some(c.password_hash)),
            None => (None, None),
        };
        // Always one argon2 verification, against the dummy hash when there
        // is no account, so the answer's timing says nothing either.
        let verified = self
            .passwords
            .verify(attempt.password, hash)
            .await
            .map_err(hashing)?;
        let user = match user {
            Some(user) if verified => {
                self.throttle
                    .forget(Limit::LoginFailuresPerAccount, &account);
                user
            }
            _ => {
                self.throttle.record(&keys);
                self.metrics.login(LoginOutcome::BadCredentials);
                tracing::info!("login refused");
                return Err(ServiceError::Unauthenticated(BAD_CREDENTIALS.into()).into());
            }
        };
        let (access_token, expire_time) = self.access_token(&user)?;
        let (refresh_token, record) = self.new_refresh(Some(user.id))?;
        let refresh_expire_time = micros(record.expire_time);
        self.store.add_refresh(record).await?;
        // Only once the session is stored: a login that fails here issued
        // nothing usable.
        self.metrics.login(LoginOutcome::Ok);
        tracing::info!(user_id = %user.id, "logged in");
        Ok(Response::new(LoginResponse {
            access_token,
            token_type: "Bearer".to_owned(),
            expire_time: Some(expire_time),
            user: Some(user.into()),
            refresh_token,
            refresh_expire_time: Some(refresh_expire_time),
        }))
    }

    async fn change_password(
        &self,
        request: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let id = caller_id(principal(&request)?)?;
        let change = PasswordChange::parse(request.into_inner())?;
        let account = id.to_string();
        let keys = [(Limit::LoginFailuresPerAccount, account.as_str())];
        // A stolen access token must not become an unbounded password
        // oracle: wrong old passwords count like failed logins.
        self.throttle.check(&keys).map_err(throttled)?;
        let credentials = self.store.get_credentials(id).await?;
        let Some(credentials) = credentials else {
            return Err(no_such_user().into());
        };
        let verified = self
            .passwords
            .verify(change.old_password, Some(credentials.password_hash))
            .await
            .map_err(hashing)?;
        if !verified {
            self.throttle.record(&keys);
            tracing::info!(user_id = %id, "password change refused");
            return Err(ServiceError::Unauthenticated("the old password is wrong".into()).into());
        }
        self.set_password(id, change.new_password).await?;
        tracing::info!(user_id = %id, "password changed; sessions revoked");
        Ok(Response::new(ChangePasswordResponse {}))
    }

    async fn reset_password(
        &self,
        request: Request<ResetPasswordRequest>,
    ) -> Result<Response<ResetPasswordResponse>, Status> {
        let caller = principal(&request)?.clone();
        // The mesh policy also demands the admin role; checked here too so
        // the service is safe wherever it is deployed.
        caller.require_admin()?;
        let reset = PasswordReset::parse(request.into_inner())?;
        self.set_password(reset.id, reset.new_password).await?;
        tracing::info!(user_id = %reset.id, by = %caller.user_id, "password reset; sessions revoked");
        Ok(Response::new(ResetPasswordResponse {}))
    }

    async fn refresh_token(
        &self,
        request: Request<RefreshTokenRequest>,
    ) -> Result<Response<RefreshTokenResponse>, Status> {
        let old = refresh_field(&request.get_ref().refresh_token)?;
        let (refresh_token, record) = self.new_refresh(None)?;
        let refresh_expire_time = micros(record.expire_time);
        let Some(id) = self
            .store
            .rotate_refresh(&refresh_hash(old), record)
            .await?
        else {
            return Err(bad_refresh());
        };
        // The roles as stored now, not as they were at login: a demoted
        // admin's next access token is a customer's.
        let Some(user) = self.store.get(id).await? else {
            return Err(bad_refresh());
        };
        let (access_token, expire_time) = self.access_token(&user)?;
        Ok(Response::new(RefreshTokenResponse {
            access_token,
            token_type: "Bearer".to_owned(),
            expire_time: Some(expire_time),
            refresh_token,
            refresh_expire_time: Some(refresh_expire_time),
        }))
    }

    async fn logout(
        &self,
        request: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        let token = refresh_field(&request.get_ref().refresh_token)?;
        self.store.revoke_refresh(&refresh_hash(token)).await?;
        Ok(Response::new(LogoutResponse {}))
    }

    async fn get_me(
        &self,
        request: Request<GetMeRequest>,
    ) -> Result<Response<GetMeResponse>, Status> {
        let id = caller_id(principal(&request)?)?;
        let user = self.existing(id).await?;
        Ok(Response::new(GetMeResponse {
            user: Some(user.into()),
        }))
    }

    async fn get_user(
        &self,
        request: Request<GetUserRequest>,
    ) -> Result<Response<GetUserResponse>, Status> {
        let caller = principal(&request)?;
        let id = parse::user_id("user_id", &request.get_ref().user_id)?;
        check_access(caller, id, "a customer may read only their own account")?;
        let user = self.existing(id).await?;
        Ok(Response::new(GetUserResponse {
            user: Some(user.into()),
        }))
    }

    async fn update_user(
        &self,
        request: Request<UpdateUserRequest>,
    ) -> Result<Response<UpdateUserResponse>, Status> {
        let caller = principal(&request)?.clone();
        let update = Update::parse(request.into_inner())?;
        check_access(
            &caller,
            update.id,
            "a customer may change only their own account",
        )?;
        if update.patch.roles.is_some() {
            caller.require_admin()?;
        }
        let user = if update.patch.is_empty() {
            // Nothing to change: answer with the account, untouched.
            self.existing(update.id).await?
        } else {
            self.store
                .update(update.id, update.patch)
                .await?
                .ok_or_else(no_such_user)?
        };
        tracing::info!(user_id = %user.id, by = %caller.user_id, "account updated");
        Ok(Response::new(UpdateUserResponse {
            user: Some(user.into()),
        }))
    }

    async fn get_jwks(
        &self,
        _request: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        Ok(Response::new(GetJwksResponse {
            keys: self.published.iter().map(convert::json_web_key).collect(),
        }))
    }
}
