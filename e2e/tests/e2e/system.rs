//! The whole system under test: every binary started as its own process,
//! on free ports, with fresh databases and a fresh development mesh CA,
//! wired by the same [`bazaar_devstack::Stack`] as `make run`. Its gRPC
//! clients call over mTLS as the `dev-client` workload (the edge RPCs), or
//! as any workload of the mesh. Dropping it stops them all.
//!
//! Order events go to the machine's NATS (`TEST_NATS_URL`, default
//! 127.0.0.1:4222) in a namespace of the system's own (stream, subjects,
//! consumer, dead letters), so systems of tests running in parallel never
//! see each other's events; its streams are deleted with it. Under `CI`
//! NATS must answer; elsewhere a system without it runs with events off.

use std::{
    path::PathBuf,
    process::{Child, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use bazaar_devstack::{
    Databases, Service, Stack, process,
    ready::{self, DEV_CLIENT},
};
use bazaar_mesh::MeshChannel;
use bazaar_proto::{
    notification::v1::notification_service_client::NotificationServiceClient,
    order::v1::order_service_client::OrderServiceClient,
    payment::v1::payment_service_client::PaymentServiceClient,
    product::v1::product_service_client::ProductServiceClient,
    user::v1::user_service_client::UserServiceClient,
};
use bazaar_runtime::{db::Backend, testing::TestDatabase};
use tempfile::TempDir;

use crate::binaries::binaries;

/// How long the whole system may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long processes may take to stop after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// The same when a test failed: the runtime is not driving our connections
/// then, so servers wait for them; do not wait long.
const DROP_TIMEOUT: Duration = Duration::from_secs(2);
/// Fresh ports are tried this many times when one was taken meanwhile.
const ATTEMPTS: usize = 3;

/// A running system. Fields drop in order: processes before databases.
pub struct System {
    pub stack: Stack,
    processes: Vec<Process>,
    dir: TempDir,
    _databases: Vec<TestDatabase>,
    /// The system's own order events namespace; `None`: NATS did not
    /// answer (outside CI), events are off.
    pub events: Option<Events>,
    /// Extra environment for every binary (e.g. telemetry settings).
    env: Vec<(String, String)>,
}

struct Process {
    service: Service,
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl System {
    /// Every service on SQLite, with the gateway when it is built.
    pub async fn start() -> Self {
        Self::start_on(Backend::Sqlite).await
    }

    /// Every service on `backend`, with the gateway when it is built.
    pub async fn start_on(backend: Backend) -> Self {
        Self::start_with_env(backend, &[]).await
    }

    /// As [`Self::start_on`], with `env` set for every binary.
    pub async fn start_with_env(backend: Backend, env: &[(&str, &str)]) -> Self {
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            match Self::try_start(backend, env).await {
                Ok(system) => return system,
                // A port picked free was taken before the service bound it:
                // start over on new ports.
                Err(Failure::PortTaken(log)) => failures.push(log),
                Err(Failure::Other(message)) => panic!("{message}"),
            }
        }
        panic!("could not find free ports in {ATTEMPTS} attempts:\n{failures:#?}");
    }

    async fn try_start(backend: Backend, env: &[(&str, &str)]) -> Result<Self, Failure> {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        std::fs::create_dir_all(dir.path().join("logs")).expect("log dir");
        let mut databases = Vec::new();
        let urls = match backend {
            Backend::Sqlite => Databases::Sqlite(data_dir.clone()),
            Backend::Postgres => {
                let mut urls = Vec::new();
                for service in Service::GRPC {
                    // Created by the service at start-up, dropped with us.
                    let database = TestDatabase::create(Backend::Postgres).await;
                    urls.push((service, database.config.url.clone()));
                    databases.push(database);
                }
                Databases::Explicit(urls)
            }
        };
        let mut stack = Stack::local(&data_dir);
        stack.databases = urls;
        // A gRPC (or REST) port and an admin port (/metrics) per binary.
        let ports = free_port_list(2 * Service::ALL.len());
        let (ports, admin_ports) = ports.split_at(Service::ALL.len());
        for (service, (&port, &admin_port)) in
            Service::ALL.into_iter().zip(ports.iter().zip(admin_ports))
        {
            stack.ports.set(service, port);
            stack.admin_ports.set(service, admin_port);
        }
        // As `make run`: a development CA and a certificate per workload.
        stack
            .ensure_mesh_certs()
            .expect("development mesh certificates");
        let mut system = Self {
            stack,
            processes: Vec::new(),
            dir,
            _databases: databases,
            events: Events::isolated().await,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        // As `make run`: the user service first (the others fetch its keys
        // at start-up), then the rest.
        let phases: [&[Service]; 2] = [
            &[Service::User],
            &[
                Service::Product,
                Service::Payment,
                Service::Order,
                Service::Notification,
                Service::Gateway,
            ],
        ];
        let deadline = Instant::now() + READY_TIMEOUT;
        for phase in phases {
            let starting: Vec<Service> = system
                .stack
                .services()
                .filter(|s| phase.contains(s))
                .collect();
            for &service in &starting {
                system.spawn(service);
            }
            system.wait_ready(&starting, deadline).await?;
        }
        Ok(system)
    }

    fn spawn(&mut self, service: Service) {
        let log = self
            .dir
            .path()
            .join("logs")
            .join(format!("{}.log", service.name()));
        // Appended to: a restarted service's log follows its first life's.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut command = self.stack.command(service, &binaries().dir);
        match &self.events {
            Some(events) => {
                command.envs(events.env(service));
            }
            // Never the default stream of someone's `make run` through an
            // inherited BAZAAR__EVENTS__NATS_URL.
            None => {
                command.env_remove(NATS_URL_ENV);
            }
        }
        command
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(file.try_clone().expect("log file")))
            .stderr(Stdio::from(file));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", service.binary()));
        self.processes.push(Process {
            service,
            child,
            log,
            status: None,
        });
    }

    async fn wait_ready(&mut self, starting: &[Service], deadline: Instant) -> Result<(), Failure> {
        let mut pending = starting.to_vec();
        loop {
            for process in &mut self.processes {
                if let Ok(Some(status)) = process.child.try_wait() {
                    let log = std::fs::read_to_string(&process.log).unwrap_or_default();
                    let message = format!(
                        "{} exited during start-up ({status}):\n{log}",
                        process.service.name()
                    );
                    return Err(if log.contains("cannot listen on") {
                        Failure::PortTaken(message)
                    } else {
                        Failure::Other(message)
                    });
                }
            }
            let mut still = Vec::new();
            for service in pending {
                if !ready::check(&self.stack, service).await {
                    still.push(service);
                }
            }
            pending = still;
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Failure::Other(format!(
                    "not ready within {READY_TIMEOUT:?}: {pending:?}\n{}",
                    self.logs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The gateway's base URL, e.g. `http://127.0.0.1:41234`.
    pub fn rest_url(&self) -> String {
        self.stack
            .rest_url()
            .expect("the gateway is part of this system")
    }

    /// A channel to `service` over mTLS as the mesh workload `caller`
    /// (every workload's certificate is in the stack's mesh directory),
    /// through the policy's client stack.
    pub fn channel_as(&self, caller: &str, service: Service) -> MeshChannel {
        ready::mesh_channel(
            &self.stack.mesh_dir(),
            caller,
            service.name(),
            self.stack.addr(service),
        )
        .unwrap_or_else(|e| panic!("a channel to {} as {caller}: {e:#}", service.name()))
    }

    /// A channel to `service` as `dev-client`, which may call the edge RPCs.
    pub fn channel(&self, service: Service) -> MeshChannel {
        self.channel_as(DEV_CLIENT, service)
    }

    pub async fn users(&self) -> UserServiceClient<MeshChannel> {
        UserServiceClient::new(self.channel(Service::User))
    }

    pub async fn products(&self) -> ProductServiceClient<MeshChannel> {
        ProductServiceClient::new(self.channel(Service::Product))
    }

    pub async fn orders(&self) -> OrderServiceClient<MeshChannel> {
        OrderServiceClient::new(self.channel(Service::Order))
    }

    pub async fn payments(&self) -> PaymentServiceClient<MeshChannel> {
        PaymentServiceClient::new(self.channel(Service::Payment))
    }

    pub async fn notifications(&self) -> NotificationServiceClient<MeshChannel> {
        NotificationServiceClient::new(self.channel(Service::Notification))
    }

    /// Stops every process with SIGTERM, as `make run` and Kubernetes do,
    /// and checks each drained and exited cleanly in time. Async, so this
    /// test's client connections keep running and close when the servers
    /// say goodbye, instead of holding them for their whole grace period.
    /// Kills `service` outright (SIGKILL): a crash, nothing drained.
    pub fn kill(&mut self, service: Service) {
        let Some(at) = self
            .processes
            .iter()
            .position(|p| p.service == service && p.status.is_none())
        else {
            panic!("{} is not running", service.name());
        };
        let mut process = self.processes.remove(at);
        let _ = process.child.kill();
        let _ = process.child.wait();
    }

    /// Starts `service` again on its ports and database, and waits until it
    /// is ready.
    pub async fn restart(&mut self, service: Service) {
        self.spawn(service);
        let deadline = Instant::now() + READY_TIMEOUT;
        match self.wait_ready(&[service], deadline).await {
            Ok(()) => {}
            Err(Failure::PortTaken(log) | Failure::Other(log)) => {
                panic!("{} did not come back:\n{log}", service.name())
            }
        }
    }

    /// `service`'s database URL (`sqlite://…` or `postgres://…`).
    pub fn database_url(&self, service: Service) -> String {
        self.stack.databases.url(service)
    }

    /// Where `service` serves `/metrics`.
    pub fn admin_addr(&self, service: Service) -> std::net::SocketAddr {
        self.stack.admin_addr(service)
    }

    pub async fn stop_cleanly(mut self) {
        self.stop_in_place().await;
    }

    /// As [`Self::stop_cleanly`]; then `service`'s whole log, every line
    /// written (it is deleted with the system).
    pub async fn stop_cleanly_with_log(mut self, service: Service) -> String {
        self.stop_in_place().await;
        let path = self
            .dir
            .path()
            .join("logs")
            .join(format!("{}.log", service.name()));
        std::fs::read_to_string(&path).unwrap_or_default()
    }

    async fn stop_in_place(&mut self) {
        self.terminate_all();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !self.reap() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stopped = self.kill_the_rest();
        for (service, status) in stopped {
            assert!(
                status.is_some_and(|s| s.success()),
                "{} did not stop cleanly on SIGTERM within {STOP_TIMEOUT:?}: {status:?}\n{}",
                service.name(),
                self.logs()
            );
        }
    }

    /// SIGTERM to all, last started first.
    fn terminate_all(&self) {
        for process in self.processes.iter().rev() {
            if process.status.is_none() {
                process::terminate(process.child.id());
            }
        }
    }

    /// Collects exit statuses; true when every process has exited.
    fn reap(&mut self) -> bool {
        for process in &mut self.processes {
            if process.status.is_none() {
                process.status = process.child.try_wait().ok().flatten();
            }
        }
        self.processes.iter().all(|p| p.status.is_some())
    }

    /// SIGKILL to whatever still runs; every process's status, `None` for
    /// those that had to be killed.
    fn kill_the_rest(&mut self) -> Vec<(Service, Option<ExitStatus>)> {
        self.processes
            .drain(..)
            .map(|mut process| {
                if process.status.is_none() {
                    let _ = process.child.kill();
                    let _ = process.child.wait();
                }
                (process.service, process.status)
            })
            .collect()
    }

    /// Every process's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for service in self.stack.services() {
            let path = self
                .dir
                .path()
                .join("logs")
                .join(format!("{}.log", service.name()));
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            text.push_str(&format!(
                "--- {} (last {} lines)\n",
                service.name(),
                tail.len()
            ));
            for line in tail {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

impl Drop for System {
    /// The way out of a failed test: a short grace, then SIGKILL, then the
    /// logs that tell what happened.
    fn drop(&mut self) {
        if self.processes.is_empty() {
            return;
        }
        self.terminate_all();
        let deadline = Instant::now() + DROP_TIMEOUT;
        while !self.reap() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill_the_rest();
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

enum Failure {
    PortTaken(String),
    Other(String),
}

const NATS_URL_ENV: &str = "BAZAAR__EVENTS__NATS_URL";
/// How long NATS may take to answer the check before a system starts.
const NATS_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// The machine's NATS, as the order service's own tests find it.
pub fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// One system's order events on the machine's NATS: a stream, subjects, a
/// durable consumer and dead letters no other system uses, set alike for
/// the order service (which publishes) and the notification service (which
/// consumes). Dropping it deletes its streams.
#[derive(Debug)]
pub struct Events {
    pub nats_url: String,
    pub stream: String,
    pub subject_prefix: String,
    pub consumer: String,
    pub dead_letter_subject: String,
    pub dead_letter_stream: String,
}

impl Events {
    /// A fresh namespace if NATS answers; under CI it must, so a missing
    /// NATS fails the run instead of silently testing without events.
    async fn isolated() -> Option<Self> {
        let nats_url = nats_url();
        let answer =
            tokio::time::timeout(NATS_CONNECT_TIMEOUT, async_nats::connect(nats_url.as_str()))
                .await;
        let problem = match answer {
            Ok(Ok(_client)) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some(format!("no answer within {NATS_CONNECT_TIMEOUT:?}")),
        };
        if let Some(problem) = problem {
            assert!(
                !ci(),
                "CI is set but NATS does not answer at {nats_url} ({problem}): order events and \
                 notifications cannot be tested. Start it with `start-stop-daemon --start --oknodo \
                 --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js \
                 -sd /var/lib/nats-server`"
            );
            eprintln!(
                "NATS does not answer at {nats_url} ({problem}): events are off (outside CI)"
            );
            return None;
        }
        let id = uuid::Uuid::now_v7().simple().to_string();
        Some(Self {
            nats_url,
            stream: format!("E2E_{id}"),
            subject_prefix: format!("e2e.{id}.bazaar.order.v1"),
            consumer: format!("notification-{id}"),
            dead_letter_subject: format!("e2e.{id}.bazaar.notification.v1.dead_letter"),
            dead_letter_stream: format!("E2E_{id}_DEAD_LETTER"),
        })
    }

    /// The `BAZAAR__EVENTS__…` settings of `service`: the shared keys for
    /// order and notification, the consumer's own for notification.
    fn env(&self, service: Service) -> Vec<(String, String)> {
        let shared = [
            (NATS_URL_ENV, &self.nats_url),
            ("BAZAAR__EVENTS__STREAM", &self.stream),
            ("BAZAAR__EVENTS__SUBJECT_PREFIX", &self.subject_prefix),
        ];
        let consumer = [
            ("BAZAAR__EVENTS__CONSUMER", &self.consumer),
            (
                "BAZAAR__EVENTS__DEAD_LETTER_SUBJECT",
                &self.dead_letter_subject,
            ),
            (
                "BAZAAR__EVENTS__DEAD_LETTER_STREAM",
                &self.dead_letter_stream,
            ),
        ];
        let keys: Vec<(&str, &String)> = match service {
            Service::Order => shared.to_vec(),
            Service::Notification => shared.into_iter().chain(consumer).collect(),
            _ => Vec::new(),
        };
        keys.into_iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect()
    }
}

impl Drop for Events {
    /// Deletes the system's streams (the consumer goes with its stream).
    /// Drop cannot await and may run on the test's runtime thread, so the
    /// deletion runs on a thread and runtime of its own, bounded in time.
    fn drop(&mut self) {
        let url = self.nats_url.clone();
        let streams = [self.stream.clone(), self.dead_letter_stream.clone()];
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let delete = async {
                    let Ok(client) = async_nats::connect(url.as_str()).await else {
                        return;
                    };
                    let jetstream = async_nats::jetstream::new(client);
                    for stream in &streams {
                        // A stream never created (nothing published) is fine.
                        let _ = jetstream.delete_stream(stream).await;
                    }
                };
                let _ = tokio::time::timeout(STOP_TIMEOUT, delete).await;
            });
        });
        let _ = cleanup.join();
    }
}

/// `count` distinct free loopback ports (two per binary: its own and its
/// admin port). They are released before the binaries bind them; a port
/// taken meanwhile makes [`System::start_on`] retry.
pub fn free_port_list(count: usize) -> Vec<u16> {
    // Held together so they are distinct.
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}
