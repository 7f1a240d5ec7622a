//! Bearer tokens with roles. Tokens are configured as SHA-256 hashes (the host
//! never stores a usable token), or are JWTs from an identity provider
//! ([`super::jwt`]); `operator` may use every route, `consumer` only the ask
//! routes. Failures are 401 (no, unknown, expired or forged token) or 403 (wrong
//! role), and every failure is audited.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use super::jwt::{JwtConfigError, JwtVerifier};
use crate::audit::{AuditEvent, AuditKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Operator,
    Consumer,
}

/// `[[api.tokens]]` in the host config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Shown in logs and the audit log (never the token).
    pub name: String,
    pub role: Role,
    /// Hex SHA-256 of the token (`djinn token hash` prints it).
    pub sha256: String,
}

/// Who made a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

/// Who may call: the configured tokens and the JWT verifier.
#[derive(Debug, Default)]
pub struct Auth {
    tokens: Vec<TokenConfig>,
    jwt: Option<JwtVerifier>,
}

impl Auth {
    pub fn new(tokens: Vec<TokenConfig>, jwt: Option<JwtVerifier>) -> Self {
        Self { tokens, jwt }
    }

    /// From `[api]`; fails when `[api.jwt]` is unusable (no secret, bad key).
    pub fn from_config(api: &crate::config::ApiConfig) -> Result<Self, JwtConfigError> {
        let jwt = api.jwt.as_ref().map(JwtVerifier::from_config).transpose()?;
        Ok(Self::new(api.tokens.clone(), jwt))
    }

    /// No token and no JWT issuer configured: every (loopback) caller is an operator.
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty() && self.jwt.is_none()
    }

    /// The caller a bearer token names, or why it is refused.
    fn principal(&self, token: &str) -> Result<Principal, String> {
        if let Some(jwt) = &self.jwt
            && token.split('.').count() == 3
        {
            return jwt.verify(token);
        }
        let hash = hash_token(token);
        self.tokens
            .iter()
            .find(|t| t.sha256.eq_ignore_ascii_case(&hash))
            .map(|t| Principal {
                name: t.name.clone(),
                role: t.role,
            })
            .ok_or_else(|| "unknown token".to_owned())
    }
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn deny(state: &AppState, status: StatusCode, message: &str, path: &str) -> Response {
    state.audit().record(AuditEvent::new(
        AuditKind::AuthFailure,
        "api",
        serde_json::json!({ "path": path, "reason": message }),
    ));
    let code = if status == StatusCode::UNAUTHORIZED {
        "unauthorized"
    } else {
        "forbidden"
    };
    ApiError::new(status, code, message).into_response()
}

async fn check(state: AppState, mut req: Request, next: Next, need: Role) -> Response {
    let path = req.uri().path().to_owned();
    if state.auth.is_open() {
        // No tokens configured: the server only listens on loopback (see serve).
        req.extensions_mut().insert(Principal {
            name: "local".into(),
            role: Role::Operator,
        });
        return next.run(req).await;
    }
    let Some(token) = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return deny(
            &state,
            StatusCode::UNAUTHORIZED,
            "missing bearer token",
            &path,
        );
    };
    let who = match state.auth.principal(token.trim()) {
        Ok(who) => who,
        Err(why) => return deny(&state, StatusCode::UNAUTHORIZED, &why, &path),
    };
    if need == Role::Operator && who.role != Role::Operator {
        return deny(
            &state,
            StatusCode::FORBIDDEN,
            &format!(
                "token `{}` has role consumer; this route needs operator",
                who.name
            ),
            &path,
        );
    }
    req.extensions_mut().insert(who);
    next.run(req).await
}

pub async fn operator(State(state): State<AppState>, req: Request, next: Next) -> Response {
    check(state, req, next, Role::Operator).await
}

pub async fn consumer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    check(state, req, next, Role::Consumer).await
}
