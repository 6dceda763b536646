//! The launcher behind `make run`: starts each binary of the [`Stack`] as a
//! child process, prefixes every line they print with a coloured tag, waits
//! until all are ready, prints where everything is and how to try it, and on
//! Ctrl-C or SIGTERM stops them all (SIGTERM, a bounded wait, then SIGKILL).
//!
//! Children cannot outlive the launcher: they are killed when their handle
//! is dropped (a panic), and the kernel sends them SIGTERM when the launcher
//! dies any other way (`PR_SET_PDEATHSIG`, see [`crate::process`]). Run it
//! on a current-thread runtime so the spawning thread is the main thread.

use std::{
    io::{IsTerminal as _, Write as _},
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::Parser;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncRead, BufReader},
    process::Child,
    signal::unix::{Signal, SignalKind, signal},
    task::JoinHandle,
};

use crate::{
    journey, process, ready,
    stack::{Databases, Service, Stack},
};

/// Starts Bazaar's services and REST gateway, prefixes their logs, and stops
/// them all on Ctrl-C.
///
/// Every `BAZAAR__SECTION__KEY` variable in the environment reaches every
/// binary (e.g. BAZAAR__TELEMETRY__LOG_FORMAT=json), except those the
/// launcher sets per service: BAZAAR__SERVER__LISTEN, BAZAAR__DATABASE__URL,
/// BAZAAR__AUTH__JWKS_URL, BAZAAR__PRODUCT__URL, BAZAAR__PAYMENT__URL,
/// BAZAAR__TOKENS__SIGNING_KEY_FILE and BAZAAR__MESH__CERTS_DIR.
///
/// The services serve only over mTLS: before starting anything the launcher
/// makes sure a development CA and a certificate per mesh workload exist
/// under <data-dir>/mesh.
#[derive(Debug, Clone, Parser)]
#[command(name = "bazaar-devstack", version)]
pub struct Options {
    /// Directory holding the binaries [default: this executable's directory].
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Where the SQLite files, the user service's signing key and the mesh
    /// certificates (<data-dir>/mesh) live.
    #[arg(long, value_name = "DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Give each service its own database `bazaar_<service>` on this
    /// PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432) instead
    /// of SQLite. Missing databases are created.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Start the gRPC services only.
    #[arg(long)]
    pub no_gateway: bool,
    /// Port of the user service's gRPC server.
    #[arg(long, value_name = "PORT", default_value_t = Service::User.default_port())]
    pub user_port: u16,
    /// Port of the product service's gRPC server.
    #[arg(long, value_name = "PORT", default_value_t = Service::Product.default_port())]
    pub product_port: u16,
    /// Port of the payment service's gRPC server.
    #[arg(long, value_name = "PORT", default_value_t = Service::Payment.default_port())]
    pub payment_port: u16,
    /// Port of the order service's gRPC server.
    #[arg(long, value_name = "PORT", default_value_t = Service::Order.default_port())]
    pub order_port: u16,
    /// Port of the REST gateway.
    #[arg(long, value_name = "PORT", default_value_t = Service::Gateway.default_port())]
    pub gateway_port: u16,
    /// Seconds every binary has to become ready.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub ready_timeout: u64,
    /// Seconds the binaries have to stop after SIGTERM before SIGKILL.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub stop_timeout: u64,
}

impl Options {
    fn stack(&self) -> Stack {
        let mut stack = Stack::local(&self.data_dir);
        for (service, port) in [
            (Service::User, self.user_port),
            (Service::Product, self.product_port),
            (Service::Payment, self.payment_port),
            (Service::Order, self.order_port),
            (Service::Gateway, self.gateway_port),
        ] {
            stack.ports.set(service, port);
        }
        if let Some(url) = &self.postgres {
            stack.databases = Databases::postgres(url);
        }
        stack.gateway = !self.no_gateway;
        stack
    }
}

/// Start-up order: the user service first, because the others fetch its
/// token keys when they start; then everything else at once.
const PHASES: [&[Service]; 2] = [
    &[Service::User],
    &[
        Service::Product,
        Service::Payment,
        Service::Order,
        Service::Gateway,
    ],
];

