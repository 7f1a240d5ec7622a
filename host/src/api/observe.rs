//! Per-request id, tracing span, and latency/status metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::AppState;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Uses the caller's `x-request-id` if it sends a sane one, else makes one, and
/// returns it on the response.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let pid = std::process::id();
            format!("req-{pid:x}-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
        });
    let span =
        tracing::info_span!("http", method = %req.method(), route = %route, request_id = %id);
    let mut resp = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    state
        .metrics()
        .http_request(&route, resp.status().as_u16(), start.elapsed());
    resp
}
