//! Test fixtures: a migrated database on a temporary SQLite file or in a
//! throwaway Postgres database, removed when dropped.
//!
//! Postgres comes from `VIGIL_TEST_POSTGRES_URL`, an admin URL that may
//! create databases; `tools/test` starts such a server and sets it.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test fixtures fail loudly by design

use crate::Database;
use sea_orm::ConnectionTrait;

/// Makes one `#[tokio::test]` per backend of an async test body taking a
/// [`TestDatabase`]: `both!(name, |t: TestDatabase| async move { … });`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                ($body)($crate::testing::TestDatabase::new($crate::testing::Backend::Sqlite).await)
                    .await
            }
            #[tokio::test]
            async fn postgres() {
                ($body)(
                    $crate::testing::TestDatabase::new($crate::testing::Backend::Postgres).await,
                )
                .await
            }
        }
    };
}

/// The two backends every persistence test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const POSTGRES_ENV: &str = "VIGIL_TEST_POSTGRES_URL";

#[derive(Debug)]
pub struct TestDatabase {
    pub db: Database,
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

/// The admin URL of the test Postgres server. Panics with instructions when
/// unset: a persistence test that silently skipped Postgres would prove
/// nothing about it.
pub fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_ENV} is not set. Run the tests with `tools/test` (it starts \
             PostgreSQL), or point {POSTGRES_ENV} at a server where you may create databases."
        )
    })
}

/// Replaces the database name (the path) of a Postgres URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let cut = base.rfind('/').unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..cut]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// An empty, unmigrated database URL and its cleanup.
    pub async fn empty(backend: Backend) -> (String, TestDatabaseGuard) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/vigil.db?mode=rwc", dir.path().display());
                (url, TestDatabaseGuard(Some(Cleanup::Sqlite(dir))))
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("vigil_test_{}", uuid::Uuid::new_v4().simple());
                let admin = migration::connect(&admin_url)
                    .await
                    .expect("connect to test Postgres");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                let url = with_database(&admin_url, &name);
                (
                    url,
                    TestDatabaseGuard(Some(Cleanup::Postgres { admin_url, name })),
                )
            }
        }
    }

    pub async fn sqlite() -> Self {
        Self::migrated(Backend::Sqlite).await
    }

    pub async fn postgres() -> Self {
        Self::migrated(Backend::Postgres).await
    }

    async fn migrated(backend: Backend) -> Self {
        let (url, mut guard) = Self::empty(backend).await;
        let db = Database::connect(&url)
            .await
            .expect("connect test database");
        db.migrate().await.expect("migrate test database");
        let cleanup = guard.0.take().expect("fresh guard");
        Self { db, url, cleanup }
    }
}

/// Drops a test database when it goes out of scope.
#[derive(Debug)]
pub struct TestDatabaseGuard(Option<Cleanup>);

impl Drop for TestDatabaseGuard {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            drop_cleanup(c);
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let c = std::mem::replace(
            &mut self.cleanup,
            Cleanup::Postgres {
                admin_url: String::new(),
                name: String::new(),
            },
        );
        drop_cleanup(c);
    }
}

fn drop_cleanup(c: Cleanup) {
    if let Cleanup::Postgres { admin_url, name } = c {
        if name.is_empty() {
            return;
        }
        // Drop runs outside any runtime guarantee; use a private one on its
        // own thread so it works from sync and async contexts alike.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(admin) = migration::connect(&admin_url).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        let _ = admin.close().await;
                    }
                });
            }
        })
        .join();
    }
}

/// Inserts `n` events on `camera`, each with a COMPLETED playback, in
/// batches (for load benchmarks: a year of events in seconds, not the hours
/// one transaction per row would take).
pub async fn seed_completed_playbacks(db: &Database, camera: vigil_domain::CameraId, n: usize) {
    use crate::entity::{events, playbacks};
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let start = time::OffsetDateTime::now_utc() - time::Duration::days(365);
    let mut done = 0;
    while done < n {
        let batch = (n - done).min(500);
        let mut evs = Vec::with_capacity(batch);
        let mut pbs = Vec::with_capacity(batch);
        for i in 0..batch {
            let at = crate::repo::micros(start + time::Duration::seconds((done + i) as i64 * 300));
            let (event, playback) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
            evs.push(events::ActiveModel {
                id: Set(event),
                camera_id: Set(camera.as_uuid()),
                event_type: Set("MOTION".into()),
                description: Set(Some("Motion detected".into())),
                n_channel_id: Set(None),
                playback_id: Set(Some(playback)),
                occurred_at: Set(None),
                group_id: Set(None),
                external_id: Set(None),
                created_at: Set(at),
                ended_at: Set(Some(at + time::Duration::seconds(30))),
            });
            pbs.push(playbacks::ActiveModel {
                id: Set(playback),
                event_id: Set(event),
                camera_id: Set(camera.as_uuid()),
                recording_status: Set("COMPLETED".into()),
                video_key: Set(Some(format!("playbacks/{playback}/video.mp4"))),
                thumbnail_key: Set(Some(format!("playbacks/{playback}/thumbnail.jpg"))),
                file_size_bytes: Set(Some(15_000_000)),
                duration_sec: Set(Some(30.0)),
                codec: Set(Some("H.264".into())),
                resolution: Set(Some("1080p".into())),
                width: Set(Some(1920)),
                height: Set(Some(1080)),
                browser_playable: Set(Some(true)),
                gaps: Set(None),
                retain: Set(false),
                node_id: Set(None),
                stop_requested_at: Set(None),
                handoff: Set(None),
                local_path: Set(None),
                error: Set(None),
                started_at: Set(Some(at)),
                ended_at: Set(Some(at + time::Duration::seconds(30))),
                created_at: Set(at),
                updated_at: Set(at),
            });
        }
        events::Entity::insert_many(evs)
            .exec_without_returning(&db.conn)
            .await
            .expect("seed events");
        playbacks::Entity::insert_many(pbs)
            .exec_without_returning(&db.conn)
            .await
            .expect("seed playbacks");
        done += batch;
    }
}

/// Makes playback `id` of the database at `url` look `age` older (its
/// `createdAt`, which retention goes by), so a test can see a sweep
/// without waiting days.
pub async fn age_playback(url: &str, id: uuid::Uuid, age: time::Duration) {
    use crate::entity::playbacks;
    use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter};
    let conn = migration::connect(url)
        .await
        .expect("connect to age a playback");
    let row = playbacks::Entity::find_by_id(id)
        .one(&conn)
        .await
        .expect("read the playback")
        .expect("the playback exists");
    let older = crate::repo::micros(row.created_at - age);
    playbacks::Entity::update_many()
        .col_expr(playbacks::Column::CreatedAt, Expr::value(older))
        .filter(playbacks::Column::Id.eq(id))
        .exec(&conn)
        .await
        .expect("age the playback");
    let _ = conn.close().await;
}
