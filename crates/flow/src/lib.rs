//! The flow runtime shared by every flow service (deal-to-order, fulfilment-sync, ...).
//!
//! A flow owns one durable pull consumer. For each message the runtime decodes
//! the [`EventEnvelope`](crmerp_proto::EventEnvelope), runs the flow's
//! [`Handler`], publishes an [`Outcome`](crmerp_proto::Outcome) for the attempt,
//! and then:
//! - success: acknowledges (double ack, so a lost ack cannot cause a redelivery);
//! - transient failure with attempts left: NAKs with the scheduled delay (or the
//!   vendor's longer `Retry-After`); the message stays in the stream;
//! - permanent failure, last attempt, or an undecodable message: publishes a
//!   [`DeadLetter`](crmerp_proto::DeadLetter) to `dlq.<flow>`, waits for its
//!   PubAck, then terminates the message.
//!
//! Retries use NAK-with-delay and **no** consumer `BackOff` list: JetStream's
//! BackOff only applies to ack-wait expiry and combines badly with NAK delays
//! (see `docs/architecture.md`), and only a NAK lets a vendor's `Retry-After`
//! win over the schedule.

mod handler;
pub mod requeue;
mod runtime;
mod settings;

pub use handler::{Attempt, Failure, Handler, Success};
pub use runtime::{FlowError, run};
pub use settings::FlowSettings;
