//! Where the binaries under test are.
//!
//! This test executable lives in `<target>/<profile>/deps/`, so the
//! binaries built by the same profile are in `<target>/<profile>/`: that
//! respects `CARGO_TARGET_DIR` and the profile the tests run in. The other
//! profile, `$CARGO_TARGET_DIR` and `./target` are fallbacks;
//! `BAZAAR_E2E_BIN_DIR` overrides them all.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// The binaries of one build.
#[derive(Debug)]
pub struct Binaries {
    pub dir: PathBuf,
}

/// The repository's root directory.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ sits in the workspace root")
}

pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(locate)
}

/// Every binary the suite needs.
const REQUIRED: [&str; 7] = [
    "bazaar-user",
    "bazaar-product",
    "bazaar-payment",
    "bazaar-order",
    "bazaar-notification",
    "bazaar-gateway",
    "bazaar-devstack",
];

fn locate() -> Binaries {
    let candidates = candidates();
    let dir = candidates
        .iter()
        .find(|dir| REQUIRED.iter().all(|bin| dir.join(bin).is_file()))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the Bazaar binaries are not built. Run `cargo build --workspace --bins` \
                 first (`make test` does). Looked in: {candidates:?}"
            )
        });
    Binaries { dir }
}

fn candidates() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os("BAZAAR_E2E_BIN_DIR") {
        return vec![PathBuf::from(dir)];
    }
    let mut dirs = Vec::new();
    // <target>/<profile>/deps/e2e-<hash>
    let own = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()));
    if let Some(profile_dir) = own {
        let profile = profile_dir
            .file_name()
            .map(|p| p.to_string_lossy().into_owned());
        dirs.push(profile_dir.clone());
        if let Some(target) = profile_dir.parent() {
            for other in ["debug", "release"] {
                if profile.as_deref() != Some(other) {
                    dirs.push(target.join(other));
                }
            }
        }
    }
    let targets = [
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from),
        Some(workspace_root().join("target")),
    ];
    for target in targets.into_iter().flatten() {
        dirs.push(target.join("debug"));
        dirs.push(target.join("release"));
    }
    dirs
}
