//! `POST /api/auth/login`, `POST /api/auth/logout`, `GET /api/me`, and the [`AuthUser`]
//! extractor that any handler can take to require a session.

use axum::{
    extract::{FromRequestParts, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::{
    error::{ApiError, ApiJson, ApiResult, ErrorBody},
    http::client_address::ClientAddress,
    session::{Claims, SessionError},
    state::AppState,
    users,
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(format = Email, example = "ada@example.com")]
    pub email: String,
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 1024)]
    pub password: SecretString,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: i64,
    pub email: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub user: UserView,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

/// `GET /api/session`: the session, or `null` without one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionState {
    pub session: Option<SessionView>,
}

/// One message for a wrong password and an unknown email, so the answer does not reveal which.
const INVALID_CREDENTIALS: &str = "wrong email or password";

#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    summary = "Log in: sets the session cookie",
    request_body(content = LoginRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Logged in; `Set-Cookie` carries the signed session", body = SessionView,
            headers(("set-cookie" = String, description = "The HttpOnly, Secure (outside development) session cookie"))),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`: wrong email or password (the same answer for both)", body = ErrorBody),
        (status = 403, description = "`cross_site_request`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: above BODY_LIMIT_BYTES", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not `application/json`", body = ErrorBody),
        (status = 422, description = "`invalid_body`, `invalid_email` or `invalid_password`", body = ErrorBody),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`database_unavailable`: retry shortly", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "login", skip_all, fields(email = tracing::field::Empty))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let email = users::normalise_email(&body.email).ok_or_else(|| {
        ApiError::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
            "expected an email address such as ada@example.com",
        )
    })?;
    tracing::Span::current().record("email", email.as_str());
    let password_len = secrecy::ExposeSecret::expose_secret(&body.password)
        .chars()
        .count();
    if password_len == 0 || password_len > users::MAX_PASSWORD_CHARS {
        return Err(ApiError::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_password",
            format!(
                "expected a password of 1 to {} characters",
                users::MAX_PASSWORD_CHARS
            ),
        ));
    }
    if let Err(wait) = state.login_limits.check(client, &email) {
        let retry_after = wait.as_secs().max(1);
        tracing::warn!(client = ?client, retry_after, "login rate limited");
        let mut response = ApiError::client(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many login attempts; retry in {retry_after} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return Ok(response);
    }

    let user = users::find_by_email(&state.db, &email)
        .await
        .map_err(ApiError::from_database)?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let valid = users::verify_password(body.password, stored).await?;
    let Some(user) = user.filter(|_| valid) else {
        tracing::info!("login refused");
        return Err(ApiError::client(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            INVALID_CREDENTIALS,
        ));
    };

    let (token, claims) = state.sessions.issue(user.id, &user.email);
    tracing::info!(user_id = user.id, "logged in");
    let mut response = Json(SessionView {
        user: UserView {
            id: user.id,
            email: user.email,
        },
        expires_at: claims.exp,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.sessions.set_cookie(&token));
    Ok(response)
}

#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    summary = "Log out: clears the session cookie",
    responses(
        (status = 204, description = "The cookie is cleared (sessions are stateless: the token itself stays valid until it expires)"),
        (status = 403, description = "`cross_site_request`", body = ErrorBody),
    )
)]
pub async fn logout(State(state): State<AppState>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.sessions.clear_cookie());
    response
}

/// `GET /api/session`: the session if there is one, else `{"session": null}` — always 200, so a
/// page can ask on load without a 401 in the browser console.
#[utoipa::path(
    get,
    path = "/api/session",
    tag = "auth",
    summary = "The current session, or null",
    responses((status = 200, description = "Always 200", body = SessionState))
)]
pub async fn session(State(state): State<AppState>, headers: HeaderMap) -> Json<SessionState> {
    let session = session_claims(&state, &headers).ok().map(|c| SessionView {
        user: UserView {
            id: c.sub,
            email: c.email,
        },
        expires_at: c.exp,
    });
    Json(SessionState { session })
}

#[utoipa::path(
    get,
    path = "/api/me",
    tag = "auth",
    summary = "The logged-in user",
    responses(
        (status = 200, description = "The session's user", body = SessionView),
        (status = 401, description = "`unauthorized`: no valid session", body = ErrorBody),
    )
)]
pub async fn me(user: AuthUser) -> Json<SessionView> {
    Json(SessionView {
        user: UserView {
            id: user.id,
            email: user.email,
        },
        expires_at: user.expires_at,
    })
}

/// A verified session. Taking it as an argument makes a handler answer 401 without one.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i64,
    pub email: String,
    pub expires_at: u64,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = state
            .sessions
            .token_from_headers(&parts.headers)
            .ok_or(ApiError::Unauthorized)?;
        let claims = state.sessions.verify(&token).map_err(|e| {
            tracing::debug!(error = %e, "session refused");
            ApiError::Unauthorized
        })?;
        Ok(AuthUser {
            id: claims.sub,
            email: claims.email,
            expires_at: claims.exp,
        })
    }
}

/// The verified claims of the session cookie in `headers`.
fn session_claims(state: &AppState, headers: &HeaderMap) -> Result<Claims, SessionError> {
    let token = state
        .sessions
        .token_from_headers(headers)
        .ok_or(SessionError::Missing)?;
    state.sessions.verify(&token)
}
