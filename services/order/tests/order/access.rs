use bazaar_proto::order::v1::{CancelOrderRequest, GetOrderRequest, ListOrdersRequest};
use bazaar_runtime::auth::Role;
use tonic::Code;

use crate::support::{Shop, as_user, backends, place, test_cards};

#[tokio::test]
async fn customers_see_and_cancel_only_their_own_orders() {
    for backend in backends() {
        let shop = Shop::open(backend).await;
        let mug = shop.stock("MUG", 1_000, 10).await;
        let ada = shop.token("ada", Role::Customer);
        let bob = shop.token("bob", Role::Customer);
        let admin = shop.token("boss", Role::Admin);
        let mut orders = shop.orders().await;
        let adas = orders
            .place_order(as_user(
                place("k", &[(&mug, 1)], test_cards::APPROVED),
                &ada,
            ))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();

        let get = || GetOrderRequest {
            order_id: adas.id.clone(),
        };
        let status = orders.get_order(as_user(get(), &bob)).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::NotFound,
            "{backend:?}: bob cannot see it"
        );
        let cancel = CancelOrderRequest {
            order_id: adas.id.clone(),
            reason: String::new(),
        };
        let status = orders
            .cancel_order(as_user(cancel, &bob))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "bob cannot cancel it");
        assert!(
            orders.get_order(as_user(get(), &admin)).await.is_ok(),
            "an admin can"
        );

        let bobs = orders
            .list_orders(as_user(ListOrdersRequest::default(), &bob))
            .await
            .unwrap()
            .into_inner()
            .orders;
        assert!(bobs.is_empty());
        let snooping = ListOrdersRequest {
            customer_id: "ada".into(),
            ..ListOrdersRequest::default()
        };
        let status = orders
            .list_orders(as_user(snooping.clone(), &bob))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        let by_admin = orders
            .list_orders(as_user(snooping, &admin))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(by_admin.orders.len(), 1);

        let status = orders.get_order(get()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "no token, no orders");
        shop.close().await;
    }
}

#[tokio::test]
async fn listing_pages_newest_first_without_gaps() {
    let shop = Shop::open(bazaar_runtime::db::Backend::Sqlite).await;
    let mug = shop.stock("MUG", 100, 100).await;
    let ada = shop.token("ada", Role::Customer);
    let mut orders = shop.orders().await;
    let mut placed = Vec::new();
    for i in 0..7 {
        let order = orders
            .place_order(as_user(
                place(&format!("k{i}"), &[(&mug, 1)], test_cards::APPROVED),
                &ada,
            ))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        placed.push(order.id);
    }
    placed.reverse();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = orders
            .list_orders(as_user(
                ListOrdersRequest {
                    page_size: 3,
                    page_token: token.clone(),
                    customer_id: String::new(),
                },
                &ada,
            ))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.orders.into_iter().map(|o| o.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, placed);

    let bad = ListOrdersRequest {
        page_size: 3,
        page_token: "not-a-token".into(),
        customer_id: String::new(),
    };
    let status = orders.list_orders(as_user(bad, &ada)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    shop.close().await;
}
