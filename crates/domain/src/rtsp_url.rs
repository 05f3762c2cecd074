//! A camera's stream address. Only `rtsp://` and `rtsps://` with a host are
//! accepted, so a camera URL handed to ffmpeg can never name a local file or
//! another scheme. The password is masked in `Display` and `Debug`, so it
//! can't reach a log line or a response by accident; the one way to read it
//! is [`RtspUrl::expose_with_credentials`], meant for the recorder only.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct RtspUrl(url::Url);

/// Why a string is not an acceptable camera URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtspUrlError {
    #[error("rtspUrl is not a valid URL")]
    Malformed,
    #[error("rtspUrl must use rtsp:// or rtsps://, not {0}://")]
    Scheme(String),
    #[error("rtspUrl must name a host")]
    NoHost,
    #[error("rtspUrl must be rtsp[s]://[user[:password]@]host[:port][/path]: ASCII, with the host a name, an IPv4 or a bracketed IPv6 address, the port 0-65535, and reserved characters of the user or password %-encoded")]
    Grammar,
    #[error("rtspUrl must not contain whitespace or control characters")]
    ControlCharacters,
    #[error("rtspUrl is too long (at most 2048 characters)")]
    TooLong,
}

/// An IPv6 address in brackets, in its hex forms (no embedded IPv4), as a
/// regular expression; shared by the URL grammars.
#[macro_export]
macro_rules! ipv6_literal {
    () => {
        concat!(
            r"\[(?:",
            r"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}",
            r"|(?:[0-9A-Fa-f]{1,4}:){1,7}:",
            r"|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}",
            r"|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}",
            r"|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}",
            r"|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}",
            r"|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}",
            r"|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}",
            r"|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:)",
            r")\]"
        )
    };
}

