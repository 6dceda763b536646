//! Changing one's own password and an admin's reset: the new password works,
//! the old one stops, and the account's refresh tokens are revoked.

use bazaar_proto::user::v1::{ChangePasswordRequest, RefreshTokenRequest, ResetPasswordRequest};
use bazaar_runtime::db::testing::backends;
use tonic::Code;

use crate::support::{
    Client, PASSWORD, TestEnv, admin_token, connect, customer, session, try_login, violated_fields,
    with_token,
};

const NEW_PASSWORD: &str = "a brand new passphrase";

fn change(old: &str, new: &str) -> ChangePasswordRequest {
    ChangePasswordRequest {
        old_password: old.into(),
        new_password: new.into(),
    }
}

fn reset(user_id: &str, new: &str) -> ResetPasswordRequest {
    ResetPasswordRequest {
        user_id: user_id.into(),
        new_password: new.into(),
    }
}

async fn refresh(client: &mut Client, token: &str) -> Result<String, tonic::Status> {
    Ok(client
        .refresh_token(RefreshTokenRequest {
            refresh_token: token.into(),
        })
        .await?
        .into_inner()
        .refresh_token)
}

#[tokio::test]
async fn a_wrong_old_password_changes_nothing() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let (_, token) = customer(&mut client, "ada@example.com").await;

        let refused = client
            .change_password(with_token(change("not the password", NEW_PASSWORD), &token))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{backend:?}");
        try_login(&mut client, "ada@example.com", PASSWORD)
            .await
            .expect("the old password still works");
        let new = try_login(&mut client, "ada@example.com", NEW_PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(new.code(), Code::Unauthenticated, "{backend:?}");
    }
}

#[tokio::test]
async fn a_change_swaps_the_password_and_revokes_refresh_tokens() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        customer(&mut client, "ada@example.com").await;
        let (token, refresh_token) = session(&mut client, "ada@example.com", PASSWORD).await;

        client
            .change_password(with_token(change(PASSWORD, NEW_PASSWORD), &token))
            .await
            .expect("changes the password");
        try_login(&mut client, "ada@example.com", NEW_PASSWORD)
            .await
            .expect("the new password works");
        let old = try_login(&mut client, "ada@example.com", PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(old.code(), Code::Unauthenticated, "{backend:?}");
        let revoked = refresh(&mut client, &refresh_token).await.unwrap_err();
        assert_eq!(revoked.code(), Code::Unauthenticated, "{backend:?}");
    }
}

#[tokio::test]
async fn a_change_needs_a_token() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        customer(&mut client, "ada@example.com").await;
        let refused = client
            .change_password(change(PASSWORD, NEW_PASSWORD))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{backend:?}");
    }
}

#[tokio::test]
async fn an_admin_resets_a_password_and_a_customer_may_not() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let (ada, _) = customer(&mut client, "ada@example.com").await;
        let (_, bob_token) = customer(&mut client, "bob@example.com").await;
        let (_, ada_refresh) = session(&mut client, "ada@example.com", PASSWORD).await;

        let denied = client
            .reset_password(with_token(reset(&ada.id, NEW_PASSWORD), &bob_token))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{backend:?}");
        try_login(&mut client, "ada@example.com", PASSWORD)
            .await
            .expect("a refused reset changes nothing");

        let admin = admin_token(&mut client).await;
        client
            .reset_password(with_token(reset(&ada.id, NEW_PASSWORD), &admin))
            .await
            .expect("an admin resets");
        try_login(&mut client, "ada@example.com", NEW_PASSWORD)
            .await
            .expect("the new password works");
        let old = try_login(&mut client, "ada@example.com", PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(old.code(), Code::Unauthenticated, "{backend:?}");
        let revoked = refresh(&mut client, &ada_refresh).await.unwrap_err();
        assert_eq!(revoked.code(), Code::Unauthenticated, "{backend:?}");

        let missing = client
            .reset_password(with_token(
                reset("0191f3c4-7a2b-7c3d-8e4f-0123456789ab", NEW_PASSWORD),
                &admin,
            ))
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{backend:?}");
    }
}

#[tokio::test]
async fn new_passwords_follow_the_length_rules() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let (ada, token) = customer(&mut client, "ada@example.com").await;
        let admin = admin_token(&mut client).await;
        let too_long = "x".repeat(129);

        for bad in ["short", too_long.as_str()] {
            let changed = client
                .change_password(with_token(change(PASSWORD, bad), &token))
                .await
                .unwrap_err();
            assert_eq!(changed.code(), Code::InvalidArgument, "{backend:?}");
            assert_eq!(violated_fields(&changed), ["new_password"]);

            let reset = client
                .reset_password(with_token(reset(&ada.id, bad), &admin))
                .await
                .unwrap_err();
            assert_eq!(reset.code(), Code::InvalidArgument, "{backend:?}");
            assert_eq!(violated_fields(&reset), ["new_password"]);
        }
        // An overlong old password is refused before any hashing.
        let old = client
            .change_password(with_token(
                change(&too_long.repeat(10), NEW_PASSWORD),
                &token,
            ))
            .await
            .unwrap_err();
        assert_eq!(old.code(), Code::InvalidArgument, "{backend:?}");
        assert_eq!(violated_fields(&old), ["old_password"]);
        try_login(&mut client, "ada@example.com", PASSWORD)
            .await
            .expect("nothing changed");
    }
}
