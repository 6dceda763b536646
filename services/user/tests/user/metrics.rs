//! The account metrics on the admin port: logins by outcome and
//! registrations, each counted once.

use bazaar_runtime::{
    db::testing::backends,
    testing::{free_addr, sample, scrape},
};
use tonic::Code;

use crate::support::{PASSWORD, TestEnv, connect, login, register, start, try_login};

#[tokio::test]
async fn logins_are_counted_by_outcome_and_registrations_once() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let mut config = env.config();
        let admin = free_addr();
        config.shared.server.admin_listen = Some(admin);
        config.settings.throttle.login_failures_per_account = 2;
        let app = start(config).await;
        let mut client = connect(&app).await;
        register(&mut client, "ada@example.com", "Ada").await;
        // Taken: refused, so not a registration.
        let taken = client
            .register(bazaar_proto::user::v1::RegisterRequest {
                email: "ada@example.com".into(),
                password: PASSWORD.into(),
                display_name: "Ada".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(taken.code(), Code::AlreadyExists, "{backend:?}");
        login(&mut client, "ada@example.com", PASSWORD).await;
        for _ in 0..2 {
            let wrong = try_login(&mut client, "ada@example.com", "wrong password")
                .await
                .unwrap_err();
            assert_eq!(wrong.code(), Code::Unauthenticated, "{backend:?}");
        }
        let refused = try_login(&mut client, "ada@example.com", PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "{backend:?}");

        let text = scrape(admin).await;
        let logins = |outcome: &str| {
            sample(
                &text,
                &format!("bazaar_logins_total{{outcome=\"{outcome}\"}}"),
            )
        };
        assert_eq!(logins("ok"), Some(1.0), "{backend:?}");
        assert_eq!(logins("bad_credentials"), Some(2.0), "{backend:?}");
        assert_eq!(logins("throttled"), Some(1.0), "{backend:?}");
        assert_eq!(
            sample(&text, "bazaar_registrations_total"),
            Some(1.0),
            "{backend:?}"
        );
        app.stop().await.unwrap();
    }
}
