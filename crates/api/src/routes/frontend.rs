//! Everything no route matched: a JSON 404 for any spelling of `/api`, the policy's path
//! redirects (the same rules the static hosts get in `_redirects` and render.yaml, query kept),
//! then the frontend from memory, with the SPA fallback. Security headers and Cache-Control (`no-cache` for documents, `immutable` for hashed
//! assets) come from the policy layer around the router.

use crate::{
    error::ApiError,
    state::AppState,
    static_files::path::{self, PathError},
};
use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    response::{Html, IntoResponse, Response},
};

/// Any path no route matched. The request is read in place: extracting its `HeaderMap` or
/// `Uri` would copy them for every asset served.
pub async fn fallback(State(state): State<AppState>, request: Request) -> Response {
    let (method, uri, headers) = (request.method(), request.uri(), request.headers());
    // Resolved as a static host would (decoded once, dot segments applied), so that every
    // spelling of a path means one thing here and on the static hosts.
    let path = match path::normalize(uri.path()) {
        Ok(path) => path,
        Err(PathError::AboveRoot) => {
            return ApiError::client(
                StatusCode::BAD_REQUEST,
                "bad_path",
                "the path climbs above the root",
            )
            .into_response()
        }
        Err(PathError::NotAName) => return ApiError::NotFound.into_response(),
    };
    // Nothing under the API's prefix is ever the frontend, however it is spelt.
    if path::is_api_spelling(&path) {
        return ApiError::client(StatusCode::NOT_FOUND, "not_found", "no such API endpoint")
            .into_response();
    }
    if let Some(target) = state.edge.redirect_target(&path) {
        // The query goes along, as Netlify and Cloudflare keep it for the same rule.
        let location = match uri.query() {
            Some(query) if !query.is_empty() => format!("{target}?{query}"),
            _ => target,
        };
        if let Ok(location) = HeaderValue::try_from(location) {
            return (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = ApiError::client(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "only GET and HEAD are served here",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if state.frontend.is_empty() && path == "/" {
        return not_built(&state);
    }
    match state.frontend.resolve(&path, &state.edge.assets_prefix) {
        Some(file) => file.respond(method, headers),
        None => ApiError::NotFound.into_response(),
    }
}

/// `/` when `FRONTEND_DIR` has no build: say how to make one.
fn not_built(state: &AppState) -> Response {
    let dir = state.settings.frontend_dir.display();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Release Flow</title></head>\
         <body><h1>Release Flow API</h1><p>The API is running. The frontend is not built: \
         <code>{dir}</code> has no files.</p><p>Build it with <code>npm --prefix frontend ci &amp;&amp; \
         npm --prefix frontend run build</code>, then restart, or set <code>FRONTEND_DIR</code>.</p>\
         <p>Health: <a href=\"/api/health\">/api/health</a></p></body></html>"
    ))
    .into_response()
}
