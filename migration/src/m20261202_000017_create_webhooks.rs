use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    Url,
    Events,
    Description,
    Secret,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    Kind,
    PlaybackId,
    Body,
    Attempts,
    Done,
    NextAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    Id,
    DeliveryId,
    WebhookId,
    Kind,
    PlaybackId,
    Attempt,
    StatusCode,
    Error,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .col(pk_uuid(Webhooks::Id))
                    .col(string_len(Webhooks::Url, 2048))
                    // The kinds it wants, comma-separated.
                    .col(string(Webhooks::Events))
                    .col(string_len_null(Webhooks::Description, 500))
                    // Signs deliveries, so it is kept as it is (never shown
                    // again after creation).
                    .col(string(Webhooks::Secret))
                    .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(pk_uuid(WebhookDeliveries::Id))
                    .col(uuid(WebhookDeliveries::WebhookId))
                    .col(string(WebhookDeliveries::Kind))
                    // No foreign key: the news outlives a deleted clip.
                    .col(uuid_null(WebhookDeliveries::PlaybackId))
                    .col(text(WebhookDeliveries::Body))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    .col(boolean(WebhookDeliveries::Done).default(false))
                    // Unix milliseconds when it is due (again); a claim
                    // moves it by the lease.
                    .col(big_integer(WebhookDeliveries::NextAt))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_webhook")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::WebhookId)
                            .to(Webhooks::Table, Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_due")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Done)
                    .col(WebhookDeliveries::NextAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_playback_id")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::PlaybackId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .col(pk_uuid(WebhookAttempts::Id))
                    .col(uuid(WebhookAttempts::DeliveryId))
                    .col(uuid(WebhookAttempts::WebhookId))
                    .col(string(WebhookAttempts::Kind))
                    .col(uuid_null(WebhookAttempts::PlaybackId))
                    .col(integer(WebhookAttempts::Attempt))
                    .col(integer_null(WebhookAttempts::StatusCode))
                    .col(string_len_null(WebhookAttempts::Error, 500))
                    .col(timestamp_with_time_zone(WebhookAttempts::At))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_attempts_webhook")
                            .from(WebhookAttempts::Table, WebhookAttempts::WebhookId)
                            .to(Webhooks::Table, Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_attempts_webhook_at")
                    .table(WebhookAttempts::Table)
                    .col(WebhookAttempts::WebhookId)
                    .col(WebhookAttempts::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            WebhookAttempts::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            Webhooks::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
