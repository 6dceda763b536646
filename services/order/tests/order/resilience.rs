//! The order service's calls through the mesh: a stopped payment service is
//! cut off by the circuit breaker and probed back in, and an incoming
//! deadline reaches the product service shortened, never lengthened.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use bazaar_proto::{
    order::v1::{ListOrdersRequest, OrderStatus},
    payment::v1::PaymentStatus,
    product::v1::{
        CommitReservationRequest, CommitReservationResponse, CreateProductRequest,
        CreateProductResponse, DeleteProductRequest, DeleteProductResponse, GetProductRequest,
        GetProductResponse, ListProductsRequest, ListProductsResponse, Product,
        ReleaseReservationRequest, ReleaseReservationResponse, ReserveStockRequest,
        ReserveStockResponse, UpdateProductRequest, UpdateProductResponse,
        product_service_server::{ProductService, ProductServiceServer},
    },
};
use bazaar_runtime::{
    auth::Role,
    client::ClientConfig,
    db::Backend,
    testing::{TestDatabase, mesh},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Code, Request, Response, Status};

use crate::support::{Shop, as_user, backends, place, shared, test_cards};

/// What the order service answers when it could not reach payment.
const PAYMENT_UNAVAILABLE: &str =
    "the payment service is unavailable; nothing was charged, retry later";

/// A payment service that is down though its port is open: accepts each
/// connection and drops it at once, counting them. Hands the listener back
/// when told to stop.
struct StoppedPayment {
    accepted: Arc<AtomicU32>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<TcpListener>,
}

impl StoppedPayment {
    fn on(listener: TcpListener) -> Self {
        let accepted = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&accepted);
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((socket, _)) = accepted {
                            counter.fetch_add(1, Ordering::SeqCst);
                            drop(socket);
                        }
                    }
                    _ = &mut stopped => break,
                }
            }
            listener
        });
        Self {
            accepted,
            stop,
            task,
        }
    }

    fn accepted(&self) -> u32 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops accepting and gives the still-bound listener back.
    async fn take_listener(self) -> (TcpListener, u32) {
        self.stop.send(()).unwrap();
        let listener = self.task.await.unwrap();
        (listener, self.accepted.load(Ordering::SeqCst))
    }
}

/// A real payment service on `listener` (the port order already points at),
/// its own database, stopped gracefully by [`Self::stop`].
struct RevivedPayment {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
    // Dropped after the service that uses it.
    _database: TestDatabase,
}

