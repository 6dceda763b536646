//! The real gRPC servers the gateway fronts in tests: the "every binding
//! shape" service and the foreign library service, served by the shared
//! runtime's server builder (health, reflection, deadlines) on port 0.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use bazaar_runtime::server::{ServerBuilder, ServerConfig};
use tokio::{net::TcpListener, sync::oneshot};
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status, metadata::MetadataValue};
use tonic_health::server::HealthReporter;
use tonic_types::{ErrorDetails, StatusExt as _};

pub mod pb {
    pub mod shapes {
        tonic::include_proto!("gwtest.shapes.v1");
    }
    pub mod library {
        tonic::include_proto!("acme.library.v1");
    }
}

use pb::{library, shapes};

pub const SHAPES_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/shapes_descriptor.bin"));
pub const LIBRARY_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/library_descriptor.bin"));

/// Request metadata that Echo reports back.
const ECHOED: [&str; 9] = [
    "authorization",
    "x-request-id",
    "traceparent",
    "tracestate",
    "tenant",
    "grpc-timeout",
    "x-forwarded-for",
    "x-forwarded-host",
    "cookie",
];

#[derive(Debug, Default, Clone)]
pub struct Shapes;

fn echo(request: Request<shapes::EchoRequest>) -> Response<shapes::EchoResponse> {
    let metadata: BTreeMap<String, String> = ECHOED
        .iter()
        .filter_map(|key| {
            let value = request.metadata().get(*key)?.to_str().ok()?;
            Some(((*key).to_owned(), value.to_owned()))
        })
        .collect();
    let mut response = Response::new(shapes::EchoResponse {
        request: Some(request.into_inner()),
        metadata: metadata.into_iter().collect(),
    });
    let metadata = response.metadata_mut();
    metadata.insert("x-served-by", MetadataValue::from_static("shapes"));
    // One key, two values: both must come back.
    metadata.append("x-served-on", MetadataValue::from_static("port-0"));
    metadata.append("x-served-on", MetadataValue::from_static("loopback"));
    response
}

fn fixed_time() -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 500_000_000,
    }
}

type CountStream = Pin<Box<dyn Stream<Item = Result<shapes::CountResponse, Status>> + Send>>;

#[tonic::async_trait]
impl shapes::shape_service_server::ShapeService for Shapes {
    async fn echo(
        &self,
        request: Request<shapes::EchoRequest>,
    ) -> Result<Response<shapes::EchoResponse>, Status> {
        Ok(echo(request))
    }

    async fn echo_body(
        &self,
        request: Request<shapes::EchoRequest>,
    ) -> Result<Response<shapes::EchoResponse>, Status> {
        Ok(echo(request))
    }

    async fn internal(
        &self,
        request: Request<shapes::EchoRequest>,
    ) -> Result<Response<shapes::EchoResponse>, Status> {
        Ok(echo(request))
    }

    async fn get_item(
        &self,
        request: Request<shapes::GetItemRequest>,
    ) -> Result<Response<shapes::Item>, Status> {
        let request = request.into_inner();
        Ok(Response::new(shapes::Item {
            title: format!("{}item {}", request.title_prefix, request.item_id),
            id: request.item_id,
            quantity: 3,
            create_time: Some(fixed_time()),
            ..Default::default()
        }))
    }

    async fn get_special_item(
        &self,
        _request: Request<shapes::GetSpecialItemRequest>,
    ) -> Result<Response<shapes::Item>, Status> {
        Ok(Response::new(shapes::Item {
            id: "special".to_owned(),
            title: "the special one".to_owned(),
            ..Default::default()
        }))
    }

    async fn create_item(
        &self,
        request: Request<shapes::CreateItemRequest>,
    ) -> Result<Response<shapes::Item>, Status> {
        let request = request.into_inner();
        let mut item = request.item.unwrap_or_default();
        item.shelf = request.shelf;
        if request.validate_only {
            item.title.push_str(" (validated)");
        }
        Ok(Response::new(item))
    }

    async fn update_item(
        &self,
        request: Request<shapes::UpdateItemRequest>,
    ) -> Result<Response<shapes::UpdateItemResponse>, Status> {
        let request = request.into_inner();
        Ok(Response::new(shapes::UpdateItemResponse {
            item: request.item,
            received_mask: request.update_mask,
        }))
    }

