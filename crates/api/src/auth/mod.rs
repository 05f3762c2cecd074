//! Authentication and authorization: JWT issue/verify, argon2id password
//! hashing, login throttling, and the [`AuthUser`] extractor that looks the
//! user up on every request (so a deleted or demoted user's token stops
//! working at once).

mod extractor;
mod jwt;
mod password;
mod throttle;

pub use extractor::AuthUser;
pub use jwt::{Claims, JwtKeys};
pub use password::{PasswordHasher, PasswordParams};
pub use throttle::{LoginQuota, LoginThrottle};
