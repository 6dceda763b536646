//! The user service's request parsing against the field rules in
//! `user.proto` (see `bazaar-contract`).

use bazaar_contract::{Suite, refused};
use bazaar_proto::user::v1 as proto;

use super::parse::{LoginAttempt, PasswordChange, PasswordReset, Registration, Update, user_id};

const ID: &str = "0190e5a4-0000-7000-8000-000000000001";
const PASSWORD: &str = "correct-horse-battery";
const TOKEN: &str = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";

fn user() -> proto::User {
    proto::User {
        id: ID.into(),
        email: "ada@example.com".into(),
        display_name: "Ada Lovelace".into(),
        roles: vec![proto::Role::Customer.into()],
        ..proto::User::default()
    }
}

fn refresh(token: &str) -> Vec<String> {
    refused(super::refresh_field(token))
}

#[test]
fn parsing_follows_the_field_rules_of_user_proto() {
    let mut suite = Suite::new("bazaar.user.v1.UserService");
    suite
        .check(
            "bazaar.user.v1.RegisterRequest",
            proto::RegisterRequest {
                email: "ada@example.com".into(),
                password: PASSWORD.into(),
                display_name: "Ada Lovelace".into(),
            },
            |r| refused(Registration::parse(r)),
        )
        .run();
    suite
        .check(
            "bazaar.user.v1.LoginRequest",
            proto::LoginRequest {
                email: "ada@example.com".into(),
                password: PASSWORD.into(),
            },
            |r| refused(LoginAttempt::parse(r)),
        )
        .run();
    suite
        .check(
            "bazaar.user.v1.GetUserRequest",
            proto::GetUserRequest { user_id: ID.into() },
            |r| refused(user_id("user_id", &r.user_id)),
        )
        .run();
    suite
        .check(
            "bazaar.user.v1.UpdateUserRequest",
            proto::UpdateUserRequest {
                user: Some(user()),
                update_mask: None,
            },
            |r| refused(Update::parse(r)),
        )
        .partial("user")
        .run();
    suite
        .check(
            "bazaar.user.v1.ChangePasswordRequest",
            proto::ChangePasswordRequest {
                old_password: PASSWORD.into(),
                new_password: "another-horse-battery".into(),
            },
            |r| refused(PasswordChange::parse(r)),
        )
        .run();
    suite
        .check(
            "bazaar.user.v1.ResetPasswordRequest",
            proto::ResetPasswordRequest {
                user_id: ID.into(),
                new_password: PASSWORD.into(),
            },
            |r| refused(PasswordReset::parse(r)),
        )
        .run();
    suite
        .check(
            "bazaar.user.v1.RefreshTokenRequest",
            proto::RefreshTokenRequest {
                refresh_token: TOKEN.into(),
            },
            |r| refresh(&r.refresh_token),
        )
        .run();
    suite
        .check(
            "bazaar.user.v1.LogoutRequest",
            proto::LogoutRequest {
                refresh_token: TOKEN.into(),
            },
            |r| refresh(&r.refresh_token),
        )
        .run();
    suite.finish();
}
