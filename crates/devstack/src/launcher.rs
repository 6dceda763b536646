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
    journey, observe, process, ready,
    stack::{ADMIN_PORT_OFFSET, Databases, Service, Stack},
};

/// Starts Bazaar's services and REST gateway, prefixes their logs, and stops
/// them all on Ctrl-C.
///
/// Every `BAZAAR__SECTION__KEY` variable in the environment reaches every
/// binary (e.g. BAZAAR__TELEMETRY__LOG_FORMAT=json), except those the
/// launcher sets per service: BAZAAR__SERVER__LISTEN,
/// BAZAAR__SERVER__ADMIN_LISTEN, BAZAAR__DATABASE__URL,
/// BAZAAR__AUTH__JWKS_URL, BAZAAR__PRODUCT__URL, BAZAAR__PAYMENT__URL,
/// BAZAAR__TOKENS__SIGNING_KEY_FILE and BAZAAR__MESH__CERTS_DIR. So
/// BAZAAR__EVENTS__NATS_URL (or __STREAM, __SUBJECT_PREFIX) reaches the
/// order service, which publishes order events, and the notification
/// service, which consumes them, alike.
///
/// The services serve only over mTLS: before starting anything the launcher
/// makes sure a development CA and a certificate per mesh workload exist
/// under <data-dir>/mesh.
///
/// Every binary serves Prometheus metrics on its admin port (plain HTTP
/// `/metrics`), by default its port + 1000; `--observe` also runs a local
/// Prometheus that scrapes them all.
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
    /// Port of the notification service's gRPC server.
    #[arg(long, value_name = "PORT", default_value_t = Service::Notification.default_port())]
    pub notification_port: u16,
    /// Port of the REST gateway.
    #[arg(long, value_name = "PORT", default_value_t = Service::Gateway.default_port())]
    pub gateway_port: u16,
    /// Admin port (/metrics, /healthz) of the user service [default: its
    /// port + 1000].
    #[arg(long, value_name = "PORT")]
    pub user_admin_port: Option<u16>,
    /// Admin port of the product service [default: its port + 1000].
    #[arg(long, value_name = "PORT")]
    pub product_admin_port: Option<u16>,
    /// Admin port of the payment service [default: its port + 1000].
    #[arg(long, value_name = "PORT")]
    pub payment_admin_port: Option<u16>,
    /// Admin port of the order service [default: its port + 1000].
    #[arg(long, value_name = "PORT")]
    pub order_admin_port: Option<u16>,
    /// Admin port of the notification service [default: its port + 1000].
    #[arg(long, value_name = "PORT")]
    pub notification_admin_port: Option<u16>,
    /// Admin port of the REST gateway [default: its port + 1000].
    #[arg(long, value_name = "PORT")]
    pub gateway_admin_port: Option<u16>,
    /// Write a Prometheus scrape configuration for the stack
    /// (<data-dir>/prometheus/prometheus.yml) and, when `prometheus` is on
    /// PATH, run it on http://127.0.0.1:9090 until the stack stops.
    #[arg(long)]
    pub observe: bool,
    /// Seconds every binary has to become ready.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub ready_timeout: u64,
    /// Seconds the binaries have to stop after SIGTERM before SIGKILL.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub stop_timeout: u64,
}

impl Options {
    fn stack(&self) -> anyhow::Result<Stack> {
        let mut stack = Stack::local(&self.data_dir);
        for (service, port, admin_port) in [
            (Service::User, self.user_port, self.user_admin_port),
            (Service::Product, self.product_port, self.product_admin_port),
            (Service::Payment, self.payment_port, self.payment_admin_port),
            (Service::Order, self.order_port, self.order_admin_port),
            (
                Service::Notification,
                self.notification_port,
                self.notification_admin_port,
            ),
            (Service::Gateway, self.gateway_port, self.gateway_admin_port),
        ] {
            stack.ports.set(service, port);
            let admin_port = match admin_port {
                Some(admin_port) => admin_port,
                None => port.checked_add(ADMIN_PORT_OFFSET).with_context(|| {
                    format!(
                        "port {port} of {} leaves no room for its admin port \
                         (+{ADMIN_PORT_OFFSET}): pass --{}-admin-port",
                        service.name(),
                        service.name()
                    )
                })?,
            };
            stack.admin_ports.set(service, admin_port);
        }
        if let Some(url) = &self.postgres {
            stack.databases = Databases::postgres(url);
        }
        stack.gateway = !self.no_gateway;
        Ok(stack)
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
        Service::Notification,
        Service::Gateway,
    ],
];

