//! Signals between nodes on PostgreSQL's `LISTEN`/`NOTIFY`, on one
//! channel. A `NOTIFY` is sent inside no transaction, so it is delivered
//! at once. A listener that lost its connection reconnects (sqlx's
//! `PgListener`) and reports the loss, because signals sent meanwhile are
//! gone (the pollers make up for them).

use async_trait::async_trait;
use sea_orm::{sqlx::postgres::PgListener, ConnectionTrait, DatabaseConnection, Statement};
use vigil_domain::{
    ports::{Result, Signals},
    Error, Signal,
};

/// The channel every node listens on.
const CHANNEL: &str = "vigil";

#[derive(Debug)]
pub struct PgSignals {
    conn: DatabaseConnection,
    /// Made on the first receive; kept across receives.
    listener: tokio::sync::Mutex<Option<PgListener>>,
}

impl PgSignals {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self {
            conn,
            listener: tokio::sync::Mutex::new(None),
        }
    }
}

fn lost(e: sea_orm::sqlx::Error) -> Error {
    Error::unavailable("the signal channel to the database was lost").with_source(e)
}

#[async_trait]
impl Signals for PgSignals {
    async fn send(&self, signal: &Signal) -> Result<()> {
        self.conn
            .execute_raw(Statement::from_sql_and_values(
                self.conn.get_database_backend(),
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), signal.encode().into()],
            ))
            .await
            .map_err(crate::errors::db_err("signal"))?;
        Ok(())
    }

    async fn close(&self) {
        self.listener.lock().await.take();
    }

    async fn recv(&self) -> Result<Signal> {
        let mut held = self.listener.lock().await;
        if held.is_none() {
            let mut l = PgListener::connect_with(self.conn.get_postgres_connection_pool())
                .await
                .map_err(lost)?;
            l.listen(CHANNEL).await.map_err(lost)?;
            *held = Some(l);
        }
        let Some(l) = held.as_mut() else {
            return Err(Error::internal("signal listener missing"));
        };
        loop {
            match l.try_recv().await {
                Ok(Some(n)) => match Signal::decode(n.payload()) {
                    Some(s) => return Ok(s),
                    None => tracing::debug!(payload = n.payload(), "an unknown signal; ignored"),
                },
                // The connection was lost (and made again): say so, as
                // signals sent meanwhile are gone.
                Ok(None) => {
                    return Err(Error::unavailable(
                        "the signal channel to the database was lost",
                    ));
                }
                Err(e) => {
                    *held = None;
                    return Err(lost(e));
                }
            }
        }
    }
}
