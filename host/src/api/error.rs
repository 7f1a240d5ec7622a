//! One error shape for every route: `{"error": {"code": "...", "message": "..."}}`,
//! and the status codes, mapped in one place.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::catalog::CatalogError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
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
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
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
