//! Who may read and change which account.

use bazaar_proto::user::v1::{GetMeRequest, GetUserRequest, Role, UpdateUserRequest, User};
use bazaar_runtime::db::testing::backends;
use prost_types::FieldMask;
use tonic::Code;

use crate::support::{
    ADMIN_EMAIL, PASSWORD, TestEnv, admin_token, connect, customer, login, violated_fields,
    with_token,
};

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

fn update(user: User, paths: &[&str]) -> UpdateUserRequest {
    UpdateUserRequest {
        user: Some(user),
        update_mask: mask(paths),
    }
}

fn get(user_id: &str) -> GetUserRequest {
    GetUserRequest {
        user_id: user_id.into(),
    }
}

#[tokio::test]
async fn a_customer_reads_only_their_own_account() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let (ada, ada_token) = customer(&mut client, "ada@example.com").await;
        let (bob, _) = customer(&mut client, "bob@example.com").await;

        let own = client
            .get_user(with_token(get(&ada.id), &ada_token))
            .await
            .unwrap()
            .into_inner()
            .user;
        assert_eq!(own, Some(ada.clone()), "{backend:?}");

        let status = client
            .get_user(with_token(get(&bob.id), &ada_token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{backend:?}");

        // An id that does not exist is no different for a customer.
        let missing = uuid::Uuid::new_v4().to_string();
        let status = client
            .get_user(with_token(get(&missing), &ada_token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{backend:?}");

        let status = client
            .get_user(with_token(get("not-a-uuid"), &ada_token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{backend:?}");
        assert_eq!(violated_fields(&status), ["user_id"]);
    }
}

#[tokio::test]
async fn the_bootstrap_admin_reads_anyone() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let (ada, _) = customer(&mut client, "ada@example.com").await;
        let admin = admin_token(&mut client).await;

        let me = client
            .get_me(with_token(GetMeRequest {}, &admin))
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap();
        assert_eq!(me.email, ADMIN_EMAIL, "{backend:?}");
        assert_eq!(me.roles, [Role::Admin as i32]);

        let read = client
            .get_user(with_token(get(&ada.id), &admin))
            .await
            .unwrap()
            .into_inner()
            .user;
        assert_eq!(read, Some(ada), "{backend:?}");

        let missing = uuid::Uuid::new_v4().to_string();
        let status = client
            .get_user(with_token(get(&missing), &admin))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{backend:?}");
    }
}

#[tokio::test]
async fn a_customer_cannot_grant_themselves_admin() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let (ada, token) = customer(&mut client, "ada@example.com").await;

        let promoted = User {
            roles: vec![Role::Customer as i32, Role::Admin as i32],
            ..ada.clone()
        };
        for paths in [&["roles"][..], &[]] {
            let status = client
                .update_user(with_token(update(promoted.clone(), paths), &token))
                .await
                .unwrap_err();
            assert_eq!(
                status.code(),
                Code::PermissionDenied,
                "{backend:?}: {paths:?}"
            );
        }
        let me = client
            .get_me(with_token(GetMeRequest {}, &token))
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap();
        assert_eq!(me.roles, [Role::Customer as i32], "{backend:?}");
    }
}

#[tokio::test]
async fn an_admin_grants_roles_and_new_tokens_carry_them() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let (ada, _) = customer(&mut client, "ada@example.com").await;
        let (bob, _) = customer(&mut client, "bob@example.com").await;
        let admin = admin_token(&mut client).await;

        let request = update(
            User {
                id: ada.id.clone(),
                roles: vec![Role::Admin as i32, Role::Customer as i32],
                ..User::default()
            },
            &["roles"],
        );
        let updated = client
            .update_user(with_token(request, &admin))
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap();
        assert_eq!(
            updated.roles,
            [Role::Customer as i32, Role::Admin as i32],
            "{backend:?}"
        );
        assert_eq!(updated.email, ada.email);

        // Ada's next token is an admin's: she may now read Bob.
        let token = login(&mut client, "ada@example.com", PASSWORD).await;
        let read = client
            .get_user(with_token(get(&bob.id), &token))
            .await
            .unwrap()
            .into_inner()
            .user;
        assert_eq!(read, Some(bob), "{backend:?}");
    }
}

#[tokio::test]
async fn a_mask_changes_only_the_named_fields() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let (ada, token) = customer(&mut client, "ada@example.com").await;

        let changes = User {
            id: ada.id.clone(),
            email: "countess@example.com".into(),
            display_name: "Countess of Lovelace".into(),
            ..User::default()
        };
        let updated = client
            .update_user(with_token(
                update(changes.clone(), &["display_name"]),
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap();
        assert_eq!(updated.display_name, "Countess of Lovelace", "{backend:?}");
        assert_eq!(updated.email, ada.email, "{backend:?}");
        assert_eq!(updated.roles, ada.roles);
        assert_eq!(updated.create_time, ada.create_time);
        let micros = |t: Option<prost_types::Timestamp>| {
            let t = t.unwrap();
            t.seconds * 1_000_000 + i64::from(t.nanos / 1_000)
        };
        assert!(micros(updated.update_time) >= micros(ada.update_time));

        // No mask: every field set in the request.
        let updated = client
            .update_user(with_token(update(changes, &[]), &token))
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap();
        assert_eq!(updated.email, "countess@example.com", "{backend:?}");
        assert_eq!(updated.display_name, "Countess of Lovelace");
        assert_eq!(updated.roles, ada.roles);

        // The new email is the one to log in with.
        login(&mut client, "countess@example.com", PASSWORD).await;
    }
}

#[tokio::test]
async fn bad_updates_are_refused() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let (ada, token) = customer(&mut client, "ada@example.com").await;
        let (bob, _) = customer(&mut client, "bob@example.com").await;
        let admin = admin_token(&mut client).await;

        // An unknown path, and a bad value.
        let status = client
            .update_user(with_token(update(ada.clone(), &["create_time"]), &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{backend:?}");
        assert_eq!(violated_fields(&status), ["update_mask.paths[0]"]);
        let bad_email = User {
            email: "nope".into(),
            ..ada.clone()
        };
        let status = client
            .update_user(with_token(update(bad_email, &["email"]), &token))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["user.email"], "{backend:?}");

        // Someone else's account.
        let status = client
            .update_user(with_token(update(bob.clone(), &["display_name"]), &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{backend:?}");

        // A taken email, typed differently.
        let taken = User {
            email: " BOB@example.com".into(),
            ..ada.clone()
        };
        let status = client
            .update_user(with_token(update(taken, &["email"]), &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists, "{backend:?}");

        // No such account, even for an admin.
        let ghost = User {
            id: uuid::Uuid::new_v4().to_string(),
            display_name: "Ghost".into(),
            ..User::default()
        };
        let status = client
            .update_user(with_token(update(ghost, &["display_name"]), &admin))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{backend:?}");

        let unchanged = client
            .get_user(with_token(get(&ada.id), &admin))
            .await
            .unwrap()
            .into_inner()
            .user;
        assert_eq!(unchanged, Some(ada), "{backend:?}");
    }
}
