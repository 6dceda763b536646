//! The gateway benchmark's tools (driven by `bench/gateway/run.sh`):
//!
//! - `upstream`: a gRPC server of the test-only `acme.library.v1` service
//!   whose GetBook answers from memory, so the measurement is the transport
//!   and the transcoding, not a database;
//! - `bare`: a bare hyper HTTP/1.1 server answering every request with a
//!   fixed JSON body the size of the book's, the floor an HTTP/1.1 edge on
//!   this machine can reach (one loopback round trip, no upstream);
//! - `descriptor-set`: writes that service's descriptor set, for the gateway;
//! - `load`: a closed-loop load client over HTTP/1.1 (through a gateway) or
//!   gRPC (direct), bounded in requests and time, loopback only, checking
//!   every answer; prints requests/s and latency percentiles.

use std::{
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};
use http_body_util::{BodyExt as _, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tonic::{Request, Response, Status};

mod pb {
    tonic::include_proto!("acme.library.v1");
}

use pb::library_service_client::LibraryServiceClient;

const LIBRARY_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/library_descriptor.bin"));
const BOOK: &str = "shelves/s1/books/b1";

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the library service (and gRPC health).
    Upstream {
        #[arg(long, default_value = "127.0.0.1:18551")]
        listen: SocketAddr,
    },
    /// Serve a fixed JSON answer over bare hyper HTTP/1.1 (no upstream).
    Bare {
        #[arg(long, default_value = "127.0.0.1:18552")]
        listen: SocketAddr,
    },
    /// Write the library's encoded FileDescriptorSet.
    DescriptorSet {
        #[arg(long)]
        out: PathBuf,
    },
    /// Measure GET of one book.
    Load {
        #[arg(long, value_enum)]
        mode: Mode,
        /// `http://host:port` of the gateway (http) or the upstream (grpc).
        #[arg(long)]
        target: String,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Measured time (after the warm-up).
        #[arg(long, default_value = "10s", value_parser = humantime_duration)]
        duration: Duration,
        #[arg(long, default_value = "2s", value_parser = humantime_duration)]
        warmup: Duration,
        /// Stop after this many measured requests in total.
        #[arg(long, default_value_t = 2_000_000)]
        max_requests: usize,
        /// A label for the result line.
        #[arg(long, default_value = "")]
        label: String,
        /// HTTP mode: the path to GET (another endpoint than the book, e.g.
        /// `/healthz` to measure the HTTP hop alone) and text its answer
        /// must contain.
        #[arg(long, default_value = "/v1/shelves/s1/books/b1")]
        path: String,
        #[arg(long, default_value = BOOK)]
        expect: String,
        /// Also report the CPU time (user + system) this process spent per
        /// measured request: a figure that scheduling noise on a shared box
        /// disturbs far less than requests/s.
        #[arg(long)]
        cpu_of: Option<u32>,
        /// Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`).
        #[arg(long, default_value_t = 100)]
        clk_tck: u64,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Http,
    Grpc,
}

fn humantime_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number.parse().map_err(|e| format!("{text}: {e}"))?;
    match unit {
        "s" | "" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        other => Err(format!("unknown unit {other:?}")),
    }
}

#[derive(Default)]
struct Library;

#[tonic::async_trait]
impl pb::library_service_server::LibraryService for Library {
    async fn get_book(
        &self,
        request: Request<pb::GetBookRequest>,
    ) -> Result<Response<pb::Book>, Status> {
        Ok(Response::new(pb::Book {
            name: request.into_inner().name,
            title: "Dune".to_owned(),
            author: "Frank Herbert".to_owned(),
            genre: pb::Genre::Fiction as i32,
            borrower: String::new(),
            publish_time: Some(prost_types::Timestamp {
                seconds: -139_968_000,
                nanos: 0,
            }),
        }))
    }

