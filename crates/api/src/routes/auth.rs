//! `POST /api/auth/login`, `POST /api/auth/logout`, `POST /api/auth/logout-all`, `GET /api/me`,
//! `GET /api/session`, and the [`AuthUser`] extractor that any handler can take to require a
//! session. A session is a signed token (`session.rs`) that the shared database has not ended
//! (`revocation.rs`); both are checked on every request, on every instance.

use axum::{
    extract::{FromRequestParts, State},
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::{
    error::{ApiError, ApiJson, ApiResult, ErrorBody},
    http::client_address::ClientAddress,
    password::{PasswordError, SLOT_WAIT},
    rate_limit::Verdict,
    revocation,
    session::{Claims, SessionError},
    state::AppState,
    users,
};

/// The body of `POST /api/auth/login`. Unknown fields are refused (422 `invalid_body`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's email address, compared case-insensitively.
    #[schema(format = Email, example = "ada@example.com")]
    pub email: String,
    /// The password, 1 to 1024 bytes; never logged.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 1024)]
    pub password: SecretString,
}

/// A user as the API shows it: no password hash, no session data.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// The account's id.
    pub id: i64,
    /// The account's email address.
    pub email: String,
}

/// The body of a successful login and of `GET /api/me`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// Who is logged in.
    pub user: UserView,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

/// `GET /api/session`: the session, or `null` without one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionState {
    /// The live session, or `null`.
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
        (status = 429, description = "`rate_limited`: too many attempts from this address or for this account, across every instance", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`database_unavailable` (the accounts or the limits cannot be read), or `busy` (every password-hashing slot is taken)", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait, with `busy`"))),
    )
)]
/// `POST /api/auth/login`: checks the login limits, verifies the password (argon2id, in a
/// bounded slot), then sets the signed session cookie.
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
    // The limits live in the database: unreadable limits are a 503, never an unlimited attempt.
    let verdict = state
        .login_limits
        .check(&state.db, client, &email)
        .await
        .map_err(ApiError::from_database)?;
    if let Verdict::Limited(retry_after) = verdict {
        tracing::warn!(client = ?client, retry_after_secs = retry_after.as_secs(), "login rate limited");
        return Err(ApiError::RateLimited { retry_after });
    }

    let user = users::find_by_email(&state.db, &email)
        .await
        .map_err(ApiError::from_database)?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let valid = state
        .passwords
        .verify(body.password, stored)
        .await
        .map_err(|e| match e {
            PasswordError::Busy => ApiError::Busy {
                retry_after: SLOT_WAIT,
            },
            PasswordError::Hash(e) => ApiError::Internal(anyhow::anyhow!(e)),
        })?;
    let Some(user) = user.filter(|_| valid) else {
        tracing::info!("login refused");
        return Err(ApiError::client(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            INVALID_CREDENTIALS,
        ));
    };

    let (token, claims) = state
        .sessions
        .issue(user.id, &user.email, user.session_epoch);
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
    summary = "Log out: ends this session and clears its cookie",
    responses(
        (status = 204, description = "The session is ended on every instance (its id is revoked until it would have expired) and the cookie cleared; also 204 without a session"),
        (status = 403, description = "`cross_site_request`", body = ErrorBody),
        (status = 503, description = "`database_unavailable`: the session could not be ended; the cookie is kept, retry", body = ErrorBody),
    )
)]
/// `POST /api/auth/logout`: revokes this session's id in the shared database, then clears the
/// cookie. Idempotent: 204 without a session too.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    // A token that verifies is revoked even if already ended: revoking twice is harmless.
    if let Some(claims) = state
        .sessions
        .token_from_headers(&headers)
        .and_then(|token| state.sessions.verify(&token).ok())
    {
        revocation::revoke(&state.db, &claims)
            .await
            .map_err(ApiError::from_database)?;
        tracing::info!(user_id = claims.sub, "logged out");
    }
    Ok(cleared_cookie(&state))
}

