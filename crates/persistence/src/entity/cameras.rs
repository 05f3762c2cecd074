use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cameras")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub rtsp_url: String,
    pub n_channel_id: Option<i32>,
    pub pre_roll_seconds: i32,
    pub post_roll_seconds: i32,
    pub retention_days: Option<i32>,
    pub retention_max_bytes: Option<i64>,
    pub merge_seconds: i32,
    pub transcode: String,
    /// JSON of the domain's `CameraStream`; null until first probed.
    pub stream: Option<String>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::events::Entity")]
    Events,
}

impl Related<super::events::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Events.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