/// An optional `:port`, 0–65535, as a regular expression.
#[macro_export]
macro_rules! port {
    () => {
        r"(?::(?:[0-9]{1,4}|[0-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    };
}

/// The whole grammar accepted, as the OpenAPI document publishes it (a test
/// keeps the document's copy equal): a client that validates against the
/// schema is never refused, and the reverse. Printable ASCII only; IDN hosts
/// go in their punycode form.
pub const RTSP_URL_PATTERN: &str = concat!(
    r"^rtsps?://",
    r"(?:[A-Za-z0-9._~!$&'()*+,;=:%-]+@)?",
    r"(?:[A-Za-z0-9._~-]+|",
    ipv6_literal!(),
    r")",
    port!(),
    r"(?:[/?#][\x21-\x7E]*)?$",
);

/// None only if the pattern itself were broken, which a test rules out;
/// `parse` then refuses everything rather than panicking.
static GRAMMAR: std::sync::LazyLock<Option<regex_lite::Regex>> =
    std::sync::LazyLock::new(|| regex_lite::Regex::new(RTSP_URL_PATTERN).ok());

impl RtspUrl {
    pub fn parse(raw: &str) -> Result<Self, RtspUrlError> {
        if raw.len() > 2048 {
            return Err(RtspUrlError::TooLong);
        }
        // url::Url would silently strip some of these; a camera URL has no
        // reason to contain them, and ffmpeg receives the raw text.
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RtspUrlError::ControlCharacters);
        }
        let url = url::Url::parse(raw).map_err(|_| RtspUrlError::Malformed)?;
        match url.scheme() {
            "rtsp" | "rtsps" => {}
            other => return Err(RtspUrlError::Scheme(other.to_owned())),
        }
        match url.host_str() {
            Some(h) if !h.is_empty() => {}
            _ => return Err(RtspUrlError::NoHost),
        }
        if !GRAMMAR.as_ref().is_some_and(|g| g.is_match(raw)) {
            return Err(RtspUrlError::Grammar);
        }
        Ok(Self(url))
    }

    /// The full URL, password included. Only the recorder should call this,
    /// and never to log it.
    pub fn expose_with_credentials(&self) -> &str {
        self.0.as_str()
    }

    pub fn scheme(&self) -> &str {
        self.0.scheme()
    }

    pub fn password(&self) -> Option<&str> {
        self.0.password()
    }

    /// The URL with its password replaced by `***`.
    pub fn masked(&self) -> String {
        match self.0.password() {
            None => self.0.to_string(),
            Some(_) => {
                let mut shown = self.0.clone();
                // Setting a password fails only for URLs without a host, which
                // `parse` refuses; fall back to hiding the whole authority.
                if shown.set_password(Some("***")).is_err() {
                    return format!("{}://***", self.0.scheme());
                }
                shown.to_string()
            }
        }
    }

    /// Replaces every occurrence of this URL's password in `text` (e.g. an
    /// ffmpeg stderr line) with `***`.
    pub fn mask_in(&self, text: &str) -> String {
        match self.0.password() {
            Some(pw) if !pw.is_empty() => {
                let decoded = percent_decode(pw);
                let masked = text.replace(pw, "***");
                if decoded != pw && !decoded.is_empty() {
                    masked.replace(&decoded, "***")
                } else {
                    masked
                }
            }
            _ => text.to_owned(),
        }
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

impl fmt::Display for RtspUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for RtspUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RtspUrl({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rtsp_and_rtsps() {
        assert!(RtspUrl::parse("rtsp://10.0.0.7:554/stream1").is_ok());
        assert!(RtspUrl::parse("rtsps://cam.example/live").is_ok());
    }

    #[test]
    fn refuses_other_schemes_and_garbage() {
        for bad in [
            "file:///etc/passwd",
            "concat:a|b",
            "http://cam/x",
            "rtmp://cam/x",
            "/etc/passwd",
            "",
            "rtsp://",
            "rtsp:///nohost",
            "rtsp://cam/a b",
            "rtsp://cam/\n",
        ] {
            assert!(RtspUrl::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            RtspUrl::parse("http://cam/x").unwrap_err(),
            RtspUrlError::Scheme("http".into())
        );
    }

    #[test]
    fn the_grammar_takes_real_camera_urls_and_nothing_loose() {
        for good in [
            "rtsp://admin:p%40ss@192.168.1.64:554/Streaming/Channels/101",
            "rtsp://cam.local/live?channel=1&subtype=0",
            "rtsps://user@cam.example:65535/a/b",
            "rtsp://[fe80::1]:8554/x",
            "rtsp://[::1]/x",
            "rtsp://[2001:db8:0:0:0:0:0:1]/",
            "rtsp://h:0",
            "rtsp://[0:0:0:0:acc2:f:bef2:2f7]",
            "rtsp://[1:2:3:4:5:6:7::]/",
            "rtsp://[::]/",
        ] {
            let url = RtspUrl::parse(good).unwrap_or_else(|e| panic!("{good:?} was refused: {e}"));
            // What is stored is the normalized form; it must parse again.
            let again = url.expose_with_credentials();
            assert!(RtspUrl::parse(again).is_ok(), "{again:?} (from {good:?})");
        }
        for bad in [
            "rtsp://host:65536/x",
            "rtsp://host:/x",
            "rtsp://@host/x",
            "rtsp://hôte/x",
            "rtsp://[zz]/x",
            "rtsp://a b@host/",
        ] {
            assert!(RtspUrl::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn password_is_masked_in_display_and_debug() {
        let url = RtspUrl::parse("rtsp://admin:s3cr3t@10.0.0.7:554/stream1").unwrap();
        assert_eq!(url.to_string(), "rtsp://admin:***@10.0.0.7:554/stream1");
        assert!(!format!("{url:?}").contains("s3cr3t"));
        assert!(url.expose_with_credentials().contains("s3cr3t"));
    }

    #[test]
    fn url_without_password_is_shown_as_is() {
        let url = RtspUrl::parse("rtsp://admin@cam/live").unwrap();
        assert_eq!(url.to_string(), "rtsp://admin@cam/live");
    }

    #[test]
    fn masks_password_inside_other_text() {
        let url = RtspUrl::parse("rtsp://admin:p%40ss@cam/live").unwrap();
        let line = "rtsp://admin:p%40ss@cam/live: Connection refused (p@ss)";
        let masked = url.mask_in(line);
        assert!(
            !masked.contains("p%40ss") && !masked.contains("p@ss"),
            "{masked}"
        );
    }
}
