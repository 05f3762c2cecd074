use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Playbacks {
    Table,
    BrowserPlayable,
    Gaps,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Two statements: SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Playbacks::Table)
                    // Whether a browser plays the clip as it is; null until
                    // the clip is probed.
                    .add_column(boolean_null(Playbacks::BrowserPlayable))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Playbacks::Table)
                    // JSON array of {at, seconds}: where the clip skips time.
                    .add_column(text_null(Playbacks::Gaps))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Playbacks::Gaps, Playbacks::BrowserPlayable] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Playbacks::Table)
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
