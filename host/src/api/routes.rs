//! Route handlers. Each carries its `#[utoipa::path]`: the router registers a
//! handler and its documentation together (`utoipa_axum::routes!`), so
//! `GET /openapi.json` lists exactly the routes that exist. Responses are typed
//! structs deriving `ToSchema`, so the document describes the JSON actually sent.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Extension, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{KeepAlive, KeepAliveStream, Sse};
use axum::response::{IntoResponse, Response};
use djinn_store::{AuditKind, AuditRecord, PluginState};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::stream::{AskStream, StreamEvent};
use crate::bus::{AskResult, AskStatus};
use crate::runtime::{EffectiveLimits, Plugin, PluginKind, RiskLevel};

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the process is serving.
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The server is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// Plugins are loaded and the database answers.
    ready: bool,
    /// Plugins loaded and routed to.
    plugins: usize,
    /// `ok`, or the database error.
    database: String,
}

/// Readiness: plugins loaded and the database reachable.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to answer", body = Ready),
        (status = 503, description = "No plugin loaded, or the database is unreachable", body = Ready),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let snapshot = state.catalog.snapshot();
    let database = state.store.registry().list().await;
    let ready = database.is_ok() && !snapshot.plugins.is_empty();
    let body = Ready {
        ready,
        plugins: snapshot.plugins.len(),
        database: match &database {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        },
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus metrics (HTTP, plugin calls, fuel, denials, hot swaps, LLM chain).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4",
        content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics().render();
    if let Some(llm) = &state.llm_metrics {
        text.push_str(&llm.snapshot().to_prometheus());
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
        .into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// A question and the data it is about.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskBody {
    /// Not empty or blank.
    #[schema(example = "How am I doing?", pattern = r"\S")]
    question: String,
    /// What the agents read (e.g. `statement.csv`), and `metadata` the policies
    /// judge (`classification`, `region`). `metadata.user_id` and
    /// `metadata.user_roles` are set from the bearer token, never from the body.
    #[serde(default)]
    #[schema(value_type = Option<Object>, example = json!({"statement": {"csv": "date,description,amount,type\n"}, "metadata": {"classification": "internal"}}))]
    context: Value,
}

/// Who is asking comes from the token, never from the body: `user_id` and
/// `user_roles` are set from the principal (a caller cannot claim a role);
/// other metadata (classification, region, ...) describes the data and is kept.
fn with_identity(mut context: Value, who: &Principal) -> Value {
    if context.is_null() {
        context = json!({});
    }
    let meta = context
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})));
    if let Some(Value::Object(meta)) = meta {
        let roles = match who.role {
            super::auth::Role::Operator => "user,operator",
            super::auth::Role::Consumer => "user",
        };
        meta.insert("user_id".into(), json!(who.name));
        meta.insert("user_roles".into(), json!(roles));
        meta.entry("classification")
            .or_insert_with(|| json!("internal"));
    }
    context
}

/// Checks an ask body and returns the question and its context (with identity).
fn parse_ask(
    body: Result<Json<AskBody>, JsonRejection>,
    who: &Principal,
) -> Result<(String, Value), ApiError> {
    let Json(body) = body?;
    if body.question.trim().is_empty() {
        return Err(ApiError::bad_request("`question` must not be empty"));
    }
    if !(body.context.is_null() || body.context.is_object()) {
        return Err(ApiError::bad_request("`context` must be a JSON object"));
    }
    if body.context.get("metadata").is_some_and(|m| !m.is_object()) {
        return Err(ApiError::bad_request(
            "`context.metadata` must be a JSON object",
        ));
    }
    Ok((body.question, with_identity(body.context, who)))
}

