//! Vigil's push adapters, behind the domain's ports:
//! - [`http`]: webhook deliveries, refusing private targets (SSRF);
//! - [`target`]: which addresses count as private.

pub mod http;
pub mod target;

pub use http::HttpSender;
