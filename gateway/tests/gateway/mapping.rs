//! Path, query and body merge into the request; responses use proto3 JSON.

use bazaar_gateway::config::FieldNames;
use http::{Method, StatusCode};
use serde_json::json;

use crate::support::{shapes, shapes_with};

#[tokio::test]
async fn query_parameters_of_every_scalar_kind() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .get(
            "/v1/echo/pv?text=hello+world&int32_value=-5&int64_value=9007199254740993\
             &uint32_value=7&uint64_value=18446744073709551615&flag=true&ratio=0.5&score=1.5\
             &blob=aGk%3D&color=COLOR_RED&tags=a&tags=b&numbers=1&numbers=2\
             &colors=1&colors=COLOR_GREEN&opt_text=o&choice_number=4",
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let request = &answer.json()["request"];
    assert_eq!(request["path_value"], "pv");
    assert_eq!(request["text"], "hello world");
    assert_eq!(request["int32_value"], -5);
    // 64-bit integers are strings in proto3 JSON.
    assert_eq!(request["int64_value"], "9007199254740993");
    assert_eq!(request["uint32_value"], 7);
    assert_eq!(request["uint64_value"], "18446744073709551615");
    assert_eq!(request["flag"], true);
    assert_eq!(request["ratio"], 0.5);
    assert_eq!(request["score"], 1.5);
    assert_eq!(request["blob"], "aGk=");
    assert_eq!(request["color"], "COLOR_RED");
    assert_eq!(request["tags"], json!(["a", "b"]));
    assert_eq!(request["numbers"], json!([1, 2]));
    // Enums by number or by name.
    assert_eq!(request["colors"], json!(["COLOR_RED", "COLOR_GREEN"]));
    assert_eq!(request["opt_text"], "o");
    assert_eq!(request["choice_number"], 4);
}

#[tokio::test]
async fn nested_and_json_named_query_parameters() {
    let (_up, gw) = shapes().await;
    let request = gw
        .get("/v1/echo/pv?inner.label=L&inner.deep.note=N&inner.deep.values=3&inner.deep.values=4&int32Value=9")
        .await
        .json()["request"]
        .clone();
    assert_eq!(request["inner"]["label"], "L");
    assert_eq!(request["inner"]["deep"]["note"], "N");
    assert_eq!(request["inner"]["deep"]["values"], json!(["3", "4"]));
    assert_eq!(request["int32_value"], 9);
}

#[tokio::test]
async fn well_known_types_in_the_query() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .get(
            "/v1/echo/pv?when=2024-01-02T03:04:05.5Z&wait=1.5s&mask=title,details.label\
             &maybe_text=x&maybe_int=3&maybe_flag=false&maybe_long=5&maybe_double=2.5\
             &maybe_uint=4&maybe_bytes=aGk%3D&maybe_float=0.25&maybe_ulong=6",
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let request = &answer.json()["request"];
    assert_eq!(request["when"], "2024-01-02T03:04:05.500Z");
    assert_eq!(request["wait"], "1.500s");
    assert_eq!(request["mask"], "title,details.label");
    assert_eq!(request["maybe_text"], "x");
    assert_eq!(request["maybe_int"], 3);
    assert_eq!(request["maybe_flag"], false);
    assert_eq!(request["maybe_long"], "5");
    assert_eq!(request["maybe_double"], 2.5);
    assert_eq!(request["maybe_uint"], 4);
    assert_eq!(request["maybe_bytes"], "aGk=");
    assert_eq!(request["maybe_float"], 0.25);
    assert_eq!(request["maybe_ulong"], "6");
}

#[tokio::test]
async fn bad_query_values_are_400() {
    let (_up, gw) = shapes().await;
    for query in [
        "int32_value=abc",
        "flag=maybe",
        "color=COLOR_PURPLE",
        "color=99",
        "when=yesterday",
        "inner=x",
    ] {
        let answer = gw.get(&format!("/v1/echo/pv?{query}")).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            answer.text()
        );
        assert_eq!(answer.json()["code"], 3, "{query}");
    }
}

