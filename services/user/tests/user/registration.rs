//! Creating accounts.

use bazaar_proto::user::v1::RegisterRequest;
use bazaar_runtime::db::testing::backends;
use tonic::Code;

use crate::support::{PASSWORD, TestEnv, connect, register, violated_fields};

fn request(email: &str, password: &str, display_name: &str) -> RegisterRequest {
    RegisterRequest {
        email: email.into(),
        password: password.into(),
        display_name: display_name.into(),
    }
}

#[tokio::test]
async fn a_taken_email_already_exists_however_it_is_typed() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        register(&mut client, "ada@example.com", "Ada").await;

        for email in ["ada@example.com", "ADA@Example.COM", "  ada@example.com\t"] {
            let status = client
                .register(request(email, PASSWORD, "Another Ada"))
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::AlreadyExists, "{backend:?}: {email:?}");
        }
    }
}

#[tokio::test]
async fn invalid_input_names_every_bad_field() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;

        let cases: [(RegisterRequest, &[&str]); 6] = [
            (request("", PASSWORD, "Ada"), &["email"]),
            (request("ada.example.com", PASSWORD, "Ada"), &["email"]),
            (request("ada@localhost", PASSWORD, "Ada"), &["email"]),
            (request("ada@example.com", "short", "Ada"), &["password"]),
            (
                request("ada@example.com", PASSWORD, "   "),
                &["display_name"],
            ),
            (request("", "", ""), &["email", "password", "display_name"]),
        ];
        for (request, fields) in cases {
            let status = client.register(request.clone()).await.unwrap_err();
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{backend:?}: {request:?} gave {status:?}"
            );
            assert_eq!(violated_fields(&status), fields, "{backend:?}: {request:?}");
            assert!(!status.message().contains(&request.password) || request.password.is_empty());
        }
    }
}

#[tokio::test]
async fn names_are_trimmed_and_long_ones_refused() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;

        let user = register(&mut client, "ada@example.com", "  Ada  ").await;
        assert_eq!(user.display_name, "Ada", "{backend:?}");

        let status = client
            .register(request("bob@example.com", PASSWORD, &"b".repeat(101)))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["display_name"], "{backend:?}");
        let status = client
            .register(request("bob@example.com", &"p".repeat(129), "Bob"))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["password"], "{backend:?}");
    }
}
