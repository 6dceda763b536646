//! Throttled guessing and account creation, the bound on argon2 work, and
//! the bound on a login's password.

use std::time::Duration;

use bazaar_proto::user::v1::{LoginRequest, RegisterRequest};
use bazaar_runtime::db::testing::backends;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;

use crate::support::{
    Client, PASSWORD, TestEnv, connect, login, register, start, try_login, violated_fields,
};

/// The retry hint of a throttled answer, in seconds.
fn retry_after(status: &Status) -> u64 {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo");
    let seconds: u64 = info.metadata["retry_after_seconds"].parse().unwrap();
    let retry = status.get_details_retry_info().expect("RetryInfo");
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(seconds)));
    seconds
}

/// A login as the gateway sends it for a client at `address`.
async fn login_from(
    client: &mut Client,
    address: &str,
    email: &str,
    password: &str,
) -> Result<(), Status> {
    let mut request = Request::new(LoginRequest {
        email: email.into(),
        password: password.into(),
    });
    request
        .metadata_mut()
        .insert("x-forwarded-for", address.parse().unwrap());
    client.login(request).await.map(drop)
}

async fn register_from(client: &mut Client, address: &str, email: &str) -> Result<(), Status> {
    let mut request = Request::new(RegisterRequest {
        email: email.into(),
        password: PASSWORD.into(),
        display_name: "Someone".into(),
    });
    request
        .metadata_mut()
        .insert("x-forwarded-for", address.parse().unwrap());
    client.register(request).await.map(drop)
}

#[tokio::test]
async fn the_eleventh_wrong_password_within_the_window_is_throttled() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        register(&mut client, "ada@example.com", "Ada").await;
        register(&mut client, "bob@example.com", "Bob").await;

        for attempt in 1..=10 {
            // From changing addresses: the account's own limit applies.
            let address = format!("203.0.113.{attempt}");
            let status = login_from(&mut client, &address, "ada@example.com", "wrong guess")
                .await
                .unwrap_err();
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{backend:?} #{attempt}"
            );
        }
        let status = login_from(
            &mut client,
            "203.0.113.11",
            "Ada@Example.com",
            "wrong guess",
        )
        .await
        .unwrap_err();
        let seconds = retry_after(&status);
        assert!((1..=15 * 60).contains(&seconds), "{backend:?}: {seconds}");
        // Throttled means not tried at all: the right password waits too.
        let status = try_login(&mut client, "ada@example.com", PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{backend:?}");
        // Other accounts are not affected.
        login(&mut client, "bob@example.com", PASSWORD).await;
        drop(client);
        app.stop().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn a_good_login_clears_the_failures_of_its_account() {
    let env = TestEnv::new(backends()[0]).await;
    let app = env.start().await;
    let mut client = connect(&app).await;
    register(&mut client, "ada@example.com", "Ada").await;
    for _ in 0..9 {
        try_login(&mut client, "ada@example.com", "typo")
            .await
            .unwrap_err();
    }
    login(&mut client, "ada@example.com", PASSWORD).await;
    for _ in 0..10 {
        let status = try_login(&mut client, "ada@example.com", "typo")
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
}

#[tokio::test]
async fn failed_logins_are_throttled_per_client_address() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let mut config = env.config();
        config.settings.throttle.login_failures_per_address = 3;
        let app = start(config).await;
        let mut client = connect(&app).await;
        register(&mut client, "ada@example.com", "Ada").await;

        // One account each: only the address is shared.
        for i in 0..3 {
            let status = login_from(
                &mut client,
                "198.51.100.7",
                &format!("u{i}@x.test"),
                "guess",
            )
            .await
            .unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated, "{backend:?}");
        }
        // The first hop is the client; the gateway's own hop after it is not.
        let status = login_from(
            &mut client,
            "198.51.100.7, 10.0.0.1",
            "ada@example.com",
            PASSWORD,
        )
        .await
        .unwrap_err();
        retry_after(&status);
        // Another address logs in fine.
        login_from(&mut client, "198.51.100.8", "ada@example.com", PASSWORD)
            .await
            .unwrap();
        drop(client);
        app.stop().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn registrations_are_throttled_per_address_and_per_email() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let mut config = env.config();
        config.settings.throttle.registrations_per_address = 2;
        config.settings.throttle.registrations_per_account = 2;
        let app = start(config).await;
        let mut client = connect(&app).await;

        register_from(&mut client, "192.0.2.1", "a@x.test")
            .await
            .unwrap();
        register_from(&mut client, "192.0.2.1", "b@x.test")
            .await
            .unwrap();
        let status = register_from(&mut client, "192.0.2.1", "c@x.test")
            .await
            .unwrap_err();
        retry_after(&status);

        // Per email, whatever the address: the repeat of a taken one counts.
        let status = register_from(&mut client, "192.0.2.2", "a@x.test")
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists, "{backend:?}");
        let status = register_from(&mut client, "192.0.2.3", "A@x.test")
            .await
            .unwrap_err();
        retry_after(&status);
        drop(client);
        app.stop().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn a_login_password_longer_than_any_password_is_invalid() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let app = env.start().await;
        let mut client = connect(&app).await;
        register(&mut client, "ada@example.com", "Ada").await;
        let status = try_login(&mut client, "ada@example.com", &"x".repeat(129))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{backend:?}");
        assert_eq!(violated_fields(&status), ["password"]);
        // 128 is a wrong password like any other.
        let status = try_login(&mut client, "ada@example.com", &"x".repeat(128))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{backend:?}");
    }
}

/// A login flood beyond the hashing slots and their queue is refused at
/// once, not queued without bound.
#[tokio::test]
async fn logins_beyond_the_argon2_bound_are_resource_exhausted() {
    let env = TestEnv::new(backends()[0]).await;
    let mut config = env.config();
    config.settings.password.memory_kib = 32 * 1024;
    config.settings.password.iterations = 3;
    config.settings.password.max_concurrent = 1;
    config.settings.password.max_waiting = 1;
    config.settings.throttle.login_failures_per_address = 1_000;
    config.settings.throttle.login_failures_per_account = 1_000;
    let app = start(config).await;
    let client = connect(&app).await;

    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..12 {
        let mut client = client.clone();
        attempts
            .spawn(async move { try_login(&mut client, &format!("u{i}@x.test"), "guess").await });
    }
    let answers = attempts.join_all().await;
    let overloaded = answers
        .iter()
        .filter(|a| matches!(a, Err(s) if s.code() == Code::ResourceExhausted))
        .count();
    let checked = answers
        .iter()
        .filter(|a| matches!(a, Err(s) if s.code() == Code::Unauthenticated))
        .count();
    assert!(overloaded >= 1, "{answers:?}");
    assert!(checked >= 2, "{answers:?}");
    assert_eq!(overloaded + checked, 12, "{answers:?}");
    for answer in &answers {
        if let Err(status) = answer
            && status.code() == Code::ResourceExhausted
        {
            assert_eq!(retry_after(status), 1);
        }
    }
}
