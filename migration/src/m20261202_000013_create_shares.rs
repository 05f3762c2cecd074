use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Shares {
    Table,
    Id,
    PlaybackId,
    TokenHash,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Playbacks {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Shares::Table)
                    .col(pk_uuid(Shares::Id))
                    .col(uuid(Shares::PlaybackId))
                    // SHA-256 of the URL's token, hex: the database alone
                    // opens no clip.
                    .col(string_len_uniq(Shares::TokenHash, 64))
                    .col(timestamp_with_time_zone(Shares::ExpiresAt))
                    .col(timestamp_with_time_zone(Shares::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_shares_playback")
                            .from(Shares::Table, Shares::PlaybackId)
                            .to(Playbacks::Table, Playbacks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_shares_playback_id")
                    .table(Shares::Table)
                    .col(Shares::PlaybackId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Shares::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