/// Runs the stack until a signal or a child's death; the process exit code.
pub async fn run(options: Options) -> anyhow::Result<u8> {
    let started = Instant::now();
    let out = Output::new();
    let mut stack = options.stack();
    let bin_dir = match &options.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()
            .context("cannot find the launcher's own path")?
            .parent()
            .map(Path::to_path_buf)
            .context("the launcher has no directory")?,
    };
    preflight(&mut stack, &bin_dir, &out)?;
    let mut signals = Signals::new()?;
    let mut running: Vec<Running> = Vec::new();
    let deadline = started + Duration::from_secs(options.ready_timeout);
    let stop_timeout = Duration::from_secs(options.stop_timeout);

    for phase in PHASES {
        let starting: Vec<Service> = stack.services().filter(|s| phase.contains(s)).collect();
        for &service in &starting {
            match spawn(&stack, service, &bin_dir, &out) {
                Ok(child) => running.push(child),
                Err(error) => {
                    out.say(&format!("cannot start {}: {error:#}", service.name()));
                    stop_all(&mut running, stop_timeout, &mut signals, &out).await;
                    return Ok(1);
                }
            }
        }
        let outcome = tokio::select! {
            outcome = wait_ready(&stack, &mut running, &starting, started, deadline, &out) => outcome,
            name = signals.recv() => Err(format!("{name} during start-up")),
        };
        if let Err(reason) = outcome {
            out.say(&format!("not starting Bazaar: {reason}; stopping"));
            stop_all(&mut running, stop_timeout, &mut signals, &out).await;
            return Ok(1);
        }
    }
    out.banner(&banner(&stack, started.elapsed()));

    let code = loop {
        tokio::select! {
            name = signals.recv() => {
                out.say(&format!("{name}: stopping every service"));
                break 0;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if let Some((service, status)) = first_exited(&mut running) {
                    out.say(&format!(
                        "{} exited unexpectedly ({}); stopping the others",
                        service.name(),
                        describe(status)
                    ));
                    break 1;
                }
            }
        }
    };
    stop_all(&mut running, stop_timeout, &mut signals, &out).await;
    Ok(code)
}

/// Checks what can be checked before starting anything: the binaries exist
/// and the ports are free. A missing gateway drops it from the stack.
fn preflight(stack: &mut Stack, bin_dir: &Path, out: &Output) -> anyhow::Result<()> {
    for service in Service::GRPC {
        let path = bin_dir.join(service.binary());
        if !path.is_file() {
            bail!(
                "{} is missing: build the services first (`make run` does: \
                 cargo build --release --bins -p bazaar-{})",
                path.display(),
                service.name()
            );
        }
    }
    if stack.gateway && !bin_dir.join(Service::Gateway.binary()).is_file() {
        out.say(&format!(
            "the REST gateway ({}) is not built; starting the gRPC services only",
            bin_dir.join(Service::Gateway.binary()).display()
        ));
        stack.gateway = false;
    }
    for service in stack.services() {
        let addr = stack.addr(service);
        if let Err(error) = std::net::TcpListener::bind(addr) {
            bail!(
                "{addr} ({}) is not free: {error}. Is another `make run` running? \
                 Stop it, or pick other ports (--{}-port).",
                service.name(),
                service.name()
            );
        }
    }
    if let Databases::Sqlite(dir) = &stack.databases {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::create_dir_all(&stack.data_dir)
        .with_context(|| format!("cannot create {}", stack.data_dir.display()))?;
    if stack.ensure_mesh_certs()? {
        out.say(&format!(
            "wrote a development CA and a certificate per mesh workload to {}",
            stack.mesh_dir().display()
        ));
    }
    out.say(&format!(
        "starting {} from {} on {}",
        stack
            .services()
            .map(Service::name)
            .collect::<Vec<_>>()
            .join(", "),
        bin_dir.display(),
        stack.databases.describe()
    ));
    Ok(())
}

/// A started child and the tasks copying its output.
struct Running {
    service: Service,
    child: Child,
    pumps: Vec<JoinHandle<()>>,
    exit: Option<ExitStatus>,
}

fn spawn(stack: &Stack, service: Service, bin_dir: &Path, out: &Output) -> anyhow::Result<Running> {
    let mut command = stack.command(service, bin_dir);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    if !out.color {
        // Plain text when our own output is not a terminal.
        command.env("NO_COLOR", "1");
    }
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", bin_dir.join(service.binary()).display()))?;
    let tag: Arc<[u8]> = out.tag(service).into_bytes().into();
    let mut pumps = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        pumps.push(pump(stdout, Arc::clone(&tag), Stream::Stdout));
    }
    if let Some(stderr) = child.stderr.take() {
        pumps.push(pump(stderr, tag, Stream::Stderr));
    }
    out.say(&format!(
        "started {} (pid {}) on {}",
        service.name(),
        child.id().unwrap_or_default(),
        stack.addr(service)
    ));
    Ok(Running {
        service,
        child,
        pumps,
        exit: None,
    })
}

