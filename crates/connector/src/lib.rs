//! Connectors: the only place that knows vendor APIs.
//!
//! A vendor provides capability ports ([`ports`]: [`DealSource`],
//! [`CustomerMaster`], [`OrderSink`], ...) as one [`Capabilities`] bundle built
//! by [`registry`]; a flow takes the ports it needs at start-up and talks to
//! them in canonical types from `crmerp-proto`. Every vendor error
//! is classified into one [`ConnectorError`] so retry and dead-letter decisions
//! are made the same way for every system. A connector never sees JetStream.

// `ConnectorError` is the ports' fixed error contract (136 bytes). Failures are
// the cold path of a network call, so its size costs nothing worth a `Box` that
// would change the public API every flow codes against.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod businesscentral;
pub mod calls;
pub mod config;
#[cfg(test)]
mod conformance;
pub mod credentials;
mod crm_fulfilment;
mod decimal;
pub mod dynamics365;
pub mod error;
pub mod field_maps;
pub mod http_client;
pub mod http_kit;
pub mod hubspot;
pub mod mapping;
pub mod netsuite;
pub mod oauth2;
pub mod oraclefusion;
pub mod outbound;
pub mod pipedrive;
pub mod ports;
pub mod registry;
pub mod s4hana;
pub mod salesforce;
pub mod standard_webhooks;
pub mod status_map;
pub mod tryton;

#[cfg(test)]
mod test_support;

pub use calls::CallLog;
pub use config::ConfigError;
pub use error::{ConnectorError, ErrorCategory, ErrorKind, truncate_detail};
pub use field_maps::FlowMaps;
pub use ports::{
    Activity, ActivityTimeline, Capabilities, Capability, CustomerMaster, DealEditor,
    DealFulfilment, DealSource, FollowUpTask, FollowUpTasks, FulfilmentUpdate, MissingCapability,
    OrderRequest, OrderSink, OrderStatusSource, Role, System, order_status_label,
};
