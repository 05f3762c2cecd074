use super::now;
use crate::{
    entity::users,
    errors::{corrupt, db_err},
};
use async_trait::async_trait;
use sea_orm::{
    sea_query::{Expr, ExprTrait},
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use vigil_domain::{
    ports::{Listed, Result, UserRepo},
    Error, NewUser, Page, PasswordHash, Role, User, UserId, UserPatch, Username,
};

#[derive(Debug, Clone)]
pub struct SqlUserRepo {
    conn: DatabaseConnection,
}

impl SqlUserRepo {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }
}

fn to_domain(m: users::Model) -> Result<User> {
    Ok(User {
        id: UserId::from_uuid(m.id),
        username: Username::parse(&m.username).map_err(|e| corrupt("username", e))?,
        role: m.role.parse::<Role>().map_err(|e| corrupt("role", e))?,
        password_hash: PasswordHash::from_phc(m.password_hash),
        token_version: m.token_version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

#[async_trait]
impl UserRepo for SqlUserRepo {
    async fn create(&self, new: NewUser) -> Result<User> {
        let t = now();
        let row = users::ActiveModel {
            id: Set(UserId::new().as_uuid()),
            username: Set(new.username.as_str().to_owned()),
            role: Set(new.role.as_str().to_owned()),
            password_hash: Set(new.password_hash.as_str().to_owned()),
            token_version: Set(0),
            created_at: Set(t),
            updated_at: Set(t),
        };
        let m = row.insert(&self.conn).await.map_err(db_err("username"))?;
        to_domain(m)
    }

    async fn get(&self, id: UserId) -> Result<Option<User>> {
        users::Entity::find_by_id(id.as_uuid())
            .one(&self.conn)
            .await
            .map_err(db_err("user"))?
            .map(to_domain)
            .transpose()
    }

    async fn find_by_username(&self, username: &Username) -> Result<Option<User>> {
        users::Entity::find()
            .filter(users::Column::Username.eq(username.as_str()))
            .one(&self.conn)
            .await
            .map_err(db_err("user"))?
            .map(to_domain)
            .transpose()
    }

    async fn list(&self, page: Page) -> Result<Listed<User>> {
        let q = users::Entity::find();
        let n = q.clone().count(&self.conn).await.map_err(db_err("users"))?;
        let rows = q
            .order_by_asc(users::Column::CreatedAt)
            .order_by_asc(users::Column::Id)
            .offset(page.offset())
            .limit(page.limit())
            .all(&self.conn)
            .await
            .map_err(db_err("users"))?;
        Ok(Listed {
            rows: rows.into_iter().map(to_domain).collect::<Result<_>>()?,
            total: n,
        })
    }

    async fn update(&self, id: UserId, patch: UserPatch) -> Result<User> {
        let Some(m) = users::Entity::find_by_id(id.as_uuid())
            .one(&self.conn)
            .await
            .map_err(db_err("user"))?
        else {
            return Err(Error::not_found("user"));
        };
        // A new password or another role ends every token issued before.
        let role_changed = patch.role.is_some_and(|r| r.as_str() != m.role);
        let revoke = role_changed || patch.password_hash.is_some();
        let version = m.token_version;
        let mut row: users::ActiveModel = m.into();
        if let Some(u) = patch.username {
            row.username = Set(u.as_str().to_owned());
        }
        if let Some(r) = patch.role {
            row.role = Set(r.as_str().to_owned());
        }
        if let Some(h) = patch.password_hash {
            row.password_hash = Set(h.as_str().to_owned());
        }
        if revoke {
            row.token_version = Set(version + 1);
        }
        row.updated_at = Set(now());
        let m = row.update(&self.conn).await.map_err(db_err("username"))?;
        to_domain(m)
    }

    async fn revoke_tokens(&self, id: UserId) -> Result<User> {
        let r = users::Entity::update_many()
            .col_expr(
                users::Column::TokenVersion,
                Expr::col(users::Column::TokenVersion).add(1),
            )
            .col_expr(users::Column::UpdatedAt, Expr::value(now()))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await
            .map_err(db_err("user"))?;
        if r.rows_affected == 0 {
            return Err(Error::not_found("user"));
        }
        self.get(id).await?.ok_or_else(|| Error::not_found("user"))
    }

    async fn delete(&self, id: UserId) -> Result<bool> {
        let r = users::Entity::delete_by_id(id.as_uuid())
            .exec(&self.conn)
            .await
            .map_err(db_err("user"))?;
        Ok(r.rows_affected > 0)
    }

    async fn count(&self) -> Result<u64> {
        users::Entity::find()
            .count(&self.conn)
            .await
            .map_err(db_err("users"))
    }

    async fn count_admins(&self) -> Result<u64> {
        users::Entity::find()
            .filter(users::Column::Role.eq(Role::Admin.as_str()))
            .count(&self.conn)
            .await
            .map_err(db_err("users"))
    }
}
