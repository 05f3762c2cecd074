//! Maps database errors to domain error kinds in one place.

use sea_orm::{DbErr, RuntimeErr, SqlErr};
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
            DbErr::Exec(RuntimeErr::SqlxError(ref s))
            | DbErr::Query(RuntimeErr::SqlxError(ref s))
                if connection_lost(s) =>
            {
                Error::unavailable("database unavailable").with_source(e)
            }
            other => Error::internal(format!("{what}: database error")).with_source(other),
        },
    }
}

/// A query that failed because the server went away (killed, restarted,
/// network gone) rather than because of the query: retryable, 503.
fn connection_lost(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match e {
        E::Io(_)
        | E::Tls(_)
        | E::Protocol(_)
        | E::PoolTimedOut
        | E::PoolClosed
        | E::WorkerCrashed => true,
        // SQLSTATE class 08: connection exception; 57P: the server is
        // shutting down or restarting.
        E::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// A stored value that no longer parses means the row was written by
/// something else than Vigil; fail loudly rather than guess.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::internal(format!("stored {what} is invalid: {detail}"))
}
