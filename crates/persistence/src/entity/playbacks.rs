use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "playbacks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    pub camera_id: Uuid,
    pub recording_status: String,
    pub video_key: Option<String>,
    pub thumbnail_key: Option<String>,
    pub file_size_bytes: Option<i64>,
    pub duration_sec: Option<f64>,
    pub codec: Option<String>,
    pub resolution: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub browser_playable: Option<bool>,
    pub local_path: Option<String>,
    pub error: Option<String>,
    pub started_at: Option<TimeDateTimeWithTimeZone>,
    pub ended_at: Option<TimeDateTimeWithTimeZone>,
    /// JSON array of `Gap`s; null: none.
    pub gaps: Option<String>,
    pub retain: bool,
    /// The node whose take records it; null: any node's.
    pub node_id: Option<String>,
    /// When another node asked the recording node to stop it.
    pub stop_requested_at: Option<TimeDateTimeWithTimeZone>,
    /// Handed to its camera's owner to start: the window to record.
    pub handoff: Option<String>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::events::Entity",
        from = "Column::EventId",
        to = "super::events::Column::Id"
    )]
    Event,
}

impl Related<super::events::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
