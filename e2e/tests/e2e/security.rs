//! The anonymous calls of the security report, against the running system:
//! moving money and stock without being the order service. Refund,
//! ReserveStock, CommitReservation and LookupPayment are refused on every
//! port, in plaintext, over TLS without a client certificate, and over mTLS
//! as an edge identity (grpcurl's `dev-client`, the gateway's), and nothing
//! changed afterwards: the order is still confirmed, the payment still
//! charged and not refunded, the stock where the checkout left it.

use std::{io::Write as _, process::Stdio, time::Duration};

use bazaar_devstack::Service;
use bazaar_proto::{
    common::v1::Money,
    order::v1::OrderStatus,
    payment::v1::{
        LookupPaymentRequest, PaymentStatus, RefundRequest,
        payment_service_client::PaymentServiceClient,
    },
    product::v1::{
        CommitReservationRequest, ReserveStockRequest, StockItem,
        product_service_client::ProductServiceClient,
    },
};
use tonic::{Code, transport::Endpoint};

use crate::{
    journeys::{admin, cards, customer, order_of, payment, place, product, settled},
    shell::{Run, grpcurl_command, grpcurl_path},
    system::System,
};

/// One of the report's calls: the RPC, who serves it, and its request as
/// grpcurl JSON.
struct Attack {
    rpc: &'static str,
    service: Service,
    json: String,
}

impl Attack {
    fn path(&self) -> String {
        let name = self.service.grpc_name().unwrap_or_default();
        format!("{name}/{}", self.rpc)
    }
}

/// Runs every command at once (a plaintext dial to a TLS port waits for its
/// connect timeout) and returns what each printed.
fn run_all(commands: Vec<(String, std::process::Command)>) -> Vec<(String, Run)> {
    let children: Vec<_> = commands
        .into_iter()
        .map(|(what, mut command)| {
            let child = command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run grpcurl");
            (what, child)
        })
        .collect();
    children
        .into_iter()
        .map(|(what, child)| (what, child.wait_with_output().expect("grpcurl").into()))
        .collect()
}

