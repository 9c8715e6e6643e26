//! The service kit: everything a service binary shares.
//!
//! - [`settings`]: layered configuration (defaults < file < `CRMERP__` environment).
//! - [`telemetry`]: structured JSON logs and optional OpenTelemetry export.
//! - [`trace_context`]: W3C trace context in NATS message headers.
//! - [`redact`]: masking of secrets and personal data in logs and stored texts.
//! - [`nats`]: connecting to NATS and declaring the JetStream topology idempotently.
//! - [`admin`]: `/healthz`, `/readyz` and Prometheus `/metrics`.
//! - [`shutdown`]: a cancellation token fired by SIGTERM or SIGINT.
//!
//! A service's `main` initialises telemetry, loads its settings, builds and runs.

pub mod admin;
pub mod log_format;
pub mod nats;
pub mod redact;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod topology;
pub mod trace_context;

pub use admin::{Readiness, announce_listener};
pub use settings::{ConfigError, load_settings};
