use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    CameraId,
    ExternalId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    // The detector's own id of the event (a retried POST,
                    // Frigate's event id); null when it gave none.
                    .add_column(string_len_null(Events::ExternalId, 128))
                    .to_owned(),
            )
            .await?;
        // One event per camera and external id: the last word on two
        // retries racing. Rows without one (null) never collide.
        manager
            .create_index(
                Index::create()
                    .name("idx_events_camera_external_id")
                    .table(Events::Table)
                    .col(Events::CameraId)
                    .col(Events::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_events_camera_external_id")
                    .table(Events::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .drop_column(Events::ExternalId)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
