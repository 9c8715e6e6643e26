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
//! A flow service's binary is a [`FlowService`]: settings, telemetry, admin
//! endpoints, NATS, topology, the consumer and/or responder, and shutdown.
//!
//! Synchronous flows (quote pricing) answer NATS requests instead: see
//! [`responder`].
//!
//! Retries use NAK-with-delay and **no** consumer `BackOff` list: JetStream's
//! BackOff only applies to ack-wait expiry and combines badly with NAK delays
//! (see `docs/architecture.md`), and only a NAK lets a vendor's `Retry-After`
//! win over the schedule.

mod breaker;
pub mod claims;
pub mod credentials;
mod handler;
mod history;
pub mod lease;
pub mod links;
mod ordering;
pub mod pollers;
mod process;
mod publish;
pub mod requeue;
pub mod responder;
mod runtime;
mod service;
mod settings;

pub use breaker::{Breakers, Transition};
pub use claims::{Acquired, Claim, ClaimError, Claims};
pub use credentials::KvCredentialStore;
pub use handler::{Attempt, Failure, Handler, Success};
pub use lease::{HeldLease, Lease, LeaseError, run_exclusive};
pub use links::{LinkError, LinkedRecord, OrderLink, OrderLinks};
pub use ordering::{Sequencer, Turn};
pub use pollers::{PollError, RenewalSettings, TrytonPollSettings, TrytonPoller};
pub use responder::{ReplyError, RequestError, Responder, ResponderSettings};
pub use runtime::{FlowError, run};
pub use service::{BoxError, Context, FlowService, ServiceError, ServiceSettings};
pub use settings::FlowSettings;

/// Test-only fault injection: when `CRMERP_CRASH_POINT` names `point` and the
/// marker file `CRMERP_CRASH_MARKER` does not exist yet, creates it and aborts
/// the process, so crash windows are tested with a real crash, once.
pub fn crash_point(point: &str) {
    process::crash_if(point);
}
