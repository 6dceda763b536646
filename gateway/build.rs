//! Compiles the gateway's own protos (`google.rpc` error details, read at run
//! time to render error details) and the test-only protos (descriptor sets
//! plus tonic stubs for the tests' upstream servers), with the pure-Rust
//! `protox` compiler: no system `protoc`.
//!
//! The test stubs are generated for every build because a build script cannot
//! tell whether tests are being built; only the test targets `include!` them,
//! so other builds pay for the code generation, not for compiling it.

use std::{
    env,
    error::Error,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

/// Bazaar's contracts, for `google/api/annotations.proto`.
const CONTRACTS: &str = "../proto";
const OWN: &str = "proto";
const TEST: &str = "tests/proto";
/// The storefront's files, embedded and served at `/`.
const STOREFRONT: &str = "../web";

fn main() -> Result<(), Box<dyn Error>> {
    for dir in [CONTRACTS, OWN, TEST, STOREFRONT] {
        println!("cargo:rerun-if-changed={dir}");
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("storefront.rs"),
        storefront_table(Path::new(STOREFRONT))?,
    )?;

    let rpc = compile(
        &[OWN],
        &["google/rpc/status.proto", "google/rpc/error_details.proto"],
    )?;
    fs::write(
        out_dir.join("google_rpc_descriptor.bin"),
        rpc.encode_file_descriptor_set(),
    )?;

    let shapes_file = "gwtest/shapes/v1/shapes.proto";
    let library_file = "acme/library/v1/library.proto";
    let shapes = compile(&[TEST, CONTRACTS], &[shapes_file])?;
    fs::write(
        out_dir.join("shapes_descriptor.bin"),
        shapes.encode_file_descriptor_set(),
    )?;
    let library = compile(&[TEST, CONTRACTS], &[library_file])?;
    fs::write(
        out_dir.join("library_descriptor.bin"),
        library.encode_file_descriptor_set(),
    )?;

    let both = compile(&[TEST, CONTRACTS], &[shapes_file, library_file])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(both.file_descriptor_set())?;
    Ok(())
}

fn compile(includes: &[&str], files: &[&str]) -> Result<protox::Compiler, Box<dyn Error>> {
    let mut compiler = protox::Compiler::new(includes)?;
    // Source info keeps the comments that become OpenAPI descriptions.
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(files)?;
    Ok(compiler)
}

/// `pub static FILES: &[StaticFile]`, sorted by path: every file under
/// `root` but its `tests/` and hidden files, with its media type and an
/// ETag of its bytes. Without `root`, no files.
fn storefront_table(root: &Path) -> Result<String, Box<dyn Error>> {
    let mut files = Vec::new();
    if root.is_dir() {
        collect_files(root, root, &mut files)?;
    }
    files.sort();
    let mut table = String::from("pub static FILES: &[StaticFile] = &[\n");
    for (path, file) in files {
        let Some(content_type) = media_type(&path) else {
            println!("cargo:warning=web/{path}: unknown media type, not served");
            continue;
        };
        let bytes = fs::read(&file)?;
        let absolute = fs::canonicalize(&file)?;
        writeln!(
            table,
            "    StaticFile {{ path: {:?}, content_type: {content_type:?}, etag: \"\\\"{:016x}\\\"\", body: include_bytes!({:?}) }},",
            format!("/{path}"),
            fnv1a(&bytes),
            absolute.display().to_string(),
        )?;
    }
    table.push_str("];\n");
    Ok(table)
}

fn collect_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || (dir == root && name == "tests") {
            continue;
        }
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let relative = path.strip_prefix(root)?;
            let url: Vec<_> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push((url.join("/"), path));
        }
    }
    Ok(())
}

fn media_type(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// FNV-1a, 64 bits: a stable fingerprint for the ETag, no crate needed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
