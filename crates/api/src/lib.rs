//! Vigil's HTTP shell: actix-web routes, authentication and the mapping of
//! errors to the contract's JSON bodies. Handlers extract, parse into
//! domain types, call a port (or a use case of `vigil-application`) and
//! render a view; they never touch SeaORM, ffmpeg or rust-s3.

pub mod auth;
pub mod error;
pub mod extract;
pub mod routes;
pub mod startup;
pub mod views;

pub use startup::{ApiSettings, Application, Ports};
