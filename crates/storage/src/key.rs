//! Object keys. A key is a relative `/`-separated path of plain segments, so
//! no key can name a file outside the store's root on any backend.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("object key is empty")]
    Empty,
    #[error("object key is too long (at most 1024 bytes)")]
    TooLong,
    #[error("object key must be relative")]
    Absolute,
    #[error("object key contains an empty, '.' or '..' segment")]
    BadSegment,
    #[error("object key contains a NUL, a backslash or a control character")]
    BadCharacter,
}

pub fn validate_key(key: &str) -> Result<&str, KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > 1024 {
        return Err(KeyError::TooLong);
    }
    if key.starts_with('/') {
        return Err(KeyError::Absolute);
    }
    if key
        .chars()
        .any(|c| c == '\0' || c == '\\' || c.is_control())
    {
        return Err(KeyError::BadCharacter);
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(KeyError::BadSegment);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_keys_are_valid() {
        assert!(validate_key("playbacks/0b4e/video.mp4").is_ok());
    }

    #[test]
    fn traversal_and_odd_keys_are_refused() {
        for (k, e) in [
            ("", KeyError::Empty),
            ("/etc/passwd", KeyError::Absolute),
            ("../x", KeyError::BadSegment),
            ("a/../../x", KeyError::BadSegment),
            ("a//b", KeyError::BadSegment),
            ("a/./b", KeyError::BadSegment),
            ("a/b/", KeyError::BadSegment),
            ("a\0b", KeyError::BadCharacter),
            ("a\\..\\b", KeyError::BadCharacter),
        ] {
            assert_eq!(validate_key(k), Err(e), "{k:?}");
        }
        assert_eq!(validate_key(&"a".repeat(1025)), Err(KeyError::TooLong));
    }
}
