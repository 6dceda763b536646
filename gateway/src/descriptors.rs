//! Loading the descriptor set the gateway serves.

use std::path::Path;

use prost::Message as _;
use prost_reflect::DescriptorPool;
use prost_types::FileDescriptorSet;

/// `google/rpc/status.proto` and `error_details.proto` (with their imports),
/// added to every pool so error details render as JSON whatever the served
/// set imports.
const GOOGLE_RPC: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/google_rpc_descriptor.bin"));

#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    #[error("cannot read the descriptor set {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid descriptor set {origin}: {source}")]
    Decode {
        origin: String,
        source: prost_reflect::DescriptorError,
    },
}

/// Decodes the set at `path`, or Bazaar's embedded one, plus `google.rpc`.
pub fn load(path: Option<&Path>) -> Result<DescriptorPool, DescriptorError> {
    let (bytes, origin) = match path {
        Some(path) => (
            std::fs::read(path).map_err(|source| DescriptorError::Read {
                path: path.display().to_string(),
                source,
            })?,
            path.display().to_string(),
        ),
        None => (
            bazaar_proto::FILE_DESCRIPTOR_SET.to_vec(),
            "(embedded Bazaar contracts)".to_owned(),
        ),
    };
    let mut pool =
        DescriptorPool::decode(bytes.as_slice()).map_err(|source| DescriptorError::Decode {
            origin: origin.clone(),
            source,
        })?;
    add_google_rpc(&mut pool);
    Ok(pool)
}

/// Adds each `google.rpc` file the pool lacks. A set that brings its own
/// copy (same file name) keeps it; one that defines the same types under
/// another file name makes ours clash, which only costs rendered details.
fn add_google_rpc(pool: &mut DescriptorPool) {
    let Ok(set) = FileDescriptorSet::decode(GOOGLE_RPC) else {
        return;
    };
    for file in set.file {
        let name = file.name().to_owned();
        if pool.get_file_by_name(&name).is_some() {
            continue;
        }
        if let Err(error) = pool.add_file_descriptor_proto(file) {
            tracing::warn!(file = name, %error, "cannot add to the descriptor pool; error details of its types will show as base64");
        }
    }
}