/// The question as Server-Sent Events: `started`, then `verdict`, `message`,
/// `branch` and `stage` events as they happen, then one `answer` event with the
/// same JSON `/v1/ask` returns (its `status` says how the question ended).
#[utoipa::path(post, path = "/v1/ask/stream", tag = "ask",
    request_body = AskBody,
    security(("consumer" = []), ("operator" = [])),
    responses(
        (status = 200, content_type = "text/event-stream", body = StreamEvent,
            description = "Server-Sent Events as the question runs (the schema describes one \
event); the last, `answer`, says how the question ended, `denied` and `deadline` included"),
        (status = 400, description = "Malformed JSON, unknown fields, empty question, non-object context", body = ErrorBody),
        (status = 401, description = "No bearer token, an unknown one, or a refused JWT", body = ErrorBody),
        (status = 413, description = "Body over 4 MiB", body = ErrorBody),
        (status = 429, description = "The caller's rate (`[api] asks_per_minute`) is used up", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next question is allowed"))),
        (status = 503, description = "`[api] max_running_asks` questions are already running", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait (1)"))),
    ))]
pub async fn ask_stream(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Result<Json<AskBody>, JsonRejection>,
) -> Result<Sse<KeepAliveStream<AskStream>>, ApiError> {
    let (question, context) = parse_ask(body, &who)?;
    let admitted = state.admission.admit(&who.name)?;
    let bus = state.catalog.snapshot().bus.clone();
    let stream = AskStream::new(bus, question, context, state.metrics().clone(), admitted);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Asks a question and waits for the whole result.
#[utoipa::path(post, path = "/v1/ask", tag = "ask",
    request_body = AskBody,
    security(("consumer" = []), ("operator" = [])),
    responses(
        (status = 200, description = "Answered, or ended without an answer (`no_answer`, \
`budget_exhausted`, `cancelled`); failed branches are listed", body = AskResult),
        (status = 400, description = "Malformed JSON, unknown fields, empty question, non-object context", body = ErrorBody),
        (status = 401, description = "No bearer token, an unknown one, or a refused JWT", body = ErrorBody),
        (status = 403, description = "`policy_denied`: a policy denied the question or the answer", body = ErrorBody,
            headers(("x-correlation-id" = String, description = "The denied question's correlation id"))),
        (status = 413, description = "Body over 4 MiB", body = ErrorBody),
        (status = 429, description = "The caller's rate (`[api] asks_per_minute`) is used up", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next question is allowed"))),
        (status = 503, description = "`[api] max_running_asks` questions are already running", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait (1)"))),
        (status = 504, description = "No answer within the question's deadline", body = ErrorBody),
    ))]
pub async fn ask(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Result<Json<AskBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (question, context) = parse_ask(body, &who)?;
    let _admitted = state.admission.admit(&who.name)?;
    // Hold one snapshot for the whole question: a hot swap during it does not
    // change the plugins this question sees.
    let bus = state.catalog.snapshot().bus.clone();
    let result = bus.ask(&question, context).await;
    for v in result.verdicts.iter().filter(|v| v.verdict == "deny") {
        state.metrics().policy_denial(&v.policy);
    }
    let status = match &result.status {
        AskStatus::Denied {
            policy,
            stage,
            reason,
        } => {
            let mut err = ApiError::new(
                StatusCode::FORBIDDEN,
                "policy_denied",
                format!("denied by policy `{policy}` at {stage}: {reason}"),
            )
            .into_response();
            if let Ok(v) = result.correlation_id.parse() {
                err.headers_mut().insert("x-correlation-id", v);
            }
            return Ok(err);
        }
        AskStatus::Deadline { timeout_ms } => {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "deadline",
                format!(
                    "no answer within {timeout_ms} ms (correlation {})",
                    result.correlation_id
                ),
            ));
        }
        _ => StatusCode::OK,
    };
    Ok((status, Json(result)).into_response())
}

/// Whether a plugin handles messages or judges them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = PluginKind)]
pub enum Kind {
    Agent,
    Policy,
}

