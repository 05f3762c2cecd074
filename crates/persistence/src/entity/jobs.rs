use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub playback_id: Uuid,
    pub kind: String,
    pub dir: String,
    pub note: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub run_after: i64,
    pub lease_owner: Option<String>,
    /// Unix milliseconds.
    pub lease_until: Option<i64>,
    /// The node whose disk holds the folder; null: any node's.
    pub node_id: Option<String>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
