#![allow(clippy::unwrap_used, clippy::expect_used)]
//! API tests: the app in-process on a free port, spoken to over HTTP.

mod auth;
mod cameras;
mod console;
mod cors;
mod errors;
mod events;
mod health;
mod helpers;
mod nodes;
mod playbacks;
mod receiver;
mod retention;
mod shares;
mod users;
mod webhooks;