/// Runs the stack until a signal or a child's death; the process exit code.
pub async fn run(options: Options) -> anyhow::Result<u8> {
    let started = Instant::now();
    let out = Output::new();
    let mut stack = options.stack()?;
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
    if options.observe {
        let prometheus = tokio::select! {
            prometheus = start_prometheus(&stack, &out) => prometheus,
            name = signals.recv() => {
                out.say(&format!("{name} during start-up; stopping"));
                stop_all(&mut running, stop_timeout, &mut signals, &out).await;
                return Ok(1);
            }
        };
        running.extend(prometheus);
    }
    out.banner(&banner(&stack, started.elapsed()));

    let code = loop {
        tokio::select! {
            name = signals.recv() => {
                out.say(&format!("{name}: stopping every service"));
                break 0;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if let Some((name, status)) = first_exited(&mut running) {
                    // Prometheus watches the stack; losing it is no reason
                    // to stop the services.
                    if name == PROMETHEUS {
                        out.say(&format!(
                            "prometheus exited ({}); its log is above. The services keep running",
                            describe(status)
                        ));
                        continue;
                    }
                    out.say(&format!(
                        "{name} exited unexpectedly ({}); stopping the others",
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

/// The child name (and log tag) of `--observe`'s Prometheus.
const PROMETHEUS: &str = "prometheus";
/// How often `--observe`'s Prometheus scrapes every binary.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(5);
/// How long Prometheus may take to answer `/-/ready`.
const PROMETHEUS_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// `--observe`: writes the stack's scrape configuration and, when
/// Prometheus is installed and its port free, runs it. Nothing here stops
/// the stack: without Prometheus the services are just as usable.
async fn start_prometheus(stack: &Stack, out: &Output) -> Option<Running> {
    let dir = stack.data_dir.join("prometheus");
    let config = dir.join("prometheus.yml");
    // `make run` starts in the repository root (scripts/run.sh cds there);
    // Prometheus resolves relative rule paths against the config's
    // directory, hence an absolute one.
    let rules: Vec<PathBuf> = std::env::current_dir()
        .ok()
        .map(|root| root.join(observe::ALERT_RULES))
        .filter(|path| path.is_file())
        .into_iter()
        .collect();
    let text = observe::scrape_config(stack, SCRAPE_INTERVAL, &rules);
    if let Err(error) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&config, text)) {
        out.say(&format!(
            "cannot write {}: {error}; not starting Prometheus",
            config.display()
        ));
        return None;
    }
    let alerting = match rules.first() {
        Some(path) => format!("alerting rules {}", path.display()),
        None => format!("no alerting rules: {} not found", observe::ALERT_RULES),
    };
    out.say(&format!(
        "wrote the Prometheus scrape configuration {} (every {} s; {alerting})",
        config.display(),
        SCRAPE_INTERVAL.as_secs()
    ));
    let Some(binary) = observe::find_on_path(PROMETHEUS) else {
        out.say(&format!(
            "prometheus is not installed, so only the configuration is written: \
             `scripts/tools.sh prometheus` or `apt-get install prometheus` installs it \
             (then `prometheus --config.file {}`)",
            config.display()
        ));
        return None;
    };
    let listen = observe::PROMETHEUS_LISTEN;
    if let Err(error) = std::net::TcpListener::bind(listen) {
        out.say(&format!(
            "{listen} is not free ({error}): another Prometheus? Not starting one"
        ));
        return None;
    }
    let mut command = observe::prometheus_command(&binary, &config, &dir.join("tsdb"), listen);
    // Its start-up chatter would drown the services' logs.
    command.arg("--log.level=warn");
    let mut running = match spawn_tagged(command, PROMETHEUS, out.paint("[prometheus]", "90")) {
        Ok(running) => running,
        Err(error) => {
            out.say(&format!("cannot run {}: {error}", binary.display()));
            return None;
        }
    };
    out.say(&format!(
        "started prometheus (pid {}) on {listen}",
        running.child.id().unwrap_or_default()
    ));
    let deadline = Instant::now() + PROMETHEUS_READY_TIMEOUT;
    loop {
        if ready::http_ok(listen, "/-/ready").await {
            out.say(&format!("Prometheus: http://{listen}"));
            break;
        }
        if let Some((_, status)) = first_exited(std::slice::from_mut(&mut running)) {
            out.say(&format!(
                "prometheus exited during start-up ({}); its log is above",
                describe(status)
            ));
            break;
        }
        if Instant::now() >= deadline {
            out.say(&format!(
                "prometheus is not ready within {} s; leaving it running",
                PROMETHEUS_READY_TIMEOUT.as_secs()
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Some(running)
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
        for (addr, what, flag) in [
            (stack.addr(service), "", "port"),
            (stack.admin_addr(service), " admin", "admin-port"),
        ] {
            if let Err(error) = std::net::TcpListener::bind(addr) {
                bail!(
                    "{addr} ({}{what}) is not free: {error}. Is another `make run` running? \
                     Stop it, or pick other ports (--{}-{flag}).",
                    service.name(),
                    service.name()
                );
            }
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
    /// The binary's short name (a [`Service::name`], or [`PROMETHEUS`]).
    name: &'static str,
    child: Child,
    pumps: Vec<JoinHandle<()>>,
    exit: Option<ExitStatus>,
}

fn spawn(stack: &Stack, service: Service, bin_dir: &Path, out: &Output) -> anyhow::Result<Running> {
    let mut command = stack.command(service, bin_dir);
    if !out.color {
        // Plain text when our own output is not a terminal.
        command.env("NO_COLOR", "1");
    }
    let running = spawn_tagged(command, service.name(), out.tag(service))
        .with_context(|| format!("cannot run {}", bin_dir.join(service.binary()).display()))?;
    out.say(&format!(
        "started {} (pid {}) on {} (metrics {})",
        service.name(),
        running.child.id().unwrap_or_default(),
        stack.addr(service),
        stack.metrics_url(service)
    ));
    Ok(running)
}

/// Starts `command` as the child `name`, its output copied line by line
/// after `tag`; killed if its handle is dropped.
fn spawn_tagged(
    mut command: std::process::Command,
    name: &'static str,
    tag: String,
) -> std::io::Result<Running> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let mut child = command.spawn()?;
    let tag: Arc<[u8]> = tag.into_bytes().into();
    let mut pumps = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        pumps.push(pump(stdout, Arc::clone(&tag), Stream::Stdout));
    }
    if let Some(stderr) = child.stderr.take() {
        pumps.push(pump(stderr, tag, Stream::Stderr));
    }
    Ok(Running {
        name,
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
        if let Some((name, status)) = first_exited(running) {
            return Err(format!(
                "{name} exited during start-up ({}); its log is above",
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
fn first_exited(running: &mut [Running]) -> Option<(&'static str, ExitStatus)> {
    running.iter_mut().find_map(|r| {
        if r.exit.is_some() {
            return None;
        }
        let status = r.child.try_wait().ok().flatten()?;
        r.exit = Some(status);
        Some((r.name, status))
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
            Some(status) => format!("{} {}", r.name, describe(status)),
            None => format!("{} unknown", r.name),
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

/// The longest tag, so every service's log lines start in one column.
const TAG_WIDTH: usize = "[notification]".len();

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
            Service::Notification => "31",
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
        // The shop first: what a person opens.
        Some(rest) => text.push_str(&format!(
            "  Storefront  {rest}/\n  REST        {rest}\n  OpenAPI     {rest}/openapi.json\n  Docs        {rest}/docs\n"
        )),
        None => text.push_str("  REST        not running (no gateway in this stack; see above)\n"),
    }
    for (index, service) in stack.services().enumerate() {
        let label = if index == 0 { "Metrics" } else { "" };
        text.push_str(&format!(
            "  {label:<12}{:<14}{}\n",
            service.name(),
            stack.metrics_url(service)
        ));
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
            "(1.23 s from start; SQLite files under data).\n\n  Storefront  http://127.0.0.1:8080/\n",
            "REST        http://127.0.0.1:8080",
            "http://127.0.0.1:8080/openapi.json",
            "http://127.0.0.1:8080/docs",
            "user 127.0.0.1:50051, product 127.0.0.1:50052, payment 127.0.0.1:50054, order 127.0.0.1:50053, notification 127.0.0.1:50055",
            &journey::curl("http://127.0.0.1:8080"),
            &journey::grpcurl(&stack),
            &journey::grpcurl_reflection(&stack),
            "the `dev-client` identity (data/mesh), which the mesh policy lets call the public RPCs only",
            "  Metrics     user          http://127.0.0.1:51051/metrics\n",
            "              order         http://127.0.0.1:51053/metrics\n",
            "              notification  http://127.0.0.1:51055/metrics\n",
            "              gateway       http://127.0.0.1:9080/metrics\n",
        ] {
            assert!(text.contains(expected), "{expected}\nin\n{text}");
        }
    }

    #[test]
    fn the_readme_shows_the_journeys_make_run_prints_in_its_order() {
        // The README's journeys must be the ones that run (the e2e suite runs
        // this text), for the addresses a plain `make run` uses, and in the
        // order the e2e suite runs them one after the other.
        let readme = include_str!("../../../README.md");
        let stack = Options::parse_from(["bazaar-devstack"])
            .stack()
            .expect("the default stack");
        let rest = stack.rest_url().expect("make run starts the gateway");
        let mut rest_of_readme = readme;
        for (what, journey) in [
            ("curl", journey::curl(&rest)),
            ("grpcurl", journey::grpcurl(&stack)),
            ("reflection", journey::grpcurl_reflection(&stack)),
        ] {
            let block = format!("```sh\n{journey}\n```\n");
            let Some(at) = rest_of_readme.find(&block) else {
                panic!(
                    "README.md lacks the {what} journey (after the previous one) as printed by make run:\n{block}"
                );
            };
            rest_of_readme = &rest_of_readme[at + block.len()..];
        }
    }

    #[test]
    fn without_the_gateway_the_banner_offers_grpc_only() {
        let mut stack = Stack::local("data");
        stack.gateway = false;
        let text = banner(&stack, Duration::from_secs(1));
        assert!(text.contains("REST        not running"));
        assert!(!text.contains("Storefront"));
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
        let stack = options.stack().expect("a stack");
        assert_eq!(stack.ports.get(Service::Order), 6003);
        // Admin ports follow the chosen ports unless given.
        assert_eq!(stack.admin_ports.get(Service::Order), 7003);
        assert_eq!(stack.admin_ports.get(Service::User), 51051);
        assert_eq!(stack.ports.get(Service::User), 50051);
        assert_eq!(
            stack.databases.url(Service::Product),
            "postgres://postgres@127.0.0.1:5432/bazaar_product"
        );
        assert!(!stack.gateway);
    }

    #[test]
    fn admin_ports_can_be_chosen_and_must_fit() {
        let options = Options::parse_from([
            "bazaar-devstack",
            "--gateway-admin-port",
            "19080",
            "--observe",
        ]);
        assert!(options.observe);
        let stack = options.stack().expect("a stack");
        assert_eq!(stack.admin_ports.get(Service::Gateway), 19080);
        assert_eq!(stack.admin_ports.get(Service::Payment), 51054);
        assert_eq!(stack.admin_ports.get(Service::Notification), 51055);

        let options = Options::parse_from(["bazaar-devstack", "--user-port", "65000"]);
        let error = options.stack().expect_err("65000 + 1000 is no port");
        assert!(
            error.to_string().contains("pass --user-admin-port"),
            "{error}"
        );
    }
}
