//! Domain types → wire messages.

use bazaar_proto::user::v1 as proto;
use bazaar_runtime::{auth::Jwk, db::timestamp};

use crate::domain::{Role, User};

impl From<Role> for proto::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Customer => Self::Customer,
            Role::Admin => Self::Admin,
        }
    }
}

/// An account as the API shows it.
impl From<User> for proto::User {
    fn from(user: User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            display_name: user.display_name.as_str().to_owned(),
            roles: user
                .roles
                .iter()
                .map(|role| proto::Role::from(role) as i32)
                .collect(),
            create_time: Some(timestamp(user.create_time)),
            update_time: Some(timestamp(user.update_time)),
        }
    }
}

/// A signing key as `GetJwks` publishes it (RFC 8037).
pub fn json_web_key(jwk: &Jwk) -> proto::JsonWebKey {
    proto::JsonWebKey {
        kty: Jwk::KTY.to_owned(),
        crv: Jwk::CRV.to_owned(),
        x: jwk.x.clone(),
        kid: jwk.kid.clone(),
        alg: Jwk::ALG.to_owned(),
        r#use: Jwk::USE.to_owned(),
    }
}
