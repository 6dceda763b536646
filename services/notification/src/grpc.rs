//! `bazaar.notification.v1.NotificationService` over the
//! [`NotificationStore`].
//!
//! The handler parses the request (`parse`), reads, and converts the result
//! back (`convert`). Every error is a `ServiceError`, turned into a status
//! by the runtime's one mapping.

mod convert;
mod parse;

#[cfg(test)]
mod contract;

use bazaar_proto::notification::v1::{
    ListNotificationsRequest, ListNotificationsResponse,
    notification_service_server::NotificationService,
};
use bazaar_runtime::auth::principal;
use tonic::{Request, Response, Status};

use crate::{domain::PageToken, store::NotificationStore};

pub struct NotificationApi {
    store: NotificationStore,
}

impl NotificationApi {
    pub fn new(store: NotificationStore) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationApi {
    async fn list_notifications(
        &self,
        request: Request<ListNotificationsRequest>,
    ) -> Result<Response<ListNotificationsResponse>, Status> {
        // Everyone, admins too, reads only what was written to them.
        let customer = principal(&request)?.user_id.clone();
        let (size, after) = parse::page(request.get_ref())?;
        let size = size.get();
        let mut notifications = self.store.list(&customer, after.as_ref(), size + 1).await?;
        let next_page_token = if notifications.len() > size as usize {
            notifications.truncate(size as usize);
            notifications
                .last()
                .map(|last| {
                    PageToken {
                        occurred_at: last.occurred_at,
                        id: last.id,
                    }
                    .encode()
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListNotificationsResponse {
            notifications: notifications.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }
}
