//! A small payment service for exercising the runtime, and a way to start it.

use std::{net::SocketAddr, time::Duration};

use bazaar_proto::payment::v1::{
    ChargeRequest, ChargeResponse, GetPaymentRequest, GetPaymentResponse, LookupPaymentRequest,
    LookupPaymentResponse, Payment, RefundRequest, RefundResponse,
    payment_service_server::PaymentService,
};
use bazaar_runtime::{
    auth::principal,
    server::{ServerBuilder, ServerConfig},
    status::{FieldViolations, ServiceError},
    telemetry::current_trace_id,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Request, Response, Status};

/// Echoes what the runtime told it: `GetPayment` answers with the caller's
/// user id as `order_id` and the request's trace id as `idempotency_key`;
/// `Refund` sleeps for `amount.amount_minor` milliseconds; `Charge` rejects
/// its input.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

#[tonic::async_trait]
impl PaymentService for Echo {
    async fn charge(
        &self,
        request: Request<ChargeRequest>,
    ) -> Result<Response<ChargeResponse>, Status> {
        let mut violations = FieldViolations::default();
        if request.get_ref().idempotency_key.is_empty() {
            violations.add("idempotency_key", "must not be empty");
        }
        if request.get_ref().amount.is_none() {
            violations.add("amount", "is required");
        }
        violations.into_result()?;
        Err(ServiceError::internal("the test service cannot charge").into())
    }

    async fn refund(
        &self,
        request: Request<RefundRequest>,
    ) -> Result<Response<RefundResponse>, Status> {
        let millis = request
            .get_ref()
            .amount
            .as_ref()
            .map_or(0, |m| m.amount_minor);
        tokio::time::sleep(Duration::from_millis(millis.unsigned_abs())).await;
        Ok(Response::new(RefundResponse::default()))
    }

    async fn get_payment(
        &self,
        request: Request<GetPaymentRequest>,
    ) -> Result<Response<GetPaymentResponse>, Status> {
        let caller = principal(&request)
            .map(|p| p.user_id.clone())
            .unwrap_or_default();
        Ok(Response::new(GetPaymentResponse {
            payment: Some(Payment {
                id: request.get_ref().payment_id.clone(),
                order_id: caller,
                idempotency_key: current_trace_id().unwrap_or_default(),
                ..Payment::default()
            }),
        }))
    }

    async fn lookup_payment(
        &self,
        request: Request<LookupPaymentRequest>,
    ) -> Result<Response<LookupPaymentResponse>, Status> {
        let caller = principal(&request)
            .map(|p| p.user_id.clone())
            .unwrap_or_default();
        Ok(Response::new(LookupPaymentResponse {
            payment: Some(Payment {
                order_id: caller,
                ..Payment::default()
            }),
        }))
    }
}

/// A server running on a port-0 socket until [`Running::stop`].
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<Result<(), bazaar_runtime::server::ServerError>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends the shutdown signal (the server then drains).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts `build(config)` on a fresh port-0 socket.
pub async fn start(
    config: ServerConfig,
    build: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let builder =
        build(ServerBuilder::new(config).file_descriptor_set(bazaar_proto::FILE_DESCRIPTOR_SET));
    let task = tokio::spawn(builder.serve(listener, wait(stopped)));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

async fn wait(stopped: oneshot::Receiver<()>) {
    let _ = stopped.await;
}

pub async fn channel(url: String) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(url)
        .expect("valid url")
        .connect()
        .await
        .expect("connects")
}
