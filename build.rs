//! Compiles `proto/` into tonic/prost stubs and a file descriptor set, with
//! the pure-Rust `protox` compiler so no system `protoc` is needed.

use std::{
    env,
    error::Error,
    fs,
    path::{Path, PathBuf},
};

const PROTO_ROOT: &str = "proto";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let mut files = Vec::new();
    collect_protos(&Path::new(PROTO_ROOT).join("bazaar"), &mut files)?;
    files.sort();
    let relative: Vec<_> = files
        .iter()
        .map(|f| f.strip_prefix(PROTO_ROOT).map(Path::to_path_buf))
        .collect::<Result<_, _>>()?;

    let mut compiler = protox::Compiler::new([PROTO_ROOT])?;
    // Source info keeps the proto comments: they become OpenAPI descriptions.
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(&relative)?;

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("bazaar_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // prost needs every imported message to derive traits; it maps
    // `google.protobuf` onto `prost-types` and writes the rest, one file per
    // package (`google.api` is generated but only read at run time, from the
    // descriptors).
    tonic_prost_build::configure()
        // Card numbers must never reach a log: src/lib.rs redacts Debug.
        .skip_debug(["bazaar.payment.v1.Card"])
        .build_client(true)
        .build_server(true)
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
