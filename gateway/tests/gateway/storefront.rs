//! The storefront at `/`: every embedded file of `web/` with its media
//! type, a strict Content-Security-Policy its pages can live with (no
//! inline script or style), revalidation by ETag, and nothing of it when
//! `gateway.storefront` is off.

use bazaar_gateway::storefront::{CONTENT_SECURITY_POLICY, FILES};
use http::{Method, StatusCode};

use crate::support::shapes_with;

#[tokio::test]
async fn every_file_of_web_is_served_with_its_type_and_the_policy() {
    let (_up, gw) = shapes_with(|_| {}).await;
    assert!(
        FILES.iter().any(|file| file.path == "/index.html"),
        "web/index.html is embedded"
    );
    let index = gw.get("/").await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(index.text(), gw.get("/index.html").await.text());
    for file in FILES {
        let answer = gw.get(file.path).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", file.path);
        assert_eq!(answer.body.as_ref(), file.body, "{}", file.path);
        assert_eq!(answer.header("content-type"), Some(file.content_type));
        assert_eq!(answer.header("etag"), Some(file.etag));
        assert_eq!(answer.header("cache-control"), Some("no-cache"));
        assert_eq!(
            answer.header("content-security-policy"),
            Some(CONTENT_SECURITY_POLICY)
        );
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    }
    // The tests of web/ are not part of the site.
    let test = gw.get("/tests/api-contract.mjs").await;
    assert_eq!(test.status, StatusCode::NOT_FOUND);
    assert_eq!(test.json()["code"], 5, "the API's 404 body");
}

#[tokio::test]
async fn pages_keep_to_the_policy_no_inline_script_or_style() {
    for file in FILES.iter().filter(|f| f.path.ends_with(".html")) {
        let page = String::from_utf8_lossy(file.body).to_lowercase();
        for (at, _) in page.match_indices("<script") {
            let tag = &page[at..page[at..].find('>').map_or(page.len(), |end| at + end)];
            assert!(
                tag.contains(" src="),
                "{}: an inline <script> the policy would block: {tag}",
                file.path
            );
        }
        assert!(!page.contains("<style"), "{}: an inline <style>", file.path);
        assert!(
            !page.contains(" style="),
            "{}: a style attribute",
            file.path
        );
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "{}: the storefront makes no requests elsewhere",
            file.path
        );
    }
}

#[test]
fn the_storefront_ships_under_100_kib_of_script() {
    let script: usize = FILES
        .iter()
        .filter(|file| file.content_type.starts_with("text/javascript"))
        .map(|file| file.body.len())
        .sum();
    assert!(script > 0, "the storefront has its scripts");
    assert!(script < 100 * 1024, "{script} bytes of script");
}

#[tokio::test]
async fn a_browsers_copy_is_revalidated_by_etag() {
    let (_up, gw) = shapes_with(|_| {}).await;
    let first = gw.get("/").await;
    let etag = first.header("etag").expect("an ETag").to_owned();
    let again = gw
        .send(Method::GET, "/", &[("if-none-match", &etag)], None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let stale = gw
        .send(
            Method::GET,
            "/",
            &[("if-none-match", "\"0000\", \"1111\"")],
            None,
        )
        .await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.body, first.body);
    let head = gw.send(Method::HEAD, "/", &[], None).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(first.body.len().to_string().as_str())
    );
}

#[tokio::test]
async fn without_the_storefront_the_root_is_not_found() {
    let (_up, gw) = shapes_with(|config| config.storefront = false).await;
    let root = gw.get("/").await;
    assert_eq!(root.status, StatusCode::NOT_FOUND);
    assert_eq!(root.json()["code"], 5);
    assert_eq!(gw.get("/index.html").await.status, StatusCode::NOT_FOUND);
}