    async fn list_books(
        &self,
        _request: Request<pb::ListBooksRequest>,
    ) -> Result<Response<pb::ListBooksResponse>, Status> {
        Err(Status::unimplemented("not in the benchmark"))
    }

    async fn create_book(
        &self,
        _request: Request<pb::CreateBookRequest>,
    ) -> Result<Response<pb::Book>, Status> {
        Err(Status::unimplemented("not in the benchmark"))
    }

    async fn lend_book(
        &self,
        _request: Request<pb::LendBookRequest>,
    ) -> Result<Response<pb::Book>, Status> {
        Err(Status::unimplemented("not in the benchmark"))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Upstream { listen } => {
            let (health, health_service) = tonic_health::server::health_reporter();
            health
                .set_serving::<pb::library_service_server::LibraryServiceServer<Library>>()
                .await;
            tonic::transport::Server::builder()
                .add_service(health_service)
                .add_service(pb::library_service_server::LibraryServiceServer::new(
                    Library,
                ))
                .serve_with_shutdown(listen, bazaar_runtime::shutdown::signal())
                .await?;
        }
        Command::Bare { listen } => bare(listen).await?,
        Command::DescriptorSet { out } => std::fs::write(out, LIBRARY_SET)?,
        Command::Load {
            mode,
            target,
            concurrency,
            duration,
            warmup,
            max_requests,
            label,
            path,
            expect,
            cpu_of,
            clk_tck,
        } => {
            let target = Target {
                base: target,
                path,
                expect: Bytes::from(expect),
            };
            let cpu = cpu_of.map(|pid| (pid, clk_tck));
            let result = load(
                mode,
                &target,
                concurrency,
                warmup,
                duration,
                max_requests,
                cpu,
            )
            .await?;
            result.print(&label, concurrency);
        }
    }
    Ok(())
}

/// What the gateway answers for the book (the same bytes, so the bare
/// server's round trip moves as much data).
const BARE_BODY: &str = r#"{"name":"shelves/s1/books/b1","title":"Dune","author":"Frank Herbert","genre":"GENRE_FICTION","borrower":"","publish_time":"1965-07-26T00:00:00Z"}"#;

