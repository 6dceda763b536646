//! `make run`'s launcher (`bazaar-devstack`), run as people run it: it
//! reaches ready, prints journeys that work, and leaves no process behind
//! whether it is stopped with Ctrl-C or killed outright.

use std::{
    io::{BufRead as _, BufReader, Read},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bazaar_devstack::{Service, Stack, journey, launcher::READY_LINE, process};
use tempfile::TempDir;

use crate::{
    binaries::binaries,
    shell::{available, bash, grpcurl_path},
    system::free_port_list,
};

/// A running launcher; dropping it kills it and anything it started.
struct Launcher {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    stack: Stack,
    _dir: TempDir,
}

impl Launcher {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut stack = Stack::local(dir.path().join("data"));
        let mut args = vec![
            "--bin-dir".to_owned(),
            binaries().dir.display().to_string(),
            "--data-dir".to_owned(),
            stack.data_dir.display().to_string(),
        ];
        let ports = free_port_list(2 * Service::ALL.len());
        let (ports, admin_ports) = ports.split_at(Service::ALL.len());
        for (service, (&port, &admin_port)) in
            Service::ALL.into_iter().zip(ports.iter().zip(admin_ports))
        {
            stack.ports.set(service, port);
            stack.admin_ports.set(service, admin_port);
            args.push(format!("--{}-port", service.name()));
            args.push(port.to_string());
            args.push(format!("--{}-admin-port", service.name()));
            args.push(admin_port.to_string());
        }
        let mut command = Command::new(binaries().dir.join("bazaar-devstack"));
        command
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        process::die_with_parent(&mut command);
        let mut child = command.spawn().expect("start bazaar-devstack");
        let output = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            collect(stdout, Arc::clone(&output));
        }
        if let Some(stderr) = child.stderr.take() {
            collect(stderr, Arc::clone(&output));
        }
        Self {
            child,
            output,
            stack,
            _dir: dir,
        }
    }

    fn output(&self) -> String {
        self.output
            .lock()
            .map(|lines| lines.join("\n"))
            .unwrap_or_default()
    }

    /// Waits (bounded) for a line starting with `prefix`.
    fn wait_for_line(&mut self, prefix: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self
                .output
                .lock()
                .is_ok_and(|lines| lines.iter().any(|l| l.starts_with(prefix)));
            if seen {
                return;
            }
            let exited = self.child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "no line `{prefix}` (launcher exit: {exited:?}):\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pids of the children, from the launcher's "started" lines.
    fn children(&self) -> Vec<u32> {
        self.output
            .lock()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| l.split("(pid ").nth(1)?.split(')').next()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the launcher did not exit:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in self.children() {
            if process::is_alive(pid) {
                process::kill(pid);
            }
        }
        if std::thread::panicking() {
            eprintln!("launcher output:\n{}", self.output());
        }
    }
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut lines) = into.lock() {
                lines.push(line);
            }
        }
    });
}

/// Waits (bounded) until none of `pids` is running.
fn all_gone(pids: &[u32], timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| process::is_alive(*p))
            .collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn expected_children(stack: &Stack) -> usize {
    stack.services().count()
}

#[test]
fn make_run_reaches_ready_its_journey_works_and_ctrl_c_stops_everything() {
    let mut launcher = Launcher::start();
    launcher.wait_for_line(READY_LINE, Duration::from_secs(60));
    let children = launcher.children();
    assert_eq!(children.len(), expected_children(&launcher.stack));
    let ready = launcher
        .output()
        .lines()
        .find(|l| l.starts_with(READY_LINE))
        .map(str::to_owned);
    eprintln!("{ready:?}");

    // The printed journey, run as printed.
    let output = launcher.output();
    let script = match launcher.stack.rest_url() {
        Some(rest) => {
            assert!(available("curl"), "the journey needs curl");
            journey::curl(&rest)
        }
        None => {
            grpcurl_path();
            journey::grpcurl(&launcher.stack)
        }
    };
    assert!(
        output.contains(&script),
        "the journey is printed:\n{output}"
    );
    let run = bash(&script);
    assert!(run.success, "{run:?}");
    assert!(run.stdout.contains("ORDER_STATUS_CONFIRMED"), "{run:?}");
    assert!(
        launcher.stack.data_dir.join("user.db").is_file(),
        "SQLite under the data directory"
    );

    // Ctrl-C: every child is stopped, cleanly, and the launcher exits 0.
    assert!(process::interrupt(launcher.child.id()));
    let status = launcher.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}:\n{}", launcher.output());
    assert_eq!(
        all_gone(&children, Duration::from_secs(1)),
        Vec::<u32>::new()
    );
    let stopped = launcher.output();
    let summary = stopped
        .lines()
        .find(|l| l.contains("stopped: "))
        .unwrap_or_default();
    for service in launcher.stack.services() {
        assert!(
            summary.contains(&format!("{} exit 0", service.name())),
            "{service:?} in {summary}"
        );
    }
}

#[test]
fn killing_the_launcher_takes_its_children_along() {
    let mut launcher = Launcher::start();
    launcher.wait_for_line(READY_LINE, Duration::from_secs(60));
    let children = launcher.children();
    assert_eq!(children.len(), expected_children(&launcher.stack));
    // SIGKILL: the launcher cannot clean up; the kernel must.
    launcher.child.kill().expect("kill the launcher");
    launcher.wait_exit(Duration::from_secs(5));
    assert_eq!(
        all_gone(&children, Duration::from_secs(15)),
        Vec::<u32>::new(),
        "orphans left behind"
    );
}

#[test]
fn a_taken_port_is_reported_before_anything_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(binaries().dir.join("bazaar-devstack"));
    command
        .args(["--bin-dir", &binaries().dir.display().to_string()])
        .args(["--data-dir", &dir.path().display().to_string()])
        .current_dir(dir.path());
    let ports = free_port_list(2 * Service::ALL.len());
    let (free_ports, admin_ports) = ports.split_at(Service::ALL.len());
    for (service, (&free, &admin_port)) in Service::ALL
        .into_iter()
        .zip(free_ports.iter().zip(admin_ports))
    {
        let port = if service == Service::Order {
            port
        } else {
            free
        };
        command.args([format!("--{}-port", service.name()), port.to_string()]);
        command.args([
            format!("--{}-admin-port", service.name()),
            admin_port.to_string(),
        ]);
    }
    let output = command.output().expect("run bazaar-devstack");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port} (order) is not free")),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("started"),
        "nothing started"
    );
    drop(taken);
}
