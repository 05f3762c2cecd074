//! Repositories: one per table, each implementing a domain port and
//! converting rows to domain types at this edge.

mod cameras;
pub(crate) mod count_cache;
mod events;
mod jobs;
mod nodes;
mod playbacks;
mod shares;
mod users;
mod webhooks;

pub use cameras::SqlCameraRepo;
pub use events::SqlEventRepo;
pub use jobs::SqlJobQueue;
pub use nodes::SqlNodeRepo;
pub use playbacks::SqlPlaybackRepo;
pub use shares::SqlShareRepo;
pub use users::SqlUserRepo;
pub use webhooks::SqlWebhookRepo;

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use time::OffsetDateTime;

/// Begins a transaction that will write. On SQLite it is IMMEDIATE: a
/// DEFERRED one that reads then writes gets SQLITE_BUSY at once, skipping
/// the busy timeout.
pub(crate) async fn begin_write(conn: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    conn.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Now, in UTC, at microsecond precision so a value read back equals the one
/// written on both SQLite (text) and Postgres (timestamptz, µs).
pub(crate) fn now() -> OffsetDateTime {
    micros(OffsetDateTime::now_utc())
}

/// `t` in UTC, cut to microseconds (what Postgres keeps).
pub(crate) fn micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}
