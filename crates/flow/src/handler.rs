//! The contract between the runtime and a flow's business logic.

use async_trait::async_trait;
use crmerp_connector::{CallLog, ConnectorError, ErrorKind};
use crmerp_proto::{Effect, EventEnvelope, RecordRef};

/// One delivery attempt of one event.
#[derive(Debug)]
pub struct Attempt {
    /// Delivery number, starting at 1.
    pub number: u32,
    /// True when no retry will follow a transient failure.
    pub is_last: bool,
    /// Vendor calls made during the attempt.
    pub calls: CallLog,
}

/// What a successful attempt produced.
#[derive(Debug, Clone, Default)]
pub struct Success {
    /// The CRM record the event was about.
    pub crm_record: Option<RecordRef>,
    /// The ERP record created or found.
    pub erp_record: Option<RecordRef>,
    /// What the attempt created, found or changed (e.g. the ERP order), in order.
    pub effects: Vec<Effect>,
}

/// Why an attempt failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The classified error.
    pub error: ConnectorError,
    /// The CRM record the event was about, when known.
    pub crm_record: Option<RecordRef>,
    /// True when the record itself is invalid for this flow (our validation).
    pub validation: bool,
}

impl Failure {
    /// A vendor failure about `crm_record`.
    pub fn vendor(error: ConnectorError, crm_record: Option<RecordRef>) -> Self {
        Self {
            error,
            crm_record,
            validation: false,
        }
    }

    /// True when a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        !self.validation && matches!(self.error.kind, ErrorKind::Transient | ErrorKind::Auth)
    }
}

/// A flow's business logic for one event.
///
/// Implementations must be idempotent: the runtime delivers at least once, and
/// a crash between an effect and the ack means the same event comes again.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Processes one event. Vendor calls are recorded in `attempt.calls`.
    async fn handle(&self, event: &EventEnvelope, attempt: &Attempt) -> Result<Success, Failure>;

    /// A cheap authenticated call to `system` (a name from `ConnectorError::system`),
    /// used while the flow is paused to learn when the vendor is back.
    async fn probe(&self, system: &str) -> Result<(), ConnectorError>;
}
