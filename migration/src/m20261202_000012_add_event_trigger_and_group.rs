use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    OccurredAt,
    GroupId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One ALTER TABLE per column: SQLite adds one at a time.
        let columns = [
            // When the detector saw it, when it said so.
            timestamp_with_time_zone_null(Events::OccurredAt),
            // Shared by the events one trigger made on several cameras.
            uuid_null(Events::GroupId),
        ];
        for column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Events::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_events_group_id")
                    .table(Events::Table)
                    .col(Events::GroupId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_events_group_id")
                    .table(Events::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Events::GroupId, Events::OccurredAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Events::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