impl From<PluginKind> for Kind {
    fn from(k: PluginKind) -> Self {
        match k {
            PluginKind::Agent => Self::Agent,
            PluginKind::Policy => Self::Policy,
        }
    }
}

/// An agent's declared risk.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = RiskLevel)]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl From<RiskLevel> for Risk {
    fn from(r: RiskLevel) -> Self {
        match r {
            RiskLevel::Low => Self::Low,
            RiskLevel::Medium => Self::Medium,
            RiskLevel::High => Self::High,
        }
    }
}

/// A plugin's per-call limits after defaults and ceilings.
#[derive(Serialize, ToSchema)]
pub struct PluginLimits {
    /// Fuel (roughly, wasm instructions) per call.
    fuel: u64,
    timeout_ms: u64,
    memory_mib: u64,
    max_output_bytes: u64,
    max_messages: u32,
    /// Warm instances kept for reuse (0: a fresh instance per call).
    pool: u32,
}

impl From<&EffectiveLimits> for PluginLimits {
    fn from(l: &EffectiveLimits) -> Self {
        // Destructured so a new limit is a compile error here, not a silent gap
        // between the JSON and the document.
        let EffectiveLimits {
            fuel,
            timeout_ms,
            memory_mib,
            max_output_bytes,
            max_messages,
            pool,
        } = *l;
        Self {
            fuel,
            timeout_ms,
            memory_mib,
            max_output_bytes,
            max_messages,
            pool,
        }
    }
}

/// A loaded plugin.
#[derive(Serialize, ToSchema)]
pub struct PluginDescription {
    id: String,
    kind: Kind,
    name: String,
    version: String,
    /// Hex SHA-256 of the component.
    sha256: String,
    /// Capabilities granted beyond the baseline (`llm`, `kv`).
    grants: Vec<&'static str>,
    limits: PluginLimits,
    /// Agents only: the topics it handles.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    subscribes: Option<Vec<String>>,
    /// Agents only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    capabilities: Option<Vec<String>>,
    /// Agents only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    risk: Option<Risk>,
    /// Policies only, and only when the manifest declares `[[scope]]`: the
    /// messages the gate asks this policy about (any one rule may match).
    /// Absent: every message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    scope: Option<Vec<PolicyScope>>,
}

/// One `[[scope]]` rule: a message matches when every key given matches.
#[derive(Serialize, ToSchema)]
pub struct PolicyScope {
    /// `inbound`, `hop`, `outbound`; absent: any stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    stages: Option<Vec<String>>,
    /// Exact topic names; absent: any topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    topics: Option<Vec<String>>,
    /// The recipient agent's risk (`low`, `medium`, `high`); absent: any message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    recipient_risk: Option<Vec<String>>,
}

fn describe(p: &Plugin) -> PluginDescription {
    let agent = p.agent_info();
    PluginDescription {
        id: p.id().to_owned(),
        kind: p.kind().into(),
        name: p.info().name().to_owned(),
        version: p.info().version().to_owned(),
        sha256: p.sha256().to_owned(),
        grants: p.manifest().granted(),
        limits: p.limits().into(),
        subscribes: agent.map(|a| a.subscribes.clone()),
        capabilities: agent.map(|a| a.capabilities.clone()),
        risk: agent.map(|a| a.risk.into()),
        scope: {
            let rules = &p.manifest().scope;
            (!rules.is_empty()).then(|| {
                rules
                    .iter()
                    .map(|r| PolicyScope {
                        stages: r.stages.clone(),
                        topics: r.topics.clone(),
                        recipient_risk: r.recipient_risk.clone(),
                    })
                    .collect()
            })
        },
    }
}

/// The loaded agents.
#[utoipa::path(get, path = "/v1/agents", tag = "plugins",
    security(("consumer" = []), ("operator" = [])),
    responses(
        (status = 200, description = "Loaded agents", body = [PluginDescription]),
        (status = 401, description = "No bearer token, an unknown one, or a refused JWT", body = ErrorBody),
    ))]
