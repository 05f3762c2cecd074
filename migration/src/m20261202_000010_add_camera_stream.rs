use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cameras {
    Table,
    Transcode,
    Stream,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One ALTER TABLE per column: SQLite adds one at a time.
        let columns = [
            // `off` (copy the camera's video) or `h264`.
            string_len(Cameras::Transcode, 8).default("off").to_owned(),
            // JSON: what the camera was last seen to send; null until probed.
            text_null(Cameras::Stream),
        ];
        for column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Cameras::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Cameras::Stream, Cameras::Transcode] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Cameras::Table)
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
