//! Compiles the gateway's own protos (`google.rpc` error details, read at run
//! time to render error details) and the test-only protos (descriptor sets
//! plus tonic stubs for the tests' upstream servers), with the pure-Rust
//! `protox` compiler: no system `protoc`.
//!
//! The test stubs are generated for every build because a build script cannot
//! tell whether tests are being built; only the test targets `include!` them,
//! so other builds pay for the code generation, not for compiling it.

use std::{env, error::Error, fs, path::PathBuf};

/// Bazaar's contracts, for `google/api/annotations.proto`.
const CONTRACTS: &str = "../proto";
const OWN: &str = "proto";
const TEST: &str = "tests/proto";

fn main() -> Result<(), Box<dyn Error>> {
    for dir in [CONTRACTS, OWN, TEST] {
        println!("cargo:rerun-if-changed={dir}");
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

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
