//! The canonical quote-to-cash model and the event envelope.
//!
//! Types are generated from `proto/crmerp/v1/*.proto` at build time. This crate
//! adds the few helpers every producer and consumer needs: subject names,
//! event type names and timestamp conversion.

/// Generated protobuf types for package `crmerp.v1`.
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/crmerp.v1.rs"));
}

mod envelope;

pub use envelope::{event_types, timestamp_from, timestamp_now, timestamp_to_chrono};
pub use prost::Message;
pub use v1::*;
