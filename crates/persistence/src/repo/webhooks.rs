use super::{begin_write, micros, now};
use crate::{
    entity::{webhook_attempts, webhook_deliveries, webhooks},
    errors::{corrupt, db_err},
};
use async_trait::async_trait;
use sea_orm::{
    sea_query::{Expr, LockBehavior, LockType},
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::time::Duration;
use time::OffsetDateTime;
use vigil_domain::{
    ports::{Listed, Result, WebhookRepo},
    Attempt, Delivery, NewWebhook, Page, PlaybackId, PushKind, Webhook, WebhookId,
};

#[derive(Debug, Clone)]
pub struct SqlWebhookRepo {
    conn: DatabaseConnection,
}

impl SqlWebhookRepo {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn kind(raw: &str) -> Result<PushKind> {
    PushKind::parse(raw).ok_or_else(|| corrupt("webhook event kind", raw))
}

fn to_domain(m: webhooks::Model) -> Result<Webhook> {
    Ok(Webhook {
        id: WebhookId::from_uuid(m.id),
        url: m.url,
        events: m
            .events
            .split(',')
            .filter(|s| !s.is_empty())
            .map(kind)
            .collect::<Result<_>>()?,
        description: m.description,
        secret: m.secret,
        created_at: m.created_at,
    })
}

fn delivery(m: webhook_deliveries::Model) -> Result<Delivery> {
    Ok(Delivery {
        id: m.id,
        webhook_id: WebhookId::from_uuid(m.webhook_id),
        kind: kind(&m.kind)?,
        playback_id: m.playback_id.map(PlaybackId::from_uuid),
        body: m.body,
        attempts: m.attempts.max(0) as u32,
        created_at: m.created_at,
    })
}

fn attempt(m: webhook_attempts::Model) -> Result<Attempt> {
    Ok(Attempt {
        delivery_id: m.delivery_id,
        kind: kind(&m.kind)?,
        playback_id: m.playback_id.map(PlaybackId::from_uuid),
        attempt: m.attempt.max(0) as u32,
        status_code: m.status_code.and_then(|c| u16::try_from(c).ok()),
        error: m.error,
        at: m.at,
    })
}

#[async_trait]
impl WebhookRepo for SqlWebhookRepo {
    async fn create(&self, new: NewWebhook) -> Result<Webhook> {
        let row = webhooks::ActiveModel {
            id: Set(WebhookId::new().as_uuid()),
            url: Set(new.url),
            events: Set(new
                .events
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(",")),
            description: Set(new.description),
            secret: Set(new.secret),
            created_at: Set(now()),
        };
        to_domain(row.insert(&self.conn).await.map_err(db_err("webhook"))?)
    }

    async fn list(&self, page: Page) -> Result<Listed<Webhook>> {
        let q = webhooks::Entity::find();
        let total = q
            .clone()
            .count(&self.conn)
            .await
            .map_err(db_err("webhooks"))?;
        let rows = q
            .order_by_asc(webhooks::Column::CreatedAt)
            .order_by_asc(webhooks::Column::Id)
            .offset(page.offset())
            .limit(page.limit())
            .all(&self.conn)
            .await
            .map_err(db_err("webhooks"))?;
        Ok(Listed {
            rows: rows.into_iter().map(to_domain).collect::<Result<_>>()?,
            total,
        })
    }

    async fn all(&self) -> Result<Vec<Webhook>> {
        webhooks::Entity::find()
            .all(&self.conn)
            .await
            .map_err(db_err("webhooks"))?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn get(&self, id: WebhookId) -> Result<Option<Webhook>> {
        webhooks::Entity::find_by_id(id.as_uuid())
            .one(&self.conn)
            .await
            .map_err(db_err("webhook"))?
            .map(to_domain)
            .transpose()
    }

    async fn delete(&self, id: WebhookId) -> Result<bool> {
        // SQLite enforces the cascade only with foreign keys on: delete
        // the children explicitly, in one transaction.
        let txn = begin_write(&self.conn).await.map_err(db_err("webhook"))?;
        webhook_attempts::Entity::delete_many()
            .filter(webhook_attempts::Column::WebhookId.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(db_err("webhook"))?;
        webhook_deliveries::Entity::delete_many()
            .filter(webhook_deliveries::Column::WebhookId.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(db_err("webhook"))?;
        let r = webhooks::Entity::delete_by_id(id.as_uuid())
            .exec(&txn)
            .await
            .map_err(db_err("webhook"))?;
        txn.commit().await.map_err(db_err("webhook"))?;
        Ok(r.rows_affected > 0)
    }

    async fn enqueue(&self, d: Delivery) -> Result<()> {
        webhook_deliveries::ActiveModel {
            id: Set(d.id),
            webhook_id: Set(d.webhook_id.as_uuid()),
            kind: Set(d.kind.as_str().to_owned()),
            playback_id: Set(d.playback_id.map(|p| p.as_uuid())),
            body: Set(d.body),
            attempts: Set(0),
            done: Set(false),
            next_at: Set(unix_ms(OffsetDateTime::now_utc())),
            created_at: Set(micros(d.created_at)),
        }
        .insert(&self.conn)
        .await
        .map_err(db_err("webhook delivery"))?;
        Ok(())
    }

    async fn claim_due(&self, lease: Duration, limit: u64) -> Result<Vec<Delivery>> {
        let txn = begin_write(&self.conn)
            .await
            .map_err(db_err("webhook delivery"))?;
        let t = unix_ms(OffsetDateTime::now_utc());
        let due = webhook_deliveries::Entity::find()
            .filter(webhook_deliveries::Column::Done.eq(false))
            .filter(webhook_deliveries::Column::NextAt.lte(t))
            .order_by_asc(webhook_deliveries::Column::NextAt)
            .limit(limit)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&txn)
            .await
            .map_err(db_err("webhook delivery"))?;
        if !due.is_empty() {
            let held = t + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
            webhook_deliveries::Entity::update_many()
                .col_expr(webhook_deliveries::Column::NextAt, Expr::value(held))
                .filter(webhook_deliveries::Column::Id.is_in(due.iter().map(|d| d.id)))
                .exec(&txn)
                .await
                .map_err(db_err("webhook delivery"))?;
        }
        txn.commit().await.map_err(db_err("webhook delivery"))?;
        due.into_iter().map(delivery).collect()
    }

    async fn record(
        &self,
        webhook: WebhookId,
        a: Attempt,
        retry_at: Option<OffsetDateTime>,
    ) -> Result<()> {
        let txn = begin_write(&self.conn)
            .await
            .map_err(db_err("webhook delivery"))?;
        let error = a.error.map(|e| e.chars().take(500).collect::<String>());
        webhook_attempts::ActiveModel {
            id: Set(uuid::Uuid::new_v4()),
            delivery_id: Set(a.delivery_id),
            webhook_id: Set(webhook.as_uuid()),
            kind: Set(a.kind.as_str().to_owned()),
            playback_id: Set(a.playback_id.map(|p| p.as_uuid())),
            attempt: Set(a.attempt as i32),
            status_code: Set(a.status_code.map(i32::from)),
            error: Set(error),
            at: Set(micros(a.at)),
        }
        .insert(&txn)
        .await
        .map_err(db_err("webhook attempt"))?;
        let mut update = webhook_deliveries::Entity::update_many()
            .col_expr(
                webhook_deliveries::Column::Attempts,
                Expr::value(a.attempt as i32),
            )
            .filter(webhook_deliveries::Column::Id.eq(a.delivery_id));
        update = match retry_at {
            Some(at) => {
                update.col_expr(webhook_deliveries::Column::NextAt, Expr::value(unix_ms(at)))
            }
            None => update.col_expr(webhook_deliveries::Column::Done, Expr::value(true)),
        };
        update
            .exec(&txn)
            .await
            .map_err(db_err("webhook delivery"))?;
        txn.commit().await.map_err(db_err("webhook delivery"))
    }

    async fn attempts(&self, webhook: WebhookId, page: Page) -> Result<Listed<Attempt>> {
        let q = webhook_attempts::Entity::find()
            .filter(webhook_attempts::Column::WebhookId.eq(webhook.as_uuid()));
        let total = q
            .clone()
            .count(&self.conn)
            .await
            .map_err(db_err("webhook attempts"))?;
        let rows = q
            .order_by_desc(webhook_attempts::Column::At)
            .order_by_desc(webhook_attempts::Column::Attempt)
            .offset(page.offset())
            .limit(page.limit())
            .all(&self.conn)
            .await
            .map_err(db_err("webhook attempts"))?;
        Ok(Listed {
            rows: rows.into_iter().map(attempt).collect::<Result<_>>()?,
            total,
        })
    }
}
