//! Opening the database the same way for the server and the operators'
//! binary. SQLite gets WAL (readers don't block the writer), `synchronous =
//! NORMAL` (safe with WAL) and a busy timeout; these can't go in the URL
//! (sqlx refuses `?journal_mode=`), so they are set on the options.

use sea_orm_migration::sea_orm::{
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
    ConnectOptions, Database, DatabaseConnection, DbErr,
};
use std::time::Duration;

/// Connects to `url` (`sqlite://…` or `postgres://…`).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // One writer at a time is SQLite's rule anyway; a few connections let
        // reads go on beside it under WAL.
        opts.max_connections(4).min_connections(1);
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    } else {
        opts.max_connections(16);
    }
    Database::connect(opts).await
}

/// The URL with its password hidden, for log lines and error messages.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host/... → scheme://user:***@host/...
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &rest[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}://{}:***@{}",
            &url[..scheme_end],
            &userinfo[..colon],
            &rest[at + 1..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_passwords_only() {
        assert_eq!(
            redact_url("postgres://vigil:hunter2@db:5432/vigil"),
            "postgres://vigil:***@db:5432/vigil"
        );
        assert_eq!(
            redact_url("sqlite://data/vigil.db?mode=rwc"),
            "sqlite://data/vigil.db?mode=rwc"
        );
    }
}