pub async fn agents(State(state): State<AppState>) -> Json<Vec<PluginDescription>> {
    let s = state.catalog.snapshot();
    Json(s.of_kind(PluginKind::Agent).map(|p| describe(p)).collect())
}

/// The enabled policies in the order they judge.
#[utoipa::path(get, path = "/v1/policies", tag = "plugins",
    security(("consumer" = []), ("operator" = [])),
    responses(
        (status = 200, description = "Enabled policies, in judging order", body = [PluginDescription]),
        (status = 401, description = "No bearer token, an unknown one, or a refused JWT", body = ErrorBody),
    ))]
pub async fn policies(State(state): State<AppState>) -> Json<Vec<PluginDescription>> {
    let s = state.catalog.snapshot();
    Json(
        s.bus
            .policies()
            .into_iter()
            .filter_map(|id| s.get(id))
            .map(|p| describe(p))
            .collect(),
    )
}

/// Whether the registry routes to a plugin.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = PluginState)]
pub enum Enablement {
    Enabled,
    Disabled,
}

impl From<PluginState> for Enablement {
    fn from(s: PluginState) -> Self {
        match s {
            PluginState::Enabled => Self::Enabled,
            PluginState::Disabled => Self::Disabled,
        }
    }
}

/// A plugin in the registry.
#[derive(Serialize, ToSchema)]
pub struct RegisteredPlugin {
    id: String,
    version: String,
    state: Enablement,
    /// Hex SHA-256 of the stored component.
    sha256: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    updated_at: String,
    /// Its description if it is loaded (enabled and valid), else null.
    loaded: Option<PluginDescription>,
}

/// Every registered plugin, enabled or not.
#[utoipa::path(get, path = "/v1/plugins", tag = "plugins",
    security(("operator" = [])),
    responses(
        (status = 200, description = "Registered plugins", body = [RegisteredPlugin]),
        (status = 401, description = "No bearer token, an unknown one, or a refused JWT", body = ErrorBody),
        (status = 403, description = "A consumer token on an operator route", body = ErrorBody),
        (status = 500, description = "The database failed", body = ErrorBody),
    ))]
pub async fn list_plugins(
    State(state): State<AppState>,
) -> Result<Json<Vec<RegisteredPlugin>>, ApiError> {
    let snapshot = state.catalog.snapshot();
    let listed = state.catalog.registry().list().await?;
    Ok(Json(
        listed
            .into_iter()
            .map(|s| RegisteredPlugin {
                loaded: snapshot.get(&s.id).map(|p| describe(p)),
                id: s.id,
                version: s.version,
                state: s.state.into(),
                sha256: s.sha256,
                updated_at: s.updated_at.to_rfc3339(),
            })
            .collect(),
    ))
}

/// A plugin upload (`multipart/form-data`).
#[derive(ToSchema)]
pub struct PluginUpload {
    /// The WebAssembly component (.wasm).
    #[schema(value_type = String, format = Binary)]
    component: Vec<u8>,
    /// The manifest (djinn.toml) as TOML text.
    manifest: String,
}

/// A multipart error is the client's (a malformed body, or one it stopped
/// sending), but axum calls the ones it does not classify (a body stream that
/// fails mid-read) 500, blaming the server; so everything but the size limit
/// is a 400.
fn bad_upload(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.body_text());
    }
    ApiError::new(StatusCode::BAD_REQUEST, "bad_upload", e.body_text())
}

