//! Connectors: the only place that knows vendor APIs.
//!
//! A flow service talks to a CRM through [`CrmConnector`] and to an ERP through
//! [`ErpConnector`], in canonical types from `crmerp-proto`. Every vendor error
//! is classified into one [`ConnectorError`] so retry and dead-letter decisions
//! are made the same way for every system. A connector never sees JetStream.

pub mod calls;
pub mod error;
pub mod hubspot;
pub mod http_client;
pub mod netsuite;
mod traits;

pub use calls::CallLog;
pub use error::{ConnectorError, ErrorCategory, ErrorKind, truncate_detail};
pub use traits::{CrmConnector, ErpConnector, OrderRequest};
