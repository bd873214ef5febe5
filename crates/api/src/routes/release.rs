//! `GET /api/release`: what this release is — environment, version, release id (with its commit
//! page when `REPOSITORY_URL` is set) and the instance answering — for the release page a person
//! sees after login.

use axum::{extract::State, Json};
use serde::Serialize;

use crate::{config::AppEnv, error::ErrorBody, routes::auth::AuthUser, state::AppState};

/// The environment, as `APP_ENV` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A local machine (`main`'s Dev service on Render runs `development` too).
    Development,
    /// The `staging` branch's deploy.
    Staging,
    /// A `vX.Y.Z` tag's deploy.
    Production,
}

impl From<AppEnv> for Environment {
    fn from(env: AppEnv) -> Self {
        match env {
            AppEnv::Development => Environment::Development,
            AppEnv::Staging => Environment::Staging,
            AppEnv::Production => Environment::Production,
        }
    }
}

/// This release and the instance that answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseView {
    /// Where this instance runs (`APP_ENV`).
    pub environment: Environment,
    /// The API's crate version.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// The commit this instance runs (`RENDER_GIT_COMMIT`, else the commit the binary was built
    /// from); absent when neither is known. The same value as `release_flow_build_info`'s
    /// `release_id` and `/api/health`'s `releaseId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_id: Option<String>,
    /// `REPOSITORY_URL/commit/RELEASE_ID`; absent without `REPOSITORY_URL` or when the release id
    /// is not a commit hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uri")]
    pub commit_url: Option<String>,
    /// The service (`RENDER_SERVICE_NAME`).
    pub service_id: String,
    /// The instance that answered (`RENDER_INSTANCE_ID`, else the hostname).
    pub instance_id: String,
}

/// `GET /api/release`. Behind a session: the page shows it only after login, and an anonymous
/// caller has no need for the environment or the repository's address. Machines that must tell
/// releases and instances apart (Render, `release-check verify`, Prometheus) already read
/// version, release id and instance from the public `/api/health` and `/metrics`.
#[utoipa::path(
    get,
    path = "/api/release",
    tag = "health",
    summary = "This release: environment, version, release id, commit link, instance",
    responses(
        (status = 200, description = "The release and the instance that answered", body = ReleaseView),
        (status = 401, description = "`unauthorized`: no live session", body = ErrorBody),
        (status = 503, description = "`database_unavailable`: whether the session was ended cannot be checked", body = ErrorBody),
    )
)]
pub async fn release(State(state): State<AppState>, _user: AuthUser) -> Json<ReleaseView> {
    let release = &state.settings.release;
    Json(ReleaseView {
        environment: state.settings.env.into(),
        version: release.version,
        release_id: release.release_id.clone(),
        commit_url: release.commit_url.clone(),
        service_id: release.service_id.clone(),
        instance_id: release.instance_id.clone(),
    })
}
