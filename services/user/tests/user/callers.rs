//! Which workloads of the mesh may call the user service: the edge for the
//! account RPCs, the services that verify tokens for the signing keys.

use bazaar_proto::user::v1::{GetJwksRequest, GetMeRequest, LoginRequest, RegisterRequest};
use bazaar_runtime::db::testing::backends;
use tonic::{Code, Status};

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, TestEnv, admin_token, connect, connect_as, try_login,
    with_token,
};

const SERVICE: &str = "/bazaar.user.v1.UserService";

fn assert_denied(status: &Status, caller: &str, method: &str) {
    assert_eq!(
        status.code(),
        Code::PermissionDenied,
        "{caller}: {status:?}"
    );
    assert_eq!(
        status.message(),
        format!("{caller} may not call {SERVICE}/{method}"),
        "{status:?}"
    );
}

#[tokio::test]
async fn only_the_edge_may_register_log_in_or_read_an_account() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut edge = connect(&app).await;
        let admin = admin_token(&mut edge).await;

        for caller in ["payment", "order"] {
            let mut client = connect_as(&app, caller);
            let email = format!("{caller}@example.com");
            let status = client
                .register(RegisterRequest {
                    email: email.clone(),
                    password: PASSWORD.into(),
                    display_name: "Intruder".into(),
                })
                .await
                .unwrap_err();
            assert_denied(&status, caller, "Register");

            let status = client
                .login(LoginRequest {
                    email: ADMIN_EMAIL.into(),
                    password: ADMIN_PASSWORD.into(),
                })
                .await
                .unwrap_err();
            assert_denied(&status, caller, "Login");

            // A valid token does not make another workload the edge.
            let status = client
                .get_me(with_token(GetMeRequest {}, &admin))
                .await
                .unwrap_err();
            assert_denied(&status, caller, "GetMe");

            // The refused registration left no account behind.
            let status = try_login(&mut edge, &email, PASSWORD).await.unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated, "{backend:?}");
        }
        // The edge itself is still served.
        let me = edge
            .get_me(with_token(GetMeRequest {}, &admin))
            .await
            .expect("the edge reads the account")
            .into_inner()
            .user
            .expect("a user");
        assert_eq!(me.email, ADMIN_EMAIL, "{backend:?}");
        drop(edge);
        app.stop().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn the_services_that_verify_tokens_fetch_the_signing_keys() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let published = connect(&app)
            .await
            .get_jwks(GetJwksRequest {})
            .await
            .expect("the edge fetches the keys")
            .into_inner()
            .keys;
        assert_eq!(published.len(), 1, "{backend:?}");

        for caller in ["product", "order", "payment", "dev-client"] {
            let keys = connect_as(&app, caller)
                .get_jwks(GetJwksRequest {})
                .await
                .unwrap_or_else(|s| panic!("{backend:?}: {caller} fetches the keys: {s:?}"))
                .into_inner()
                .keys;
            assert_eq!(keys, published, "{backend:?}: {caller}");
        }
        // The policy does not name the user service as a caller of itself.
        let status = connect_as(&app, "user")
            .get_jwks(GetJwksRequest {})
            .await
            .unwrap_err();
        assert_denied(&status, "user", "GetJwks");
        app.stop().await.expect("clean shutdown");
    }
}
