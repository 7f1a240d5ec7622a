//! `GET /openapi.json`: the OpenAPI 3.1 document of this API.
//!
//! Why generated rather than written: the router registers each handler
//! together with its `#[utoipa::path]` (`utoipa_axum::routes!`), so a route
//! cannot exist without its documentation, and response schemas derive from the
//! structs the handlers serialize. `host/tests/api.rs` validates real answers
//! against the served schemas and `.ci/schemathesis.sh` fuzzes the running
//! server against the whole document.

use axum::Extension;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self, Header, RefOr};
use utoipa::{Modify, OpenApi};

/// The document's fixed parts; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "djinn",
        description = "Runs AI agents and governance policies as sandboxed WebAssembly \
components. See docs/http-api.md."
    ),
    modifiers(&Bearers),
    tags(
        (name = "ask", description = "Questions (consumer)"),
        (name = "plugins", description = "Loaded and registered plugins"),
        (name = "audit", description = "The hash-chained audit log (operator)"),
        (name = "operations", description = "Health, readiness, metrics, this document (public)"),
    )
)]
pub struct ApiDoc;

/// The two roles a bearer token can carry. Both are HTTP bearer schemes (a
/// configured token or a JWT); they are two schemes so that each operation says
/// which roles it admits: consumer routes list both, operator routes only
/// `operator`.
struct Bearers;

impl Modify for Bearers {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, who) in [
            (
                "consumer",
                "A token with role `consumer`: the ask and listing routes",
            ),
            ("operator", "A token with role `operator`: every route"),
        ] {
            let scheme = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(format!(
                    "{who}. A configured token (`[[api.tokens]]`) or a JWT from `[api.jwt]` \
                     whose role claim says so. With neither configured the server listens \
                     on loopback only and every caller is an operator."
                )))
                .build();
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
    }
}

/// Every response carries `x-request-id` (the observe layer adds it), so every
/// response in the document says so. Runs on the finished document: the paths
/// join the document only when the router is split.
pub fn add_request_id_header(doc: &mut openapi::OpenApi) {
    let header = Header::builder()
        .schema(openapi::schema::Object::with_type(
            openapi::schema::Type::String,
        ))
        .description(Some(
            "The caller's `x-request-id` if it sent a sane one, else a new one",
        ))
        .build();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for op in operations.into_iter().flatten() {
            for response in op.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    response
                        .headers
                        .insert("x-request-id".to_owned(), header.clone());
                }
            }
        }
    }
}

/// The serialized document, shared by every request for it.
#[derive(Clone)]
pub struct Document(Bytes);

impl Document {
    pub fn new(doc: &openapi::OpenApi) -> Self {
        // The document is built from our own types (string keys, no floats that
        // could be NaN), so serializing it cannot fail.
        let json = doc
            .to_pretty_json()
            .expect("the OpenAPI document serializes to JSON");
        Self(Bytes::from(json))
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API",
        content_type = "application/json", body = Object)))]
pub async fn document(Extension(doc): Extension<Document>) -> Response {
    ([(CONTENT_TYPE, "application/json")], doc.0).into_response()
}
