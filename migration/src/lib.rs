//! Vigil's schema, as reversible migrations. The server runs
//! [`Migrator::up`] at start (unless `AUTO_MIGRATE=false`); operators run the
//! `migration` binary (`up | down [-n N] | status | fresh`).
//!
//! Every migration forces a transaction, also on SQLite, where
//! sea-orm-migration would otherwise run none and a failed step would leave a
//! half-built schema.

pub use sea_orm_migration::prelude::*;

mod connect;
mod m20261125_000001_create_users;
mod m20261125_000002_create_cameras;
mod m20261125_000003_create_events;
mod m20261125_000004_create_playbacks;
mod m20261125_000005_create_jobs;
mod m20261125_000006_add_camera_retention;
mod m20261125_000007_add_list_order_indexes;
mod m20261201_000008_add_user_token_version;
mod m20261202_000009_add_playback_clip_facts;
mod m20261202_000010_add_camera_stream;
mod m20261202_000011_add_playback_retain;
mod m20261202_000012_add_event_trigger_and_group;
mod m20261202_000013_create_shares;
mod m20261202_000014_add_camera_retention_max_bytes;
mod m20261202_000015_add_camera_merge_seconds;
mod m20261202_000016_add_event_external_id;
mod m20261202_000017_create_webhooks;
mod m20261202_000018_create_nodes;
mod m20261202_000019_add_node_ids;
mod m20261202_000020_create_camera_leases;

pub use connect::{connect, redact_url};

#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_users::Migration),
            Box::new(m20261125_000002_create_cameras::Migration),
            Box::new(m20261125_000003_create_events::Migration),
            Box::new(m20261125_000004_create_playbacks::Migration),
            Box::new(m20261125_000005_create_jobs::Migration),
            Box::new(m20261125_000006_add_camera_retention::Migration),
            Box::new(m20261125_000007_add_list_order_indexes::Migration),
            Box::new(m20261201_000008_add_user_token_version::Migration),
            Box::new(m20261202_000009_add_playback_clip_facts::Migration),
            Box::new(m20261202_000010_add_camera_stream::Migration),
            Box::new(m20261202_000011_add_playback_retain::Migration),
            Box::new(m20261202_000012_add_event_trigger_and_group::Migration),
            Box::new(m20261202_000013_create_shares::Migration),
            Box::new(m20261202_000014_add_camera_retention_max_bytes::Migration),
            Box::new(m20261202_000015_add_camera_merge_seconds::Migration),
            Box::new(m20261202_000016_add_event_external_id::Migration),
            Box::new(m20261202_000017_create_webhooks::Migration),
            Box::new(m20261202_000018_create_nodes::Migration),
            Box::new(m20261202_000019_add_node_ids::Migration),
            Box::new(m20261202_000020_create_camera_leases::Migration),
        ]
    }
}