    async fn delete_item(
        &self,
        _request: Request<shapes::DeleteItemRequest>,
    ) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }

    async fn archive_item(
        &self,
        request: Request<shapes::ArchiveItemRequest>,
    ) -> Result<Response<shapes::Item>, Status> {
        let request = request.into_inner();
        Ok(Response::new(shapes::Item {
            id: request.item_id,
            title: request.reason,
            archived: true,
            ..Default::default()
        }))
    }

    async fn get_book(
        &self,
        request: Request<shapes::GetBookRequest>,
    ) -> Result<Response<shapes::Book>, Status> {
        Ok(Response::new(shapes::Book {
            name: request.into_inner().name,
        }))
    }

    async fn get_file(
        &self,
        request: Request<shapes::GetFileRequest>,
    ) -> Result<Response<shapes::File>, Status> {
        Ok(Response::new(shapes::File {
            path: request.into_inner().path,
        }))
    }

    async fn purge_cache(
        &self,
        request: Request<shapes::PurgeCacheRequest>,
    ) -> Result<Response<shapes::PurgeCacheResponse>, Status> {
        Ok(Response::new(shapes::PurgeCacheResponse {
            purged: request.into_inner().key,
        }))
    }

    async fn fail(
        &self,
        request: Request<shapes::FailRequest>,
    ) -> Result<Response<shapes::FailResponse>, Status> {
        let request = request.into_inner();
        let code = Code::from_i32(request.code);
        let message = if request.message.is_empty() {
            format!("failed with {code:?}")
        } else {
            request.message
        };
        let mut status = if request.with_details {
            let mut details = ErrorDetails::new();
            details.add_bad_request_violation("item.title", "must not be empty");
            details.add_bad_request_violation("item.quantity", "must be positive");
            details.set_error_info(
                "OUT_OF_STOCK",
                "shapes.test",
                [("sku".to_owned(), "A-1".to_owned())],
            );
            Status::with_error_details(code, message, details)
        } else {
            Status::new(code, message)
        };
        let metadata = status.metadata_mut();
        metadata.insert("x-failure", MetadataValue::from_static("on-purpose"));
        metadata.append("x-failure-reason", MetadataValue::from_static("asked"));
        metadata.append("x-failure-reason", MetadataValue::from_static("tested"));
        Err(status)
    }

    type CountStream = CountStream;

    async fn count(
        &self,
        request: Request<shapes::CountRequest>,
    ) -> Result<Response<Self::CountStream>, Status> {
        let request = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for number in 1..=request.count {
                if request.fail_code != 0 && number > request.fail_after {
                    let mut status = Status::with_error_details(
                        Code::from_i32(request.fail_code),
                        format!("failed after {}", request.fail_after),
                        ErrorDetails::with_bad_request_violation("count", "too many"),
                    );
                    // Sent in the trailers, after the headers' `x-stream`.
                    let metadata = status.metadata_mut();
                    metadata.append("x-stopped", MetadataValue::from_static("early"));
                    metadata.append("x-stopped", MetadataValue::from_static("on-purpose"));
                    let _ = tx.send(Err(status)).await;
                    return;
                }
                if number > 1 && request.delay_millis > 0 {
                    tokio::time::sleep(Duration::from_millis(request.delay_millis.into())).await;
                }
                if tx.send(Ok(shapes::CountResponse { number })).await.is_err() {
                    return;
                }
            }
        });
        let mut response: Response<CountStream> =
            Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)));
        response
            .metadata_mut()
            .insert("x-stream", MetadataValue::from_static("counting"));
        Ok(response)
    }

    async fn sleep(
        &self,
        request: Request<shapes::SleepRequest>,
    ) -> Result<Response<shapes::SleepResponse>, Status> {
        let grpc_timeout = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        tokio::time::sleep(Duration::from_millis(request.into_inner().millis.into())).await;
        Ok(Response::new(shapes::SleepResponse { grpc_timeout }))
    }
}

/// The foreign service: an in-memory library.
#[derive(Debug, Default, Clone)]
pub struct Library {
    books: Arc<Mutex<BTreeMap<String, library::Book>>>,
}

