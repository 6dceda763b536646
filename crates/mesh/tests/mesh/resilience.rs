use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use bazaar_mesh::deadline;
use tokio::net::TcpListener;
use tonic::Code;

use crate::support::{Certs, check, serve, serve_on, upstream};

/// Accepts connections and drops them at once, counting them: an upstream
/// that is down though its port is open. Hands the listener back when told.
fn dead_upstream(
    listener: TcpListener,
) -> (
    Arc<AtomicU32>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<TcpListener>,
) {
    let accepted = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&accepted);
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        for _ in 0..50 {
            tokio::select! {
                Ok((socket, _)) = listener.accept() => {
                    counter.fetch_add(1, Ordering::SeqCst);
                    drop(socket);
                }
                _ = &mut stopped => break,
            }
        }
        listener
    });
    (accepted, stop, task)
}

#[tokio::test]
async fn the_breaker_stops_calling_a_dead_upstream_and_a_probe_closes_it() {
    let certs = Certs::generate();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted, stop_dead, dead) = dead_upstream(listener);
    let upstream = upstream(&certs, "order", "payment", addr);
    let channel = upstream.channel().unwrap();
    let call = || {
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        async move {
            client
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .map(|_| ())
        }
    };

    // The policy ejects after 3 failures in a row, for 500 ms.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(call().await.unwrap_err());
    }
    assert!(
        statuses.iter().all(|s| s.code() == Code::Unavailable),
        "{statuses:?}"
    );
    let fast = statuses
        .iter()
        .filter(|s| s.message().contains("circuit open"))
        .count();
    assert_eq!(fast, 7, "calls after the third fail fast: {statuses:?}");
    let attempts = accepted.load(Ordering::SeqCst);
    assert_eq!(attempts, 3, "one connection attempt per admitted call");

    // The upstream comes back on the same port; after the ejection time the
    // probe is let through and closes the breaker.
    stop_dead.send(()).unwrap();
    let listener = dead.await.unwrap();
    let _server = serve_on(listener, certs.of("payment")).await;
    let refused = call().await.unwrap_err();
    assert!(refused.message().contains("circuit open"), "{refused:?}");
    tokio::time::sleep(Duration::from_millis(550)).await;
    call()
        .await
        .expect("the half-open probe reaches the upstream");
    for _ in 0..5 {
        call().await.expect("the breaker is closed again");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), attempts);
}

/// Records the `grpc-timeout` of every request it serves.
async fn recording_server(certs: &Certs) -> (std::net::SocketAddr, Arc<Mutex<Vec<Duration>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_health, service) = tonic_health::server::health_reporter();
    let incoming =
        bazaar_mesh::incoming::incoming(listener, certs.of("payment").server_config().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(tonic::service::InterceptorLayer::new(
                move |request: tonic::Request<()>| {
                    if let Some(timeout) = request
                        .metadata()
                        .get("grpc-timeout")
                        .and_then(|v| v.to_str().ok())
                        .and_then(deadline::parse_grpc_timeout)
                    {
                        record.lock().unwrap().push(timeout);
                    }
                    Ok(request)
                },
            ))
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    (addr, seen)
}

#[tokio::test]
async fn an_incoming_deadline_reaches_the_upstream_shortened_never_lengthened() {
    let certs = Certs::generate();
    let (addr, seen) = recording_server(&certs).await;
    let upstream = upstream(&certs, "order", "payment", addr);

    // Outside any request: the route's timeout from the policy (2 s).
    check(&upstream).await.unwrap();
    // Inside a request with 300 ms left: at most 300 ms.
    let deadline = Instant::now() + Duration::from_millis(300);
    deadline::scope(deadline, check(&upstream)).await.unwrap();
    // A caller's own shorter deadline wins over both.
    let mut client =
        tonic_health::pb::health_client::HealthClient::new(upstream.channel().unwrap());
    let mut request = tonic::Request::new(tonic_health::pb::HealthCheckRequest::default());
    request.set_timeout(Duration::from_millis(50));
    deadline::scope(deadline + Duration::from_secs(10), client.check(request))
        .await
        .unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen[0] <= Duration::from_secs(2) && seen[0] > Duration::from_millis(1900),
        "{seen:?}"
    );
    assert!(
        seen[1] <= Duration::from_millis(300) && seen[1] > Duration::from_millis(100),
        "{seen:?}"
    );
    assert!(seen[2] <= Duration::from_millis(50), "{seen:?}");
}

#[tokio::test]
async fn an_expired_incoming_deadline_fails_the_call_as_deadline_exceeded() {
    let certs = Certs::generate();
    let server = serve(certs.of("payment")).await;
    let upstream = upstream(&certs, "order", "payment", server.addr);
    let status = deadline::scope(Instant::now(), check(&upstream))
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_broken_upstream_connection_is_unavailable_not_unknown() {
    let certs = Certs::generate();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Completes the mTLS handshake, reads the start of the call, answers
    // bytes that are not HTTP/2, then hangs up.
    let acceptor = tokio_rustls::TlsAcceptor::from(certs.of("payment").server_config().unwrap());
    tokio::spawn(async move {
        for _ in 0..10 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            if let Ok(mut tls) = acceptor.accept(tcp).await {
                let mut buffer = [0u8; 64];
                let _ = tokio::io::AsyncReadExt::read(&mut tls, &mut buffer).await;
                let _ = tokio::io::AsyncWriteExt::write_all(&mut tls, b"HTTP/1.1 400 Nope\r\n\r\n")
                    .await;
                drop(tls);
            }
        }
    });
    let status = check(&upstream(&certs, "order", "payment", addr))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        !bazaar_mesh::client::never_sent(&status),
        "the request may have reached the upstream: {status:?}"
    );
}
