//! Vigil's push adapters, behind the domain's ports:
//! - [`http`]: webhook deliveries, refusing private targets (SSRF);
//! - [`mqtt`]: news published on MQTT, and Frigate's messages received;
//! - [`target`]: which addresses count as private.

pub mod http;
pub mod mqtt;
pub mod target;

pub use http::HttpSender;
pub use mqtt::{MqttConfig, MqttSink};
