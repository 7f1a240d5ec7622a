//! The HTTP API: consumer routes (ask), operator routes (plugins, audit),
//! health. Handlers only translate HTTP to the catalog, bus and store and back;
//! every error leaves through [`error::ApiError`].

pub mod admission;
pub mod auth;
pub mod error;
pub mod jwt;
mod observe;
pub mod openapi;
mod routes;
mod stream;
mod ui;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::{Extension, Router};
use djinn_store::Store;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// All routes with their auth and body limits, and `GET /openapi.json`
/// describing them: each route is registered with its documentation, so the
/// document lists exactly these routes and methods.
pub fn router(state: AppState) -> Router {
    let consumer = OpenApiRouter::new()
        .routes(routes!(routes::ask))
        .routes(routes!(routes::ask_stream))
        .routes(routes!(routes::agents))
        .routes(routes!(routes::policies))
        .layer(DefaultBodyLimit::max(MAX_ASK_BYTES))
        .layer(from_fn_with_state(state.clone(), auth::consumer));
    let operator = OpenApiRouter::new()
        .routes(routes!(routes::list_plugins, routes::upload_plugin))
        .routes(routes!(routes::replace_plugin, routes::remove_plugin))
        .routes(routes!(routes::enable_plugin))
        .routes(routes!(routes::disable_plugin))
        .routes(routes!(routes::audit))
        .routes(routes!(routes::audit_verify))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .layer(from_fn_with_state(state.clone(), auth::operator));
    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(routes::healthz))
        .routes(routes!(routes::readyz))
        .routes(routes!(routes::metrics))
        .routes(routes!(openapi::document))
        .merge(consumer)
        .merge(operator)
        .split_for_parts();
    openapi::add_request_id_header(&mut doc);
    router
        .merge(ui::routes())
        .layer(Extension(openapi::Document::new(&doc)))
        .fallback(routes::not_found)
        .layer(from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}
