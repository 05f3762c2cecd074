//! Secrets the server makes for itself when the operator gave none: the JWT
//! key, kept in `$DATA_DIR/jwt_secret` (mode 0600) so tokens survive a
//! restart, and the first admin's password.

use crate::config::{ConfigError, Secret, MIN_JWT_SECRET_BYTES};
use rand::Rng;
use std::{io::Write, os::unix::fs::OpenOptionsExt, path::Path};

const FILE: &str = "jwt_secret";

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

/// The configured secret, or the one stored in `data_dir`, or a new one
/// written there.
pub fn jwt_secret(configured: Option<&Secret>, data_dir: &Path) -> Result<Vec<u8>, ConfigError> {
    if let Some(s) = configured {
        return Ok(s.0.as_bytes().to_vec());
    }
    let path = data_dir.join(FILE);
    let err = |m: String| ConfigError {
        var: "JWT_SECRET",
        message: m,
    };
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= MIN_JWT_SECRET_BYTES => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => {
            return Err(err(format!(
            "{} holds a key shorter than {MIN_JWT_SECRET_BYTES} bytes; delete it or set JWT_SECRET",
            path.display()
        )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(format!("cannot read {}: {e}", path.display()))),
    }
    let secret = random_hex(32);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| err(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(secret.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| err(format!("cannot write {}: {e}", path.display())))?;
    tracing::warn!(path = %path.display(), "JWT_SECRET is not set: generated one and stored it; set JWT_SECRET in production");
    Ok(secret.into_bytes())
}

pub fn generated_password() -> String {
    random_hex(12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_is_kept_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let a = jwt_secret(None, dir.path()).unwrap();
        let b = jwt_secret(None, dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(a.len() >= MIN_JWT_SECRET_BYTES);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let given = Secret("x".repeat(40));
        assert_eq!(
            jwt_secret(Some(&given), dir.path()).unwrap(),
            given.0.as_bytes()
        );
    }
}
