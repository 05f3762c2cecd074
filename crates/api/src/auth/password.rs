//! argon2id password hashing. Hashing is CPU-heavy by design, so it runs on
//! the blocking pool, never on an actix worker.

use argon2::{
    password_hash::{
        rand_core::OsRng, PasswordHash as PhcHash, PasswordHasher as _, PasswordVerifier,
        SaltString,
    },
    Algorithm, Argon2, Params, Version,
};
use vigil_domain::{Error, Password, PasswordHash};

/// argon2 cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl PasswordParams {
    /// OWASP's argon2id recommendation (19 MiB, t = 2, p = 1), argon2's default.
    pub const PRODUCTION: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    /// For tests only: fast and still a real argon2id hash.
    pub const FAST_INSECURE: Self = Self {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
}

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: PasswordParams,
    /// Verified against when the username is unknown, so a login for a
    /// missing user costs as much as one for a real user.
    dummy: String,
}

impl PasswordHasher {
    pub fn new(params: PasswordParams) -> Result<Self, Error> {
        let mut h = Self {
            params,
            dummy: String::new(),
        };
        h.dummy = h.hash_sync("vigil-dummy-password")?;
        Ok(h)
    }

    fn argon(&self) -> Result<Argon2<'static>, Error> {
        let p = Params::new(
            self.params.memory_kib,
            self.params.iterations,
            self.params.parallelism,
            None,
        )
        .map_err(|e| Error::internal(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
    }

    fn hash_sync(&self, password: &str) -> Result<String, Error> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon()?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("hashing password: {e}")))
    }

    pub async fn hash(&self, password: Password) -> Result<PasswordHash, Error> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.hash_sync(password.expose()))
            .await
            .map_err(|e| Error::internal(format!("hashing task: {e}")))?
            .map(PasswordHash::from_phc)
    }

    /// Whether `password` matches `stored`; with no stored hash, a dummy is
    /// checked and the answer is always false.
    pub async fn verify(&self, password: Password, stored: Option<PasswordHash>) -> bool {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let (phc, real) = match &stored {
                Some(h) => (h.as_str(), true),
                None => (me.dummy.as_str(), false),
            };
            let Ok(parsed) = PhcHash::new(phc) else {
                return false;
            };
            // Verify with the parameters stored in the hash, so a change of
            // cost settings doesn't lock existing users out.
            let ok = Argon2::default()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok();
            ok && real
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = PasswordHasher::new(PasswordParams::FAST_INSECURE).unwrap();
        let hash = h
            .hash(Password::parse("correct horse".into()).unwrap())
            .await
            .unwrap();
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(
            h.verify(
                Password::for_login("correct horse".into()).unwrap(),
                Some(hash.clone())
            )
            .await
        );
        assert!(
            !h.verify(
                Password::for_login("wrong horse!".into()).unwrap(),
                Some(hash)
            )
            .await
        );
        assert!(
            !h.verify(
                Password::for_login("vigil-dummy-password".into()).unwrap(),
                None
            )
            .await
        );
    }
}
