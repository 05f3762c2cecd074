//! `/users`: ADMIN only. Passwords go in, never come out. The last ADMIN
//! can't be deleted or demoted, so the service can't lock itself out.

use crate::{
    auth::{AuthUser, PasswordHasher},
    error::{ApiError, ApiResult},
    extract::{path_id, JsonBody},
    routes::PageQuery,
    views::{ListView, UserView},
};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use vigil_domain::{ports::UserRepo, NewUser, Password, Role, User, UserId, UserPatch, Username};

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUser {
    /// 3–64 characters of letters, digits, `.`, `_`, `-`, `@`.
    #[schema(min_length = 3, max_length = 64, pattern = "^[A-Za-z0-9._@-]+$")]
    pub username: String,
    /// 8–1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    #[schema(value_type = crate::views::RoleName, example = "OPERATOR")]
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateUser {
    #[schema(min_length = 3, max_length = 64, pattern = "^[A-Za-z0-9._@-]+$")]
    pub username: Option<String>,
    #[schema(min_length = 8, max_length = 1024)]
    pub password: Option<String>,
    #[schema(value_type = Option<crate::views::RoleName>)]
    pub role: Option<String>,
}

/// The user with `id`, or 404.
async fn existing(users: &dyn UserRepo, id: UserId) -> ApiResult<User> {
    users
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
}

fn parse_role(raw: &str) -> ApiResult<Role> {
    raw.parse::<Role>().map_err(|e| ApiError::field("role", e))
}

/// List users.
#[utoipa::path(get, path = "/users", tag = "users", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ListView<UserView>), (status = 400), (status = 401), (status = 403)))]
pub async fn list(
    me: AuthUser,
    q: web::Query<PageQuery>,
    users: web::Data<dyn UserRepo>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let page = q.page()?;
    Ok(HttpResponse::Ok().json(ListView::from_listed(
        users.list(page).await?,
        UserView::from,
    )))
}

/// Create a user.
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser, security(("bearer" = [])),
    responses((status = 201, body = UserView), (status = 400), (status = 403), (status = 409), (status = 401)))]
#[tracing::instrument(skip_all, fields(admin = %me.username))]
pub async fn create(
    me: AuthUser,
    body: JsonBody<CreateUser>,
    users: web::Data<dyn UserRepo>,
    hasher: web::Data<PasswordHasher>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let b = body.0;
    let username = Username::parse(&b.username).map_err(|e| ApiError::field("username", e))?;
    let password = Password::parse(b.password).map_err(|e| ApiError::field("password", e))?;
    let role = parse_role(&b.role)?;
    let password_hash = hasher.hash(password).await?;
    let user = users
        .create(NewUser {
            username,
            role,
            password_hash,
        })
        .await?;
    tracing::info!(user_id = %user.id, role = %user.role, "user created");
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

/// Get a user.
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 403), (status = 404), (status = 401)))]
pub async fn get(
    me: AuthUser,
    id: web::Path<String>,
    users: web::Data<dyn UserRepo>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let id: UserId = path_id(&id, "user")?;
    let user = existing(users.get_ref(), id).await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

/// Change a user's name, password or role.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), request_body = UpdateUser, security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 400), (status = 403), (status = 404), (status = 409), (status = 401)))]
#[tracing::instrument(skip_all, fields(admin = %me.username, user_id = %id))]
pub async fn update(
    me: AuthUser,
    id: web::Path<String>,
    body: JsonBody<UpdateUser>,
    users: web::Data<dyn UserRepo>,
    hasher: web::Data<PasswordHasher>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let id: UserId = path_id(&id, "user")?;
    let b = body.0;
    let mut patch = UserPatch::default();
    if let Some(u) = b.username {
        patch.username = Some(Username::parse(&u).map_err(|e| ApiError::field("username", e))?);
    }
    if let Some(r) = b.role {
        patch.role = Some(parse_role(&r)?);
    }
    if let Some(p) = b.password {
        let p = Password::parse(p).map_err(|e| ApiError::field("password", e))?;
        patch.password_hash = Some(hasher.hash(p).await?);
    }
    let current = existing(users.get_ref(), id).await?;
    let demotes_admin = current.role == Role::Admin && patch.role.is_some_and(|r| r != Role::Admin);
    if demotes_admin && users.count_admins().await? <= 1 {
        return Err(ApiError::conflict("the last ADMIN can't be demoted"));
    }
    let user = users.update(id, patch).await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

/// Delete a user; their tokens stop working at once.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 204), (status = 403), (status = 404), (status = 409), (status = 401)))]
#[tracing::instrument(skip_all, fields(admin = %me.username, user_id = %id))]
pub async fn delete(
    me: AuthUser,
    id: web::Path<String>,
    users: web::Data<dyn UserRepo>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let id: UserId = path_id(&id, "user")?;
    let user = existing(users.get_ref(), id).await?;
    if user.role == Role::Admin && users.count_admins().await? <= 1 {
        return Err(ApiError::conflict("the last ADMIN can't be deleted"));
    }
    if !users.delete(id).await? {
        return Err(ApiError::not_found("user"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Revoke every token issued to a user so far, without changing the
/// password. The user logs in again for a new one.
#[utoipa::path(post, path = "/users/{id}/revoke-tokens", tag = "users", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 204), (status = 403), (status = 404), (status = 401)))]
#[tracing::instrument(skip_all, fields(admin = %me.username, user_id = %id))]
pub async fn revoke_tokens(
    me: AuthUser,
    id: web::Path<String>,
    users: web::Data<dyn UserRepo>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let id: UserId = path_id(&id, "user")?;
    let user = users.revoke_tokens(id).await?;
    tracing::info!(user_id = %user.id, "tokens revoked");
    Ok(HttpResponse::NoContent().finish())
}
