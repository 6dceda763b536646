//! Logging in and using the token.

use bazaar_proto::user::v1::{GetJwksRequest, GetMeRequest, LoginRequest, Role};
use bazaar_runtime::{
    auth::{self, AuthConfig, Jwk, TokenVerifier},
    db::testing::backends,
};
use tonic::{Code, Request};

use crate::support::{
    PASSWORD, TestEnv, connect, register, try_login, violated_fields, with_token,
};

#[tokio::test]
async fn register_login_and_get_me() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;

        let registered = register(&mut client, " Ada@Example.com ", "Ada Lovelace").await;
        assert_eq!(registered.email, "ada@example.com", "{backend:?}");
        assert_eq!(registered.display_name, "Ada Lovelace");
        assert_eq!(registered.roles, [Role::Customer as i32]);
        assert!(registered.create_time.is_some() && registered.update_time.is_some());

        let login = client
            .login(LoginRequest {
                email: "ADA@example.com".into(),
                password: PASSWORD.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(login.token_type, "Bearer");
        assert_eq!(login.user.as_ref(), Some(&registered));
        let expires = login.expire_time.unwrap().seconds;
        let now = bazaar_runtime::db::now_micros() / 1_000_000;
        assert!(
            (now + 850..=now + 950).contains(&expires),
            "a 15-minute token expires at {expires}, now is {now}"
        );

        let me = client
            .get_me(with_token(GetMeRequest {}, &login.access_token))
            .await
            .unwrap()
            .into_inner()
            .user;
        assert_eq!(me.as_ref(), Some(&registered), "{backend:?}");
    }
}

#[tokio::test]
async fn tokens_verify_with_the_published_key() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let user = register(&mut client, "ada@example.com", "Ada").await;
        let token = try_login(&mut client, "ada@example.com", PASSWORD)
            .await
            .unwrap();

        let keys = client
            .get_jwks(GetJwksRequest {})
            .await
            .unwrap()
            .into_inner()
            .keys;
        assert_eq!(keys.len(), 1);
        let key = &keys[0];
        assert_eq!(
            (&*key.kty, &*key.crv, &*key.alg, &*key.r#use),
            (Jwk::KTY, Jwk::CRV, Jwk::ALG, Jwk::USE)
        );

        let verifier = TokenVerifier::new(&AuthConfig::default());
        verifier
            .set_keys([&Jwk {
                kid: key.kid.clone(),
                x: key.x.clone(),
            }])
            .unwrap();
        let principal = verifier.verify(&token).unwrap();
        assert_eq!(principal.user_id, user.id, "{backend:?}");
        assert_eq!(principal.roles, [auth::Role::Customer]);
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_email_fail_alike() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        register(&mut client, "ada@example.com", "Ada").await;

        let wrong_password = try_login(&mut client, "ada@example.com", "not the password")
            .await
            .unwrap_err();
        let unknown_email = try_login(&mut client, "bob@example.com", PASSWORD)
            .await
            .unwrap_err();
        let malformed_email = try_login(&mut client, "bob", PASSWORD).await.unwrap_err();
        for status in [&wrong_password, &unknown_email, &malformed_email] {
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{backend:?}: {status:?}"
            );
            assert_eq!(status.message(), wrong_password.message());
        }
    }
}

#[tokio::test]
async fn login_with_empty_fields_is_invalid() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let status = try_login(&mut client, "  ", "").await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{backend:?}");
        assert_eq!(violated_fields(&status), ["email", "password"]);
    }
}

#[tokio::test]
async fn get_me_needs_a_valid_token() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;

        let status = client
            .get_me(Request::new(GetMeRequest {}))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{backend:?}");

        register(&mut client, "ada@example.com", "Ada").await;
        let token = try_login(&mut client, "ada@example.com", PASSWORD)
            .await
            .unwrap();
        // Flip one character of the signature.
        let mut tampered = token.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let status = client
            .get_me(with_token(GetMeRequest {}, &tampered))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{backend:?}");
    }
}

#[tokio::test]
async fn a_token_from_another_key_is_refused() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        let user = register(&mut client, "ada@example.com", "Ada").await;
        let stranger = auth::TokenSigner::generate(&AuthConfig::default()).unwrap();
        let (token, _) = stranger
            .issue(
                &user.id,
                &[auth::Role::Admin],
                std::time::Duration::from_secs(60),
            )
            .unwrap();
        let status = client
            .get_me(with_token(GetMeRequest {}, &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{backend:?}");
    }
}