/// Reads the `component` (bytes) and `manifest` (TOML text) fields of an upload.
async fn upload_fields(
    form: Result<Multipart, MultipartRejection>,
) -> Result<PluginUpload, ApiError> {
    let mut form =
        form.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_upload", e.body_text()))?;
    let (mut component, mut manifest) = (None, None);
    while let Some(field) = form.next_field().await.map_err(bad_upload)? {
        match field.name() {
            Some("component") => {
                let bytes = field.bytes().await.map_err(bad_upload)?;
                component = Some(bytes.to_vec());
            }
            Some("manifest") => {
                let text = field.text().await.map_err(bad_upload)?;
                manifest = Some(text);
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unexpected form field {other:?}; send `component` (the .wasm) and `manifest` (djinn.toml)"
                )));
            }
        }
    }
    match (component, manifest) {
        (Some(component), Some(manifest)) => Ok(PluginUpload {
            component,
            manifest,
        }),
        (None, _) => Err(ApiError::bad_request(
            "missing form field `component` (the .wasm)",
        )),
        (_, None) => Err(ApiError::bad_request(
            "missing form field `manifest` (djinn.toml)",
        )),
    }
}

/// Why an upload can fail, shared by `POST /v1/plugins` and `PUT /v1/plugins/{id}`.
const UPLOAD_400: &str = "`bad_upload` (not multipart, or a malformed body), `bad_request` \
(a missing or unexpected field) or `invalid_manifest` (the manifest does not parse, or its id \
is not the one in the URL)";

/// A path `{id}` that does not decode (invalid percent-encoding or UTF-8) is a
/// 400 in the one error shape, like every other bad input.
fn plugin_id(id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// Installs a new plugin.
#[utoipa::path(post, path = "/v1/plugins", tag = "plugins",
    request_body(content = PluginUpload, content_type = "multipart/form-data"),
    security(("operator" = [])),
    responses(
        (status = 201, description = "Installed, checked and routed to", body = PluginDescription),
        (status = 400, description = UPLOAD_400, body = ErrorBody),
        (status = 401, description = "No bearer token, an unknown one, or a refused JWT", body = ErrorBody),
        (status = 403, description = "A consumer token on an operator route", body = ErrorBody),
        (status = 409, description = "A plugin with the manifest's id exists (use PUT)", body = ErrorBody),
        (status = 413, description = "Body over 128 MiB", body = ErrorBody),
        (status = 422, description = "`plugin_rejected`: the component failed a load check", body = ErrorBody),
        (status = 500, description = "The database failed", body = ErrorBody),
    ))]
pub async fn upload_plugin(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let upload = upload_fields(form).await?;
    let p = state
        .catalog
        .install(&upload.component, &upload.manifest, None, &who.name)
        .await?;
    Ok((StatusCode::CREATED, Json(describe(&p))).into_response())
}

/// Replaces a plugin with a new version; the old one serves until the new one
/// passes every check.
#[utoipa::path(put, path = "/v1/plugins/{id}", tag = "plugins",
    params(("id" = String, Path, description = "The plugin to replace; the manifest's id must match")),
    request_body(content = PluginUpload, content_type = "multipart/form-data"),
    security(("operator" = [])),
    responses(
        (status = 200, description = "Replaced", body = PluginDescription),
        (status = 400, description = UPLOAD_400, body = ErrorBody),
        (status = 401, description = "No bearer token, an unknown one, or a refused JWT", body = ErrorBody),
        (status = 403, description = "A consumer token on an operator route", body = ErrorBody),
        (status = 404, description = "No such plugin (use POST)", body = ErrorBody),
        (status = 413, description = "Body over 128 MiB", body = ErrorBody),
        (status = 422, description = "`plugin_rejected`: the component failed a load check", body = ErrorBody),
        (status = 500, description = "The database failed", body = ErrorBody),
    ))]
