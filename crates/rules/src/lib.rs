//! Business rules shared by the flow services and by operations (monitoring).
//!
//! A rule that both a flow and an operator tool apply lives here, so
//! monitoring never links a flow service: deal validation ([`deal`]) and the
//! per-flow corrections an operator makes before requeueing a dead letter
//! ([`correction`]).

pub mod correction;
pub mod deal;

pub use correction::{Base, Corrected, Correction, CorrectionError, Corrections, DealCorrection};
pub use deal::{Invalid, validate_deal};
