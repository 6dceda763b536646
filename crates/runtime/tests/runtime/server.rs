use std::{num::NonZeroUsize, time::Duration};

use bazaar_proto::{
    common::v1::Money,
    payment::v1::{
        ChargeRequest, RefundRequest, payment_service_client::PaymentServiceClient,
        payment_service_server::PaymentServiceServer,
    },
};
use bazaar_runtime::server::ServerConfig;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt;

use crate::support::{Echo, channel, start};

const PAYMENT: &str = "bazaar.payment.v1.PaymentService";

async fn health_of(url: String, service: &str) -> Result<ServingStatus, tonic::Status> {
    let mut health = HealthClient::new(channel(url).await);
    let response = health
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(response.into_inner().status())
}

#[tokio::test]
async fn health_reports_serving_for_the_server_and_each_service() {
    let server = start(ServerConfig::default(), |b| {
        b.add_service(PaymentServiceServer::new(Echo))
    })
    .await;

    assert_eq!(
        health_of(server.url(), "").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        health_of(server.url(), PAYMENT).await.unwrap(),
        ServingStatus::Serving
    );
    let unknown = health_of(server.url(), "bazaar.nope.v1.NopeService").await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
}

macro_rules! list_services {
    ($module:ident, $url:expr) => {{
        use tonic_reflection::pb::$module::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut client = ServerReflectionClient::new(channel($url).await);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = client
            .server_reflection_info(tokio_stream::once(request))
            .await
            .expect("reflection answers")
            .into_inner();
        let response = responses
            .next()
            .await
            .expect("one response")
            .expect("not an error");
        match response.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
                names.sort();
                names
            }
            other => panic!("unexpected reflection response {other:?}"),
        }
    }};
}

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_exactly_the_served_services() {
    let server = start(ServerConfig::default(), |b| {
        b.add_service(PaymentServiceServer::new(Echo))
    })
    .await;

    // Only what this server serves: not the other Bazaar services that the
    // shared descriptor set also describes.
    let expected = vec!["bazaar.payment.v1.PaymentService", "grpc.health.v1.Health"];
    assert_eq!(list_services!(v1, server.url()), expected);
    assert_eq!(list_services!(v1alpha, server.url()), expected);
}

#[tokio::test]
async fn reflection_describes_a_served_method() {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let server = start(ServerConfig::default(), |b| {
        b.add_service(PaymentServiceServer::new(Echo))
    })
    .await;
    let mut client = ServerReflectionClient::new(channel(server.url()).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(format!(
            "{PAYMENT}.Charge"
        ))),
    };
    let response = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner()
        .next()
        .await
        .unwrap()
        .unwrap();
    match response.message_response {
        Some(MessageResponse::FileDescriptorResponse(files)) => {
            assert!(!files.file_descriptor_proto.is_empty());
        }
        other => panic!("unexpected reflection response {other:?}"),
    }
}

#[tokio::test]
async fn invalid_input_arrives_as_field_violations() {
    let server = start(ServerConfig::default(), |b| {
        b.add_service(PaymentServiceServer::new(Echo))
    })
    .await;
    let mut client = PaymentServiceClient::new(channel(server.url()).await);
    let status = client.charge(ChargeRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<_> = status
        .get_details_bad_request()
        .expect("BadRequest details survive the wire")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["idempotency_key", "amount"]);
}

#[tokio::test]
async fn internal_errors_reach_the_caller_without_their_detail() {
    let server = start(ServerConfig::default(), |b| {
        b.add_service(PaymentServiceServer::new(Echo))
    })
    .await;
    let mut client = PaymentServiceClient::new(channel(server.url()).await);
    let request = ChargeRequest {
        idempotency_key: "k".into(),
        amount: Some(Money::default()),
        ..ChargeRequest::default()
    };
    let status = client.charge(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert!(
        !status.message().contains("cannot charge"),
        "{}",
        status.message()
    );
}

fn slow_refund(millis: i64) -> RefundRequest {
    RefundRequest {
        amount: Some(Money {
            currency_code: "EUR".into(),
            amount_minor: millis,
        }),
        ..RefundRequest::default()
    }
}

#[tokio::test]
async fn requests_over_the_concurrency_limit_are_shed() {
    let config = ServerConfig {
        concurrency_limit: NonZeroUsize::new(1).unwrap(),
        ..ServerConfig::default()
    };
    let server = start(config, |b| b.add_service(PaymentServiceServer::new(Echo))).await;
    let channel = channel(server.url()).await;

    let mut busy = PaymentServiceClient::new(channel.clone());
    let in_flight = tokio::spawn(async move { busy.refund(slow_refund(2_000)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut second = PaymentServiceClient::new(channel);
    let status = second.refund(slow_refund(0)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    in_flight.abort();
}

#[tokio::test]
async fn a_request_over_the_timeout_is_cut_off() {
    let config = ServerConfig {
        request_timeout: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let server = start(config, |b| b.add_service(PaymentServiceServer::new(Echo))).await;
    let mut client = PaymentServiceClient::new(channel(server.url()).await);
    let status = client.refund(slow_refund(30_000)).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let mut server = start(ServerConfig::default(), |b| {
        b.add_service(PaymentServiceServer::new(Echo))
    })
    .await;
    let mut client = PaymentServiceClient::new(channel(server.url()).await);
    let in_flight = tokio::spawn(async move { client.refund(slow_refund(300)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;

    server.stop();
    // The request started before the stop finishes normally.
    assert!(in_flight.await.unwrap().is_ok());
    let served = tokio::time::timeout(Duration::from_secs(5), &mut server.task)
        .await
        .expect("server stops after draining");
    served.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_gives_up_on_requests_after_the_grace_period() {
    let config = ServerConfig {
        shutdown_grace: Duration::from_millis(200),
        request_timeout: Duration::from_secs(120),
        ..ServerConfig::default()
    };
    let mut server = start(config, |b| b.add_service(PaymentServiceServer::new(Echo))).await;
    let mut client = PaymentServiceClient::new(channel(server.url()).await);
    let stuck = tokio::spawn(async move { client.refund(slow_refund(60_000)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;

    server.stop();
    // Well under the stuck request's minute: the grace period bounds the
    // stop, so the process can exit (which ends the stuck connection).
    let served = tokio::time::timeout(Duration::from_secs(10), &mut server.task)
        .await
        .expect("the grace period bounds the drain");
    served.unwrap().unwrap();
    assert!(!stuck.is_finished(), "the stuck request was still running");
    stuck.abort();
}