pub async fn replace_plugin(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    id: Result<Path<String>, PathRejection>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Json<PluginDescription>, ApiError> {
    let id = plugin_id(id)?;
    let upload = upload_fields(form).await?;
    let p = state
        .catalog
        .install(&upload.component, &upload.manifest, Some(&id), &who.name)
        .await?;
    Ok(Json(describe(&p)))
}

/// A plugin's new routing state.
#[derive(Serialize, ToSchema)]
pub struct PluginStateChange {
    id: String,
    state: Enablement,
}

/// Loads a registered plugin and routes to it.
#[utoipa::path(post, path = "/v1/plugins/{id}/enable", tag = "plugins",
    params(("id" = String, Path, description = "A registered plugin")),
    security(("operator" = [])),
    responses(
        (status = 200, description = "Enabled", body = PluginStateChange),
        (status = 400, description = "The stored manifest no longer parses", body = ErrorBody),
        (status = 401, description = "No bearer token, an unknown one, or a refused JWT", body = ErrorBody),
        (status = 403, description = "A consumer token on an operator route", body = ErrorBody),
        (status = 404, description = "No such plugin", body = ErrorBody),
        (status = 422, description = "The stored component fails a load check, or the plugin set would be inconsistent", body = ErrorBody),
        (status = 500, description = "The database failed", body = ErrorBody),
    ))]
pub async fn enable_plugin(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<PluginStateChange>, ApiError> {
    let id = plugin_id(id)?;
    state.catalog.set_enabled(&id, true, &who.name).await?;
    Ok(Json(PluginStateChange {
        id,
        state: Enablement::Enabled,
    }))
}

/// Stops routing to a plugin; it stays in the registry.
#[utoipa::path(post, path = "/v1/plugins/{id}/disable", tag = "plugins",
    params(("id" = String, Path, description = "A registered plugin")),
    security(("operator" = [])),
    responses(
        (status = 200, description = "Disabled", body = PluginStateChange),
        (status = 400, description = "The stored manifest no longer parses", body = ErrorBody),
        (status = 401, description = "No bearer token, an unknown one, or a refused JWT", body = ErrorBody),
        (status = 403, description = "A consumer token on an operator route", body = ErrorBody),
        (status = 404, description = "No such plugin", body = ErrorBody),
        (status = 422, description = "The plugin set would be inconsistent without it", body = ErrorBody),
        (status = 500, description = "The database failed", body = ErrorBody),
    ))]
pub async fn disable_plugin(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<PluginStateChange>, ApiError> {
    let id = plugin_id(id)?;
    state.catalog.set_enabled(&id, false, &who.name).await?;
    Ok(Json(PluginStateChange {
        id,
        state: Enablement::Disabled,
    }))
}

/// Removes a plugin from the registry and from routing.
#[utoipa::path(delete, path = "/v1/plugins/{id}", tag = "plugins",
    params(("id" = String, Path, description = "A registered plugin")),
    security(("operator" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "The id does not decode", body = ErrorBody),
        (status = 401, description = "No bearer token, an unknown one, or a refused JWT", body = ErrorBody),
        (status = 403, description = "A consumer token on an operator route", body = ErrorBody),
        (status = 404, description = "No such plugin", body = ErrorBody),
        (status = 422, description = "The plugin set would be inconsistent without it", body = ErrorBody),
        (status = 500, description = "The database failed", body = ErrorBody),
    ))]
pub async fn remove_plugin(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = plugin_id(id)?;
    state.catalog.remove(&id, &who.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The audit kinds, from the store's own list (so the document cannot drift).
fn audit_kind_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(
            "What happened (`policy_verdict`, `plugin_loaded`, ...)",
        ))
        .enum_values(Some(AuditKind::ALL.iter().map(|k| k.as_str())))
        .build()
}

/// Filters for `GET /v1/audit`; every one left out matches everything.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Records about this plugin.
    plugin: Option<String>,
    /// Records of this kind.
    #[param(schema_with = audit_kind_schema)]
    kind: Option<String>,
    /// Records of this question.
    correlation: Option<String>,
    /// Records at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// At most this many, the newest matching (default 100; more than 1000 is 1000).
    #[param(format = Int64, maximum = 4294967295.0)]
    limit: Option<u32>,
}

