//! Generates Rust types from `proto/` with protox, so no system `protoc` is needed,
//! and their proto3 JSON serde impls with pbjson.

use std::path::PathBuf;

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not with `env!`: a build-script binary cached in a
    // shared target directory must still find the checkout it is run for.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        root.join("crmerp/v1/canonical.proto"),
        root.join("crmerp/v1/flows.proto"),
        root.join("crmerp/v1/events.proto"),
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    let encoded = descriptors.encode_to_vec();
    // pbjson-types' well-known types carry serde impls; prost-types' do not.
    prost_build::Config::new()
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(descriptors)?;
    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        .build(&[".crmerp"])?;
    Ok(())
}