/// Polls the `starting` services until all are ready; fails early when any
/// child exits or the deadline passes.
async fn wait_ready(
    stack: &Stack,
    running: &mut [Running],
    starting: &[Service],
    started: Instant,
    deadline: Instant,
    out: &Output,
) -> Result<(), String> {
    let mut pending = starting.to_vec();
    loop {
        if let Some((service, status)) = first_exited(running) {
            return Err(format!(
                "{} exited during start-up ({}); its log is above",
                service.name(),
                describe(status)
            ));
        }
        let mut still = Vec::new();
        for service in pending {
            if ready::check(stack, service).await {
                out.say(&format!(
                    "{} is ready ({:.2} s)",
                    service.name(),
                    started.elapsed().as_secs_f64()
                ));
            } else {
                still.push(service);
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let names: Vec<_> = pending.iter().map(|s| s.name()).collect();
            return Err(format!(
                "not ready within {} s: {}",
                deadline.duration_since(started).as_secs(),
                names.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first child found to have exited since the last look.
fn first_exited(running: &mut [Running]) -> Option<(Service, ExitStatus)> {
    running.iter_mut().find_map(|r| {
        if r.exit.is_some() {
            return None;
        }
        let status = r.child.try_wait().ok().flatten()?;
        r.exit = Some(status);
        Some((r.service, status))
    })
}

/// SIGTERM to every child (last started first), a bounded wait, SIGKILL for
/// stragglers (at once on a second signal), then the last of their output.
async fn stop_all(running: &mut [Running], timeout: Duration, signals: &mut Signals, out: &Output) {
    for r in running.iter().rev() {
        // `id` is None once the child has been reaped: no stray signals to
        // a recycled pid.
        if let Some(pid) = r.child.id() {
            process::terminate(pid);
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        while first_exited(running).is_some() {}
        if running.iter().all(|r| r.exit.is_some()) {
            break;
        }
        let hurry = tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                out.say(&format!("still running after {} s: killing", timeout.as_secs()));
                true
            }
            name = signals.recv() => {
                out.say(&format!("{name} again: killing"));
                true
            }
            () = tokio::time::sleep(Duration::from_millis(20)) => false,
        };
        if hurry {
            for r in running.iter_mut().filter(|r| r.exit.is_none()) {
                let _ = r.child.start_kill();
                r.exit = r.child.wait().await.ok();
            }
            break;
        }
    }
    for r in running.iter_mut() {
        for pump in r.pumps.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(1), pump).await;
        }
    }
    let summary: Vec<String> = running
        .iter()
        .map(|r| match r.exit {
            Some(status) => format!("{} {}", r.service.name(), describe(status)),
            None => format!("{} unknown", r.service.name()),
        })
        .collect();
    if !summary.is_empty() {
        out.say(&format!("stopped: {}", summary.join(", ")));
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "unknown status".to_owned(),
    }
}

/// The signals that stop the stack.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            hangup: signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "Ctrl-C (SIGINT)",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Copies `reader` line by line to our `stream`, each line after `tag`.
fn pump<R>(reader: R, tag: Arc<[u8]>, stream: Stream) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut reader = BufReader::new(reader);
        let mut line = Vec::with_capacity(256);
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => write_line(stream, &tag, &line),
            }
        }
    })
}

/// Writes one whole line at once, so lines of different children never mix.
fn write_line(stream: Stream, tag: &[u8], line: &[u8]) {
    let mut buffer = Vec::with_capacity(tag.len() + line.len() + 1);
    buffer.extend_from_slice(tag);
    buffer.extend_from_slice(line);
    if !buffer.ends_with(b"\n") {
        buffer.push(b'\n');
    }
    // A closed terminal or pipe is not worth dying over; the children keep
    // running until a signal stops them.
    let _ = match stream {
        Stream::Stdout => std::io::stdout().lock().write_all(&buffer),
        Stream::Stderr => std::io::stderr().lock().write_all(&buffer),
    };
}

/// How the launcher prints: coloured tags on a terminal, plain otherwise.
struct Output {
    color: bool,
}

const TAG_WIDTH: usize = "[devstack]".len();

