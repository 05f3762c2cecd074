//! The recorder's error is the domain's [`RecordError`]: a kind callers act
//! on and a message for users (never a password).

pub use vigil_domain::{RecordError, RecordErrorKind};
