//! Monitoring: the operations team's view of every flow.
//!
//! - Ingest ([`ingest`]): durable consumers on `inbound.>`, `outcome.>` and
//!   `dlq.>` write each accepted event, outcome and dead letter into an
//!   append-only Postgres event log, batched and idempotent.
//! - Ops API ([`api`]): event search, record timelines, dead-letter review
//!   with correct-and-requeue and discard, every action audited.
//! - Auth ([`auth`]): bearer tokens with the roles viewer, operator and admin.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod console;
pub mod error;
pub mod gauges;
pub mod ingest;
pub mod pii;
pub mod readiness;
pub mod records;
pub mod resolution;
pub mod settings;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use crmerp_connector::credentials::CredentialSlot;
use crmerp_connector::{DealEditor, DealSource};
use crmerp_flow::KvCredentialStore;
use crmerp_rules::{Corrections, DealCorrection};
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::{Readiness, admin, announce_listener, nats, topology};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use settings::Settings;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// The event log.
    pub pool: PgPool,
    /// JetStream, for requeues and stream state.
    pub js: async_nats::jetstream::Context,
    /// Token check.
    pub auth: auth::Authenticator,
    /// The CRM, to read a dead-lettered deal; `None` when not configured.
    pub crm: Option<Arc<dyn DealSource>>,
    /// The CRM's deal editor, to write an operator's correction back to the
    /// deal; `None` when the CRM is not configured or cannot.
    pub crm_editor: Option<Arc<dyn DealEditor>>,
    /// Each flow's rules for correcting its dead letters before a requeue.
    pub corrections: Corrections,
    /// CRM record link template.
    pub crm_record_url: Arc<str>,
}

impl AppState {
    /// The link to a CRM record, when a template is configured.
    pub fn record_link(&self, system: &str, object_type: &str, id: &str) -> Option<String> {
        (!self.crm_record_url.is_empty() && !id.is_empty()).then(|| {
            self.crm_record_url
                .replace("{system}", system)
                .replace("{object_type}", object_type)
                .replace("{id}", id)
        })
    }
}

/// Monitoring could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// NATS connection failed.
    #[error(transparent)]
    Nats(#[from] nats::ConnectError),
    /// Postgres could not be reached or migrated.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The CRM connector is misconfigured.
    #[error("invalid CRM configuration: {0}")]
    Crm(String),
    /// The alert configuration is invalid.
    #[error("invalid alert configuration: {0}")]
    Alerts(String),
    /// The listener has no local address.
    #[error("listener has no local address: {0}")]
    Listener(#[from] std::io::Error),
}

/// A built monitoring service, bound to its listener and ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    addr: SocketAddr,
    state: AppState,
    nats: NatsSettings,
    batch: ingest::BatchSettings,
    readiness: Readiness,
    alerts: Option<alerts::Evaluator>,
    credentials: CredentialSlot,
}