#[tokio::test]
async fn the_reported_anonymous_calls_are_refused_on_every_port_and_change_nothing() {
    grpcurl_path();
    let system = System::start().await;
    let ada = customer(&system, "ada").await;
    let admin = admin(&system).await;
    let catalog = crate::journeys::browse(&system, 100).await;
    let lamp = catalog
        .iter()
        .find(|p| p.stock >= 2)
        .expect("a product in stock");
    let order = place(
        &system,
        &ada,
        order_of("ada-1", &[(&lamp.id, 1)], cards::APPROVED),
    )
    .await;
    let order = settled(&system, &ada, &order.id).await;
    assert_eq!(order.status(), OrderStatus::Confirmed, "{order:?}");
    let total = order.total.clone().expect("total");
    let stock_before = product(&system, &lamp.id).await.stock;
    assert_eq!(stock_before, lamp.stock - 1);

    let attacks = [
        Attack {
            rpc: "Refund",
            service: Service::Payment,
            json: format!(
                r#"{{"payment_id":"{}","amount":{{"currency_code":"{}","amount_minor":{}}},"idempotency_key":"attack","reason":"free money"}}"#,
                order.payment_id, total.currency_code, total.amount_minor
            ),
        },
        Attack {
            rpc: "ReserveStock",
            service: Service::Product,
            json: format!(
                r#"{{"order_id":"{}","items":[{{"product_id":"{}","quantity":{}}}]}}"#,
                uuid::Uuid::new_v4(),
                lamp.id,
                stock_before
            ),
        },
        Attack {
            rpc: "CommitReservation",
            service: Service::Product,
            json: format!(r#"{{"order_id":"{}"}}"#, order.id),
        },
        Attack {
            rpc: "LookupPayment",
            service: Service::Payment,
            json: format!(r#"{{"idempotency_key":"{}"}}"#, order.id),
        },
    ];

    // grpcurl needs no reflection for these: the contracts are given.
    let mut protoset = tempfile::NamedTempFile::new().expect("temp file");
    protoset
        .write_all(bazaar_proto::FILE_DESCRIPTOR_SET)
        .expect("write the descriptor set");
    let protoset = protoset.path().display().to_string();
    let mesh = system.stack.mesh_dir();
    let ca = mesh.join("ca.pem").display().to_string();

    // Anonymous, on every port: plaintext, and TLS without a certificate.
    let mut commands = Vec::new();
    for attack in &attacks {
        for port in system.stack.services() {
            let addr = system.stack.addr(port).to_string();
            let path = attack.path();
            let args = ["-protoset", &protoset, "-d", &attack.json, &addr, &path];
            let plaintext = grpcurl_command(&["-plaintext", "-connect-timeout", "3"], &args);
            commands.push((format!("{path} plaintext on {port:?}"), plaintext));
            if port != Service::Gateway {
                let anonymous_tls =
                    grpcurl_command(&["-cacert", &ca, "-connect-timeout", "3"], &args);
                commands.push((
                    format!("{path} TLS without a certificate on {port:?}"),
                    anonymous_tls,
                ));
            }
        }
    }
    for (what, run) in run_all(commands) {
        assert!(!run.success, "{what} succeeded: {run:?}");
        if what.contains(&format!("{:?}", Service::Gateway)) {
            // The REST edge routes no internal RPC: it answers 404.
            assert!(
                run.stderr.contains("Code: Unimplemented"),
                "{what}: {run:?}"
            );
        } else {
            assert!(
                run.stderr.contains("Failed to dial target host"),
                "{what}: {run:?}"
            );
        }
    }

    // The same in Rust, plaintext to each service's own port.
    for attack in &attacks {
        let endpoint = Endpoint::from_shared(system.stack.url(attack.service))
            .expect("url")
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5));
        let code = match endpoint.connect().await {
            Err(_) => None,
            Ok(channel) => Some(call_anonymously(attack, channel, &order.id, &lamp.id).await),
        };
        // The TLS listener hangs up on an HTTP/2 preface: the connection
        // fails (no channel, UNAVAILABLE) or the call dies with it (UNKNOWN
        // or INTERNAL, depending on when hyper notices). Never a status
        // from a handler: no call got that far.
        assert!(
            matches!(
                code,
                None | Some(Code::Unavailable | Code::Unknown | Code::Internal)
            ),
            "{} in plaintext: {code:?}",
            attack.path()
        );
    }

    // mTLS as an edge identity: authenticated, and denied by the policy.
    for caller in ["dev-client", "gateway"] {
        for attack in &attacks {
            let channel = system.channel_as(caller, attack.service);
            let status = match attack.service {
                Service::Payment => {
                    let mut payments = PaymentServiceClient::new(channel);
                    if attack.rpc == "Refund" {
                        payments
                            .refund(refund(&order.payment_id, &total))
                            .await
                            .map(|_| ())
                    } else {
                        payments
                            .lookup_payment(LookupPaymentRequest {
                                idempotency_key: order.id.clone(),
                            })
                            .await
                            .map(|_| ())
                    }
                }
                _ => {
                    let mut products = ProductServiceClient::new(channel);
                    if attack.rpc == "ReserveStock" {
                        products
                            .reserve_stock(reserve(&lamp.id, 1))
                            .await
                            .map(|_| ())
                    } else {
                        products
                            .commit_reservation(CommitReservationRequest {
                                order_id: order.id.clone(),
                            })
                            .await
                            .map(|_| ())
                    }
                }
            }
            .expect_err("an edge identity moving money or stock");
            assert_eq!(
                status.code(),
                Code::PermissionDenied,
                "{caller}: {status:?}"
            );
            assert_eq!(
                status.message(),
                format!("{caller} may not call /{}", attack.path())
            );
        }
    }

    // Nothing moved.
    let after = settled(&system, &ada, &order.id).await;
    assert_eq!(after.status(), OrderStatus::Confirmed, "{after:?}");
    let charged = payment(&system, &admin, &order.payment_id).await;
    assert_eq!(charged.status(), PaymentStatus::Succeeded, "{charged:?}");
    assert_eq!(
        charged.refunded_amount.map(|m| m.amount_minor).unwrap_or(0),
        0
    );
    assert_eq!(product(&system, &lamp.id).await.stock, stock_before);
    system.stop_cleanly().await;
}

fn refund(payment_id: &str, amount: &Money) -> RefundRequest {
    RefundRequest {
        payment_id: payment_id.to_owned(),
        amount: Some(amount.clone()),
        idempotency_key: "attack".into(),
        reason: "free money".into(),
    }
}

fn reserve(product_id: &str, quantity: i32) -> ReserveStockRequest {
    ReserveStockRequest {
        order_id: uuid::Uuid::new_v4().to_string(),
        items: vec![StockItem {
            product_id: product_id.to_owned(),
            quantity,
        }],
    }
}

/// `attack` over a plaintext channel: the code it failed with.
async fn call_anonymously(
    attack: &Attack,
    channel: tonic::transport::Channel,
    order_id: &str,
    product_id: &str,
) -> Code {
    let outcome = match (attack.service, attack.rpc) {
        (Service::Payment, "Refund") => PaymentServiceClient::new(channel)
            .refund(refund("any", &Money::default()))
            .await
            .map(|_| ()),
        (Service::Payment, _) => PaymentServiceClient::new(channel)
            .lookup_payment(LookupPaymentRequest {
                idempotency_key: order_id.to_owned(),
            })
            .await
            .map(|_| ()),
        (_, "ReserveStock") => ProductServiceClient::new(channel)
            .reserve_stock(reserve(product_id, 1))
            .await
            .map(|_| ()),
        _ => ProductServiceClient::new(channel)
            .commit_reservation(CommitReservationRequest {
                order_id: order_id.to_owned(),
            })
            .await
            .map(|_| ()),
    };
    match outcome {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    }
}