/// One record of the hash-chained audit log.
#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    seq: u64,
    #[schema(value_type = String, format = DateTime)]
    time: djinn_store::chrono::DateTime<djinn_store::chrono::Utc>,
    #[schema(schema_with = audit_kind_schema)]
    kind: AuditKind,
    /// Who did it (`api`, a token name, `watch:DIR`, a plugin id, ...).
    actor: String,
    plugin: Option<String>,
    correlation: Option<String>,
    /// What happened, by kind.
    detail: Value,
    /// Hex SHA-256 of the previous record.
    prev_hash: String,
    /// Hex SHA-256 of this record (its contents and `prev_hash`).
    hash: String,
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> Self {
        // Destructured so a new field is a compile error here, not a silent gap
        // between the JSON and the document.
        let AuditRecord {
            seq,
            time,
            kind,
            actor,
            plugin,
            correlation,
            detail,
            prev_hash,
            hash,
        } = r;
        Self {
            seq,
            time,
            kind,
            actor,
            plugin,
            correlation,
            detail,
            prev_hash,
            hash,
        }
    }
}

/// Audit records, newest matching first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(AuditParams),
    security(("operator" = [])),
    responses(
        (status = 200, description = "Matching records", body = [AuditEntry]),
        (status = 400, description = "An unknown parameter or kind, a `since` that is not RFC 3339, a `limit` that is not a u32", body = ErrorBody),
        (status = 401, description = "No bearer token, an unknown one, or a refused JWT", body = ErrorBody),
        (status = 403, description = "A consumer token on an operator route", body = ErrorBody),
        (status = 500, description = "The database failed", body = ErrorBody),
    ))]
pub async fn audit(
    State(state): State<AppState>,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let kind = match p.kind {
        Some(k) => Some(
            k.parse()
                .map_err(|_| ApiError::bad_request(format!("unknown audit kind `{k}`")))?,
        ),
        None => None,
    };
    let since = match p.since {
        Some(s) => Some(
            djinn_store::chrono::DateTime::parse_from_rfc3339(&s)
                .map_err(|e| ApiError::bad_request(format!("`since` is not RFC 3339: {e}")))?
                .with_timezone(&djinn_store::chrono::Utc),
        ),
        None => None,
    };
    // Read your writes: what was recorded before this request is in the log
    // (the writer batches for up to 10 ms).
    state.catalog.audit().flush().await;
    let records = state
        .store
        .audit()
        .query(&djinn_store::AuditQuery {
            plugin: p.plugin,
            kind,
            correlation: p.correlation,
            since,
            limit: p.limit.unwrap_or(100).min(1000),
        })
        .await?;
    Ok(Json(records.into_iter().map(AuditEntry::from).collect()))
}

/// The result of walking the audit hash chain.
#[derive(Serialize, ToSchema)]
pub struct AuditVerification {
    /// No break found.
    intact: bool,
    /// Records checked (up to the first break).
    checked: u64,
    /// The head's seq and hash when the walk started.
    head_seq: u64,
    head_hash: String,
    /// Where and how the chain is broken, if it is.
    first_break: Option<String>,
}

/// Walks the audit log's hash chain.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    security(("operator" = [])),
    responses(
        (status = 200, description = "The chain was walked (`intact` says whether it holds)", body = AuditVerification),
        (status = 401, description = "No bearer token, an unknown one, or a refused JWT", body = ErrorBody),
        (status = 403, description = "A consumer token on an operator route", body = ErrorBody),
        (status = 500, description = "The database failed", body = ErrorBody),
    ))]
pub async fn audit_verify(
    State(state): State<AppState>,
) -> Result<Json<AuditVerification>, ApiError> {
    let r = state.store.audit().verify().await?;
    Ok(Json(AuditVerification {
        intact: r.is_intact(),
        checked: r.checked,
        head_seq: r.head_seq,
        first_break: r.first_break.as_ref().map(|b| b.to_string()),
        head_hash: r.head_hash,
    }))
}
