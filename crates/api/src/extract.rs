//! Request extraction that fails the contract's way: JSON bodies whose
//! errors name the offending field (via `serde_path_to_error`), a body size
//! limit answered with 413, path ids that don't parse answered with 404, and
//! a JSON body on every 4xx actix produces by itself (unknown route, wrong
//! method, bad query string).

use crate::error::{code, ApiError, ApiResult};
use actix_web::{
    body::{BoxBody, EitherBody, MessageBody},
    dev::{Payload, ServiceResponse},
    http::{header, StatusCode},
    middleware::ErrorHandlerResponse,
    web, FromRequest, HttpRequest, HttpResponse,
};
use futures_util::{future::LocalBoxFuture, StreamExt};
use serde::de::DeserializeOwned;
use std::str::FromStr;

/// Largest JSON body accepted; every request body of this API is small.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = match req.headers().get(header::CONTENT_TYPE) {
            None => true,
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|s| s.split(';').next())
                .map(|m| {
                    let m = m.trim().to_ascii_lowercase();
                    m == "application/json" || m.ends_with("+json")
                })
                .unwrap_or(false),
        };
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    code::UNSUPPORTED_MEDIA_TYPE,
                    "request body must be JSON (Content-Type: application/json)",
                ));
            }
            if declared_len.is_some_and(|n| n > MAX_JSON_BODY) {
                return Err(too_large());
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
                if body.len() + chunk.len() > MAX_JSON_BODY {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            // Every body of this API is an object; serde would also read a
            // struct from an array of its fields in order (`[null, 5]`),
            // which the OpenAPI document does not allow.
            if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
                return Err(ApiError::bad_request("request body must be a JSON object"));
            }
            let de = &mut serde_json::Deserializer::from_slice(&body);
            match serde_path_to_error::deserialize::<_, T>(de) {
                Ok(v) => Ok(JsonBody(v)),
                Err(e) => {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    let syntax = matches!(
                        inner.classify(),
                        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
                    );
                    let msg = strip_position(&inner);
                    // serde reports a missing field at the parent's path; name the field itself.
                    if let Some(name) = msg
                        .strip_prefix("missing field `")
                        .and_then(|r| r.strip_suffix('`'))
                    {
                        let field = if path.is_empty() || path == "." {
                            name.to_owned()
                        } else {
                            format!("{path}.{name}")
                        };
                        return Err(ApiError::field(field, "is required"));
                    }
                    if syntax || path.is_empty() || path == "." || path == "?" {
                        Err(ApiError::bad_request(format!(
                            "malformed JSON body: {}",
                            strip_position(&inner)
                        )))
                    } else {
                        Err(ApiError::field(path, strip_position(&inner)))
                    }
                }
            }
        })
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        code::PAYLOAD_TOO_LARGE,
        format!("request body is larger than {MAX_JSON_BODY} bytes"),
    )
}

/// serde_json appends " at line 1 column 12", which says nothing to an API user
/// once the field is named.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Parses a path id; anything that isn't one is an unknown id (404).
pub fn path_id<T: FromStr>(raw: &str, what: &str) -> ApiResult<T> {
    raw.parse::<T>().map_err(|_| ApiError::not_found(what))
}

/// Parses an optional query parameter, naming it on failure. An empty value
/// (`?cameraId=`) is refused like any other that doesn't parse, as the
/// OpenAPI document says: leave the parameter out to not filter.
pub fn query_param<T: FromStr>(raw: Option<&str>, name: &str) -> ApiResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match raw {
        None => Ok(None),
        Some("") => Err(ApiError::field(name, "must not be empty")),
        Some(s) => s
            .parse::<T>()
            .map(Some)
            .map_err(|e| ApiError::field(name, e)),
    }
}

/// Error handler for `web::Query`/`web::Path` extraction failures.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    let e = ApiError::bad_request(format!("malformed query string: {err}"));
    actix_web::error::InternalError::from_response(
        err,
        actix_web::ResponseError::error_response(&e),
    )
    .into()
}

/// Catches 4xx/5xx responses actix built itself (unknown route, 405, …) with
/// no JSON body and gives them the contract's error body.
pub fn json_error_body<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (code::NOT_FOUND, "no such endpoint".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (
            code::METHOD_NOT_ALLOWED,
            "method not allowed on this endpoint".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (code::PAYLOAD_TOO_LARGE, "request body too large".to_owned())
        }
        s if s.is_server_error() => (code::INTERNAL, "internal error".to_owned()),
        s => (
            code::BAD_REQUEST,
            s.canonical_reason().unwrap_or("bad request").to_lowercase(),
        ),
    };
    let body = ApiError::new(status, code, message).body();
    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(status).json(body);
    for (k, v) in old.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            new.headers_mut().insert(k.clone(), v.clone());
        }
    }
    let res: ServiceResponse<EitherBody<B, BoxBody>> =
        ServiceResponse::new(req, new).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}

/// Integer request fields as JSON Schema reads "integer": `10` and `10.0`
/// are the same number, so both are accepted (serde's `i64` refuses the
/// second, which the OpenAPI document allows). Use with
/// `#[serde(default, deserialize_with = "int::opt")]`.
pub mod int {
    use serde::{de, Deserialize, Deserializer};
    use std::fmt;

    struct Int(i64);

    impl<'de> Deserialize<'de> for Int {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl de::Visitor<'_> for V {
                type Value = Int;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an integer")
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                    Ok(Int(v))
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                    i64::try_from(v)
                        .map(Int)
                        .map_err(|_| E::custom("integer out of range"))
                }
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                    // Exactly representable integers only: 2^63 as f64 is
                    // already out of i64's range.
                    if v.fract() == 0.0
                        && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v)
                    {
                        Ok(Int(v as i64))
                    } else {
                        Err(E::invalid_type(de::Unexpected::Float(v), &self))
                    }
                }
            }
            d.deserialize_any(V)
        }
    }

    /// An optional integer: absent or `null` is `None`.
    pub fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(Option::<Int>::deserialize(d)?.map(|i| i.0))
    }

    /// A required integer (a missing one is serde's own error).
    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        Ok(Int::deserialize(d)?.0)
    }

    /// A PATCH integer: absent `None`, `null` `Some(None)`, a value `Some(Some(v))`.
    pub fn patch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Ok(Some(Option::<Int>::deserialize(d)?.map(|i| i.0)))
    }

    #[cfg(test)]
    mod tests {
        #[derive(Debug, serde::Deserialize)]
        struct Body {
            #[serde(default, deserialize_with = "super::opt")]
            n: Option<i64>,
            #[serde(default, deserialize_with = "super::patch")]
            p: Option<Option<i64>>,
        }

        fn parse(s: &str) -> Result<Body, serde_json::Error> {
            serde_json::from_str(s)
        }

        #[test]
        fn whole_floats_are_integers_and_fractions_are_not() {
            let b = parse(r#"{"n": 10.0, "p": 3}"#).unwrap();
            assert_eq!((b.n, b.p), (Some(10), Some(Some(3))));
            let b = parse(r#"{"p": null}"#).unwrap();
            assert_eq!((b.n, b.p), (None, Some(None)));
            assert_eq!(parse("{}").unwrap().p, None);
            assert_eq!(parse(r#"{"n": -7}"#).unwrap().n, Some(-7));
            for bad in [
                r#"{"n": 1.5}"#,
                r#"{"n": "5"}"#,
                r#"{"n": 1e300}"#,
                r#"{"n": 18446744073709551615}"#,
                r#"{"p": [1]}"#,
            ] {
                assert!(parse(bad).is_err(), "{bad}");
            }
        }
    }
}
