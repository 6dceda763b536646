//! The notification service's request parsing against the field rules in
//! `notification.proto` (see `bazaar-contract`).

use bazaar_contract::{Suite, refused};
use bazaar_proto::notification::v1 as pb;

use super::parse;

#[test]
fn parsing_follows_the_field_rules_of_notification_proto() {
    let mut suite = Suite::new("bazaar.notification.v1.NotificationService");
    suite
        .check(
            "bazaar.notification.v1.ListNotificationsRequest",
            pb::ListNotificationsRequest {
                page_size: 20,
                page_token: String::new(),
            },
            |r| refused(parse::page(&r)),
        )
        .stricter("page_token", "only a token this service issued")
        .run();
    suite.finish();
}