#[utoipa::path(
    post,
    path = "/api/auth/logout-all",
    tag = "auth",
    summary = "Log out everywhere: ends every session of the caller",
    responses(
        (status = 204, description = "Every session of the account is ended on every instance, this one included, and its cookie cleared"),
        (status = 401, description = "`unauthorized`: no valid session", body = ErrorBody),
        (status = 403, description = "`cross_site_request`", body = ErrorBody),
        (status = 503, description = "`database_unavailable`: retry", body = ErrorBody),
    )
)]
/// `POST /api/auth/logout-all`: raises the account's session epoch, ending every session it has
/// on every instance.
pub async fn logout_all(State(state): State<AppState>, user: AuthUser) -> ApiResult<Response> {
    revocation::end_all(&state.db, user.id)
        .await
        .map_err(ApiError::from_database)?;
    tracing::info!(user_id = user.id, "logged out of every session");
    Ok(cleared_cookie(&state))
}

fn cleared_cookie(state: &AppState) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.sessions.clear_cookie());
    response
}

/// `GET /api/session`: the session if there is one, else `{"session": null}`, so a page can ask
/// on load without a 401 in the browser console.
#[utoipa::path(
    get,
    path = "/api/session",
    tag = "auth",
    summary = "The current session, or null",
    responses(
        (status = 200, description = "The session, or `null` without a live one", body = SessionState),
        (status = 503, description = "`database_unavailable`: whether the session was ended cannot be checked", body = ErrorBody),
    )
)]
pub async fn session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<SessionState>> {
    let session = match current_session(&state, &headers).await {
        Ok(claims) => Some(SessionView {
            user: UserView {
                id: claims.sub,
                email: claims.email,
            },
            expires_at: claims.exp,
        }),
        Err(SessionCheck::Invalid) => None,
        Err(SessionCheck::Database(e)) => return Err(ApiError::from_database(e)),
    };
    Ok(Json(SessionState { session }))
}

#[utoipa::path(
    get,
    path = "/api/me",
    tag = "auth",
    summary = "The logged-in user",
    responses(
        (status = 200, description = "The session's user", body = SessionView),
        (status = 401, description = "`unauthorized`: no live session", body = ErrorBody),
        (status = 503, description = "`database_unavailable`: whether the session was ended cannot be checked", body = ErrorBody),
    )
)]
/// `GET /api/me`: the logged-in user; 401 without a session.
pub async fn me(user: AuthUser) -> Json<SessionView> {
    Json(SessionView {
        user: UserView {
            id: user.id,
            email: user.email,
        },
        expires_at: user.expires_at,
    })
}

/// A live session. Taking it as an argument makes a handler answer 401 without one (and 503
/// when the database cannot say whether it was ended).
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The account's id.
    pub id: i64,
    /// The account's email address.
    pub email: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match current_session(state, &parts.headers).await {
            Ok(claims) => Ok(AuthUser {
                id: claims.sub,
                email: claims.email,
                expires_at: claims.exp,
            }),
            Err(SessionCheck::Invalid) => Err(ApiError::Unauthorized),
            Err(SessionCheck::Database(e)) => Err(ApiError::from_database(e)),
        }
    }
}

enum SessionCheck {
    /// No cookie, a bad or expired token, or a session that was ended.
    Invalid,
    Database(sqlx::Error),
}

/// The claims of the request's session, if its token verifies and the database has not ended it.
async fn current_session(state: &AppState, headers: &HeaderMap) -> Result<Claims, SessionCheck> {
    let token = state
        .sessions
        .token_from_headers(headers)
        .ok_or(SessionCheck::Invalid)?;
    let claims = state.sessions.verify(&token).map_err(|e: SessionError| {
        tracing::debug!(error = %e, "session refused");
        SessionCheck::Invalid
    })?;
    match revocation::is_current(&state.db, &claims).await {
        Ok(true) => Ok(claims),
        Ok(false) => {
            tracing::debug!(user_id = claims.sub, "session ended");
            Err(SessionCheck::Invalid)
        }
        Err(e) => Err(SessionCheck::Database(e)),
    }
}
