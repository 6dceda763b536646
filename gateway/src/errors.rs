//! gRPC status → HTTP status, exactly as grpc-gateway v2's
//! `HTTPStatusFromCode`, and the JSON error answers of the edge itself.

use http::{HeaderValue, Response, StatusCode, header};
use tonic::Code;

use crate::{body::Body, json::Json};

/// grpc-gateway's mapping (`runtime/errors.go`); unknown codes are 500.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        // 499 "Client Closed Request" (nginx's), as grpc-gateway uses.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        // grpc-gateway v2 maps FAILED_PRECONDITION to 400 (v1 said 412).
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::Aborted => StatusCode::CONFLICT,
        Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The code an upstream call failed with, as the edge reports it. tonic
/// says UNKNOWN when the transport broke with no gRPC status (a connection
/// reset or closed mid-call, a TLS alert from a server refusing our
/// certificate): for the caller that upstream is unavailable (503), not
/// failing internally (500). An UNKNOWN the upstream sent itself is kept.
pub fn upstream_code(status: &tonic::Status) -> Code {
    if status.code() == Code::Unknown && broken_transport(status) {
        Code::Unavailable
    } else {
        status.code()
    }
}

/// Whether a connection error lies under `status`; a status that came over
/// the wire has no source.
fn broken_transport(status: &tonic::Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<std::io::Error>() || error.is::<hyper::Error>() {
            return true;
        }
        source = error.source();
    }
    false
}

pub const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// An error answer with grpc-gateway's body: `code` is the gRPC code the
/// HTTP status stands for. UNAUTHENTICATED carries `WWW-Authenticate`, set
/// to the status message exactly as grpc-gateway v2's
/// `DefaultHTTPErrorHandler` does (it does not read the upstream's metadata;
/// a `www-authenticate` the upstream sends comes back as
/// `Grpc-Metadata-www-authenticate` like any other).
pub fn error_response(
    json: &Json,
    http: StatusCode,
    code: Code,
    message: &str,
    details: &[u8],
) -> Response<Body> {
    let mut response = Response::new(Body::full(json.error_body(code as i32, message, details)));
    *response.status_mut() = http;
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    if code == Code::Unauthenticated
        && let Some(challenge) = www_authenticate(message)
    {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}

/// The message as a header value (even empty, as grpc-gateway sends it),
/// line breaks as spaces as Go's `net/http` writes them; `None` when other
/// control characters remain.
fn www_authenticate(message: &str) -> Option<HeaderValue> {
    if message.contains(['\r', '\n']) {
        HeaderValue::from_bytes(message.replace(['\r', '\n'], " ").as_bytes()).ok()
    } else {
        HeaderValue::from_bytes(message.as_bytes()).ok()
    }
}

/// An error answer whose HTTP status follows from the gRPC code.
pub fn status_response(json: &Json, code: Code, message: &str) -> Response<Body> {
    error_response(json, http_status(code), code, message, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_like_grpc_gateway() {
        let expected = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        for (code, status) in expected {
            assert_eq!(http_status(code).as_u16(), status, "{code:?}");
        }
    }

    #[test]
    fn unauthenticated_answers_carry_the_message_as_www_authenticate() {
        let json = Json::new(
            &crate::config::JsonConfig::default(),
            &prost_reflect::DescriptorPool::new(),
        );
        let answer = status_response(&json, Code::Unauthenticated, "missing bearer token");
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            answer.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "missing bearer token"
        );
        let answer = status_response(&json, Code::Unauthenticated, "two\r\nlines");
        assert_eq!(
            answer.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "two  lines"
        );
        let answer = status_response(&json, Code::Unauthenticated, "bell\u{7}");
        assert!(answer.headers().get(header::WWW_AUTHENTICATE).is_none());
        // Only for 401.
        let answer = status_response(&json, Code::PermissionDenied, "no");
        assert!(answer.headers().get(header::WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn a_broken_connection_is_unavailable_but_an_upstreams_unknown_is_not() {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let broken = tonic::Status::from_error(Box::new(reset));
        assert_eq!(broken.code(), Code::Unknown, "{broken:?}");
        assert_eq!(upstream_code(&broken), Code::Unavailable);

        let sent = tonic::Status::unknown("the upstream's own UNKNOWN");
        assert_eq!(upstream_code(&sent), Code::Unknown);
        let denied = tonic::Status::permission_denied("gateway may not call it");
        assert_eq!(upstream_code(&denied), Code::PermissionDenied);
    }
}
