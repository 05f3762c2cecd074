//! The one error type of the ports. Its [`ErrorKind`] is what the api crate
//! maps to an HTTP status, so every adapter says *what kind* of failure it
//! met, not how it met it (Moonfire NVR's `ErrorKind`, trimmed to our needs).

use std::fmt;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller sent something that can never succeed as it is.
    InvalidArgument,
    /// Well-formed, but not acceptable in meaning (e.g. an unknown camera id in a body).
    Unprocessable,
    NotFound,
    /// The thing exists but its state forbids the request (e.g. duplicate name).
    Conflict,
    Unauthenticated,
    PermissionDenied,
    /// Too many attempts; try later.
    RateLimited,
    /// A dependency (database, store, camera, capacity) can't serve now.
    Unavailable,
    /// A bug or an unexpected failure; its message is never shown to clients.
    Internal,
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from a port, with a kind, a message safe to show for client
/// errors, and the underlying cause kept for the log.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The request field the error is about, when there is one.
    field: Option<&'static str>,
    #[source]
    source: Option<Source>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            field: None,
            source: None,
        }
    }

    /// An id in a request body that names nothing: NotFound, with the field.
    pub fn unknown_id(field: &'static str, what: &str) -> Self {
        Self {
            field: Some(field),
            ..Self::new(ErrorKind::NotFound, format!("{field}: no such {what}"))
        }
    }

    /// A request field whose value is refused: InvalidArgument, with the field.
    pub fn invalid_field(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            ..Self::new(ErrorKind::InvalidArgument, message)
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        self.field
    }

    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorKind::NotFound, format!("{what} not found"))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The message and every cause, for logs (never for responses).
    pub fn chain(&self) -> String {
        let mut out = format!("{:?}: {}", self.kind, self.message);
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            out.push_str(": caused by: ");
            out.push_str(&e.to_string());
            cur = e.source();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_includes_every_cause() {
        let io = std::io::Error::other("disk gone");
        let e = Error::unavailable("database unavailable").with_source(io);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.to_string(), "database unavailable");
        assert!(e.chain().contains("caused by: disk gone"), "{}", e.chain());
    }
}
