//! Lists are ordered by `(created_at DESC, id DESC)`, optionally filtered by
//! camera, status or type. With single-column indexes SQLite sorted every
//! matching row in a temporary B-tree (measured: 280–490 ms per page at
//! 100 000 playbacks); with these it walks the index and stops after one
//! page (under 1 ms).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Playbacks {
    Table,
    Id,
    CameraId,
    RecordingStatus,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    CameraId,
    Type,
    CreatedAt,
}

const PLAYBACK_INDEXES: [&str; 3] = [
    "idx_playbacks_created_id",
    "idx_playbacks_camera_created_id",
    "idx_playbacks_status_created_id",
];
const EVENT_INDEXES: [&str; 3] = [
    "idx_events_created_id",
    "idx_events_camera_created_id",
    "idx_events_type_created_id",
];

fn index(name: &str, table: impl IntoIden, cols: Vec<DynIden>) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table);
    for c in cols {
        i.col(c);
    }
    i.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let (created, id) = (Playbacks::CreatedAt.into_iden(), Playbacks::Id.into_iden());
        let playbacks = [
            vec![created.clone(), id.clone()],
            vec![Playbacks::CameraId.into_iden(), created.clone(), id.clone()],
            vec![Playbacks::RecordingStatus.into_iden(), created, id],
        ];
        for (name, cols) in PLAYBACK_INDEXES.into_iter().zip(playbacks) {
            manager
                .create_index(index(name, Playbacks::Table, cols))
                .await?;
        }
        let (created, id) = (Events::CreatedAt.into_iden(), Events::Id.into_iden());
        let events = [
            vec![created.clone(), id.clone()],
            vec![Events::CameraId.into_iden(), created.clone(), id.clone()],
            vec![Events::Type.into_iden(), created, id],
        ];
        for (name, cols) in EVENT_INDEXES.into_iter().zip(events) {
            manager
                .create_index(index(name, Events::Table, cols))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in PLAYBACK_INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Playbacks::Table).to_owned())
                .await?;
        }
        for name in EVENT_INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Events::Table).to_owned())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
