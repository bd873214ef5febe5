//! Everything outside `/api` and `/health`: the policy's path redirects (the same rules the static
//! hosts get in `_redirects` and render.yaml), then the frontend from memory, with the SPA
//! fallback. Security headers and Cache-Control (`no-cache` for documents, `immutable` for hashed
//! assets) come from the policy layer around the router.

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{Html, IntoResponse, Response},
};
use edge_policy::policy::Redirect;

use crate::{error::ApiError, state::AppState};

pub async fn fallback(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(location) = redirect_target(&state.settings.policy.redirects, uri.path()) {
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
    if state.frontend.is_empty() && uri.path() == "/" {
        return not_built(&state);
    }
    match state
        .frontend
        .resolve(uri.path(), &state.settings.policy.assets.prefix)
    {
        Some(file) => file.respond(&method, &headers),
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

/// The target of the first rule matching `path`: exact `from`, or `from` ending in `*` as a
/// prefix whose remainder replaces `:splat` in `to`.
pub fn redirect_target(redirects: &[Redirect], path: &str) -> Option<String> {
    redirects
        .iter()
        .find_map(|r| match r.from.strip_suffix('*') {
            Some(prefix) => path
                .strip_prefix(prefix)
                .map(|splat| r.to.replace(":splat", splat)),
            None => (r.from == path).then(|| r.to.clone()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<Redirect> {
        vec![
            Redirect {
                from: "/login".into(),
                to: "/".into(),
                status: 301,
            },
            Redirect {
                from: "/docs/*".into(),
                to: "/guide/:splat".into(),
                status: 301,
            },
        ]
    }

    #[test]
    fn an_exact_rule_matches_only_its_path() {
        assert_eq!(redirect_target(&rules(), "/login"), Some("/".into()));
        assert_eq!(redirect_target(&rules(), "/login/x"), None);
    }

    #[test]
    fn a_splat_rule_carries_the_rest_of_the_path() {
        assert_eq!(
            redirect_target(&rules(), "/docs/a/b"),
            Some("/guide/a/b".into())
        );
        assert_eq!(redirect_target(&rules(), "/documents"), None);
    }
}
