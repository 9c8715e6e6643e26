//! Webhook sources: one module per vendor, holding that vendor's routes and
//! its request authentication (signature, key or credentials), and one table,
//! [`SOURCES`], that mounts them all.
//!
//! A source route verifies the request over the raw body, parses the vendor's
//! notice with the connector crate's webhook module, reduces each notice to
//! the input of a canonical event kind (see [`crate::events`]) and publishes.
//! Its settings are the connector crate's `WebhookSettings` of that vendor,
//! read from the vendor's section (`[crm.<vendor>]`); a vendor without a
//! section answers 404 on its routes.
//!
//! The fulfilment sources (ERPs: NetSuite, Business Central, S/4HANA, Oracle
//! Fusion; carriers: AfterShip, EasyPost; messaging: Twilio) have the same
//! shape, with their settings in `[ingress.<source>]` (they have no API
//! connector section to share) and their events made by
//! [`crate::events::fulfilment`]; [`auth`] holds the HMAC and credential
//! checks they share.

pub(crate) mod auth;
mod businesscentral;
mod carriers;
mod dynamics365;
pub(crate) mod guards;
mod hubspot;
mod netsuite;
mod oraclefusion;
mod pipedrive;
mod s4hana;
mod salesforce;
mod twilio;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use bytes::Bytes;

use crate::error::IngressError;
use crate::events::unroutable::WarnedTypes;
use crate::webhook_ids::WebhookIds;
use crate::{Publisher, Settings};

/// What every source route shares.
#[derive(Clone)]
pub(crate) struct Shared {
    /// Publishes canonical events and waits for their PubAcks.
    pub(crate) publisher: Publisher,
    /// The URL vendors call, without a trailing slash; schemes that sign the
    /// URL need it.
    pub(crate) public_base_url: Arc<str>,
    /// Payload digests of Standard Webhooks ids, to refuse a re-used id.
    pub(crate) webhook_ids: WebhookIds,
    /// Unroutable event types already warned about.
    pub(crate) warned_types: WarnedTypes,
}

impl Shared {
    /// The URL a vendor called, as URL-signing schemes cover it: the public
    /// base URL (behind a proxy, the one vendors see) with the request's path
    /// and query.
    pub(crate) fn public_url(&self, uri: &axum::http::Uri) -> String {
        format!(
            "{}{}",
            self.public_base_url,
            uri.path_and_query().map_or("", |p| p.as_str())
        )
    }
}

/// One source's route state: the shared parts and the vendor's webhook
/// settings, `None` when the deployment does not configure the vendor.
pub(crate) struct SourceState<W> {
    pub(crate) shared: Shared,
    settings: Option<Arc<W>>,
}

impl<W> Clone for SourceState<W> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<W> SourceState<W> {
    fn new(shared: &Shared, settings: Option<W>) -> Self {
        Self {
            shared: shared.clone(),
            settings: settings.map(Arc::new),
        }
    }

    /// The vendor's settings, or 404 when it is not configured.
    pub(crate) fn settings(&self) -> Result<&W, IngressError> {
        self.settings
            .as_deref()
            .ok_or(IngressError::SourceNotConfigured)
    }
}

/// One webhook source.
pub(crate) struct Source {
    /// The vendor, as in event subjects and metrics (`hubspot`).
    pub(crate) system: &'static str,
    /// Its routes, with their state, from the deployment's settings.
    pub(crate) routes: fn(&Shared, &Settings) -> Router,
}

/// Every webhook source ingress serves.
pub(crate) const SOURCES: &[Source] = &[
    Source {
        system: hubspot::SYSTEM,
        routes: hubspot::routes,
    },
    Source {
        system: salesforce::SYSTEM,
        routes: salesforce::routes,
    },
    Source {
        system: pipedrive::SYSTEM,
        routes: pipedrive::routes,
    },
    Source {
        system: dynamics365::SYSTEM,
        routes: dynamics365::routes,
    },
    Source {
        system: netsuite::SYSTEM,
        routes: netsuite::routes,
    },
    Source {
        system: businesscentral::SYSTEM,
        routes: businesscentral::routes,
    },
    Source {
        system: s4hana::SYSTEM,
        routes: s4hana::routes,
    },
    Source {
        system: oraclefusion::SYSTEM,
        routes: oraclefusion::routes,
    },
    Source {
        system: carriers::AFTERSHIP,
        routes: carriers::aftership_routes,
    },
    Source {
        system: carriers::EASYPOST,
        routes: carriers::easypost_routes,
    },
    Source {
        system: twilio::SYSTEM,
        routes: twilio::routes,
    },
];

/// The routes of every source in [`SOURCES`], each behind its rate limit and
/// then the body-read deadline (so a refused request's body is never read).
pub(crate) fn router(shared: &Shared, settings: &Settings) -> Router {
    let body = guards::BodyLimits {
        max_bytes: settings.ingress.body_limit,
        timeout: settings.ingress.body_read_timeout,
    };
    SOURCES.iter().fold(Router::new(), |router, source| {
        let limiter = guards::SourceLimiter::new(
            source.system,
            settings.ingress.rate_limit_of(source.system),
        );
        router.merge(
            (source.routes)(shared, settings)
                .route_layer(from_fn_with_state(body, guards::read_body))
                .route_layer(from_fn_with_state(limiter, guards::rate_limit)),
        )
    })
}

/// The raw body, or 413 / 400.
pub(crate) fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, IngressError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            IngressError::TooLarge
        } else {
            IngressError::Malformed(rejection.body_text())
        }
    })
}

/// Compares a presented secret with the configured one in constant time.
pub(crate) fn secret_matches(presented: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}
