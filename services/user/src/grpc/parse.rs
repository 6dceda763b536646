//! Requests in, domain types out: every field is checked here, every problem
//! collected, so a caller learns all that is wrong with a request at once.

use bazaar_domain::IdError;
use bazaar_proto::user::v1 as proto;
use bazaar_runtime::status::{FieldViolations, ServiceError};

use crate::{
    domain::{DisplayName, Email, Invalid, Password, Role, Roles, UserId},
    store::UserPatch,
};

/// A valid `RegisterRequest`.
#[derive(Debug)]
pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub display_name: DisplayName,
}

impl Registration {
    pub fn parse(request: proto::RegisterRequest) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::default();
        let email = violations.check("email", Email::parse(&request.email));
        let password = violations.check("password", Password::parse(request.password));
        let display_name =
            violations.check("display_name", DisplayName::parse(&request.display_name));
        match (email, password, display_name) {
            (Some(email), Some(password), Some(display_name)) => Ok(Self {
                email,
                password,
                display_name,
            }),
            _ => Err(ServiceError::InvalidArgument(violations)),
        }
    }
}

/// A `LoginRequest` with both fields present.
#[derive(Debug)]
pub struct LoginAttempt {
    /// `None` for a malformed address: it names no account, which the login
    /// answers like any unknown email rather than as an input error.
    pub email: Option<Email>,
    pub password: Password,
}

impl LoginAttempt {
    pub fn parse(request: proto::LoginRequest) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::default();
        if request.email.trim().is_empty() {
            violations.add("email", "must not be empty");
        }
        let password = violations.check("password", Password::candidate(request.password));
        match password {
            Some(password) if violations.is_empty() => Ok(Self {
                email: Email::parse(&request.email).ok(),
                password,
            }),
            _ => Err(ServiceError::InvalidArgument(violations)),
        }
    }
}

/// A valid `ChangePasswordRequest`. The old password is only bounded (an
/// account made before a rule change may have any length within it); the
/// new one must meet the rules Register applies.
#[derive(Debug)]
pub struct PasswordChange {
    pub old_password: Password,
    pub new_password: Password,
}

impl PasswordChange {
    pub fn parse(request: proto::ChangePasswordRequest) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::default();
        let old_password =
            violations.check("old_password", Password::candidate(request.old_password));
        let new_password = violations.check("new_password", Password::parse(request.new_password));
        match (old_password, new_password) {
            (Some(old_password), Some(new_password)) => Ok(Self {
                old_password,
                new_password,
            }),
            _ => Err(ServiceError::InvalidArgument(violations)),
        }
    }
}

/// A valid `ResetPasswordRequest`.
#[derive(Debug)]
pub struct PasswordReset {
    pub id: UserId,
    pub new_password: Password,
}

impl PasswordReset {
    pub fn parse(request: proto::ResetPasswordRequest) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::default();
        let id = violations.check("user_id", parse_id(&request.user_id));
        let new_password = violations.check("new_password", Password::parse(request.new_password));
        match (id, new_password) {
            (Some(id), Some(new_password)) => Ok(Self { id, new_password }),
            _ => Err(ServiceError::InvalidArgument(violations)),
        }
    }
}

/// A user id as callers have always been allowed to send it: surrounding
/// blanks are ignored, and a missing one "must not be empty" like every other
/// field of this API.
pub fn parse_id(value: &str) -> Result<UserId, Invalid> {
    UserId::parse(value.trim()).map_err(|e| match e {
        IdError::Empty => Invalid("must not be empty"),
        IdError::NotUuid => Invalid("must be a UUID"),
    })
}

/// A user id from a request field.
pub fn user_id(field: &str, value: &str) -> Result<UserId, ServiceError> {
    parse_id(value).map_err(|e| ServiceError::invalid(field, e.to_string()))
}

/// A valid `UpdateUserRequest`: which account, and what to change.
#[derive(Debug)]
pub struct Update {
    pub id: UserId,
    pub patch: UserPatch,
}

/// The fields a mask may name.
const UPDATABLE: [&str; 3] = ["display_name", "email", "roles"];

impl Update {
    pub fn parse(request: proto::UpdateUserRequest) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::default();
        let Some(user) = request.user else {
            violations.add("user", "is required");
            return Err(ServiceError::InvalidArgument(violations));
        };
        let id = violations.check("user.id", parse_id(&user.id));

        let paths = request.update_mask.map(|m| m.paths).unwrap_or_default();
        let named: Vec<&str> = if paths.is_empty() {
            // No mask: every field the request sets (AIP-134, and what a
            // PATCH body means).
            let set = [
                !user.display_name.is_empty(),
                !user.email.is_empty(),
                !user.roles.is_empty(),
            ];
            UPDATABLE
                .iter()
                .zip(set)
                .filter_map(|(field, set)| set.then_some(*field))
                .collect()
        } else {
            for (i, path) in paths.iter().enumerate() {
                if !UPDATABLE.contains(&path.as_str()) {
                    violations.add(
                        format!("update_mask.paths[{i}]"),
                        "is not an updatable field; expected display_name, email or roles",
                    );
                }
            }
            paths.iter().map(String::as_str).collect()
        };

        let mut patch = UserPatch::default();
        if named.contains(&"display_name") {
            patch.display_name =
                violations.check("user.display_name", DisplayName::parse(&user.display_name));
        }
        if named.contains(&"email") {
            patch.email = violations.check("user.email", Email::parse(&user.email));
        }
        if named.contains(&"roles") {
            patch.roles = roles(&user.roles, &mut violations);
        }
        match id {
            Some(id) if violations.is_empty() => Ok(Self { id, patch }),
            _ => Err(ServiceError::InvalidArgument(violations)),
        }
    }
}

