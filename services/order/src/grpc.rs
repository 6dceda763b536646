//! The gRPC face of the order service: authorise, parse, drive, map errors.
//!
//! Parsing requests into domain commands lives in `parse`, turning domain
//! values into messages in `convert`; the domain knows nothing of protobuf.

mod convert;
mod parse;

use std::{sync::Arc, time::Duration};

use bazaar_proto::order::v1::{
    self as pb, CancelOrderRequest, CancelOrderResponse, GetOrderRequest, GetOrderResponse,
    ListOrdersRequest, ListOrdersResponse, PlaceOrderRequest, PlaceOrderResponse, ShipOrderRequest,
    ShipOrderResponse, WatchOrderRequest, WatchOrderResponse, order_service_server::OrderService,
};
use bazaar_runtime::{
    auth::{Principal, principal},
    db::now_micros,
    status::ServiceError,
};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::{
    config::SagaConfig,
    domain::{Order, OrderId, PageToken, SagaState},
    saga::Saga,
    store::{Change, Created, NewOrder, OrderStore},
};

/// How often a watcher re-reads the order, to see changes made by other
/// replicas of this service.
const WATCH_POLL: Duration = Duration::from_secs(1);

pub struct OrderApi<S> {
    saga: Arc<Saga<S>>,
    lease: Duration,
    duplicate_wait: Duration,
}

impl<S: OrderStore> OrderApi<S> {
    pub fn new(saga: Arc<Saga<S>>, config: SagaConfig) -> Self {
        Self {
            saga,
            lease: config.lease,
            duplicate_wait: config.duplicate_wait,
        }
    }

    /// The order `raw_id` if the caller may see it; NOT_FOUND otherwise, so
    /// other customers' order ids cannot be probed.
    async fn visible_order(&self, caller: &Principal, raw_id: &str) -> Result<Order, ServiceError> {
        let id = parse::order_id(raw_id)?;
        match self.saga.store().get(id).await? {
            Some(order) if caller.may_access(&order.customer_id) => Ok(order),
            _ => Err(ServiceError::NotFound(format!("order {id}"))),
        }
    }

    /// Waits (bounded) for an order another request is driving to settle.
    async fn settled(&self, order: Order) -> Result<Order, ServiceError> {
        let mut events = self.saga.events().subscribe();
        let deadline = tokio::time::Instant::now() + self.duplicate_wait;
        let mut current = match self.saga.store().get(order.id).await? {
            Some(current) => current,
            None => order,
        };
        while current.state.in_flight() {
            let wait = tokio::time::sleep_until(
                deadline.min(tokio::time::Instant::now() + WATCH_POLL / 4),
            );
            tokio::select! {
                event = events.recv() => match event {
                    Ok(changed) if changed.id == current.id => current = changed,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {
                        if let Some(fresh) = self.saga.store().get(current.id).await? {
                            current = fresh;
                        }
                    }
                },
                () = wait => {
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    if let Some(fresh) = self.saga.store().get(current.id).await? {
                        current = fresh;
                    }
                }
            }
        }
        Ok(current)
    }
}

#[tonic::async_trait]
impl<S: OrderStore> OrderService for OrderApi<S> {
    async fn place_order(
        &self,
        request: Request<PlaceOrderRequest>,
    ) -> Result<Response<PlaceOrderResponse>, Status> {
        let customer_id = principal(&request)?.user_id.clone();
        let (command, card) = parse::place_order(request.into_inner())?;
        let lease = i64::try_from(self.lease.as_micros()).unwrap_or(i64::MAX);
        let created = self
            .saga
            .store()
            .create(NewOrder {
                id: OrderId::generate(),
                customer_id: &customer_id,
                idempotency_key: command.idempotency_key.as_str(),
                fingerprint: &command.fingerprint,
                items: &command.items,
                lease_until: now_micros().saturating_add(lease),
            })
            .await?;
        let order = match created {
            Created::New(order) => {
                tracing::info!(order_id = %order.id, %customer_id, "order placed");
                self.saga.events().publish(&order);
                let driven = self.saga.drive(order, Some(&card)).await?;
                if let Some(error) = driven.error {
                    return Err(error);
                }
                driven.order
            }
            Created::Existing(order) if order.fingerprint != command.fingerprint => {
                return Err(ServiceError::failed_precondition(
                    "IDEMPOTENCY_KEY_REUSED",
                    "this idempotency key was used for a different order",
                )
                .into());
            }
            Created::Existing(order) => self.settled(order).await?,
        };
        Ok(Response::new(PlaceOrderResponse {
            order: Some((&order).into()),
        }))
    }

    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<GetOrderResponse>, Status> {
        let caller = principal(&request)?;
        let order = self
            .visible_order(caller, &request.get_ref().order_id)
            .await?;
        Ok(Response::new(GetOrderResponse {
            order: Some((&order).into()),
        }))
    }

