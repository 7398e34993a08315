//! Compiles `proto/*.proto` to Rust with prost-build, parsing the files with protox so that
//! no system `protoc` is needed; tells the crate whether it is built with profile-guided
//! optimisation (`SYNCSIM_PGO`: `use`, `generate` or `none`).

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
    // Which profile-guided stage the compiler flags ask for (scripts/build-pgo), so that
    // `sim bench` can say what kind of build its figures are from.
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let pgo = if flags.contains("profile-use") {
        "use"
    } else if flags.contains("profile-generate") {
        "generate"
    } else {
        "none"
    };
    println!("cargo:rustc-env=SYNCSIM_PGO={pgo}");
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
