use super::m20261125_000002_create_cameras::Cameras;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Events {
    Table,
    Id,
    CameraId,
    Type,
    Description,
    NChannelId,
    PlaybackId,
    CreatedAt,
    EndedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(pk_uuid(Events::Id))
                    .col(uuid(Events::CameraId))
                    .col(string_len(Events::Type, 32))
                    .col(text_null(Events::Description))
                    .col(integer_null(Events::NChannelId))
                    // No foreign key: the playback row references the event,
                    // and a cycle would make inserts order-dependent.
                    .col(uuid_null(Events::PlaybackId))
                    .col(timestamp_with_time_zone(Events::CreatedAt))
                    .col(timestamp_with_time_zone_null(Events::EndedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_events_camera")
                            .from(Events::Table, Events::CameraId)
                            .to(Cameras::Table, Cameras::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_events_camera_id", Events::CameraId),
            ("idx_events_type", Events::Type),
            ("idx_events_created_at", Events::CreatedAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Events::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Events::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
