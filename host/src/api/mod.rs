//! The HTTP API: consumer routes (ask), operator routes (plugins, audit),
//! health. Handlers only translate HTTP to the catalog, bus and store and back;
//! every error leaves through [`error::ApiError`].

pub mod admission;
pub mod auth;
pub mod error;
pub mod jwt;
mod observe;
mod routes;
mod stream;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use djinn_store::Store;

use crate::audit::AuditSink;
use crate::catalog::Catalog;
pub use auth::{Auth, Role, TokenConfig, hash_token};
pub use jwt::{JwtConfig, JwtConfigError};

/// Largest ask body (question plus statement), bytes.
pub const MAX_ASK_BYTES: usize = 4 << 20;
/// Largest plugin upload (interpreter-based components are tens of MB), bytes.
pub const MAX_UPLOAD_BYTES: usize = 128 << 20;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub store: Store,
    pub auth: Arc<Auth>,
    pub admission: Arc<admission::Admission>,
    /// The LLM chain's counters, rendered into `/metrics` next to the host's.
    pub llm_metrics: Option<Arc<djinn_llm::Metrics>>,
}

impl AppState {
    /// The state for `api` (tokens, JWT issuer, ask limits); fails when `[api.jwt]`
    /// is unusable.
    pub fn new(
        catalog: Arc<Catalog>,
        store: Store,
        api: &crate::config::ApiConfig,
    ) -> Result<Self, JwtConfigError> {
        Ok(Self {
            catalog,
            store,
            auth: Arc::new(Auth::from_config(api)?),
            admission: Arc::new(admission::Admission::new(
                api.max_running_asks,
                api.asks_per_minute,
            )),
            llm_metrics: None,
        })
    }

    /// Renders the LLM chain's counters into `/metrics` too.
    pub fn with_llm_metrics(mut self, metrics: Arc<djinn_llm::Metrics>) -> Self {
        self.llm_metrics = Some(metrics);
        self
    }

    pub fn audit(&self) -> &Arc<dyn AuditSink> {
        &self.catalog.runtime().services().audit
    }

    pub fn metrics(&self) -> &Arc<crate::metrics::HostMetrics> {
        &self.catalog.runtime().services().metrics
    }
}

/// All routes with their auth and body limits.
pub fn router(state: AppState) -> Router {
    let consumer = Router::new()
        .route("/v1/ask", post(routes::ask))
        .route("/v1/ask/stream", post(routes::ask_stream))
        .route("/v1/agents", get(routes::agents))
        .route("/v1/policies", get(routes::policies))
        .layer(DefaultBodyLimit::max(MAX_ASK_BYTES))
        .layer(from_fn_with_state(state.clone(), auth::consumer));
    let operator = Router::new()
        .route(
            "/v1/plugins",
            get(routes::list_plugins).post(routes::upload_plugin),
        )
        .route(
            "/v1/plugins/{id}",
            axum::routing::put(routes::replace_plugin).delete(routes::remove_plugin),
        )
        .route("/v1/plugins/{id}/enable", post(routes::enable_plugin))
        .route("/v1/plugins/{id}/disable", post(routes::disable_plugin))
        .route("/v1/audit", get(routes::audit))
        .route("/v1/audit/verify", get(routes::audit_verify))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .layer(from_fn_with_state(state.clone(), auth::operator));
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .merge(consumer)
        .merge(operator)
        .merge(ui::routes())
        .fallback(routes::not_found)
        .layer(from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}
