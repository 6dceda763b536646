//! A unary RPC through Bazaar's stack against the same handler on a bare
//! tonic server, in one run:
//! - plaintext: bare tonic vs Bazaar's server stack (health, reflection,
//!   tracing span with trace context, deadline, load shedding, JWT);
//! - TLS: bare tonic over TLS vs the whole mesh stack: mTLS with SPIFFE
//!   identities, the policy's authorization, JWT, deadline, shedding, span on
//!   the server; route timeout, breaker and in-flight limit on the client.
//!
//! Also the cost of a handshake: a fresh connection and its first call.
//! Loopback only, bounded.
//!
//! `cargo run --release -p bazaar-bench --bin unary`

use std::{sync::Arc, time::Duration};

use bazaar_bench::{TABLE_HEADER, closed_loop};
use bazaar_mesh::Mode;
use bazaar_proto::payment::v1::{
    ChargeRequest, ChargeResponse, GetPaymentRequest, GetPaymentResponse, LookupPaymentRequest,
    LookupPaymentResponse, Payment, RefundRequest, RefundResponse,
    payment_service_client::PaymentServiceClient,
    payment_service_server::{PaymentService, PaymentServiceServer},
};
use bazaar_runtime::{
    auth::{AuthConfig, AuthLayer, Role, TokenSigner, TokenVerifier, principal},
    server::{MeshServer, ServerBuilder, ServerConfig},
    telemetry::{self, TelemetryConfig},
    testing::{Spawned, mesh},
};
use tonic::{Request, Response, Status, transport::Channel};
use tower::Layer;

const CONCURRENCY: usize = 32;
const MAX_REQUESTS: u64 = 400_000;
const RUN_TIME: Duration = Duration::from_secs(5);

/// Answers GetPayment with a fixed payment; `checks_caller` makes it do what
/// Bazaar's handler does first (read the principal, require admin).
#[derive(Clone, Copy)]
struct Fixed {
    checks_caller: bool,
}

#[tonic::async_trait]
impl PaymentService for Fixed {
    async fn charge(&self, _: Request<ChargeRequest>) -> Result<Response<ChargeResponse>, Status> {
        Err(Status::unimplemented("bench"))
    }
    async fn refund(&self, _: Request<RefundRequest>) -> Result<Response<RefundResponse>, Status> {
        Err(Status::unimplemented("bench"))
    }
    async fn get_payment(
        &self,
        request: Request<GetPaymentRequest>,
    ) -> Result<Response<GetPaymentResponse>, Status> {
        if self.checks_caller {
            principal(&request)?.require_admin()?;
        }
        Ok(Response::new(GetPaymentResponse {
            payment: Some(Payment {
                id: request.into_inner().payment_id,
                card_last4: "4242".into(),
                ..Payment::default()
            }),
        }))
    }
    async fn lookup_payment(
        &self,
        _: Request<LookupPaymentRequest>,
    ) -> Result<Response<LookupPaymentResponse>, Status> {
        Err(Status::unimplemented("bench"))
    }
}

/// A TLS client of the bare server: trusts the mesh CA, checks the name,
/// presents no certificate.
fn tls_channel(addr: std::net::SocketAddr) -> Channel {
    let ca = mesh().config().certs_dir.join("ca.pem");
    bazaar_mesh::devcerts::anonymous_channel(&ca, addr).expect("a TLS channel")
}

/// How a client reaches a server under test.
#[derive(Clone, Copy)]
enum Client {
    Plain,
    Tls,
    Mesh,
}

impl Client {
    fn channel(self, spawned: &Spawned) -> bazaar_mesh::MeshChannel {
        use tower::ServiceExt as _;
        let boxed =
            |channel: Channel| {
                tower::util::BoxCloneSyncService::new(channel.map_err(|e| {
                    bazaar_mesh::client::CallError::from(Box::new(e) as tower::BoxError)
                }))
            };
        match self {
            Self::Plain => boxed(
                tonic::transport::Endpoint::from_shared(spawned.url())
                    .expect("url")
                    .tcp_nodelay(true)
                    .connect_lazy(),
            ),
            Self::Tls => boxed(tls_channel(spawned.addr)),
            Self::Mesh => spawned.channel_as("gateway"),
        }
    }
}

async fn load(spawned: &Spawned, client: Client, token: Option<String>) -> bazaar_bench::Report {
    let channels: Arc<Vec<_>> = Arc::new((0..4).map(|_| client.channel(spawned)).collect());
    let token = token.map(|t| format!("Bearer {t}").parse().expect("header value"));
    let run = move |max_requests, time| {
        let channels = Arc::clone(&channels);
        let token: Option<tonic::metadata::MetadataValue<_>> = token.clone();
        closed_loop(CONCURRENCY, max_requests, time, move |n| {
            let channel = channels[(n % 4) as usize].clone();
            let token = token.clone();
            async move {
                let mut request = Request::new(GetPaymentRequest {
                    payment_id: "0190e5a4-0000-7000-8000-000000000001".into(),
                });
                if let Some(token) = token {
                    request.metadata_mut().insert("authorization", token);
                }
                PaymentServiceClient::new(channel)
                    .get_payment(request)
                    .await
                    .is_ok()
            }
        })
    };
    run(20_000, Duration::from_secs(1)).await; // warm-up
    run(MAX_REQUESTS, RUN_TIME).await
}

