//! The storefront in a browser: `e2e/browser/storefront.mjs` drives Debian's
//! headless Chromium (through playwright-core) through the pages the gateway
//! serves at `/`, against the whole system: a shopper's checkout, its order
//! page turning SHIPPED live when the shop ships it (and another CANCELLED
//! live), a declined card, a bad expiry date's field error, a double-clicked
//! "Place order", an admin's new product found by a shopper, and axe-core
//! on every main page. Requests to any other origin,
//! console errors and page errors fail it. Each step's screenshot is kept in
//! `<target>/e2e-screenshots/` (printed). The storefront's API table is also
//! checked against the running edge's `/openapi.json`, and its own node
//! unit checks (`web/tests/units.mjs`) run.
//!
//! The tools come from `scripts/tools.sh browser` (`make test` runs it
//! first); this test runs it too. When they are still missing the test is
//! skipped, or under `CI` fails with the command that installs them.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    binaries::workspace_root,
    shell::{Run, available},
    system::System,
};

/// How long the whole browser run may take (it takes about 20 s).
const RUNNER_SECONDS: &str = "300";
/// How long the storefront's own checks may take.
const CONTRACT_SECONDS: &str = "60";

fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

fn chromium() -> PathBuf {
    std::env::var_os("BAZAAR_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn browser_dir() -> PathBuf {
    workspace_root().join("e2e/browser")
}

/// What is missing for the browser tests, if anything.
fn missing() -> Vec<String> {
    let mut missing = Vec::new();
    if !available("node") {
        missing.push("node".to_owned());
    }
    let chromium = chromium();
    if !chromium.is_file() {
        missing.push(chromium.display().to_string());
    }
    let marker = browser_dir().join("node_modules/.installed");
    if !marker.is_file() {
        missing.push(browser_dir().join("node_modules").display().to_string());
    }
    missing
}

/// Whether node, Chromium and e2e/browser/node_modules are there, after
/// `scripts/tools.sh browser` had its go. Missing: a failure under CI,
/// else a skip.
fn tools_ready() -> bool {
    let status = Command::new(workspace_root().join("scripts/tools.sh"))
        .arg("browser")
        .status();
    let missing = missing();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !ci(),
        "the browser tests cannot run: {} missing and `scripts/tools.sh browser` could not \
         install it ({status:?}). Install with `make browser-tools` (as root: apt-get install -y \
         chromium nodejs npm, then cd e2e/browser && npm ci); CI is set, so this fails instead \
         of skipping",
        missing.join(", ")
    );
    eprintln!(
        "SKIP: {} missing (`make browser-tools` installs them)",
        missing.join(", ")
    );
    false
}

/// `<target>/e2e-screenshots`: this test executable is
/// `<target>/<profile>/deps/e2e-<hash>`.
fn screenshot_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("e2e-screenshots")
}

/// `timeout <seconds> node <script> <args>` from the repository root.
fn node(seconds: &str, script: &Path, args: &[&str]) -> Run {
    Command::new("timeout")
        .args(["--kill-after=10", seconds, "node"])
        .arg(script)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("run timeout node")
        .into()
}

#[tokio::test]
async fn the_storefront_works_in_a_browser() {
    if !tools_ready() {
        return;
    }
    let system = System::start().await;
    let url = system.rest_url();
    let shots = screenshot_dir();
    let dir = shots.to_str().expect("a UTF-8 screenshot path");
    let started = std::time::Instant::now();
    let run = node(
        RUNNER_SECONDS,
        &browser_dir().join("storefront.mjs"),
        &[&url, dir],
    );
    println!("{}", run.stdout);
    eprintln!("{}", run.stderr);
    println!(
        "browser run took {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
    assert!(
        run.success,
        "the storefront's browser scenarios failed (screenshots in {}):\n{}\n{}\n{}",
        shots.display(),
        run.stdout,
        run.stderr,
        system.logs()
    );
    system.stop_cleanly().await;
}

#[tokio::test]
async fn the_storefront_uses_only_operations_of_the_openapi_document() {
    let script = workspace_root().join("web/tests/api-contract.mjs");
    if !script.is_file() {
        eprintln!("SKIP: {} does not exist", script.display());
        return;
    }
    if !available("node") {
        assert!(!ci(), "node is missing (apt-get install -y nodejs)");
        eprintln!("SKIP: node is missing");
        return;
    }
    let system = System::start().await;
    let url = system.rest_url();
    let run = node(CONTRACT_SECONDS, &script, &[&url]);
    assert!(
        run.success,
        "web/tests/api-contract.mjs failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    println!("{}", run.stdout);
    system.stop_cleanly().await;
}

#[test]
fn the_storefront_unit_checks_pass() {
    let script = workspace_root().join("web/tests/units.mjs");
    if !script.is_file() {
        eprintln!("SKIP: {} does not exist", script.display());
        return;
    }
    if !available("node") {
        assert!(!ci(), "node is missing (apt-get install -y nodejs)");
        eprintln!("SKIP: node is missing");
        return;
    }
    let run = node(CONTRACT_SECONDS, &script, &[]);
    assert!(
        run.success,
        "web/tests/units.mjs failed:\n{}\n{}",
        run.stdout, run.stderr
    );
}