#[tokio::test]
async fn unknown_query_parameters_are_ignored() {
    let (_up, gw) = shapes().await;
    let answer = gw.get("/v1/echo/pv?_=12345&utm_source=x").await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn path_wins_over_query_for_bound_fields() {
    let (_up, gw) = shapes().await;
    let request = gw.get("/v1/echo/pv?path_value=other").await.json()["request"].clone();
    assert_eq!(request["path_value"], "pv");
}

#[tokio::test]
async fn body_field_with_path_and_query() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send_json(
            Method::POST,
            "/v1/echo/pv?text=from-query&inner.label=ignored",
            json!({"label": "from-body", "count": 2, "deep": {"note": "n"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let request = &answer.json()["request"];
    assert_eq!(request["path_value"], "pv");
    assert_eq!(request["text"], "from-query");
    // The body field is the body's alone: the query cannot reach into it.
    assert_eq!(request["inner"]["label"], "from-body");
    assert_eq!(request["inner"]["count"], 2);
    assert_eq!(request["inner"]["deep"]["note"], "n");
}

#[tokio::test]
async fn whole_body_with_path_and_no_query() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send_json(
            Method::PUT,
            "/v1/echo/pv/all?text=ignored",
            json!({"path_value": "from-body", "text": "t", "tags": ["x"], "int64_value": 12}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let request = &answer.json()["request"];
    // The path wins over the body; `body: "*"` takes no query parameters.
    assert_eq!(request["path_value"], "pv");
    assert_eq!(request["text"], "t");
    assert_eq!(request["tags"], json!(["x"]));
    assert_eq!(request["int64_value"], "12");
}

#[tokio::test]
async fn body_field_plus_query_on_create() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send_json(
            Method::POST,
            "/v1/items?validate_only=true",
            json!({"title": "x"}),
        )
        .await;
    assert_eq!(answer.json()["title"], "x (validated)");
    // An empty body is an empty message.
    let answer = gw.send(Method::POST, "/v1/items", &[], None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()["title"], "");
}

#[tokio::test]
async fn well_known_types_round_trip_through_the_body() {
    let (_up, gw) = shapes().await;
    let sent = json!({
        "when": "2024-05-06T07:08:09Z",
        "wait": "-2.000000500s",
        "mask": "title,details.deep.note",
        "maybe_text": "",
        "maybe_int": 0,
        "maybe_flag": true,
        "maybe_long": "-9",
        "maybe_double": 1.25,
        "attributes": {"a": 1.5, "b": [true, null, "s"], "c": {"d": "e"}},
        "any_value": ["x", 2.5],
        "labels": {"k": "v"},
        "color": 2,
        "blob": "AAEC",
    });
    let answer = gw
        .send_json(Method::PUT, "/v1/echo/pv/all", sent.clone())
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let request = &answer.json()["request"];
    for key in [
        "when",
        "mask",
        "maybe_text",
        "maybe_int",
        "maybe_flag",
        "maybe_long",
        "maybe_double",
        "attributes",
        "any_value",
        "labels",
        "blob",
    ] {
        assert_eq!(request[key], sent[key], "{key}");
    }
    assert_eq!(request["wait"], "-2.000000500s");
    assert_eq!(request["color"], "COLOR_GREEN");
}

#[tokio::test]
async fn unpopulated_fields_are_emitted_with_proto_names() {
    let (_up, gw) = shapes().await;
    let request = gw.get("/v1/echo/pv").await.json()["request"].clone();
    assert_eq!(request["text"], "");
    assert_eq!(request["int32_value"], 0);
    assert_eq!(request["int64_value"], "0");
    assert_eq!(request["flag"], false);
    assert_eq!(request["blob"], "");
    assert_eq!(request["color"], "COLOR_UNSPECIFIED");
    assert_eq!(request["tags"], json!([]));
    assert_eq!(request["labels"], json!({}));
    // Unset message fields, oneofs and `optional` fields have presence.
    assert!(request.get("inner").is_none());
    assert!(request.get("opt_text").is_none());
}

#[tokio::test]
async fn lower_camel_case_names_when_configured() {
    let (_up, gw) = shapes_with(|c| {
        c.json.field_names = FieldNames::LowerCamelCase;
        c.json.emit_unpopulated = false;
    })
    .await;
    let answer = gw.get("/v1/echo/pv?int32_value=3").await.json();
    assert_eq!(
        answer["request"],
        json!({"pathValue": "pv", "int32Value": 3})
    );
}

#[tokio::test]
async fn response_body_sends_one_field() {
    let (_up, gw) = shapes().await;
    let answer = gw.get("/v1/echo-body/pv?text=x").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["path_value"], "pv");
    assert_eq!(body["text"], "x");
    assert!(body.get("request").is_none() && body.get("metadata").is_none());
}

#[tokio::test]
async fn patch_fills_an_empty_update_mask_from_the_body() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send_json(
            Method::PATCH,
            "/v1/items/i1",
            json!({"title": "t", "quantity": "5", "createTime": "2024-01-01T00:00:00Z", "details": {"label": "x"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["item"]["id"], "i1");
    assert_eq!(body["item"]["title"], "t");
    // Top-level keys only, as proto field names (FieldMask's JSON form is
    // lowerCamelCase paths joined by commas).
    let mut paths: Vec<&str> = body["received_mask"].as_str().unwrap().split(',').collect();
    paths.sort_unstable();
    assert_eq!(paths, ["createTime", "details", "quantity", "title"]);
}

#[tokio::test]
async fn patch_keeps_a_mask_the_client_sent() {
    let (_up, gw) = shapes().await;
    let answer = gw
        .send_json(
            Method::PATCH,
            "/v1/items/i1?update_mask=title",
            json!({"title": "t", "quantity": "5"}),
        )
        .await;
    assert_eq!(answer.json()["received_mask"], "title");
}

#[tokio::test]
async fn unknown_fields_are_discarded_when_configured() {
    let (_up, gw) = shapes_with(|c| c.json.discard_unknown_fields = true).await;
    let answer = gw
        .send_json(
            Method::PATCH,
            "/v1/items/i1",
            json!({"title": "t", "nope": 1}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()["received_mask"], "title");
}