/// The bare HTTP/1.1 floor: hyper's server with a fixed answer, one
/// current-thread task per connection, nothing else.
async fn bare(listen: SocketAddr) -> anyhow::Result<()> {
    use hyper::{server::conn::http1, service::service_fn};
    use hyper_util::rt::TokioIo;

    let listener = tokio::net::TcpListener::bind(listen).await?;
    let shutdown = bazaar_runtime::shutdown::signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let service = service_fn(|_request| async {
                let mut response =
                    http::Response::new(Full::new(Bytes::from_static(BARE_BODY.as_bytes())));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                Ok::<_, std::convert::Infallible>(response)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

struct Outcome {
    latencies_us: Vec<u32>,
    errors: usize,
    elapsed: Duration,
    /// CPU seconds the watched process spent during the measurement.
    cpu_seconds: Option<f64>,
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32, clk_tck: u64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clk_tck as f64)
}

impl Outcome {
    fn percentile(&self, p: f64) -> u32 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        self.latencies_us[rank.min(self.latencies_us.len() - 1)]
    }

    fn print(&self, label: &str, concurrency: usize) {
        let n = self.latencies_us.len();
        let rps = n as f64 / self.elapsed.as_secs_f64();
        let cpu = self
            .cpu_seconds
            .filter(|_| n > 0)
            .map(|s| format!(" cpu/req={:.0}us", s * 1e6 / n as f64))
            .unwrap_or_default();
        println!(
            "{label:<28} c={concurrency:<3} requests={n:<8} errors={:<4} req/s={rps:>9.0} \
             p50={}us p90={}us p99={}us p99.9={}us max={}us{cpu}",
            self.errors,
            self.percentile(50.0),
            self.percentile(90.0),
            self.percentile(99.0),
            self.percentile(99.9),
            self.latencies_us.last().copied().unwrap_or(0),
        );
    }
}

/// One request of the chosen kind; `Ok(false)` is a wrong answer.
#[derive(Clone)]
enum Caller {
    Http {
        client: Box<Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>>,
        uri: http::Uri,
        expect: Bytes,
    },
    Grpc(LibraryServiceClient<tonic::transport::Channel>),
}

impl Caller {
    async fn call(&mut self) -> Result<bool, String> {
        match self {
            Caller::Http {
                client,
                uri,
                expect,
            } => {
                let request = http::Request::get(uri.clone())
                    .body(Full::new(Bytes::new()))
                    .map_err(|e| e.to_string())?;
                let response = client.request(request).await.map_err(|e| e.to_string())?;
                let ok = response.status() == http::StatusCode::OK;
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .to_bytes();
                Ok(ok && body.windows(expect.len()).any(|w| w == &expect[..]))
            }
            Caller::Grpc(client) => {
                let book = client
                    .get_book(pb::GetBookRequest {
                        name: BOOK.to_owned(),
                    })
                    .await
                    .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
                Ok(book.into_inner().name == BOOK)
            }
        }
    }
}

struct Target {
    base: String,
    path: String,
    expect: Bytes,
}

async fn load(
    mode: Mode,
    target: &Target,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    max_requests: usize,
    cpu: Option<(u32, u64)>,
) -> anyhow::Result<Outcome> {
    if !(target.base.starts_with("http://127.") || target.base.starts_with("http://localhost")) {
        anyhow::bail!("loopback targets only");
    }
    let caller = match mode {
        Mode::Http => {
            let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
            connector.set_nodelay(true);
            Caller::Http {
                client: Box::new(
                    Client::builder(TokioExecutor::new())
                        .pool_max_idle_per_host(concurrency)
                        .build(connector),
                ),
                uri: format!("{}{}", target.base, target.path).parse()?,
                expect: target.expect.clone(),
            }
        }
        Mode::Grpc => {
            let channel = tonic::transport::Endpoint::from_shared(target.base.clone())?
                .tcp_nodelay(true)
                .connect()
                .await?;
            Caller::Grpc(LibraryServiceClient::new(channel))
        }
    };

    let per_worker = max_requests.div_ceil(concurrency.max(1));
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + duration;
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let mut caller = caller.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_worker.min(1 << 20));
            let mut errors = 0usize;
            let mut first_error: Option<String> = None;
            loop {
                let sent = Instant::now();
                if sent >= stop_at || latencies.len() >= per_worker {
                    break;
                }
                let result = caller.call().await;
                let took = sent.elapsed();
                let measured = sent >= measure_from;
                match result {
                    Ok(true) if measured => {
                        latencies.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                    }
                    Ok(true) => {}
                    Ok(false) => errors += usize::from(measured),
                    Err(error) => {
                        errors += usize::from(measured);
                        first_error.get_or_insert(error);
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    // CPU of the watched process over the measured window.
    let cpu_watch = cpu.map(|(pid, clk_tck)| {
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            cpu_seconds(pid, clk_tck)
        })
    });
    let mut outcome = Outcome {
        latencies_us: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
        cpu_seconds: None,
    };
    for worker in workers {
        let (latencies, errors, first_error) = worker.await?;
        if let Some(error) = first_error {
            eprintln!("error: {error}");
        }
        outcome.latencies_us.extend(latencies);
        outcome.errors += errors;
    }
    outcome.elapsed = Instant::now()
        .min(stop_at)
        .saturating_duration_since(measure_from);
    if let (Some(watch), Some((pid, clk_tck))) = (cpu_watch, cpu) {
        let before = watch.await?;
        outcome.cpu_seconds = before.zip(cpu_seconds(pid, clk_tck)).map(|(b, a)| a - b);
    }
    outcome.latencies_us.sort_unstable();
    Ok(outcome)
}
