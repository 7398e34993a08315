//! Compiles `proto/*.proto` to Rust with prost-build, parsing the files with protox so that
//! no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/mvds.proto",
        "proto/rpc.proto",
        "proto/discovery.proto",
        "proto/peer.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
