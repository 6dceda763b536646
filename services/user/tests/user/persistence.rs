//! What survives a restart, and what is stored.

use bazaar_proto::user::v1::{GetJwksRequest, GetMeRequest, JsonWebKey};
use bazaar_runtime::{
    auth::{AuthConfig, Jwk, TokenVerifier},
    db::{Database, testing::backends},
};
use bazaar_user::{
    config::{AdminConfig, Settings},
    store::MIGRATIONS,
};

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Client, PASSWORD, TestEnv, admin_token, connect, login, register,
    start, try_login, with_token,
};

async fn jwks(client: &mut Client) -> Vec<JsonWebKey> {
    client
        .get_jwks(GetJwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys
}

async fn my_id(client: &mut Client, token: &str) -> String {
    client
        .get_me(with_token(GetMeRequest {}, token))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
        .id
}

#[tokio::test]
async fn a_restart_keeps_the_key_and_does_not_duplicate_the_admin() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        register(&mut client, "ada@example.com", "Ada").await;
        let old_token = login(&mut client, "ada@example.com", PASSWORD).await;
        let old_keys = jwks(&mut client).await;
        let admin = admin_token(&mut client).await;
        let admin_id = my_id(&mut client, &admin).await;
        assert!(env.key_file().is_file(), "{backend:?}: no key file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(env.key_file())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{backend:?}");
        }
        drop(client);
        app.stop().await.expect("clean shutdown");

        // Restart with the same key file and database, and a different
        // configured admin password, which must not touch the existing admin.
        let mut config = env.config();
        config.settings.bootstrap_admin = Some(AdminConfig {
            password: "a-new-admin-password".into(),
            ..config.settings.bootstrap_admin.unwrap()
        });
        let app = start(config).await;
        let mut client = connect(&app).await;

        assert_eq!(jwks(&mut client).await, old_keys, "{backend:?}");
        // Tokens from before the restart still work...
        my_id(&mut client, &old_token).await;
        // ...and new ones verify with the key published before it.
        let new_token = login(&mut client, "ada@example.com", PASSWORD).await;
        let verifier = TokenVerifier::new(&AuthConfig::default());
        let old_key = Jwk {
            kid: old_keys[0].kid.clone(),
            x: old_keys[0].x.clone(),
        };
        verifier.set_keys([&old_key]).unwrap();
        verifier.verify(&new_token).unwrap();

        // The admin is the same account, with its original password.
        let admin_token = login(&mut client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(
            my_id(&mut client, &admin_token).await,
            admin_id,
            "{backend:?}"
        );
        assert!(
            try_login(&mut client, ADMIN_EMAIL, "a-new-admin-password")
                .await
                .is_err()
        );
        drop(client);
        app.stop().await.expect("clean shutdown");

        let db = Database::connect(&env.db.config, MIGRATIONS).await.unwrap();
        let (admins,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE email = $1")
            .bind(ADMIN_EMAIL)
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(admins, 1, "{backend:?}");
        db.close().await;
    }
}

#[tokio::test]
async fn only_an_argon2id_hash_of_the_password_is_stored() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let user = register(&mut client, "ada@example.com", "Ada").await;

        let db = Database::connect(&env.db.config, MIGRATIONS).await.unwrap();
        let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
            .bind(&user.id)
            .fetch_one(db.pool())
            .await
            .unwrap();
        db.close().await;

        assert!(!hash.contains(PASSWORD), "{backend:?}");
        let parsed = argon2::PasswordHash::new(&hash).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id", "{backend:?}");
        assert!(parsed.salt.is_some());
        // The configured cost is what was used.
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        argon2::PasswordVerifier::verify_password(
            &argon2::Argon2::default(),
            PASSWORD.as_bytes(),
            &parsed,
        )
        .unwrap();
    }
}

#[tokio::test]
async fn a_configured_signing_key_is_used_and_no_file_written() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let auth = AuthConfig::default();
        let signer = bazaar_runtime::auth::TokenSigner::generate(&auth).unwrap();
        let mut config = env.config();
        config.settings.tokens.signing_key = Some(signer.seed_base64());
        let app = start(config).await;
        let mut client = connect(&app).await;

        let keys = jwks(&mut client).await;
        assert_eq!(keys.len(), 1);
        assert_eq!(
            (&keys[0].kid, &keys[0].x),
            (&signer.jwk().kid, &signer.jwk().x),
            "{backend:?}"
        );
        assert!(!env.key_file().exists(), "{backend:?}");
    }
}

#[tokio::test]
async fn a_disabled_bootstrap_admin_is_not_created() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let mut config = env.config();
        if let Some(admin) = config.settings.bootstrap_admin.as_mut() {
            admin.enabled = false;
        }
        let app = start(config).await;
        let mut client = connect(&app).await;
        let status = try_login(&mut client, ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{backend:?}");
        drop(client);
        app.stop().await.expect("clean shutdown");
    }
}

/// A production start leaves the `[bootstrap_admin]` section at its
/// defaults: neither the development admin nor any other is created.
#[tokio::test]
async fn a_start_without_admin_configuration_creates_no_admin() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let mut config = env.config();
        config.settings.bootstrap_admin = Settings::default().bootstrap_admin;
        let app = start(config).await;
        let mut client = connect(&app).await;
        for (email, password) in [
            ("admin@bazaar.local", AdminConfig::DEV_PASSWORD),
            (ADMIN_EMAIL, ADMIN_PASSWORD),
        ] {
            let status = try_login(&mut client, email, password).await.unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{backend:?}");
        }
        drop(client);
        app.stop().await.expect("clean shutdown");
    }
}
