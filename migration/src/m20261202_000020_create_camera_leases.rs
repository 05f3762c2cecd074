use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CameraLeases {
    Table,
    CameraId,
    NodeId,
    Epoch,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Nodes {
    Table,
    StoppedAt,
}

#[derive(DeriveIden)]
enum Playbacks {
    Table,
    Handoff,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Which node owns which camera, until when. A row outlives its
        // holder (a lease given back has run out) so the epoch keeps
        // growing across changes of hands. No foreign key: a deleted
        // camera's row is harmless and the leasing pass skips it.
        manager
            .create_table(
                Table::create()
                    .table(CameraLeases::Table)
                    .col(uuid(CameraLeases::CameraId).primary_key())
                    .col(string_len(CameraLeases::NodeId, 64))
                    .col(big_integer(CameraLeases::Epoch))
                    .col(timestamp_with_time_zone(CameraLeases::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        // A PENDING playback handed to its camera's owner: the window to
        // record (`RecordWindow::to_text`); null once a node started it.
        manager
            .alter_table(
                Table::alter()
                    .table(Playbacks::Table)
                    .add_column(string_len_null(Playbacks::Handoff, 128))
                    .to_owned(),
            )
            .await?;
        // A node stopped by SIGTERM says so: not alive from then on.
        manager
            .alter_table(
                Table::alter()
                    .table(Nodes::Table)
                    .add_column(timestamp_with_time_zone_null(Nodes::StoppedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Nodes::Table)
                    .drop_column(Nodes::StoppedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Playbacks::Table)
                    .drop_column(Playbacks::Handoff)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(CameraLeases::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
