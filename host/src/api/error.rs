//! One error shape for every route: `{"error": {"code": "...", "message": "..."}}`,
//! and the status codes, mapped in one place.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::CatalogError;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable code to branch on and a message for a person.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `bad_request`, `invalid_manifest`, `bad_upload`, `unauthorized`, `forbidden`,
    /// `policy_denied`, `not_found`, `conflict`, `too_large`, `plugin_rejected`,
    /// `rate_limited`, `overloaded`, `deadline` or `internal`.
    #[schema(example = "policy_denied")]
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, sent as `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        resp
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let message = e.to_string();
        match e {
            CatalogError::Manifest(_) | CatalogError::IdMismatch { .. } => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_manifest", message)
            }
            CatalogError::Load(_) | CatalogError::Bus(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "plugin_rejected", message)
            }
            CatalogError::Exists(_) => Self::new(StatusCode::CONFLICT, "conflict", message),
            CatalogError::NotFound(_) => Self::not_found(message),
            CatalogError::Store(_) => Self::internal(message),
        }
    }
}

impl From<djinn_store::StoreError> for ApiError {
    fn from(e: djinn_store::StoreError) -> Self {
        Self::internal(e.to_string())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.body_text());
        }
        Self::bad_request(e.body_text())
    }
}
