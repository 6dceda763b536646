//! The gRPC face of the order service: authorise, parse, drive, map errors.
//!
//! Parsing requests into domain commands lives in `parse`, turning domain
//! values into messages in `convert`; the domain knows nothing of protobuf.

mod convert;
mod parse;

#[cfg(test)]
mod contract;

use std::{sync::Arc, time::Duration};

use bazaar_domain::card::YearMonth;
use bazaar_mesh::PeerInfo;
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
use tokio::sync::{broadcast::error::RecvError, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::{
    config::SagaConfig,
    domain::{Order, OrderId, PageToken, SagaState},
    drives::{Drives, reserve_by, within_deadline},
    saga::{Driven, Saga},
    store::{Change, Created, NewOrder, OrderStore},
    watches::Watches,
};

/// How often a repeated PlaceOrder re-reads the order it waits for.
const SETTLE_POLL: Duration = Duration::from_millis(250);

pub struct OrderApi<S> {
    saga: Arc<Saga<S>>,
    drives: Drives<S>,
    watches: Arc<Watches>,
    lease: Duration,
    duplicate_wait: Duration,
    /// `events.max_pending`: the outbox backlog that stops checkout.
    max_pending: u64,
}

impl<S: OrderStore> OrderApi<S> {
    pub fn new(
        saga: Arc<Saga<S>>,
        drives: Drives<S>,
        watches: Arc<Watches>,
        config: SagaConfig,
        max_pending: u64,
    ) -> Self {
        Self {
            saga,
            drives,
            watches,
            lease: config.lease,
            duplicate_wait: config.duplicate_wait,
            max_pending,
        }
    }

    /// Drives `order` in a task of the service and waits for the outcome as
    /// long as the request's deadline allows; past it, the order as it is
    /// now (still PENDING, say) as `Err`, while the drive goes on without
    /// the request.
    async fn drive_detached(
        &self,
        order: Order,
        card: Option<bazaar_proto::payment::v1::Card>,
    ) -> Result<Result<Driven, Order>, ServiceError> {
        let id = order.id;
        let outcome = self.drives.start(order.clone(), card);
        match within_deadline(outcome).await {
            Some(driven) => driven.map(Ok),
            None => Ok(Err(self.saga.store().get(id).await?.unwrap_or(order))),
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
            let wait =
                tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + SETTLE_POLL));
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
        let (command, card) = parse::place_order(request.into_inner(), YearMonth::current())?;
        // Events must be kept: with the outbox full (NATS away too long), no
        // new order is recorded.
        if self.saga.metrics().outbox_pending() >= self.max_pending {
            return Err(ServiceError::Unavailable(
                "too many order events wait for the event broker; retry later".into(),
            )
            .into());
        }
        let lease = i64::try_from(self.lease.as_micros()).unwrap_or(i64::MAX);
        let (saga, drives, fingerprint) = (
            Arc::clone(&self.saga),
            self.drives.clone(),
            command.fingerprint.clone(),
        );
        let (tell, told) = oneshot::channel();
        let reserve_by = reserve_by();
        // Recorded and handed to its drive in one task of the service, so a
        // request dropped at any point leaves no order recorded but undriven.
        self.drives.spawn(async move {
            let created = saga
                .store()
                .create(NewOrder {
                    id: OrderId::generate(),
                    customer_id: &customer_id,
                    idempotency_key: command.idempotency_key.as_str(),
                    fingerprint: &command.fingerprint,
                    items: &command.items,
                    lease_until: now_micros().saturating_add(lease),
                })
                .await;
            let placed = match created {
                Ok(Created::New(order)) => {
                    tracing::info!(order_id = %order.id, %customer_id, "order placed");
                    saga.events().publish(&order);
                    let id = order.id;
                    let (tell_driven, driven) = oneshot::channel();
                    // The request hears of the order at once, and then of
                    // the drive's outcome if it still waits.
                    let _ = tell.send(Ok(Placed::New(id, driven)));
                    let outcome = drives.drive(order, Some(card), reserve_by).await;
                    let _ = tell_driven.send(outcome);
                    return;
                }
                Ok(Created::Existing(order)) => Ok(Placed::Existing(order)),
                Err(error) => Err(error),
            };
            let _ = tell.send(placed);
        });
        let placed = within_deadline(told).await.ok_or_else(|| {
            Status::deadline_exceeded(
                "the order is being recorded; retry with the same idempotency key",
            )
        })??;
        let order = match placed {
            Placed::New(id, driven) => match within_deadline(driven).await {
                Some(Ok(Driven {
                    error: Some(error), ..
                })) => return Err(error),
                Some(Ok(Driven { order, .. })) => order,
                Some(Err(error)) => return Err(error.into()),
                // The drive goes on without the request: the order as it is.
                None => self
                    .saga
                    .store()
                    .get(id)
                    .await?
                    .ok_or_else(|| ServiceError::internal("a placed order vanished"))?,
            },
            Placed::Existing(order) if order.fingerprint != fingerprint => {
                return Err(ServiceError::failed_precondition(
                    "IDEMPOTENCY_KEY_REUSED",
                    "this idempotency key was used for a different order",
                )
                .into());
            }
            Placed::Existing(order) => self.settled(order).await?,
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
                        .transition(&order, SagaState::Cancelling, Change::cancellation(&reason))
                        .await?
                        .ok_or_else(|| {
                            ServiceError::Aborted("the order changed meanwhile; retry".into())
                        })?
                } else {
                    order
                };
                self.saga.events().publish(&cancelling);
                // A confirmed order's lease ran out long ago: take it, so the
                // recovery worker does not drive the same cancellation too.
                let lease = i64::try_from(self.lease.as_micros()).unwrap_or(i64::MAX);
                self.saga
                    .store()
                    .renew_lease(cancelling.id, now_micros().saturating_add(lease))
                    .await?;
                let driven = match self.drive_detached(cancelling, None).await? {
                    Ok(driven) => driven,
                    // The drive outlasted the deadline and goes on: the order
                    // as it is now is the answer.
                    Err(order) => {
                        return Ok(Response::new(CancelOrderResponse {
                            order: Some((&order).into()),
                        }));
                    }
                };
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
        let id = parse::order_id(&request.get_ref().order_id)?;
        let connection = request
            .extensions()
            .get::<PeerInfo>()
            .and_then(|peer| peer.remote)
            .or_else(|| request.remote_addr());
        // Admitted (and so registered for changes) before the order is read,
        // so no change falls between the two; the caps are checked before
        // any read, so refused watches cost nothing.
        let (ticket, mut latest) = self.watches.admit(connection, id)?;
        // An order others already watch is known without a read (its
        // customer never changes); only the first watcher of an order reads
        // it, so a crowd of watchers costs one read, not one each.
        let known = latest.borrow().clone();
        let order = match known {
            Some(order) if caller.may_access(&order.customer_id) => order,
            Some(_) => return Err(ServiceError::NotFound(format!("order {id}")).into()),
            None => {
                let order = self
                    .visible_order(caller, &request.get_ref().order_id)
                    .await?;
                self.watches.offer(&order);
                order
            }
        };
        let lifetime = self.watches.config().max_lifetime;
        let (sender, receiver) = mpsc::channel(16);
        tokio::spawn(async move {
            // Held as long as the stream lives.
            let _ticket = ticket;
            let ends = tokio::time::sleep(lifetime);
            tokio::pin!(ends);
            let mut last = match latest.borrow_and_update().clone() {
                Some(latest) => latest,
                None => order,
            };
            if sender.send(Ok(watched(&last))).await.is_err() {
                return;
            }
            // SHIPPED, FAILED and CANCELLED end the watch: nothing changes
            // after them. CONFIRMED does not (it can still be cancelled or
            // shipped), so a confirmed order is watched until the lifetime
            // ends, and the client re-opens the watch if it still cares.
            while !last.state.is_terminal() {
                tokio::select! {
                    changed = latest.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                    () = &mut ends => return,
                    () = sender.closed() => return,
                }
                let Some(next) = latest.borrow_and_update().clone() else {
                    continue;
                };
                // Customers see statuses; internal steps that do not change
                // the status are not news.
                let news = next.state.status() != last.state.status();
                last = next;
                if news && sender.send(Ok(watched(&last))).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}

/// What recording a new order gave.
enum Placed {
    /// A new order, and where its drive's outcome will be told.
    New(OrderId, crate::drives::Outcome),
    /// The customer used the key before; this is that order.
    Existing(Order),
}

fn watched(order: &Order) -> WatchOrderResponse {
    WatchOrderResponse {
        order: Some(order.into()),
    }
}
