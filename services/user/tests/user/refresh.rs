//! Refresh tokens: rotated on use, revoked by logout and by a role change,
//! and a refresh reads the account's roles as they are now.

use bazaar_proto::user::v1::{
    GetUserRequest, LogoutRequest, RefreshTokenRequest, RefreshTokenResponse, Role,
    UpdateUserRequest, User,
};
use bazaar_runtime::db::{Database, testing::backends};
use bazaar_user::store::MIGRATIONS;
use prost_types::FieldMask;
use tonic::{Code, Status};

use crate::support::{
    Client, PASSWORD, TestEnv, admin_token, connect, customer, register, session, with_token,
};

async fn refresh(client: &mut Client, token: &str) -> Result<RefreshTokenResponse, Status> {
    Ok(client
        .refresh_token(RefreshTokenRequest {
            refresh_token: token.into(),
        })
        .await?
        .into_inner())
}

fn set_roles(id: &str, roles: &[Role]) -> UpdateUserRequest {
    UpdateUserRequest {
        user: Some(User {
            id: id.into(),
            roles: roles.iter().map(|r| *r as i32).collect(),
            ..User::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["roles".into()],
        }),
    }
}

/// An admin-only read: another account.
async fn reads_others(client: &mut Client, token: &str, other: &str) -> Result<(), Status> {
    client
        .get_user(with_token(
            GetUserRequest {
                user_id: other.into(),
            },
            token,
        ))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_refresh_rotates_and_the_old_token_is_refused() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let (ada, _) = customer(&mut client, "ada@example.com").await;
        let (_, first) = session(&mut client, "ada@example.com", PASSWORD).await;

        let next = refresh(&mut client, &first).await.expect("refreshes");
        assert_eq!(next.token_type, "Bearer");
        assert_ne!(next.refresh_token, first, "{backend:?}");
        assert!(next.expire_time.is_some() && next.refresh_expire_time.is_some());
        let me = client
            .get_me(with_token(
                bazaar_proto::user::v1::GetMeRequest {},
                &next.access_token,
            ))
            .await
            .expect("the new access token works")
            .into_inner();
        assert_eq!(me.user.map(|u| u.id), Some(ada.id.clone()));

        let reused = refresh(&mut client, &first).await.unwrap_err();
        assert_eq!(reused.code(), Code::Unauthenticated, "{backend:?}");
        // A reused (so leaked) token ends the whole account's sessions,
        // the rotated one included.
        let after_reuse = refresh(&mut client, &next.refresh_token).await.unwrap_err();
        assert_eq!(after_reuse.code(), Code::Unauthenticated, "{backend:?}");

        let unknown = refresh(&mut client, "not-a-token").await.unwrap_err();
        assert_eq!(unknown.code(), Code::Unauthenticated, "{backend:?}");
        let empty = refresh(&mut client, "").await.unwrap_err();
        assert_eq!(empty.code(), Code::InvalidArgument, "{backend:?}");
    }
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_hashed() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        customer(&mut client, "ada@example.com").await;
        let (_, token) = session(&mut client, "ada@example.com", PASSWORD).await;

        let db = Database::connect(&env.db.config, MIGRATIONS).await.unwrap();
        let stored: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM refresh_tokens")
            .fetch_all(db.pool())
            .await
            .unwrap();
        db.close().await;
        assert!(!stored.is_empty(), "{backend:?}");
        assert!(stored.iter().all(|(hash,)| hash != &token), "{backend:?}");
    }
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        customer(&mut client, "ada@example.com").await;
        let (_, token) = session(&mut client, "ada@example.com", PASSWORD).await;
        let (_, other_device) = session(&mut client, "ada@example.com", PASSWORD).await;

        for _ in 0..2 {
            // Twice: a retried logout succeeds too.
            client
                .logout(LogoutRequest {
                    refresh_token: token.clone(),
                })
                .await
                .expect("logs out");
        }
        let refused = refresh(&mut client, &token).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{backend:?}");
        refresh(&mut client, &other_device)
            .await
            .expect("another session is not logged out");
    }
}

#[tokio::test]
async fn a_demoted_admin_loses_admin_at_the_next_refresh() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let root = admin_token(&mut client).await;
        let eve = register(&mut client, "eve@example.com", "Eve").await;
        let (other, _) = customer(&mut client, "other@example.com").await;
        client
            .update_user(with_token(
                set_roles(&eve.id, &[Role::Customer, Role::Admin]),
                &root,
            ))
            .await
            .expect("promotes");
        let (access, refresh_token) = session(&mut client, "eve@example.com", PASSWORD).await;
        reads_others(&mut client, &access, &other.id)
            .await
            .expect("an admin reads any account");

        // The roles change in the store without the service's revocation
        // (as a hand edit or another writer would): the refresh still
        // reads them afresh.
        let db = Database::connect(&env.db.config, MIGRATIONS).await.unwrap();
        sqlx::query("UPDATE users SET roles = 'customer' WHERE id = $1")
            .bind(&eve.id)
            .execute(db.pool())
            .await
            .unwrap();
        db.close().await;
        let refreshed = refresh(&mut client, &refresh_token)
            .await
            .expect("refreshes");
        let denied = reads_others(&mut client, &refreshed.access_token, &other.id)
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{backend:?}");
    }
}

#[tokio::test]
async fn a_role_change_revokes_refresh_tokens() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let root = admin_token(&mut client).await;
        let eve = register(&mut client, "eve@example.com", "Eve").await;
        let (other, _) = customer(&mut client, "other@example.com").await;
        client
            .update_user(with_token(
                set_roles(&eve.id, &[Role::Customer, Role::Admin]),
                &root,
            ))
            .await
            .expect("promotes");
        let (_, refresh_token) = session(&mut client, "eve@example.com", PASSWORD).await;

        client
            .update_user(with_token(set_roles(&eve.id, &[Role::Customer]), &root))
            .await
            .expect("demotes");
        let refused = refresh(&mut client, &refresh_token).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{backend:?}");
        let (access, _) = session(&mut client, "eve@example.com", PASSWORD).await;
        let denied = reads_others(&mut client, &access, &other.id)
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{backend:?}");
    }
}
