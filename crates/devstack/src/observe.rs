//! Prometheus for the stack: a scrape configuration naming every binary's
//! `/metrics`, and the command that runs a local Prometheus on it. Used by
//! `make run --observe` and by the end-to-end suite, so both scrape the
//! system the same way.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use crate::stack::Stack;

/// Where `make run --observe` serves Prometheus.
pub const PROMETHEUS_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9090);

/// The alerting rules of the repository, relative to its root.
pub const ALERT_RULES: &str = "observability/prometheus/alerts.yml";

/// A Prometheus configuration that scrapes every binary of `stack` every
/// `interval`: one job per binary, named after it and labelled
/// `service=<name>`, and `rule_files` loaded as alerting rules (paths are
/// written as given; Prometheus resolves relative ones against the config
/// file's directory, so pass absolute ones).
pub fn scrape_config(stack: &Stack, interval: Duration, rule_files: &[PathBuf]) -> String {
    let interval = duration(interval);
    let mut text = format!(
        "# Written by bazaar-devstack: every Bazaar binary's /metrics.\n\
         global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
    );
    if !rule_files.is_empty() {
        text.push_str("rule_files:\n");
        for file in rule_files {
            text.push_str(&format!("  - {}\n", quoted(&file.display().to_string())));
        }
    }
    text.push_str("scrape_configs:\n");
    for service in stack.services() {
        text.push_str(&format!(
            "  - job_name: {name}\n    metrics_path: /metrics\n    static_configs:\n      \
             - targets: [{target}]\n        labels:\n          service: {name}\n",
            name = service.name(),
            target = quoted(&stack.admin_addr(service).to_string()),
        ));
    }
    text
}

/// A Prometheus duration: whole seconds as `5s`, anything else in `ms`.
fn duration(interval: Duration) -> String {
    if interval.subsec_millis() == 0 && interval.as_secs() > 0 {
        format!("{}s", interval.as_secs())
    } else {
        format!("{}ms", interval.as_millis().max(1))
    }
}

/// A YAML double-quoted scalar (only `\` and `"` need escaping in paths
/// and addresses).
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The first executable called `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A command that runs the Prometheus at `binary` on `config`, keeping its
/// data in `tsdb` and serving on `listen`; stdin closed and bound to die
/// with the calling thread, like the stack's own binaries.
pub fn prometheus_command(
    binary: &Path,
    config: &Path,
    tsdb: &Path,
    listen: SocketAddr,
) -> Command {
    let mut command = Command::new(binary);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg(format!("--web.listen-address={listen}"))
        .stdin(Stdio::null());
    crate::process::die_with_parent(&mut command);
    command
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Service;

    #[test]
    fn every_binary_is_one_job_on_its_admin_port() {
        let stack = Stack::local("data");
        let rules = [PathBuf::from("/repo/observability/prometheus/alerts.yml")];
        let text = scrape_config(&stack, Duration::from_secs(5), &rules);
        assert!(text.contains("  scrape_interval: 5s\n"), "{text}");
        assert!(
            text.contains("rule_files:\n  - \"/repo/observability/prometheus/alerts.yml\"\n"),
            "{text}"
        );
        for (name, target) in [
            ("user", "127.0.0.1:51051"),
            ("product", "127.0.0.1:51052"),
            ("order", "127.0.0.1:51053"),
            ("payment", "127.0.0.1:51054"),
            ("notification", "127.0.0.1:51055"),
            ("gateway", "127.0.0.1:9080"),
        ] {
            let job = format!(
                "  - job_name: {name}\n    metrics_path: /metrics\n    static_configs:\n      \
                 - targets: [\"{target}\"]\n        labels:\n          service: {name}\n"
            );
            assert!(text.contains(&job), "{job}\nin\n{text}");
        }
        assert_eq!(text.matches("job_name:").count(), 6);
    }

    #[test]
    fn the_config_follows_the_stack_its_ports_and_interval() {
        let mut stack = Stack::local("data");
        stack.gateway = false;
        stack.admin_ports.set(Service::Order, 40123);
        let text = scrape_config(&stack, Duration::from_millis(1_500), &[]);
        assert!(text.contains("scrape_interval: 1500ms"), "{text}");
        assert!(text.contains("[\"127.0.0.1:40123\"]"), "{text}");
        assert!(!text.contains("gateway"), "{text}");
        assert!(!text.contains("rule_files"), "{text}");
        assert_eq!(text.matches("job_name:").count(), 5);
    }

    #[test]
    fn only_executables_are_found_on_the_path() {
        assert!(find_on_path("sh").is_some_and(|p| p.ends_with("sh")));
        assert_eq!(find_on_path("surely-no-such-tool-here"), None);
    }
}