    async fn list_orders(
        &self,
        request: Request<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        let caller = principal(&request)?;
        let message = request.get_ref();
        let filter = match (caller.is_admin(), message.customer_id.as_str()) {
            (true, requested) => requested.to_owned(),
            (false, "") => caller.user_id.clone(),
            (false, requested) if requested == caller.user_id => requested.to_owned(),
            (false, _) => {
                return Err(ServiceError::PermissionDenied(
                    "customers may list only their own orders".into(),
                )
                .into());
            }
        };
        let (size, after) = parse::page(message, &filter)?;
        let size = size.get();
        let customer = (!filter.is_empty()).then_some(filter.as_str());
        let mut orders = self
            .saga
            .store()
            .list(customer, after.as_ref(), size + 1)
            .await?;
        let next_page_token = if orders.len() > size as usize {
            orders.truncate(size as usize);
            orders
                .last()
                .map(|last| {
                    PageToken {
                        created_at: last.created_at,
                        id: last.id,
                        filter: filter.clone(),
                    }
                    .encode()
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListOrdersResponse {
            orders: orders.iter().map(pb::Order::from).collect(),
            next_page_token,
        }))
    }

    async fn cancel_order(
        &self,
        request: Request<CancelOrderRequest>,
    ) -> Result<Response<CancelOrderResponse>, Status> {
        let caller = principal(&request)?;
        let order = self
            .visible_order(caller, &request.get_ref().order_id)
            .await?;
        let order = match order.state {
            SagaState::Cancelled => order,
            SagaState::Confirmed | SagaState::Cancelling => {
                let cancelling = if order.state == SagaState::Confirmed {
                    let reason: String = match request.get_ref().reason.trim() {
                        "" => "cancelled".to_owned(),
                        reason => reason.chars().take(500).collect(),
                    };
                    self.saga
                        .store()
                        .transition(&order, SagaState::Cancelling, Change::failure(&reason))
                        .await?
                        .ok_or_else(|| {
                            ServiceError::Aborted("the order changed meanwhile; retry".into())
                        })?
                } else {
                    order
                };
                self.saga.events().publish(&cancelling);
                let driven = self.saga.drive(cancelling, None).await?;
                if driven.order.state != SagaState::Cancelled {
                    return Err(ServiceError::Unavailable(
                        "the cancellation is recorded and completes once payment and product are reachable".into(),
                    )
                    .into());
                }
                driven.order
            }
            SagaState::Shipped => {
                return Err(ServiceError::failed_precondition(
                    "ALREADY_SHIPPED",
                    "the order has shipped",
                )
                .into());
            }
            SagaState::Failed => {
                return Err(ServiceError::failed_precondition(
                    "ORDER_FAILED",
                    "the order failed; there is nothing to cancel",
                )
                .into());
            }
            _ => {
                return Err(ServiceError::failed_precondition(
                    "CHECKOUT_IN_PROGRESS",
                    "checkout is still in progress; retry shortly",
                )
                .into());
            }
        };
        Ok(Response::new(CancelOrderResponse {
            order: Some((&order).into()),
        }))
    }

    async fn ship_order(
        &self,
        request: Request<ShipOrderRequest>,
    ) -> Result<Response<ShipOrderResponse>, Status> {
        let caller = principal(&request)?;
        caller.require_admin()?;
        let order = self
            .visible_order(caller, &request.get_ref().order_id)
            .await?;
        let order = match order.state {
            SagaState::Shipped => order,
            SagaState::Confirmed => {
                let shipped = self
                    .saga
                    .store()
                    .transition(&order, SagaState::Shipped, Change::default())
                    .await?
                    .ok_or_else(|| {
                        ServiceError::Aborted("the order changed meanwhile; retry".into())
                    })?;
                self.saga.events().publish(&shipped);
                shipped
            }
            _ => {
                return Err(ServiceError::failed_precondition(
                    "NOT_CONFIRMED",
                    "only a confirmed order can ship",
                )
                .into());
            }
        };
        Ok(Response::new(ShipOrderResponse {
            order: Some((&order).into()),
        }))
    }

    type WatchOrderStream = ReceiverStream<Result<WatchOrderResponse, Status>>;

    async fn watch_order(
        &self,
        request: Request<WatchOrderRequest>,
    ) -> Result<Response<Self::WatchOrderStream>, Status> {
        let caller = principal(&request)?;
        // Subscribe before reading, so no change falls between the two.
        let mut events = self.saga.events().subscribe();
        let order = self
            .visible_order(caller, &request.get_ref().order_id)
            .await?;
        let (sender, receiver) = mpsc::channel(16);
        let store = Arc::clone(self.saga.store());
        tokio::spawn(async move {
            let mut last = order;
            if sender.send(Ok(watched(&last))).await.is_err() {
                return;
            }
            let mut poll = tokio::time::interval(WATCH_POLL);
            while !last.state.is_terminal() {
                let next = tokio::select! {
                    event = events.recv() => match event {
                        Ok(changed) if changed.id == last.id => Some(changed),
                        Ok(_) => None,
                        Err(RecvError::Lagged(_) | RecvError::Closed) => store.get(last.id).await.ok().flatten(),
                    },
                    _ = poll.tick() => store.get(last.id).await.ok().flatten(),
                    () = sender.closed() => return,
                };
                if let Some(next) = next
                    && (next.state, next.updated_at) != (last.state, last.updated_at)
                {
                    // Customers see statuses; internal steps that do not
                    // change the status are not news.
                    let news = next.state.status() != last.state.status();
                    last = next;
                    if news && sender.send(Ok(watched(&last))).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}

fn watched(order: &Order) -> WatchOrderResponse {
    WatchOrderResponse {
        order: Some(order.into()),
    }
}