impl RevivedPayment {
    async fn start(backend: Backend, shop: &Shop, listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let database = TestDatabase::create(backend).await;
        let mut config = bazaar_payment::config::Config::default();
        config.shared = shared(config.shared, &database, &shop.signer);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bazaar_payment::run(config, listener, async {
            let _ = stopped.await;
        }));
        let revived = Self {
            addr,
            stop,
            task,
            _database: database,
        };
        revived.wait_until_serving().await;
        revived
    }

    /// Health over mTLS on a channel of its own, so order's breaker sees
    /// none of it.
    async fn wait_until_serving(&self) {
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        for _ in 0..250 {
            let mut health = HealthClient::new(mesh().channel("dev-client", "payment", self.addr));
            if health.check(HealthCheckRequest::default()).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the revived payment service did not become ready");
    }

    /// The payment it holds for `order_id`, as order would look it up.
    async fn payment_for(&self, order_id: &str) -> Option<bazaar_proto::payment::v1::Payment> {
        let mut client =
            bazaar_proto::payment::v1::payment_service_client::PaymentServiceClient::new(
                mesh().channel("order", "payment", self.addr),
            );
        match client
            .lookup_payment(bazaar_proto::payment::v1::LookupPaymentRequest {
                idempotency_key: order_id.into(),
            })
            .await
        {
            Ok(found) => found.into_inner().payment,
            Err(status) if status.code() == Code::NotFound => None,
            Err(status) => panic!("lookup failed: {status:?}"),
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .unwrap()
            .expect("the revived payment service stops cleanly");
    }
}

#[tokio::test]
async fn a_stopped_payment_service_is_cut_off_and_a_probe_lets_it_back_in() {
    let policy = mesh().policy().services["payment"].clone();
    let threshold = policy.circuit_breaker.consecutive_failures;
    let attempts = policy.retries.attempts;
    assert_eq!((threshold, attempts), (5, 3), "the policy this test reads");
    for backend in backends() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let payment_url = format!("http://{}", listener.local_addr().unwrap());
        let stopped = StoppedPayment::on(listener);
        let shop = Shop::open_with(backend, |config| {
            config.settings.payment = ClientConfig::for_url(payment_url);
        })
        .await;
        let mug = shop.stock("MUG", 1_000, 10).await;
        let ada = shop.token("ada", Role::Customer);
        // A fresh channel per call: the test's own breaker towards order
        // must not be what answers.
        let place_order = |key: String| {
            let request = as_user(place(&key, &[(&mug, 4)], test_cards::APPROVED), &ada);
            async {
                let started = Instant::now();
                let outcome = shop.orders().await.place_order(request).await;
                (
                    outcome.map(|r| r.into_inner().order.unwrap()),
                    started.elapsed(),
                )
            }
        };

        // Every try of a charge (3 per PlaceOrder) opens one connection,
        // until 5 have failed in a row; from then on order stops calling.
        let mut seen = Vec::new();
        let mut ejected_at = None;
        for i in 1..=4u32 {
            let (outcome, took) = place_order(format!("down-{i}")).await;
            let status = outcome.unwrap_err();
            assert_eq!(
                status.code(),
                Code::Unavailable,
                "{backend:?} #{i}: {status:?}"
            );
            assert_eq!(status.message(), PAYMENT_UNAVAILABLE, "{backend:?} #{i}");
            assert_eq!(
                shop.stock_of(&mug.id).await,
                10,
                "{backend:?} #{i}: the stock went back"
            );
            let accepted = stopped.accepted();
            if accepted >= threshold && ejected_at.is_none() {
                ejected_at = Some(Instant::now());
            } else if ejected_at.is_some() {
                assert!(
                    took < Duration::from_secs(2),
                    "{backend:?} #{i}: a cut-off upstream fails fast, took {took:?}"
                );
            }
            seen.push(accepted);
        }
        assert_eq!(
            seen,
            [attempts, threshold, threshold, threshold],
            "{backend:?}: connections accepted after each PlaceOrder"
        );
        let ejected_at = ejected_at.unwrap();

        // Payment comes back on the same port. Until the ejection time is
        // over, order still does not call it.
        let (listener, accepted) = stopped.take_listener().await;
        assert_eq!(accepted, threshold, "{backend:?}");
        let revived = RevivedPayment::start(backend, &shop, listener).await;
        let (outcome, took) = place_order("still-ejected".into()).await;
        let status = outcome.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{backend:?}: {status:?}");
        assert_eq!(status.message(), PAYMENT_UNAVAILABLE, "{backend:?}");
        assert!(took < Duration::from_secs(2), "{backend:?}: took {took:?}");
        assert_eq!(shop.stock_of(&mug.id).await, 10, "{backend:?}");

        // After it, the half-open probe reaches payment and closes the
        // breaker: the order is paid and the stock sold.
        let reopens =
            ejected_at + policy.circuit_breaker.ejection_time + Duration::from_millis(500);
        tokio::time::sleep_until(reopens.into()).await;
        let (outcome, _) = place_order("back".into()).await;
        let order = outcome.unwrap();
        assert_eq!(
            order.status(),
            OrderStatus::Confirmed,
            "{backend:?}: {order:?}"
        );
        assert_eq!(shop.stock_of(&mug.id).await, 6, "{backend:?}");
        let paid = revived.payment_for(&order.id).await.expect("charged");
        assert_eq!(paid.status(), PaymentStatus::Succeeded, "{backend:?}");
        let (outcome, _) = place_order("closed".into()).await;
        assert_eq!(
            outcome.unwrap().status(),
            OrderStatus::Confirmed,
            "{backend:?}"
        );
        assert_eq!(shop.stock_of(&mug.id).await, 2, "{backend:?}");

        // Every refused order failed cleanly and charged nothing anywhere.
        let listed = shop
            .orders()
            .await
            .list_orders(as_user(ListOrdersRequest::default(), &ada))
            .await
            .unwrap()
            .into_inner()
            .orders;
        assert_eq!(listed.len(), 7, "{backend:?}");
        let failed: Vec<_> = listed
            .iter()
            .filter(|o| o.status() == OrderStatus::Failed)
            .collect();
        assert_eq!(failed.len(), 5, "{backend:?}: {listed:?}");
        for order in failed {
            assert!(
                revived.payment_for(&order.id).await.is_none(),
                "{backend:?}"
            );
            assert!(shop.payment_for(&order.id).await.is_none(), "{backend:?}");
        }

        shop.close().await;
        revived.stop().await;
    }
}

