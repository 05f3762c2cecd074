use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub camera_id: Uuid,
    #[sea_orm(column_name = "type")]
    pub event_type: String,
    pub description: Option<String>,
    pub n_channel_id: Option<i32>,
    pub playback_id: Option<Uuid>,
    pub occurred_at: Option<TimeDateTimeWithTimeZone>,
    pub group_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub ended_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::cameras::Entity",
        from = "Column::CameraId",
        to = "super::cameras::Column::Id"
    )]
    Camera,
    #[sea_orm(has_many = "super::playbacks::Entity")]
    Playbacks,
}

impl Related<super::cameras::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Camera.def()
    }
}

impl Related<super::playbacks::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Playbacks.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
