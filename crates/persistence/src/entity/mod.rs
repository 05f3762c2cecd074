//! SeaORM entities, one file per table, matching the `migration` crate.
//! They never leave this crate: `repo/` converts them to domain types.

pub mod camera_leases;
pub mod cameras;
pub mod events;
pub mod jobs;
pub mod nodes;
pub mod playbacks;
pub mod shares;
pub mod users;
pub mod webhook_attempts;
pub mod webhook_deliveries;
pub mod webhooks;
