//! Everything outside `/api` and `/health`: the policy's path redirects (the same rules the static
//! hosts get in `_redirects` and render.yaml), then the frontend.

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use edge_policy::policy::Redirect;

use crate::{error::ApiError, state::AppState};

pub async fn fallback(State(state): State<AppState>, uri: Uri) -> Response {
    if let Some(location) = redirect_target(&state.settings.policy.redirects, uri.path()) {
        if let Ok(location) = HeaderValue::try_from(location) {
            return (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
    }
    ApiError::NotFound.into_response()
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
