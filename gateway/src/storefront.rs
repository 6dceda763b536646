//! The storefront: the files of the repository's `web/` (plain ES modules,
//! no build step), embedded at build time and served at `/` with a strict
//! Content-Security-Policy. They talk to this edge's REST API only.
//!
//! Every file is served `Cache-Control: no-cache` with a strong ETag of its
//! bytes: browsers keep a copy and revalidate it (a 304, no body), so a
//! release is picked up at once without fingerprinted file names.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::body::Body;

/// One embedded file.
#[derive(Debug)]
pub struct StaticFile {
    /// Its URL path, e.g. `/js/api.js`.
    pub path: &'static str,
    pub content_type: &'static str,
    /// A strong validator: a quoted fingerprint of the bytes.
    pub etag: &'static str,
    pub body: &'static [u8],
}

// `FILES`, sorted by path (written by build.rs).
include!(concat!(env!("OUT_DIR"), "/storefront.rs"));

/// Scripts, styles and API calls from this origin only; nothing inline,
/// no framing, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The file served at `path` (`/` is `/index.html`).
pub fn find(path: &str) -> Option<&'static StaticFile> {
    let path = if path == "/" { "/index.html" } else { path };
    FILES
        .binary_search_by(|file| file.path.cmp(path))
        .ok()
        .and_then(|at| FILES.get(at))
}

/// `file` as a response to a GET (or HEAD, without the body), 304 when
/// the request's `If-None-Match` already holds its ETag.
pub fn response(file: &StaticFile, request: &HeaderMap, head: bool) -> Response<Body> {
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .any(|tag| tag == file.etag || tag == "*");
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else if head {
        (StatusCode::OK, Body::empty())
    } else {
        (StatusCode::OK, Body::full(Bytes::from_static(file.body)))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, file.content_type),
        (header::ETAG, file.etag),
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !fresh && head {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.body.len()));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_so_lookups_find_every_file() {
        assert!(FILES.windows(2).all(|pair| pair[0].path < pair[1].path));
        for file in FILES {
            assert_eq!(find(file.path).map(|f| f.path), Some(file.path));
        }
        assert!(find("/no-such-file.js").is_none());
        assert!(
            find("/tests/api-contract.mjs").is_none(),
            "tests are not served"
        );
    }
}
