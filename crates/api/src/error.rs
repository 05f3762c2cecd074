//! The api's one error type. Every failure a handler meets becomes an
//! [`ApiError`]; its status comes from one kind → status table and its body
//! is the contract's `{"error":{"code","message"}}`. Client errors carry
//! their real message; server errors carry a generic one, and the full cause
//! chain goes to the log once, never to the response.

use actix_web::{http::StatusCode, HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;
use vigil_domain::{Error, ErrorKind};

/// Stable machine-readable codes of the error body.
pub mod code {
    pub const BAD_REQUEST: &str = "bad_request";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const FORBIDDEN: &str = "forbidden";
    pub const NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const CONFLICT: &str = "conflict";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const GONE: &str = "gone";
    pub const UNPROCESSABLE: &str = "unprocessable_entity";
    pub const RATE_LIMITED: &str = "too_many_requests";
    pub const UNAVAILABLE: &str = "service_unavailable";
    pub const INTERNAL: &str = "internal_error";
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    /// Kept for the log only.
    cause: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `not_found`.
    pub code: &'static str,
    pub message: String,
    /// The request field at fault, for 400s about one field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            cause: None,
        }
    }

    /// A 400 about one field of the request.
    pub fn field(field: impl Into<String>, message: impl fmt::Display) -> Self {
        let field = field.into();
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            code::BAD_REQUEST,
            format!("{field}: {message}"),
        );
        e.field = Some(field);
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code::UNAUTHORIZED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code::FORBIDDEN, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            format!("{what} not found"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code::CONFLICT, message)
    }

    /// 410: it existed and is over (an expired share link).
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, code::GONE, message)
    }

    pub fn internal(cause: impl fmt::Display) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "internal error",
        );
        e.cause = Some(cause.to_string());
        e
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                field: self.field.clone(),
            },
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )?;
        if let Some(c) = &self.cause {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), error = %self, "request failed");
        } else {
            tracing::debug!(status = self.status.as_u16(), error = %self, "request refused");
        }
        HttpResponse::build(self.status).json(self.body())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (status, code) = match e.kind() {
            ErrorKind::InvalidArgument => (StatusCode::BAD_REQUEST, code::BAD_REQUEST),
            ErrorKind::Unprocessable => (StatusCode::UNPROCESSABLE_ENTITY, code::UNPROCESSABLE),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, code::NOT_FOUND),
            ErrorKind::Conflict => (StatusCode::CONFLICT, code::CONFLICT),
            ErrorKind::Unauthenticated => (StatusCode::UNAUTHORIZED, code::UNAUTHORIZED),
            ErrorKind::PermissionDenied => (StatusCode::FORBIDDEN, code::FORBIDDEN),
            ErrorKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, code::RATE_LIMITED),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, code::UNAVAILABLE),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL),
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "internal error".to_owned()
        } else {
            e.message().to_owned()
        };
        let mut out = ApiError::new(status, code, message);
        out.field = e.field().map(str::to_owned);
        out.cause = Some(e.chain());
        out
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body_of(e: &ApiError) -> serde_json::Value {
        let bytes = e.error_response().into_body().try_into_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn kinds_map_to_statuses() {
        let cases = [
            (ErrorKind::InvalidArgument, 400),
            (ErrorKind::Unprocessable, 422),
            (ErrorKind::NotFound, 404),
            (ErrorKind::Conflict, 409),
            (ErrorKind::Unauthenticated, 401),
            (ErrorKind::PermissionDenied, 403),
            (ErrorKind::RateLimited, 429),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::Internal, 500),
        ];
        for (kind, status) in cases {
            let e = ApiError::from(Error::new(kind, "m"));
            assert_eq!(e.status().as_u16(), status, "{kind:?}");
        }
    }

    #[test]
    fn server_errors_hide_their_cause() {
        let e = ApiError::from(
            Error::internal("db password=hunter2 failed")
                .with_source(std::io::Error::other("boom")),
        );
        let body = body_of(&e);
        assert_eq!(body["error"]["code"], "internal_error");
        assert_eq!(body["error"]["message"], "internal error");
        assert!(!body.to_string().contains("hunter2"));
    }

    #[test]
    fn field_errors_name_the_field() {
        let body = body_of(&ApiError::field("rtspUrl", "must use rtsp://"));
        assert_eq!(body["error"]["field"], "rtspUrl");
        assert_eq!(body["error"]["code"], "bad_request");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("rtspUrl:"));
    }
}
