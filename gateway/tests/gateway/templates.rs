//! Every path template shape routes to its RPC and binds its variables.

use http::{Method, StatusCode};
use serde_json::json;

use crate::support::shapes;

#[tokio::test]
async fn single_variable() {
    let (_up, gw) = shapes().await;
    let answer = gw.get("/v1/items/42").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let item = answer.json();
    assert_eq!(item["id"], "42");
    assert_eq!(item["title"], "item 42");
    assert_eq!(answer.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn escaped_single_segment_is_decoded() {
    let (_up, gw) = shapes().await;
    let item = gw.get("/v1/items/a%2Fb%20c").await.json();
    assert_eq!(item["id"], "a/b c");
}

#[tokio::test]
async fn literal_beats_variable() {
    let (_up, gw) = shapes().await;
    let item = gw.get("/v1/items/special").await.json();
    assert_eq!(item["id"], "special");
    assert_eq!(item["title"], "the special one");
}

#[tokio::test]
async fn nested_field_variables() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send_json(
            Method::POST,
            "/v1/echo/outer/inner-note:nested?inner.count=5",
            json!({"label": "payload label"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let request = &answer.json()["request"];
    assert_eq!(request["inner"]["label"], "outer");
    assert_eq!(request["inner"]["deep"]["note"], "inner-note");
    assert_eq!(request["inner"]["count"], 5);
    assert_eq!(request["payload"]["label"], "payload label");
}

#[tokio::test]
async fn multi_segment_variable() {
    let (_up, gw) = shapes().await;
    let book = gw.get("/v1/shelves/s1/books/b%20two").await.json();
    assert_eq!(book["name"], "shelves/s1/books/b two");
    // Reserved characters stay escaped inside a multi-segment value.
    let book = gw.get("/v1/shelves/s1/books/a%2Fb").await.json();
    assert_eq!(book["name"], "shelves/s1/books/a%2Fb");
    // The literal segments of the variable's pattern must match.
    assert_eq!(
        gw.get("/v1/racks/s1/books/b").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn double_star_takes_the_rest_of_the_path() {
    let (_up, gw) = shapes().await;
    let file = gw.get("/v1/files/docs/2024/report.pdf").await.json();
    assert_eq!(file["path"], "docs/2024/report.pdf");
    let file = gw.get("/v1/files/one").await.json();
    assert_eq!(file["path"], "one");
}

#[tokio::test]
async fn custom_verb() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send_json(
            Method::POST,
            "/v1/items/7:archive",
            json!({"reason": "old"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let item = answer.json();
    assert_eq!(item["id"], "7");
    assert_eq!(item["archived"], true);
    assert_eq!(item["title"], "old");
    // GET on the same text is the `:archive` resource, which only POSTs;
    // an id may still hold a colon before a verb no template declares.
    assert_eq!(
        gw.get("/v1/items/7:archive").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(gw.get("/v1/items/7:later").await.json()["id"], "7:later");
}

#[tokio::test]
async fn additional_bindings() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send_json(Method::POST, "/v1/items", json!({"title": "plain"}))
        .await;
    assert_eq!(answer.json()["title"], "plain");
    assert_eq!(answer.json()["shelf"], "");
    let answer = gw
        .send_json(
            Method::POST,
            "/v1/shelves/s9/items",
            json!({"title": "shelved"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()["shelf"], "s9");
    assert_eq!(answer.json()["title"], "shelved");
}

#[tokio::test]
async fn custom_http_method() {
    let (_up, gw) = shapes().await;
    let purge = Method::from_bytes(b"PURGE").unwrap();
    let answer = gw.send(purge, "/v1/cache/k1", &[], None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()["purged"], "k1");
}

#[tokio::test]
async fn delete_without_body_returns_empty_object() {
    let (_up, gw) = shapes().await;
    let answer = gw.send(Method::DELETE, "/v1/items/3", &[], None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), json!({}));
}

#[tokio::test]
async fn rpcs_without_rules_are_not_exposed() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send_json(
            Method::POST,
            "/gwtest.shapes.v1.ShapeService/Internal",
            json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}
