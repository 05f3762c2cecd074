use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "camera_leases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub camera_id: Uuid,
    pub node_id: String,
    pub epoch: i64,
    pub expires_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