fn roles(values: &[i32], violations: &mut FieldViolations) -> Option<Roles> {
    let mut roles = Vec::with_capacity(values.len());
    let mut valid = true;
    for (i, value) in values.iter().enumerate() {
        match violations.check(format!("user.roles[{i}]"), role(*value)) {
            Some(role) => roles.push(role),
            None => valid = false,
        }
    }
    let roles = violations.check("user.roles", Roles::new(roles));
    roles.filter(|_| valid)
}

fn role(value: i32) -> Result<Role, Invalid> {
    match proto::Role::try_from(value) {
        Ok(proto::Role::Customer) => Ok(Role::Customer),
        Ok(proto::Role::Admin) => Ok(Role::Admin),
        Ok(proto::Role::Unspecified) => Err(Invalid("must be a role, not ROLE_UNSPECIFIED")),
        Err(_) => Err(Invalid("is not a known role")),
    }
}

#[cfg(test)]
mod tests {
    use prost_types::FieldMask;

    use super::*;

    fn fields(error: ServiceError) -> Vec<String> {
        match error {
            ServiceError::InvalidArgument(v) => {
                v.violations().iter().map(|v| v.field.clone()).collect()
            }
            other => panic!("expected invalid argument, got {other:?}"),
        }
    }

    fn update(user: proto::User, paths: &[&str]) -> Result<Update, ServiceError> {
        Update::parse(proto::UpdateUserRequest {
            user: Some(user),
            update_mask: Some(FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
        })
    }

    const ID: &str = "0191f3c4-7a2b-7c3d-8e4f-0123456789ab";

    fn description(error: ServiceError) -> String {
        match error {
            ServiceError::InvalidArgument(v) => v.violations()[0].description.clone(),
            other => panic!("expected invalid argument, got {other:?}"),
        }
    }

    #[test]
    fn an_id_is_trimmed_and_read_in_any_case() {
        let id = user_id("user_id", " 0191F3C4-7A2B-7C3D-8E4F-0123456789AB ").unwrap();
        assert_eq!(id.to_string(), ID);
    }

    #[test]
    fn a_bad_id_says_what_is_expected() {
        for (sent, expected) in [
            ("", "must not be empty"),
            ("  ", "must not be empty"),
            ("42", "must be a UUID"),
        ] {
            let error = user_id("user_id", sent).unwrap_err();
            assert_eq!(description(error), expected, "{sent:?}");
        }
    }

    #[test]
    fn roles_round_trip_and_unspecified_or_unknown_ones_are_refused() {
        for domain in [Role::Customer, Role::Admin] {
            assert_eq!(role(proto::Role::from(domain) as i32), Ok(domain));
        }
        assert!(role(0).is_err());
        assert!(role(99).is_err());
    }

    #[test]
    fn registration_reports_every_bad_field() {
        let error = Registration::parse(proto::RegisterRequest {
            email: "nope".into(),
            password: "short".into(),
            display_name: " ".into(),
        })
        .unwrap_err();
        assert_eq!(fields(error), ["email", "password", "display_name"]);
    }

    #[test]
    fn login_needs_both_fields_but_not_a_well_formed_email() {
        let error = LoginAttempt::parse(proto::LoginRequest::default()).unwrap_err();
        assert_eq!(fields(error), ["email", "password"]);
        let attempt = LoginAttempt::parse(proto::LoginRequest {
            email: "not-an-email".into(),
            password: "x".into(),
        })
        .unwrap();
        assert!(attempt.email.is_none());
    }

    #[test]
    fn a_mask_selects_only_its_fields() {
        let user = proto::User {
            id: ID.into(),
            email: "new@example.com".into(),
            display_name: "New".into(),
            ..proto::User::default()
        };
        let parsed = update(user, &["display_name"]).unwrap();
        assert_eq!(parsed.patch.display_name.unwrap().as_str(), "New");
        assert!(parsed.patch.email.is_none());
        assert!(parsed.patch.roles.is_none());
    }

    #[test]
    fn an_empty_mask_means_the_fields_that_are_set() {
        let user = proto::User {
            id: ID.into(),
            roles: vec![proto::Role::Admin as i32],
            ..proto::User::default()
        };
        let parsed = update(user, &[]).unwrap();
        assert_eq!(parsed.patch.roles, Some(Roles::only(Role::Admin)));
        assert!(parsed.patch.display_name.is_none());
        assert!(parsed.patch.email.is_none());
    }

    #[test]
    fn unknown_paths_and_bad_values_are_violations() {
        let user = proto::User {
            id: "x".into(),
            roles: vec![proto::Role::Customer as i32, 0],
            ..proto::User::default()
        };
        let error = update(user, &["email", "create_time", "roles"]).unwrap_err();
        assert_eq!(
            fields(error),
            [
                "user.id",
                "update_mask.paths[1]",
                "user.email",
                "user.roles[1]"
            ]
        );
    }

    #[test]
    fn a_mask_naming_roles_needs_at_least_one() {
        let user = proto::User {
            id: ID.into(),
            ..proto::User::default()
        };
        assert_eq!(
            fields(update(user, &["roles"]).unwrap_err()),
            ["user.roles"]
        );
    }
}
