//! The one error type of the HTTP layer. Every error leaves as
//! `{"error": {"code": "...", "message": "..."}}`; server-side detail is logged, never sent.

use axum::{
    extract::rejection::JsonRejection,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// What handlers return: a value, or an [`ApiError`] rendered as a JSON error.
pub type ApiResult<T, E = ApiError> = Result<T, E>;

/// Every way a request can fail, each with one status and one stable `code`.
/// Server-side variants log their source and send a generic message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The client's mistake: the message is safe to show and says what to change.
    #[error("{message}")]
    Client {
        /// A 4xx status.
        status: StatusCode,
        /// The stable code (`invalid_body`, `bad_path`, …).
        code: &'static str,
        /// What to change, for a person.
        message: String,
    },
    /// 401 `unauthorized`: no valid session.
    #[error("authentication required")]
    Unauthorized,
    /// Too many attempts: 429 with `Retry-After` (RFC 6585 §4, RFC 9110 §10.2.3).
    #[error("too many attempts; retry in {} s", .retry_after.as_secs())]
    RateLimited {
        /// Until the next attempt is allowed; sent as `Retry-After` in whole seconds, rounded up.
        retry_after: std::time::Duration,
    },
    /// Every password-hashing slot is busy: 503 with `Retry-After` (RFC 9110 §15.6.4).
    #[error("the service is busy; retry in {} s", .retry_after.as_secs())]
    Busy {
        /// A hint for the client, sent as `Retry-After` in whole seconds.
        retry_after: std::time::Duration,
    },
    /// 404 `not_found`.
    #[error("not found")]
    NotFound,
    /// 503 `database_unavailable`: the pool timed out, the connection broke or was refused by the
    /// server, or the disk is full.
    #[error("the database is unavailable; retry shortly")]
    DatabaseUnavailable(#[source] sqlx::Error),
    /// 500 `internal`: a database error that is a bug (a constraint, a bad query).
    #[error("an internal error occurred")]
    Database(#[from] sqlx::Error),
    /// 500 `internal`: anything else unexpected.
    #[error("an internal error occurred")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A client mistake with its status, stable code and message.
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Client {
            status,
            code,
            message: message.into(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Client { status, .. } => *status,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Database(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code in the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Client { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Busy { .. } => "busy",
            ApiError::NotFound => "not_found",
            ApiError::DatabaseUnavailable(_) => "database_unavailable",
            ApiError::Database(_) | ApiError::Internal(_) => "internal",
        }
    }

    /// Sorts a database failure into "unreachable" (503, retry later) or "bug" (500).
    pub fn from_database(err: sqlx::Error) -> ApiError {
        match err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_) => ApiError::DatabaseUnavailable(err),
            // A full or read-only disk: the machine's fault, and it passes once space is freed.
            ref e if crate::db::storage_fault(e).is_some() => ApiError::DatabaseUnavailable(err),
            // The server refused or ended the session (shutdown, not accepting connections).
            ref e if crate::db::connection_refused(e) => ApiError::DatabaseUnavailable(err),
            other => ApiError::Database(other),
        }
    }
}

/// Header fields to reserve when a hot path (the liveness probe, a static file) makes its
/// response: its own (at most six for a static file) plus what the layers add (a class's policy
/// headers, `Cache-Control`, HSTS, the request id), so the map is allocated once rather than
/// grown while the layers fill it.
pub const RESPONSE_HEADER_ROOM: usize = 20;

/// Marks a response whose non-JSON error body is deliberate (liveness says `draining` in plain
/// text), so the JSON-error layer leaves it alone.
#[derive(Clone, Copy, Debug)]
pub struct PlainBody;

/// Every error response: `{"error": {"code", "message"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// The one field.
    pub error: ErrorDetail<'a>,
}

/// The code and message of an [`ErrorBody`].
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// Stable, machine-readable: `not_found`, `invalid_body`, `rate_limited`, ...
    pub code: &'a str,
    /// For a person: what went wrong and what to change.
    pub message: &'a str,
}

/// Builds the JSON error response used by every error path, including the ones that do not start
/// as an [`ApiError`] (405, 413, timeouts, panics).
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::to_vec(&ErrorBody {
        error: ErrorDetail { code, message },
    })
    .expect("serialisable");
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Database(e) => {
                tracing::error!(error = %e, error.debug = ?e, "database error")
            }
            ApiError::DatabaseUnavailable(e) => match crate::db::storage_fault(e) {
                Some(fault) => tracing::error!(error = %e, fault, "database storage fault"),
                None => tracing::warn!(error = %e, "database unavailable"),
            },
            ApiError::Internal(e) => {
                tracing::error!(error = %e, error.chain = ?e, "internal error")
            }
            _ => {}
        }
        let mut response = error_response(self.status(), self.code(), &self.to_string());
        if let ApiError::RateLimited { retry_after } | ApiError::Busy { retry_after } = &self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            );
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match &rejection {
            JsonRejection::JsonDataError(_) => "invalid_body",
            JsonRejection::JsonSyntaxError(_) => "malformed_json",
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                "payload_too_large"
            }
            _ => "bad_request",
        };
        ApiError::Client {
            status: rejection.status(),
            code,
            message: rejection.body_text(),
        }
    }
}

/// `axum::Json` whose rejection is an [`ApiError`], so malformed bodies get the JSON error shape.
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: axum::extract::FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}
