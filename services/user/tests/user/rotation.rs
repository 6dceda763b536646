//! A signing key rotation seen from another service: a real product service
//! verifying tokens with the keys it fetches from a real user service.

use std::{net::SocketAddr, time::Duration};

use bazaar_proto::{
    common::v1::Money,
    product::v1::{CreateProductRequest, Product, product_service_client::ProductServiceClient},
    user::v1::user_service_client::UserServiceClient,
};
use bazaar_runtime::{
    auth::{AuthConfig, TokenSigner},
    db::testing::backends,
    testing::{Spawned, TestDatabase, mesh},
};
use bazaar_user::config::Config;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Code, Status};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, Client, TestEnv, login, with_token};

/// The user service on a fixed address, so that it can be restarted where
/// the product service expects it.
struct UserOn {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl UserOn {
    async fn start(addr: SocketAddr, config: Config) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bazaar_user::run(config, listener, async {
            let _ = stopped.await;
        }));
        let server = Self { addr, stop, task };
        // Ready when it answers over mTLS.
        for _ in 0..250 {
            if server
                .client()
                .get_jwks(bazaar_proto::user::v1::GetJwksRequest {})
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the user service did not become ready");
    }

    fn client(&self) -> Client {
        UserServiceClient::new(mesh().channel("gateway", "user", self.addr))
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("joined").expect("clean shutdown");
    }
}

async fn create_product(product: &Spawned, token: &str, sku: &str) -> Result<(), Status> {
    let mut client = ProductServiceClient::new(product.channel_as("gateway"));
    let request = CreateProductRequest {
        product: Some(Product {
            sku: sku.into(),
            name: format!("Thing {sku}"),
            description: "A thing.".into(),
            category: "things".into(),
            price: Some(Money {
                currency_code: "EUR".into(),
                amount_minor: 1_000,
            }),
            stock: 1,
            ..Product::default()
        }),
    };
    client
        .create_product(with_token(request, token))
        .await
        .map(drop)
}

#[tokio::test]
async fn a_key_rotation_rejects_no_token() {
    for backend in backends() {
        let env = TestEnv::new(backend).await;
        let auth = AuthConfig::default();
        let (old, new) = (
            TokenSigner::generate(&auth).unwrap(),
            TokenSigner::generate(&auth).unwrap(),
        );
        let mut config = env.config();
        config.settings.tokens.signing_key = Some(old.seed_base64());
        let user = UserOn::start("127.0.0.1:0".parse().unwrap(), config.clone()).await;
        let addr = user.addr;

        let product_db = TestDatabase::create(backend).await;
        let mut product_config = bazaar_product::config::Config::default();
        product_config.shared.database = product_db.config.clone();
        product_config.shared.mesh = mesh().config();
        // No admin port: its default (51052) may be taken on this machine.
        product_config.shared.server.admin_listen = None;
        product_config.shared.auth.jwks_url = Some(format!("http://{addr}"));
        product_config.settings.seed_catalog = false;
        let product = Spawned::start_in_mesh("product", |listener, shutdown| {
            bazaar_product::run(product_config, listener, shutdown)
        })
        .await;

        let old_token = login(&mut user.client(), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        create_product(&product, &old_token, "BEFORE")
            .await
            .unwrap();

        // Rotate: restart with the new key signing and the old one published.
        user.stop().await;
        config.settings.tokens.signing_key = Some(new.seed_base64());
        config.settings.tokens.previous_signing_key = Some(old.seed_base64());
        let user = UserOn::start(addr, config).await;
        let new_token = login(&mut user.client(), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_ne!(new_token, old_token);

        // The product service has never seen the new key: it refetches on
        // the unknown key id and accepts the token at the first call.
        create_product(&product, &new_token, "AFTER")
            .await
            .unwrap_or_else(|s| panic!("{backend:?}: {s:?}"));
        // Tokens of the previous key stay valid until they expire.
        create_product(&product, &old_token, "OLD-AGAIN")
            .await
            .unwrap_or_else(|s| panic!("{backend:?}: {s:?}"));
        // A key that nobody publishes is still refused.
        let (forged, _) = TokenSigner::generate(&auth)
            .unwrap()
            .issue(
                "someone",
                &[bazaar_runtime::auth::Role::Admin],
                Duration::from_secs(60),
            )
            .unwrap();
        let status = create_product(&product, &forged, "FORGED")
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{backend:?}");

        product.stop().await.expect("clean shutdown");
        user.stop().await;
    }
}
