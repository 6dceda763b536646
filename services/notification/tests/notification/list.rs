//! ListNotifications: a customer's own, newest first, in pages; bad pages
//! and missing tokens refused.

use bazaar_proto::notification::v1::ListNotificationsRequest;
use bazaar_runtime::db::Backend;
use tonic::{Code, Request};
use tonic_types::StatusExt;

use crate::support::{Namespace, Service, authorized, jetstream, new_id, shipped};

#[tokio::test]
async fn notifications_page_newest_first_and_only_the_callers() {
    let namespace = Namespace::new();
    let js = jetstream().await;
    namespace.create_stream(&js).await;
    let service = Service::start(Backend::Sqlite, &namespace.events).await;
    let mut published = Vec::new();
    for _ in 0..5 {
        let (order, event) = (new_id(), new_id());
        namespace
            .publish(&js, "OrderShipped", &event, shipped(&event, &order, "ada"))
            .await;
        published.push(event);
    }
    let (order, event) = (new_id(), new_id());
    namespace
        .publish(&js, "OrderShipped", &event, shipped(&event, &order, "bob"))
        .await;
    namespace.drained(&js).await;

    let token = service.token("ada");
    let mut client = service.client();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_notifications(authorized(
                ListNotificationsRequest {
                    page_size: 2,
                    page_token: page_token.clone(),
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.notifications.len() <= 2);
        seen.extend(page.notifications.into_iter().map(|n| n.notification_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    published.reverse();
    assert_eq!(
        seen, published,
        "every one of ada's, newest first, none twice"
    );
    assert_eq!(pages, 3);

    let refused = client
        .list_notifications(authorized(
            ListNotificationsRequest {
                page_size: 101,
                page_token: "not-a-token".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let fields: Vec<_> = refused
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["page_size", "page_token"]);

    let anonymous = client
        .list_notifications(Request::new(ListNotificationsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    // The mesh policy admits only the edge.
    let from_payment = bazaar_proto::notification::v1::notification_service_client::NotificationServiceClient::new(
        service.server.channel_as("payment"),
    )
    .list_notifications(authorized(ListNotificationsRequest::default(), &token))
    .await
    .unwrap_err();
    assert_eq!(from_payment.code(), Code::PermissionDenied);
    service.stop().await;
}
