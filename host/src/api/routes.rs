//! Route handlers.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{KeepAlive, KeepAliveStream, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use super::stream::AskStream;
use crate::bus::AskStatus;
use crate::runtime::{Plugin, PluginKind, RiskLevel};

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let snapshot = state.catalog.snapshot();
    let database = state.store.registry().list().await;
    let ready = database.is_ok() && !snapshot.plugins.is_empty();
    let body = json!({
        "ready": ready,
        "plugins": snapshot.plugins.len(),
        "database": match &database { Ok(_) => "ok".to_owned(), Err(e) => e.to_string() },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskBody {
    question: String,
    #[serde(default)]
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
    Ok((
        status,
        Json(serde_json::to_value(&result).unwrap_or_default()),
    )
        .into_response())
}

fn risk(r: RiskLevel) -> &'static str {
    match r {
        RiskLevel::Low => "low",
        RiskLevel::Medium => "medium",
        RiskLevel::High => "high",
    }
}

fn describe(p: &Plugin) -> Value {
    let mut v = json!({
        "id": p.id(),
        "kind": p.kind().to_string(),
        "name": p.info().name(),
        "version": p.info().version(),
        "sha256": p.sha256(),
        "grants": p.manifest().granted(),
        "limits": p.limits(),
    });
    if let Some(a) = p.agent_info() {
        v["subscribes"] = json!(a.subscribes);
        v["capabilities"] = json!(a.capabilities);
        v["risk"] = json!(risk(a.risk));
    }
    v
}

pub async fn agents(State(state): State<AppState>) -> Json<Value> {
    let s = state.catalog.snapshot();
    Json(Value::Array(
        s.of_kind(PluginKind::Agent).map(|p| describe(p)).collect(),
    ))
}

/// The enabled policies in the order they judge.
pub async fn policies(State(state): State<AppState>) -> Json<Value> {
    let s = state.catalog.snapshot();
    Json(Value::Array(
        s.bus
            .policies()
            .into_iter()
            .filter_map(|id| s.get(id))
            .map(|p| describe(p))
            .collect(),
    ))
}

pub async fn list_plugins(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let snapshot = state.catalog.snapshot();
    let listed = state.catalog.registry().list().await?;
    Ok(Json(Value::Array(
        listed
            .into_iter()
            .map(|s| {
                let loaded = snapshot.get(&s.id).map(|p| describe(p));
                json!({
                    "id": s.id, "version": s.version, "state": s.state.as_str(),
                    "sha256": s.sha256,
                    "updated_at": s.updated_at.to_rfc3339(),
                    "loaded": loaded,
                })
            })
            .collect(),
    )))
}

/// Reads the `component` (bytes) and `manifest` (TOML text) fields of an upload.
async fn upload_fields(mut form: Multipart) -> Result<(Vec<u8>, String), ApiError> {
    let (mut component, mut manifest) = (None, None);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::new(e.status(), "bad_upload", e.body_text()))?
    {
        match field.name() {
            Some("component") => {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| ApiError::new(e.status(), "bad_upload", e.body_text()))?;
                component = Some(bytes.to_vec());
            }
            Some("manifest") => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| ApiError::new(e.status(), "bad_upload", e.body_text()))?;
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
        (Some(c), Some(m)) => Ok((c, m)),
        (None, _) => Err(ApiError::bad_request(
            "missing form field `component` (the .wasm)",
        )),
        (_, None) => Err(ApiError::bad_request(
            "missing form field `manifest` (djinn.toml)",
        )),
    }
}

pub async fn upload_plugin(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    form: Multipart,
) -> Result<Response, ApiError> {
    let (wasm, manifest) = upload_fields(form).await?;
    let p = state
        .catalog
        .install(&wasm, &manifest, None, &who.name)
        .await?;
    Ok((StatusCode::CREATED, Json(describe(&p))).into_response())
}

pub async fn replace_plugin(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    form: Multipart,
) -> Result<Json<Value>, ApiError> {
    let (wasm, manifest) = upload_fields(form).await?;
    let p = state
        .catalog
        .install(&wasm, &manifest, Some(&id), &who.name)
        .await?;
    Ok(Json(describe(&p)))
}

pub async fn enable_plugin(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.catalog.set_enabled(&id, true, &who.name).await?;
    Ok(Json(json!({ "id": id, "state": "enabled" })))
}

pub async fn disable_plugin(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.catalog.set_enabled(&id, false, &who.name).await?;
    Ok(Json(json!({ "id": id, "state": "disabled" })))
}

pub async fn remove_plugin(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.catalog.remove(&id, &who.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    plugin: Option<String>,
    kind: Option<String>,
    correlation: Option<String>,
    /// RFC 3339.
    since: Option<String>,
    limit: Option<u32>,
}

pub async fn audit(
    State(state): State<AppState>,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(serde_json::to_value(records).unwrap_or_default()))
}

pub async fn audit_verify(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let r = state.store.audit().verify().await?;
    Ok(Json(json!({
        "intact": r.is_intact(),
        "checked": r.checked,
        "head_seq": r.head_seq,
        "head_hash": r.head_hash,
        "first_break": r.first_break.as_ref().map(|b| b.to_string()),
    })))
}
