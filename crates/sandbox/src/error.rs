//! The sandbox's top-level error type.

use std::path::PathBuf;

/// Errors that stop the sandbox from starting, serving or saving its state.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A listener could not be bound or queried for its address.
    #[error("failed to bind the {listener} listener")]
    Bind {
        /// Which listener (a name of [`crate::VENDORS`]).
        listener: &'static str,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No simulator has this name.
    #[error("unknown vendor simulator \"{0}\"")]
    UnknownVendor(String),
    /// An HTTP server stopped with an I/O error.
    #[error("the {listener} server failed")]
    Serve {
        /// Which listener (a name of [`crate::VENDORS`]).
        listener: &'static str,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The persisted state file could not be read.
    #[error("failed to read state file {path}")]
    ReadState {
        /// The file that was read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The persisted state file is not valid sandbox state.
    #[error("state file {path} is not valid sandbox state")]
    ParseState {
        /// The file that was parsed.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The state could not be serialised to JSON.
    #[error("failed to serialise the {vendor} state")]
    SerializeState {
        /// Which simulator's state.
        vendor: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The state file could not be written.
    #[error("failed to write state file {path}")]
    WriteState {
        /// The file that was written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client used to deliver webhooks could not be built.
    #[error("failed to build the webhook HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// A background task panicked or was cancelled.
    #[error("a sandbox task failed")]
    Task(#[source] tokio::task::JoinError),
}