/// A product service that records the `grpc-timeout` of every request and
/// refuses every reservation (out of stock), so a checkout makes exactly one
/// call to it.
async fn recording_product() -> (SocketAddr, Arc<Mutex<Vec<Duration>>>, oneshot::Sender<()>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = bazaar_mesh::incoming::incoming(
        listener,
        mesh().credentials("product").server_config().unwrap(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(tonic::service::InterceptorLayer::new(
                move |request: Request<()>| {
                    let timeout = request
                        .metadata()
                        .get("grpc-timeout")
                        .and_then(|v| v.to_str().ok())
                        .and_then(bazaar_mesh::deadline::parse_grpc_timeout);
                    // No header at all is recorded as zero, to fail below.
                    record.lock().unwrap().push(timeout.unwrap_or_default());
                    Ok(request)
                },
            ))
            .add_service(ProductServiceServer::new(OutOfStock))
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            }),
    );
    (addr, seen, stop)
}

struct OutOfStock;

#[tonic::async_trait]
impl ProductService for OutOfStock {
    async fn reserve_stock(
        &self,
        _: Request<ReserveStockRequest>,
    ) -> Result<Response<ReserveStockResponse>, Status> {
        Err(Status::failed_precondition("out of stock"))
    }

    async fn create_product(
        &self,
        _: Request<CreateProductRequest>,
    ) -> Result<Response<CreateProductResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_product(
        &self,
        _: Request<GetProductRequest>,
    ) -> Result<Response<GetProductResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_products(
        &self,
        _: Request<ListProductsRequest>,
    ) -> Result<Response<ListProductsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn update_product(
        &self,
        _: Request<UpdateProductRequest>,
    ) -> Result<Response<UpdateProductResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn delete_product(
        &self,
        _: Request<DeleteProductRequest>,
    ) -> Result<Response<DeleteProductResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn commit_reservation(
        &self,
        _: Request<CommitReservationRequest>,
    ) -> Result<Response<CommitReservationResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn release_reservation(
        &self,
        _: Request<ReleaseReservationRequest>,
    ) -> Result<Response<ReleaseReservationResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

#[tokio::test]
async fn an_incoming_deadline_reaches_reserve_stock_shortened_never_lengthened() {
    let product_timeout = mesh().policy().services["product"].timeout;
    for backend in backends() {
        let (product_addr, seen, _stop) = recording_product().await;
        let shop = Shop::open_with(backend, |config| {
            config.settings.product = ClientConfig::for_url(format!("http://{product_addr}"));
        })
        .await;
        let ada = shop.token("ada", Role::Customer);
        let mug = Product {
            id: "0190e5a4-0000-7000-8000-00000000beef".into(),
            ..Product::default()
        };

        // The caller gives the checkout 300 ms: ReserveStock gets what is
        // left of them.
        let mut hurried = as_user(place("hurried", &[(&mug, 1)], test_cards::APPROVED), &ada);
        hurried.set_timeout(Duration::from_millis(300));
        let order = shop
            .orders()
            .await
            .place_order(hurried)
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_eq!(
            order.status(),
            OrderStatus::Failed,
            "{backend:?}: {order:?}"
        );
        assert!(order.failure_reason.contains("out of stock"), "{order:?}");
        let hurried = seen.lock().unwrap().clone();
        assert_eq!(
            hurried.len(),
            1,
            "{backend:?}: one ReserveStock: {hurried:?}"
        );
        assert!(
            hurried[0] <= Duration::from_millis(300) && hurried[0] > Duration::ZERO,
            "{backend:?}: {hurried:?}"
        );

        // Without a deadline of the caller's, the route's own timeout from
        // the policy (5 s) is what product sees.
        let relaxed = as_user(place("relaxed", &[(&mug, 1)], test_cards::APPROVED), &ada);
        shop.orders().await.place_order(relaxed).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{backend:?}: {seen:?}");
        assert!(
            seen[1] <= product_timeout && seen[1] > product_timeout - Duration::from_secs(1),
            "{backend:?}: {seen:?}"
        );
        shop.close().await;
    }
}
