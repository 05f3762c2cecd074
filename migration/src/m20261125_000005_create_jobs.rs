use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    PlaybackId,
    Kind,
    Dir,
    Note,
    Attempts,
    LastError,
    RunAfter,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .col(pk_uuid(Jobs::Id))
                    // No foreign key: a job outlives its playback's row when
                    // the playback is deleted mid-upload, so the worker can
                    // still remove the folder and the uploaded objects.
                    .col(uuid_uniq(Jobs::PlaybackId))
                    .col(string_len(Jobs::Kind, 16))
                    .col(text(Jobs::Dir))
                    .col(text_null(Jobs::Note))
                    .col(integer(Jobs::Attempts).default(0))
                    .col(text_null(Jobs::LastError))
                    // Unix milliseconds: compared with `now` in SQL, and an
                    // integer compares the same on SQLite (where timestamps
                    // are text) and Postgres.
                    .col(big_integer(Jobs::RunAfter))
                    .col(string_len_null(Jobs::LeaseOwner, 64))
                    .col(big_integer_null(Jobs::LeaseUntil))
                    .col(timestamp_with_time_zone(Jobs::CreatedAt))
                    .col(timestamp_with_time_zone(Jobs::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_run_after")
                    .table(Jobs::Table)
                    .col(Jobs::RunAfter)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Jobs::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
