//! `AuthUser`: who is calling. Every request with it verifies the bearer
//! token *and* loads the user, so the role that counts is the stored one.

use super::JwtKeys;
use crate::error::ApiError;
use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use vigil_domain::{ports::UserRepo, Role, UserId};

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: UserId,
    pub username: String,
    pub role: Role,
}

impl AuthUser {
    /// ADMIN or OPERATOR.
    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.role.can_write() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs the ADMIN or OPERATOR role"))
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs the ADMIN role"))
        }
    }
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("malformed Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "expected Authorization: Bearer <token>",
        ));
    }
    Ok(token.trim().to_owned())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let keys = req.app_data::<web::Data<JwtKeys>>().cloned();
        let users = req.app_data::<web::Data<dyn UserRepo>>().cloned();
        Box::pin(async move {
            let token = token?;
            let (Some(keys), Some(users)) = (keys, users) else {
                return Err(ApiError::internal("auth is not configured"));
            };
            let claims = keys
                .verify(&token)
                .map_err(|_| ApiError::unauthorized("invalid or expired token"))?;
            let id: UserId = claims
                .sub
                .parse()
                .map_err(|_| ApiError::unauthorized("invalid or expired token"))?;
            let user = users
                .get(id)
                .await?
                .ok_or_else(|| ApiError::unauthorized("the token's user no longer exists"))?;
            if claims.ver != user.token_version {
                return Err(ApiError::unauthorized(
                    "the token was revoked (password or role changed, or tokens revoked)",
                ));
            }
            tracing::Span::current().record("user_id", tracing::field::display(user.id));
            Ok(AuthUser {
                id: user.id,
                username: user.username.to_string(),
                role: user.role,
            })
        })
    }
}