#[tonic::async_trait]
impl library::library_service_server::LibraryService for Library {
    async fn get_book(
        &self,
        request: Request<library::GetBookRequest>,
    ) -> Result<Response<library::Book>, Status> {
        let name = request.into_inner().name;
        let books = self
            .books
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        books
            .get(&name)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("no book {name}")))
    }

    async fn list_books(
        &self,
        request: Request<library::ListBooksRequest>,
    ) -> Result<Response<library::ListBooksResponse>, Status> {
        let request = request.into_inner();
        let prefix = format!("{}/books/", request.parent);
        let books = self
            .books
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        let books = books
            .values()
            .filter(|b| b.name.starts_with(&prefix))
            .filter(|b| request.genre == 0 || b.genre == request.genre)
            .take(if request.page_size > 0 {
                request.page_size as usize
            } else {
                usize::MAX
            })
            .cloned()
            .collect();
        Ok(Response::new(library::ListBooksResponse { books }))
    }

    async fn create_book(
        &self,
        request: Request<library::CreateBookRequest>,
    ) -> Result<Response<library::Book>, Status> {
        let request = request.into_inner();
        let mut book = request.book.unwrap_or_default();
        let mut books = self
            .books
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        book.name = format!("{}/books/{}", request.parent, books.len() + 1);
        books.insert(book.name.clone(), book.clone());
        Ok(Response::new(book))
    }

    async fn lend_book(
        &self,
        request: Request<library::LendBookRequest>,
    ) -> Result<Response<library::Book>, Status> {
        let request = request.into_inner();
        let mut books = self
            .books
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        let book = books
            .get_mut(&request.name)
            .ok_or_else(|| Status::not_found(format!("no book {}", request.name)))?;
        if !book.borrower.is_empty() {
            return Err(Status::failed_precondition("already lent"));
        }
        book.borrower = request.borrower;
        Ok(Response::new(book.clone()))
    }
}

/// A running upstream gRPC server.
pub struct Upstream {
    pub addr: SocketAddr,
    pub health: HealthReporter,
    stop: Option<oneshot::Sender<()>>,
}

impl Upstream {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `builder` on `listener` (already bound, maybe already known to the
/// gateway).
pub fn serve_on(builder: ServerBuilder, listener: TcpListener) -> Upstream {
    let addr = listener.local_addr().expect("local addr");
    let health = builder.health_reporter();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        builder
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("upstream server");
    });
    Upstream {
        addr,
        health,
        stop: Some(stop),
    }
}

fn test_server_config() -> ServerConfig {
    ServerConfig {
        shutdown_grace: Duration::from_millis(200),
        ..ServerConfig::default()
    }
}

pub fn shapes_builder() -> ServerBuilder {
    ServerBuilder::new(test_server_config())
        .file_descriptor_set(SHAPES_SET)
        .add_service(shapes::shape_service_server::ShapeServiceServer::new(
            Shapes,
        ))
}

pub fn library_builder() -> ServerBuilder {
    ServerBuilder::new(test_server_config())
        .file_descriptor_set(LIBRARY_SET)
        .add_service(library::library_service_server::LibraryServiceServer::new(
            Library::default(),
        ))
}

pub async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind port 0")
}

pub async fn start_shapes() -> Upstream {
    serve_on(shapes_builder(), bind().await)
}

pub async fn start_library() -> Upstream {
    serve_on(library_builder(), bind().await)
}

/// A bare HTTP/2 gRPC server answering every call with one `EchoResponse`,
/// `headers` in the response head and `trailers` (after `grpc-status: 0`)
/// at its end: tonic's server has no way to send trailers of its own on a
/// unary call.
pub async fn start_raw_echo(
    headers: &'static [(&'static str, &'static str)],
    trailers: &'static [(&'static str, &'static str)],
) -> Upstream {
    use bytes::{BufMut as _, Bytes, BytesMut};
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use prost::Message as _;

    let listener = bind().await;
    let addr = listener.local_addr().expect("local addr");
    let (stop, mut stopped) = oneshot::channel::<()>();
    let service = hyper::service::service_fn(move |_request| async move {
        let message = shapes::EchoResponse::default().encode_to_vec();
        let mut frame = BytesMut::with_capacity(5 + message.len());
        frame.put_u8(0);
        frame.put_u32(u32::try_from(message.len()).expect("small message"));
        frame.put_slice(&message);
        let mut tail = http::HeaderMap::new();
        tail.insert("grpc-status", http::HeaderValue::from_static("0"));
        for (name, value) in trailers {
            tail.append(*name, http::HeaderValue::from_static(value));
        }
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
            vec![Ok(Frame::data(frame.freeze())), Ok(Frame::trailers(tail))];
        let mut response = http::Response::new(StreamBody::new(tokio_stream::iter(frames)));
        response.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/grpc"),
        );
        for (name, value) in headers {
            response
                .headers_mut()
                .append(*name, http::HeaderValue::from_static(value));
        }
        Ok::<_, std::convert::Infallible>(response)
    });
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => return,
                },
                _ = &mut stopped => return,
            };
            tokio::spawn(async move {
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
            });
        }
    });
    Upstream {
        addr,
        health: tonic_health::server::health_reporter().0,
        stop: Some(stop),
    }
}
