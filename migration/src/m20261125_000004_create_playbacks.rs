use super::m20261125_000002_create_cameras::Cameras;
use super::m20261125_000003_create_events::Events;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Playbacks {
    Table,
    Id,
    EventId,
    CameraId,
    RecordingStatus,
    VideoKey,
    ThumbnailKey,
    FileSizeBytes,
    DurationSec,
    Codec,
    Resolution,
    Width,
    Height,
    LocalPath,
    Error,
    StartedAt,
    EndedAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Playbacks::Table)
                    .col(pk_uuid(Playbacks::Id))
                    .col(uuid(Playbacks::EventId))
                    .col(uuid(Playbacks::CameraId))
                    // A string, not a database enum: the same on SQLite and
                    // Postgres, and new states need no ALTER TYPE.
                    .col(string_len(Playbacks::RecordingStatus, 16))
                    .col(text_null(Playbacks::VideoKey))
                    .col(text_null(Playbacks::ThumbnailKey))
                    .col(big_integer_null(Playbacks::FileSizeBytes))
                    .col(double_null(Playbacks::DurationSec))
                    .col(string_len_null(Playbacks::Codec, 32))
                    .col(string_len_null(Playbacks::Resolution, 16))
                    .col(integer_null(Playbacks::Width))
                    .col(integer_null(Playbacks::Height))
                    .col(text_null(Playbacks::LocalPath))
                    .col(text_null(Playbacks::Error))
                    .col(timestamp_with_time_zone_null(Playbacks::StartedAt))
                    .col(timestamp_with_time_zone_null(Playbacks::EndedAt))
                    .col(timestamp_with_time_zone(Playbacks::CreatedAt))
                    .col(timestamp_with_time_zone(Playbacks::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_playbacks_event")
                            .from(Playbacks::Table, Playbacks::EventId)
                            .to(Events::Table, Events::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_playbacks_camera")
                            .from(Playbacks::Table, Playbacks::CameraId)
                            .to(Cameras::Table, Cameras::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_playbacks_event_id", Playbacks::EventId),
            ("idx_playbacks_camera_id", Playbacks::CameraId),
            ("idx_playbacks_recording_status", Playbacks::RecordingStatus),
            ("idx_playbacks_created_at", Playbacks::CreatedAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Playbacks::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Playbacks::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
