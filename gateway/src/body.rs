//! The response body: a buffer, or a server stream rendered as
//! newline-delimited JSON while it arrives.
//!
//! The stream is polled by the connection itself (no task, no channel): each
//! upstream message becomes one `{"result": ...}` line handed to hyper as its
//! own frame, so it is flushed as soon as it exists, and a slow client slows
//! the upstream stream down instead of filling a buffer.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use prost_reflect::{DynamicMessage, FieldDescriptor};
use tokio_stream::Stream;
use tonic::Streaming;

use crate::{json::Json, metrics::UpstreamErrors};

pub enum Body {
    Full(Option<Bytes>),
    Ndjson(Box<NdjsonStream>),
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self::Full((!bytes.is_empty()).then_some(bytes))
    }

    pub fn empty() -> Self {
        Self::Full(None)
    }
}

pub struct NdjsonStream {
    /// The first line, read before the headers were sent (so a stream that
    /// fails at once answers with a proper HTTP error status).
    first: Option<Bytes>,
    upstream: Streaming<DynamicMessage>,
    json: Arc<Json>,
    response_body: Option<FieldDescriptor>,
    /// Where a stream that fails midway is counted.
    errors: Arc<UpstreamErrors>,
    done: bool,
    /// Ends with the stream, so its duration is the whole call's.
    _span: tracing::Span,
}

impl NdjsonStream {
    pub fn new(
        first: Bytes,
        upstream: Streaming<DynamicMessage>,
        json: Arc<Json>,
        response_body: Option<FieldDescriptor>,
        errors: Arc<UpstreamErrors>,
    ) -> Self {
        Self {
            first: Some(first),
            upstream,
            json,
            response_body,
            errors,
            done: false,
            _span: tracing::Span::current(),
        }
    }
}

/// One `{"result": ...}` line.
pub fn result_line(
    json: &Json,
    message: &DynamicMessage,
    response_body: Option<&FieldDescriptor>,
) -> Bytes {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"{\"result\":");
    match json.write_response(message, response_body, &mut out) {
        Ok(()) => {
            out.extend_from_slice(b"}\n");
            Bytes::from(out)
        }
        Err(error) => Bytes::from(json.stream_error(
            tonic::Code::Internal as i32,
            &format!("cannot render the response: {error}"),
            &[],
        )),
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Ndjson(stream) => {
                if let Some(first) = stream.first.take() {
                    return Poll::Ready(Some(Ok(Frame::data(first))));
                }
                if stream.done {
                    return Poll::Ready(None);
                }
                match Pin::new(&mut stream.upstream).poll_next(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(None) => {
                        stream.done = true;
                        Poll::Ready(None)
                    }
                    Poll::Ready(Some(Ok(message))) => Poll::Ready(Some(Ok(Frame::data(
                        result_line(&stream.json, &message, stream.response_body.as_ref()),
                    )))),
                    Poll::Ready(Some(Err(status))) => {
                        stream.done = true;
                        let code = crate::errors::upstream_code(&status);
                        stream.errors.record(code);
                        let line = stream.json.stream_error(
                            code as i32,
                            status.message(),
                            status.details(),
                        );
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(line)))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(bytes) => bytes.is_none(),
            Body::Ndjson(stream) => stream.done && stream.first.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Ndjson(_) => SizeHint::default(),
        }
    }
}
