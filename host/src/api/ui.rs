//! The embedded web UI: `/` and `/ui/{file}`, plain HTML, JS and CSS compiled
//! into the binary, so a `djinn serve` has a console with nothing to install.
//!
//! Why the assets need no token: they hold no data. Everything the page shows
//! comes from the API, which checks the bearer the page sends like any caller's.
//!
//! Why the strict `Content-Security-Policy`: the page handles operator tokens
//! and renders what plugins emit. Allowing only this origin's script and style
//! (no inline script, no eval, no third-party hosts, no framing) means text a
//! plugin smuggles into an answer cannot run even if it were inserted as markup;
//! the page also only inserts data with `textContent`. `nosniff` stops a browser
//! from guessing a type other than the one sent.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;

/// Same-origin script, style, images and fetches; nothing inline, nothing else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("ui/index.html");

/// `/ui/{file}`: name, content type, body.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("ui/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("ui/style.css"),
    ),
    // The statement the README's tour uses, so a visitor can try the whole
    // pipeline without having a CSV at hand.
    (
        "sample.csv",
        "text/csv; charset=utf-8",
        include_str!("../../../examples/statement.csv"),
    ),
];

/// The UI's routes; merged into [`super::router`] outside the auth layers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{file}", get(asset))
}

async fn index() -> Response {
    with_headers("text/html; charset=utf-8", INDEX_HTML)
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => with_headers(content_type, body),
        None => ApiError::not_found(format!("no UI asset `{file}`")).into_response(),
    }
}

fn with_headers(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The assets change with the binary; revalidating keeps an upgraded
    // server from running against a cached old script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_references_every_asset() {
        for (name, _, _) in ASSETS.iter().filter(|(n, _, _)| *n != "sample.csv") {
            assert!(
                INDEX_HTML.contains(&format!("/ui/{name}")),
                "index.html does not reference /ui/{name}"
            );
        }
        let app_js = ASSETS.iter().find(|a| a.0 == "app.js").map(|a| a.2);
        assert!(app_js.is_some_and(|js| js.contains("/ui/sample.csv")));
    }

    #[test]
    fn the_page_has_no_inline_script_or_style_the_policy_would_block() {
        assert!(
            !INDEX_HTML.contains("<script>"),
            "inline <script> in index.html"
        );
        assert!(
            !INDEX_HTML.contains("style=\""),
            "inline style in index.html"
        );
        assert!(
            !INDEX_HTML.contains("<style"),
            "inline <style> in index.html"
        );
        assert!(
            !INDEX_HTML.contains("onclick="),
            "inline handler in index.html"
        );
    }
}