impl Output {
    fn new() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            color: std::io::stdout().is_terminal() && !no_color,
        }
    }

    fn paint(&self, label: &str, ansi: &str) -> String {
        let padded = format!("{label:<TAG_WIDTH$}");
        if self.color {
            format!("\x1b[{ansi}m{padded}\x1b[0m ")
        } else {
            format!("{padded} ")
        }
    }

    fn tag(&self, service: Service) -> String {
        let ansi = match service {
            Service::User => "36",
            Service::Product => "32",
            Service::Payment => "33",
            Service::Order => "35",
            Service::Gateway => "34",
        };
        self.paint(&format!("[{}]", service.name()), ansi)
    }

    /// A line from the launcher itself.
    fn say(&self, message: &str) {
        let tag = self.paint("[devstack]", "1");
        write_line(Stream::Stdout, tag.as_bytes(), message.as_bytes());
    }

    /// The "ready" banner, untagged so it can be copied as is.
    fn banner(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }
}

/// The first line of the banner; the e2e suite waits for it.
pub const READY_LINE: &str = "Bazaar is ready";

/// What `make run` prints once everything is ready.
pub fn banner(stack: &Stack, elapsed: Duration) -> String {
    let grpc: Vec<String> = Service::GRPC
        .iter()
        .map(|&s| format!("{} {}", s.name(), stack.addr(s)))
        .collect();
    let mut text = format!(
        "\n{READY_LINE} ({:.2} s from start; {}).\n\n",
        elapsed.as_secs_f64(),
        stack.databases.describe()
    );
    match stack.rest_url() {
        Some(rest) => text.push_str(&format!(
            "  REST        {rest}\n  OpenAPI     {rest}/openapi.json\n  Docs        {rest}/docs\n"
        )),
        None => text.push_str("  REST        not running (no gateway in this stack; see above)\n"),
    }
    text.push_str(&format!(
        "  gRPC        {}\n  Admin       admin@bazaar.local / bazaar-admin-dev (development default)\n  \
         Test cards  4242424242424242 approves, 4000000000009995 is declined (insufficient funds)\n\n",
        grpc.join(", ")
    ));
    if let Some(rest) = stack.rest_url() {
        text.push_str(&format!(
            "Try it with curl (paste into bash or zsh):\n\n{}\n\n",
            journey::curl(&rest)
        ));
    }
    text.push_str(&format!(
        "The same over gRPC, from the repository root (`make tools` installs {}). The services \
         take only mTLS: grpcurl presents the development certificate of the `{}` identity \
         ({}), which the mesh policy lets call the public RPCs only:\n\n{}\n\n{}\n\n",
        journey::GRPCURL,
        ready::DEV_CLIENT,
        stack.mesh_dir().display(),
        journey::grpcurl(stack),
        journey::grpcurl_reflection(stack),
    ));
    text.push_str("Ctrl-C stops everything.\n\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_names_every_address_and_both_journeys() {
        let stack = Stack::local("data");
        let text = banner(&stack, Duration::from_millis(1_234));
        for expected in [
            "Bazaar is ready (1.23 s from start; SQLite files under data)",
            "REST        http://127.0.0.1:8080",
            "http://127.0.0.1:8080/openapi.json",
            "http://127.0.0.1:8080/docs",
            "user 127.0.0.1:50051, product 127.0.0.1:50052, payment 127.0.0.1:50054, order 127.0.0.1:50053",
            &journey::curl("http://127.0.0.1:8080"),
            &journey::grpcurl(&stack),
            &journey::grpcurl_reflection(&stack),
            "the `dev-client` identity (data/mesh), which the mesh policy lets call the public RPCs only",
        ] {
            assert!(text.contains(expected), "{expected}\nin\n{text}");
        }
    }

    #[test]
    fn without_the_gateway_the_banner_offers_grpc_only() {
        let mut stack = Stack::local("data");
        stack.gateway = false;
        let text = banner(&stack, Duration::from_secs(1));
        assert!(text.contains("REST        not running"));
        assert!(!text.contains("curl -s"));
        assert!(text.contains(&journey::grpcurl(&stack)));
    }

    #[test]
    fn options_choose_ports_and_postgres() {
        let options = Options::parse_from([
            "bazaar-devstack",
            "--postgres",
            "postgres://postgres@127.0.0.1:5432",
            "--order-port",
            "6003",
            "--no-gateway",
        ]);
        let stack = options.stack();
        assert_eq!(stack.ports.get(Service::Order), 6003);
        assert_eq!(stack.ports.get(Service::User), 50051);
        assert_eq!(
            stack.databases.url(Service::Product),
            "postgres://postgres@127.0.0.1:5432/bazaar_product"
        );
        assert!(!stack.gateway);
    }
}
