//! Outage notices: what happened, where (the ODPs), since when and until when
//! it is expected to last. Broadcasts fill them into the notice template.

use crate::config::Zone;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, ModelTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::entities::{customers, notices, odps},
    model::now_ms,
};

/// A notice's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeStatus {
    /// The outage is on.
    Active,
    /// Fixed.
    Resolved,
}

impl NoticeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeStatus::Active => "active",
            NoticeStatus::Resolved => "resolved",
        }
    }
}

/// A notice as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoticeView {
    pub id: i64,
    pub title: String,
    pub message: String,
    /// The affected ODP codes.
    pub odps: Vec<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub estimated_end: Option<DateTime<Utc>>,
    pub status: NoticeStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl From<&notices::Model> for NoticeView {
    fn from(row: &notices::Model) -> Self {
        NoticeView {
            id: row.id,
            title: row.title.clone(),
            message: row.message.clone(),
            odps: odps_of(row),
            starts_at: row.starts_at.map(time),
            estimated_end: row.estimated_end.map(time),
            status: if row.status == "resolved" { NoticeStatus::Resolved } else { NoticeStatus::Active },
            created_at: time(row.created_at),
            updated_at: time(row.updated_at),
        }
    }
}

/// The notice's ODP codes.
pub fn odps_of(row: &notices::Model) -> Vec<String> {
    serde_json::from_str(&row.odps).unwrap_or_default()
}

/// A notice's fields, checked: what create and update write.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub title: Option<String>,
    pub message: Option<String>,
    pub odps: Option<Vec<String>>,
    /// `Some(None)` clears it.
    pub starts_at: Option<Option<i64>>,
    pub estimated_end: Option<Option<i64>>,
    pub status: Option<NoticeStatus>,
}

/// Reads a notice time: RFC 3339 (`2026-11-23T14:00:00+07:00`), or a local
/// `2026-11-23 14:00[:00]` / `2026-11-23T14:00` in `offset`. Epoch ms.
pub fn parse_time(text: &str, offset: Zone) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .and_then(|naive| naive.and_local_timezone(offset).earliest())
        .map(|t| t.timestamp_millis())
}

pub async fn create(db: &DatabaseConnection, owner: i64, fields: Fields) -> Result<notices::Model, DbErr> {
    let now = now_ms();
    notices::ActiveModel {
        user_id: Set(owner),
        title: Set(fields.title.unwrap_or_default()),
        message: Set(fields.message.unwrap_or_default()),
        odps: Set(serde_json::to_string(&fields.odps.unwrap_or_default()).unwrap_or_else(|_| "[]".into())),
        starts_at: Set(fields.starts_at.flatten()),
        estimated_end: Set(fields.estimated_end.flatten()),
        status: Set(fields.status.unwrap_or(NoticeStatus::Active).as_str().into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// `owner`'s notice `id`.
pub async fn find(db: &DatabaseConnection, owner: i64, id: i64) -> Result<Option<notices::Model>, DbErr> {
    notices::Entity::find_by_id(id).filter(notices::Column::UserId.eq(owner)).one(db).await
}

/// `owner`'s newest active notice: what a notification without `notice_id` sends.
pub async fn latest_active(db: &DatabaseConnection, owner: i64) -> Result<Option<notices::Model>, DbErr> {
    notices::Entity::find()
        .filter(notices::Column::UserId.eq(owner))
        .filter(notices::Column::Status.eq(NoticeStatus::Active.as_str()))
        .order_by_desc(notices::Column::CreatedAt)
        .order_by_desc(notices::Column::Id)
        .one(db)
        .await
}

pub async fn update(db: &DatabaseConnection, row: notices::Model, fields: Fields) -> Result<notices::Model, DbErr> {
    let mut active: notices::ActiveModel = row.into();
    if let Some(title) = fields.title {
        active.title = Set(title);
    }
    if let Some(message) = fields.message {
        active.message = Set(message);
    }
    if let Some(odps) = fields.odps {
        active.odps = Set(serde_json::to_string(&odps).unwrap_or_else(|_| "[]".into()));
    }
    if let Some(starts_at) = fields.starts_at {
        active.starts_at = Set(starts_at);
    }
    if let Some(end) = fields.estimated_end {
        active.estimated_end = Set(end);
    }
    if let Some(status) = fields.status {
        active.status = Set(status.as_str().into());
    }
    active.updated_at = Set(now_ms());
    active.update(db).await
}

pub async fn delete(db: &DatabaseConnection, row: notices::Model) -> Result<(), DbErr> {
    row.delete(db).await.map(|_| ())
}

/// A page of `owner`'s notices, newest first, and how many match.
pub async fn list(
    db: &DatabaseConnection,
    owner: i64,
    status: Option<NoticeStatus>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<notices::Model>, u64), DbErr> {
    let mut condition = Condition::all().add(notices::Column::UserId.eq(owner));
    if let Some(status) = status {
        condition = condition.add(notices::Column::Status.eq(status.as_str()));
    }
    let query = notices::Entity::find().filter(condition);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(notices::Column::CreatedAt)
        .order_by_desc(notices::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// What is known of outages for the customer with a number.
pub enum Outage {
    /// No customer of the account has this number, or theirs has no ODP.
    Unknown,
    /// The customer, their ODP's code, and the account's active notices on
    /// that ODP, oldest first (none: no outage there).
    Known { customer: customers::Model, odp: String, active: Vec<notices::Model> },
}

/// The outage facts for `owner`'s customer with `phone` (what the bot tells).
pub async fn outage_of(conn: &impl ConnectionTrait, owner: i64, phone: &str) -> Result<Outage, DbErr> {
    let Some(customer) = super::customers::by_phone(conn, owner, &[phone]).await?.remove(phone) else {
        return Ok(Outage::Unknown);
    };
    let odp = match customer.odp_id {
        Some(id) => odps::Entity::find_by_id(id).one(conn).await?.map(|o| o.code),
        None => None,
    };
    let Some(odp) = odp else { return Ok(Outage::Unknown) };
    let active = notices::Entity::find()
        .filter(notices::Column::UserId.eq(owner))
        .filter(notices::Column::Status.eq(NoticeStatus::Active.as_str()))
        .order_by_asc(notices::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .filter(|n| odps_of(n).iter().any(|code| code.eq_ignore_ascii_case(&odp)))
        .collect();
    Ok(Outage::Known { customer, odp, active })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_and_without_offset() {
        let wib = crate::config::DEFAULT_ZONE;
        let expected = Some(1_795_417_200_000);
        assert_eq!(parse_time("2026-11-23T14:00:00+07:00", wib), expected);
        assert_eq!(parse_time("2026-11-23T07:00:00Z", wib), expected);
        assert_eq!(parse_time("2026-11-23 14:00", wib), expected);
        assert_eq!(parse_time("2026-11-23T14:00:00", wib), expected);
        assert_eq!(parse_time("besok pagi", wib), None);
        assert_eq!(parse_time("2026-13-01 10:00", wib), None);
    }
}