impl Application {
    /// Connects to NATS and Postgres, runs the migrations and builds the router.
    pub async fn build(settings: Settings, listener: TcpListener) -> Result<Self, StartError> {
        let addr = listener.local_addr()?;
        let (_client, js) = nats::connect(&settings.nats, "monitoring").await?;
        let pool = store::connect_and_migrate(
            settings.monitoring.database_url.expose_secret(),
            settings.monitoring.db_max_connections,
            settings.monitoring.db_acquire_timeout,
        )
        .await?;
        // Filled once the streams and buckets are declared (in `run`).
        let credentials = CredentialSlot::new();
        let bundle = match settings.crm.selected() {
            Some(section) => Some(
                crmerp_connector::registry::build_crm(
                    &settings.crm.kind,
                    Some(section),
                    &crmerp_connector::FlowMaps::new()
                        .with(
                            crmerp_connector::registry::DEAL_TO_ORDER,
                            Some(serde_json::json!({"crm": settings.deal_to_order.crm})),
                        )
                        .with_credentials(credentials.clone()),
                )
                .map_err(|e| StartError::Crm(e.to_string()))?,
            ),
            None => None,
        };
        let crm = bundle
            .as_ref()
            .map(|b| b.deal_source("monitoring"))
            .transpose()
            .map_err(|e| StartError::Crm(e.to_string()))?;
        // A CRM without the deal editor still lets operators requeue; the
        // correction then stays in the requeued event only, and says so.
        let crm_editor = bundle.and_then(|b| b.deal_editor("monitoring").ok());
        let state = AppState {
            pool,
            js,
            auth: auth::Authenticator::new(&settings.monitoring.tokens),
            crm,
            crm_editor,
            corrections: Corrections::new()
                .with(DealCorrection::new(settings.deal_to_order.min_order_value)),
            crm_record_url: settings.monitoring.crm_record_url.as_str().into(),
        };
        let alerts = alerts::Evaluator::new(
            state.pool.clone(),
            state.js.clone(),
            settings.monitoring.alerts.clone(),
            state.crm_record_url.clone(),
        )
        .map_err(StartError::Alerts)?;
        let alerting_off = settings.monitoring.alerts.off_reason();
        if let Some(reason) = alerting_off {
            // Not fatal (the console and API still serve), but nobody will be
            // paged: say so loudly once, and on /readyz.
            tracing::warn!(
                reason,
                "Alerting is OFF: no dead letter, outage or lag will notify anyone."
            );
        }
        let readiness = Readiness::new();
        let probe = readiness::Probe {
            pool: state.pool.clone(),
            nats: state.js.client(),
            ingest: readiness.clone(),
            timeout: settings.monitoring.db_acquire_timeout,
            alerting_off,
        };
        let router = with_problem_layers(
            api::router()
                .route("/openapi.json", axum::routing::get(openapi))
                .merge(console::router())
                .fallback(not_found)
                .with_state(state.clone())
                .merge(readiness::admin_router(probe, admin::install_metrics())),
        );
        Ok(Self {
            listener,
            router,
            addr,
            state,
            nats: settings.nats,
            batch: ingest::BatchSettings {
                size: settings.monitoring.batch_size,
                wait: settings.monitoring.batch_wait,
            },
            readiness,
            alerts,
            credentials,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Ingests and serves until `shutdown` fires.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let Self {
            listener,
            router,
            addr,
            state,
            nats,
            batch,
            readiness,
            alerts,
            credentials,
        } = self;
        let tasks = tokio_util::task::TaskTracker::new();
        tasks.spawn(gauges::run(
            state.js.clone(),
            state.pool.clone(),
            std::time::Duration::from_secs(15),
            shutdown.clone(),
        ));
        {
            let (js, shutdown, tasks2) = (state.js.clone(), shutdown.clone(), tasks.clone());
            tasks.spawn(async move {
                if topology::ensure_streams_until_ready(&js, &nats, &shutdown)
                    .await
                    .is_err()
                {
                    return;
                }
                tracing::info!("Streams declared.");
                // The CRM connector reads and keeps rotated credentials where
                // deal-to-order does, so neither revokes the other's token.
                match KvCredentialStore::bind(&js, topology::CREDENTIALS_BUCKET).await {
                    Ok(store) => {
                        credentials.attach(Arc::new(store));
                    }
                    Err(error) => tracing::warn!(
                        %error,
                        "Cannot bind the credential store; rotated CRM credentials stay in memory."
                    ),
                }
                for spec in ingest::SPECS {
                    tasks2.spawn(ingest::run(
                        js.clone(),
                        state.pool.clone(),
                        spec,
                        batch,
                        readiness.clone(),
                        shutdown.clone(),
                    ));
                }
            });
        }
        if let Some(evaluator) = alerts {
            tasks.spawn(evaluator.run(shutdown.clone()));
        }
        announce_listener("http", addr);
        let served = axum::serve(listener, router)
            .with_graceful_shutdown({
                let shutdown = shutdown.clone();
                async move { shutdown.cancelled().await }
            })
            .await;
        tasks.close();
        tasks.wait().await;
        served
    }
}

/// The OpenAPI 3.1 document of the ops API, generated from the handlers' types.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    <api::doc::ApiDoc as utoipa::OpenApi>::openapi()
}

async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(openapi_document())
}

/// Every error answer as problem+json: the framework's own rejections are
/// rewritten, and a panic anywhere (outermost layer) becomes a 500 problem
/// instead of a dropped connection.
fn with_problem_layers(router: Router) -> Router {
    router
        .layer(axum::middleware::map_response(
            error::framework_errors_as_problems,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panic_response,
        ))
}

async fn not_found() -> error::ApiError {
    error::ApiError::NotFound("route")
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::routing::get;
    use tower::ServiceExt as _;

    async fn answer(
        router: axum::Router,
        request: Request<Body>,
    ) -> (StatusCode, String, serde_json::Value) {
        let response = super::with_problem_layers(router)
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, content_type, body)
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem() {
        let router = axum::Router::new().route(
            "/boom",
            get(|| async {
                if "boom".len() == 4 {
                    panic!("deliberate");
                }
                "unreachable"
            }),
        );
        let request = Request::get("/boom").body(Body::empty()).expect("request");
        let (status, content_type, body) = answer(router, request).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(body["code"], "internal");
        // The panic message is logged, not returned.
        assert!(!body.to_string().contains("deliberate"), "{body}");
    }

    #[tokio::test]
    async fn framework_rejections_become_problems_keeping_status_and_headers() {
        let router = axum::Router::new().route("/only-get", get(|| async { "ok" }));
        let request = Request::post("/only-get")
            .body(Body::empty())
            .expect("request");
        let response = super::with_problem_layers(router.clone())
            .oneshot(request)
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(response.headers().get(header::ALLOW).is_some());
        let request = Request::post("/only-get")
            .body(Body::empty())
            .expect("request");
        let (_, content_type, body) = answer(router, request).await;
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(
            (body["status"].as_u64(), body["code"].as_str()),
            (Some(405), Some("method_not_allowed"))
        );
    }

    #[test]
    fn the_openapi_document_lists_every_route() {
        let doc = serde_json::to_value(super::openapi_document()).expect("serialises");
        for path in [
            "/api/v1/me",
            "/api/v1/events",
            "/api/v1/timeline",
            "/api/v1/dead-letters",
            "/api/v1/dead-letters/{id}",
            "/api/v1/dead-letters/{id}/requeue",
            "/api/v1/dead-letters/{id}/discard",
            "/api/v1/dead-letters/bulk/dry-run",
            "/api/v1/dead-letters/bulk",
            "/api/v1/events/export",
            "/api/v1/dead-letters/export",
            "/api/v1/incidents",
            "/api/v1/breakers",
            "/api/v1/incidents/{key}/acknowledge",
            "/api/v1/health",
            "/api/v1/health/series",
            "/api/v1/reports/sla",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} is undocumented");
        }
    }
}