/// Mean time of a fresh connection's first call (handshake included).
async fn first_call(spawned: &Spawned, client: Client, token: Option<&str>) -> Duration {
    const CONNECTIONS: u32 = 200;
    let started = std::time::Instant::now();
    for _ in 0..CONNECTIONS {
        let mut request = Request::new(GetPaymentRequest {
            payment_id: "0190e5a4-0000-7000-8000-000000000001".into(),
        });
        if let Some(token) = token {
            request.metadata_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("header"),
            );
        }
        PaymentServiceClient::new(client.channel(spawned))
            .get_payment(request)
            .await
            .expect("first call");
    }
    started.elapsed() / CONNECTIONS
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // As in production: spans with trace context, logs at warn.
    let _telemetry = telemetry::init(
        "bench",
        &TelemetryConfig {
            log_filter: "warn".into(),
            ..TelemetryConfig::default()
        },
    )?;
    let auth = AuthConfig::default();
    let signer = TokenSigner::generate(&auth)?;
    let (token, _) = signer.issue("bench", &[Role::Admin], Duration::from_secs(600))?;
    let verifier = TokenVerifier::new(&auth);
    verifier.set_keys([signer.jwk()])?;
    let verifier = Arc::new(verifier);

    let bare = Spawned::start(|listener, shutdown| {
        tonic::transport::Server::builder()
            .add_service(PaymentServiceServer::new(Fixed {
                checks_caller: false,
            }))
            .add_service(tonic_health::server::health_reporter().1)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
    })
    .await;
    let stacked = {
        let verifier = Arc::clone(&verifier);
        Spawned::start(move |listener, shutdown| {
            let layer = AuthLayer::new(verifier);
            ServerBuilder::new(ServerConfig::default())
                .file_descriptor_set(bazaar_proto::FILE_DESCRIPTOR_SET)
                .add_service(layer.layer(PaymentServiceServer::new(Fixed {
                    checks_caller: true,
                })))
                .serve(listener, shutdown)
        })
        .await
    };
    // The same certificate, without client authentication or anything else.
    // (Started "in the mesh" only so readiness is checked over TLS.)
    let bare_tls = Spawned::start_in_mesh("payment", |listener, shutdown| {
        let credentials = mesh().credentials("payment");
        let key = credentials.current_key();
        let mut config = rustls::ServerConfig::builder_with_provider(bazaar_mesh::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Fixed_(key)));
        config.alpn_protocols = vec![b"h2".to_vec()];
        let incoming = bazaar_mesh::incoming::incoming(listener, Arc::new(config));
        tonic::transport::Server::builder()
            .add_service(PaymentServiceServer::new(Fixed {
                checks_caller: false,
            }))
            .add_service(tonic_health::server::health_reporter().1)
            .serve_with_incoming_shutdown(incoming, shutdown)
    })
    .await;
    let policy = Arc::new(bazaar_mesh::MeshPolicy::built_in()?);
    let meshed = {
        let verifier = Arc::clone(&verifier);
        let rules = policy.services["payment"].clone();
        let tls = mesh().credentials("payment").server_config()?;
        Spawned::start_in_mesh("payment", move |listener, shutdown| {
            ServerBuilder::new(ServerConfig::default())
                .file_descriptor_set(bazaar_proto::FILE_DESCRIPTOR_SET)
                .mesh(MeshServer {
                    policy,
                    mode: Mode::Proxyless,
                    tls: Some(tls),
                })
                .add_service(AuthLayer::from_policy(verifier, &rules).layer(
                    PaymentServiceServer::new(Fixed {
                        checks_caller: true,
                    }),
                ))
                .serve(listener, shutdown)
        })
        .await
    };

    println!(
        "unary GetPayment, {CONCURRENCY} in flight, {}s per run\n",
        RUN_TIME.as_secs()
    );
    println!("{TABLE_HEADER}");
    let mut plain_ratios = Vec::new();
    let mut tls_ratios = Vec::new();
    for round in 1..=2 {
        let bare_report = load(&bare, Client::Plain, None).await;
        let stacked_report = load(&stacked, Client::Plain, Some(token.clone())).await;
        let bare_tls_report = load(&bare_tls, Client::Tls, None).await;
        let meshed_report = load(&meshed, Client::Mesh, Some(token.clone())).await;
        println!(
            "{}",
            bare_report.line(&format!("bare tonic, plaintext (round {round})"))
        );
        println!(
            "{}",
            stacked_report.line(&format!(
                "Bazaar server stack + JWT, plaintext (round {round})"
            ))
        );
        println!(
            "{}",
            bare_tls_report.line(&format!("bare tonic, TLS (round {round})"))
        );
        println!(
            "{}",
            meshed_report.line(&format!(
                "Bazaar mesh: mTLS + authz + JWT + client stack (round {round})"
            ))
        );
        plain_ratios.push(stacked_report.per_second() / bare_report.per_second());
        tls_ratios.push(meshed_report.per_second() / bare_tls_report.per_second());
    }
    let percent = |ratios: &[f64]| {
        ratios
            .iter()
            .map(|r| format!("{:.0} %", r * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "\nBazaar server stack / bare tonic (plaintext): {}",
        percent(&plain_ratios)
    );
    println!(
        "Bazaar mesh stack / bare tonic over TLS: {}",
        percent(&tls_ratios)
    );
    let bare_first = first_call(&bare_tls, Client::Tls, None).await;
    let mesh_first = first_call(&meshed, Client::Mesh, Some(&token)).await;
    println!(
        "first call on a fresh connection (handshake included, mean of 200): TLS {} µs, mTLS + mesh {} µs",
        bare_first.as_micros(),
        mesh_first.as_micros()
    );
    Ok(())
}

/// Always the same certificate.
#[derive(Debug)]
struct Fixed_(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for Fixed_ {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}
