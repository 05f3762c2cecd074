//! HS256 tokens. The algorithm is pinned on both sides, `exp` is required
//! and checked with a small leeway, and the secret never appears in `Debug`.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::{fmt, time::Duration};
use time::OffsetDateTime;
use vigil_domain::{Role, User};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// The role when issued; informative only, the stored role is what counts.
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    /// The user's token version when issued; the token is refused once the
    /// stored version has moved on (password or role change, revocation).
    #[serde(default)]
    pub ver: i64,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// The caller guarantees `secret` is at least 32 bytes (the bin checks
    /// `JWT_SECRET` at start).
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, user: &User) -> Result<String, jsonwebtoken::errors::Error> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: user.id.to_string(),
            role: user.role,
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            ver: user.token_version,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 5;
        v.validate_exp = true;
        v.validate_aud = false;
        v.set_required_spec_claims(&["exp", "sub"]);
        decode::<Claims>(token, &self.decoding, &v).map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_domain::{PasswordHash, UserId, Username};

    fn user() -> User {
        User {
            id: UserId::new(),
            username: Username::parse("admin").unwrap(),
            role: Role::Admin,
            password_hash: PasswordHash::from_phc(String::new()),
            token_version: 0,
            created_at: OffsetDateTime::now_utc(),
            updated_at: OffsetDateTime::now_utc(),
        }
    }

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_tokens_verify() {
        let keys = JwtKeys::new(SECRET, Duration::from_secs(60));
        let u = user();
        let claims = keys.verify(&keys.issue(&u).unwrap()).unwrap();
        assert_eq!(claims.sub, u.id.to_string());
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[test]
    fn other_secrets_expired_tokens_and_other_algorithms_fail() {
        let keys = JwtKeys::new(SECRET, Duration::from_secs(60));
        let other = JwtKeys::new(b"another-secret-another-secret-xx", Duration::from_secs(60));
        assert!(keys.verify(&other.issue(&user()).unwrap()).is_err());

        let now = OffsetDateTime::now_utc().unix_timestamp();
        let old = Claims {
            sub: "x".into(),
            role: Role::Admin,
            iat: now - 100,
            exp: now - 50,
            ver: 0,
        };
        let expired = encode(
            &Header::new(Algorithm::HS256),
            &old,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(keys.verify(&expired).is_err());

        let fresh = Claims {
            exp: now + 50,
            ..old
        };
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &fresh,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(keys.verify(&hs512).is_err(), "only HS256 is accepted");
        assert!(keys.verify("not.a.jwt").is_err());
    }
}
