use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Playbacks {
    Table,
    NodeId,
    StopRequestedAt,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    NodeId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The node whose take records the playback, and the node whose
        // disk holds a job's folder: several nodes on one database leave
        // each other's work alone while they are alive. Null: written
        // before nodes had ids (any node's, as before).
        manager
            .alter_table(
                Table::alter()
                    .table(Playbacks::Table)
                    .add_column(string_len_null(Playbacks::NodeId, 64))
                    .to_owned(),
            )
            .await?;
        // SQLite takes one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Playbacks::Table)
                    // A stop (or the end of its last event) asked of
                    // another node than the one recording it.
                    .add_column(timestamp_with_time_zone_null(Playbacks::StopRequestedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .add_column(string_len_null(Jobs::NodeId, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .drop_column(Jobs::NodeId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Playbacks::Table)
                    .drop_column(Playbacks::StopRequestedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Playbacks::Table)
                    .drop_column(Playbacks::NodeId)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
