//! The whole system under test: every binary started as its own process,
//! on free ports, with fresh databases and a fresh development mesh CA,
//! wired by the same [`bazaar_devstack::Stack`] as `make run`. Its gRPC
//! clients call over mTLS as the `dev-client` workload (the edge RPCs), or
//! as any workload of the mesh. Dropping it stops them all.

use std::{
    fs::File,
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
        let file = File::create(&log).expect("log file");
        let mut command = self.stack.command(service, &binaries().dir);
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

    /// Stops every process with SIGTERM, as `make run` and Kubernetes do,
    /// and checks each drained and exited cleanly in time. Async, so this
    /// test's client connections keep running and close when the servers
    /// say goodbye, instead of holding them for their whole grace period.
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
