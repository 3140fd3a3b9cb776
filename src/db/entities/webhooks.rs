use sea_orm::entity::prelude::*;

/// An endpoint that events are posted to (times: epoch milliseconds).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `None`: the endpoint of `[webhook] url`, which hears every account.
    pub user_id: Option<i64>,
    pub url: String,
    /// JSON list of event types; `None`: all but `session.qr`.
    pub events: Option<String>,
    /// JSON list of session names; `None`: all of the account's.
    pub sessions: Option<String>,
    pub enabled: bool,
    pub description: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
