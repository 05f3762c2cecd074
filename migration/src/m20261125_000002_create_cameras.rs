use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Cameras {
    Table,
    Id,
    Name,
    RtspUrl,
    NChannelId,
    PreRollSeconds,
    PostRollSeconds,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Cameras::Table)
                    .col(pk_uuid(Cameras::Id))
                    .col(string_len(Cameras::Name, 128))
                    .col(text(Cameras::RtspUrl))
                    .col(integer_null(Cameras::NChannelId))
                    .col(integer(Cameras::PreRollSeconds).default(0))
                    .col(integer(Cameras::PostRollSeconds).default(0))
                    .col(timestamp_with_time_zone(Cameras::CreatedAt))
                    .col(timestamp_with_time_zone(Cameras::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_cameras_created_at")
                    .table(Cameras::Table)
                    .col(Cameras::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Cameras::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
