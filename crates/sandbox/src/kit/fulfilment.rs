//! `POST /__sandbox/orders/{order}/fulfilment`: moves an ERP order through
//! fulfilment as a warehouse and accounts department would, so tests and the
//! demo can drive the fulfilment and invoice flows. Each ERP simulator maps a
//! [`Step`] onto its own record (visible through its normal read API) and
//! emits its own event; the body and answer shapes are shared.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One fulfilment step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Step {
    /// Released to the warehouse; picking started.
    Picking,
    /// Picked and packed, ready to ship.
    Packed,
    /// Handed to the carrier (needs `carrier` and `tracking_number`).
    Dispatched,
    /// The carrier delivered it.
    Delivered,
    /// An invoice was posted for it.
    Invoiced,
    /// The invoice was paid in full.
    Paid,
}

/// Body of the endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Advance {
    /// The step reached.
    pub(crate) status: Step,
    /// Carrier code (`dispatched`).
    #[serde(default)]
    pub(crate) carrier: Option<String>,
    /// Carrier tracking number (`dispatched`).
    #[serde(default)]
    pub(crate) tracking_number: Option<String>,
}

impl Advance {
    /// `(carrier, tracking number)`, which dispatching requires.
    pub(crate) fn shipment(&self) -> Result<(&str, &str), Refused> {
        match (self.carrier.as_deref(), self.tracking_number.as_deref()) {
            (Some(carrier), Some(tracking)) if !carrier.is_empty() && !tracking.is_empty() => {
                Ok((carrier, tracking))
            }
            _ => Err(Refused::bad("dispatched needs carrier and tracking_number")),
        }
    }
}

/// Why a step was refused: the control plane's `{"error"}` body.
#[derive(Debug)]
pub(crate) struct Refused {
    status: StatusCode,
    message: String,
}

impl Refused {
    /// 400: the request makes no sense.
    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404: no such order (or invoice).
    pub(crate) fn missing(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 409: the order is not in a state this step follows.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            message: message.into(),
        }
    }
}

/// An ERP simulator whose orders can be fulfilled.
pub(crate) trait Fulfil: Send + Sync + 'static {
    /// Applies `step` to the order with number or id `order`, emits the ERP's
    /// event, and returns the changed record(s) as the vendor's API shows them.
    fn advance(self: &Arc<Self>, order: &str, step: &Advance) -> Result<Value, Refused>;
}

/// The endpoint, bound to `shared`.
pub(crate) fn routes<F: Fulfil>(shared: Arc<F>) -> Router {
    Router::new()
        .route("/__sandbox/orders/{order}/fulfilment", post(advance::<F>))
        .with_state(shared)
}

async fn advance<F: Fulfil>(
    State(shared): State<Arc<F>>,
    Path(order): Path<String>,
    body: Bytes,
) -> Response {
    let step: Advance = match serde_json::from_slice(&body) {
        Ok(step) => step,
        Err(error) => return error_response(Refused::bad(error.to_string())),
    };
    match shared.advance(&order, &step) {
        Ok(record) => {
            tracing::info!(order, status = ?step.status, "Order fulfilment advanced.");
            Json(json!({ "status": step.status, "record": record })).into_response()
        }
        Err(refused) => error_response(refused),
    }
}

fn error_response(refused: Refused) -> Response {
    (refused.status, Json(json!({ "error": refused.message }))).into_response()
}
