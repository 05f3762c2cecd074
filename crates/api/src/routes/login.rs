//! `POST /auth/login`: username and password for a bearer token.

use crate::{
    auth::{JwtKeys, LoginThrottle, PasswordHasher},
    error::{code, ApiError, ApiResult},
    extract::JsonBody,
};
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_domain::{ports::UserRepo, Password, Username};

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Log in. Attempts are throttled per username and per client address (429).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = TokenView),
    (status = 400, body = crate::error::ErrorBody),
    (status = 401, body = crate::error::ErrorBody),
    (status = 429, body = crate::error::ErrorBody)))]
#[tracing::instrument(skip_all, fields(username = %body.0.username, user_id = tracing::field::Empty))]
pub async fn login(
    req: HttpRequest,
    body: JsonBody<LoginRequest>,
    users: web::Data<dyn UserRepo>,
    hasher: web::Data<PasswordHasher>,
    keys: web::Data<JwtKeys>,
    throttle: web::Data<LoginThrottle>,
) -> ApiResult<HttpResponse> {
    let LoginRequest { username, password } = body.0;
    // The peer address, not X-Forwarded-For: a client could forge that one.
    let addr = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    if let Err(wait) = throttle.check(&username, &addr) {
        let secs = wait.as_secs().max(1);
        return Ok(HttpResponse::build(StatusCode::TOO_MANY_REQUESTS)
            .insert_header(("Retry-After", secs.to_string()))
            .json(
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    code::RATE_LIMITED,
                    format!("too many login attempts; retry in {secs} s"),
                )
                .body(),
            ));
    }
    let password = Password::for_login(password).map_err(|e| ApiError::field("password", e))?;
    let user = match Username::parse(&username) {
        Ok(u) => users.find_by_username(&u).await?,
        Err(_) => None,
    };
    let ok = hasher
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await;
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => {
            tracing::info!("login refused");
            return Err(ApiError::unauthorized("invalid username or password"));
        }
    };
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
    let token = keys.issue(&user).map_err(ApiError::internal)?;
    tracing::info!(role = %user.role, "login");
    Ok(HttpResponse::Ok().json(TokenView {
        access_token: token,
        token_type: "Bearer",
        expires_in: keys.ttl().as_secs(),
    }))
}
