//! Maps database errors to domain error kinds in one place.

use sea_orm::{DbErr, SqlErr};
use vigil_domain::{Error, ErrorKind};

pub(crate) fn db_err(what: &str) -> impl FnOnce(DbErr) -> Error + '_ {
    move |e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::conflict(format!("{what}: already exists"))
        }
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => Error::new(
            ErrorKind::Conflict,
            format!("{what}: still referenced, or refers to something missing"),
        ),
        _ => match e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
                Error::unavailable("database unavailable").with_source(e)
            }
            other => Error::internal(format!("{what}: database error")).with_source(other),
        },
    }
}

/// A stored value that no longer parses means the row was written by
/// something else than Vigil; fail loudly rather than guess.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::internal(format!("stored {what} is invalid: {detail}"))
}
