//! `bazaar.user.v1.UserService` over gRPC: parse the request, check who may
//! do it, call the store, answer. Errors are [`ServiceError`]s, turned into
//! statuses by the runtime's single mapping.

mod convert;
mod parse;

use std::{sync::Arc, time::Duration};

use bazaar_proto::user::v1::{
    GetJwksRequest, GetJwksResponse, GetMeRequest, GetMeResponse, GetUserRequest, GetUserResponse,
    LoginRequest, LoginResponse, RegisterRequest, RegisterResponse, UpdateUserRequest,
    UpdateUserResponse, user_service_server::UserService,
};
use bazaar_runtime::{
    auth::{Principal, TokenSigner, principal},
    status::ServiceError,
};
use tonic::{Request, Response, Status};

use self::parse::{LoginAttempt, Registration, Update};
use crate::{
    domain::{Role, Roles, User, UserId},
    password::Passwords,
    store::{NewUser, UserStore},
};

/// The one answer to bad credentials, whichever part was wrong.
const BAD_CREDENTIALS: &str = "invalid email or password";

/// The user service's handlers over a store `S`.
pub struct UserApi<S> {
    store: S,
    passwords: Passwords,
    signer: Arc<TokenSigner>,
    token_ttl: Duration,
}

impl<S: UserStore> UserApi<S> {
    pub fn new(
        store: S,
        passwords: Passwords,
        signer: Arc<TokenSigner>,
        token_ttl: Duration,
    ) -> Self {
        Self {
            store,
            passwords,
            signer,
            token_ttl,
        }
    }

    async fn existing(&self, id: UserId) -> Result<User, ServiceError> {
        self.store.get(id).await?.ok_or_else(no_such_user)
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
        let registration = Registration::parse(request.into_inner())?;
        let password_hash = self.passwords.hash(registration.password).await?;
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
        tracing::info!(user_id = %user.id, "account registered");
        Ok(Response::new(RegisterResponse {
            user: Some(user.into()),
        }))
    }

    async fn login(
        &self,
        request: Request<LoginRequest>,
    ) -> Result<Response<LoginResponse>, Status> {
        let attempt = LoginAttempt::parse(request.into_inner())?;
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
        let verified = self.passwords.verify(attempt.password, hash).await?;
        let user = match user {
            Some(user) if verified => user,
            _ => {
                tracing::info!("login refused");
                return Err(ServiceError::Unauthenticated(BAD_CREDENTIALS.into()).into());
            }
        };
        let (access_token, claims) = self.signer.issue(
            &user.id.to_string(),
            &user.roles.to_claims(),
            self.token_ttl,
        )?;
        tracing::info!(user_id = %user.id, "logged in");
        Ok(Response::new(LoginResponse {
            access_token,
            token_type: "Bearer".to_owned(),
            expire_time: Some(prost_types::Timestamp {
                seconds: i64::try_from(claims.exp).unwrap_or(i64::MAX),
                nanos: 0,
            }),
            user: Some(user.into()),
        }))
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
            keys: vec![convert::json_web_key(self.signer.jwk())],
        }))
    }
}
