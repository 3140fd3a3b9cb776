//! The webhook tables: endpoints, and the deliveries the deliverer claims,
//! attempts and settles.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, ExprTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, sea_query::Expr,
};

use super::DeliveryStatus;
use crate::db::{
    entities::{webhook_deliveries as deliveries, webhook_events as events, webhooks},
    write::Writer,
};

pub async fn enabled(db: &DatabaseConnection) -> Result<Vec<webhooks::Model>, DbErr> {
    webhooks::Entity::find().filter(webhooks::Column::Enabled.eq(true)).all(db).await
}

/// `owner`'s endpoints (`None`: the config's), oldest first.
pub async fn of_owner(db: &DatabaseConnection, owner: Option<i64>) -> Result<Vec<webhooks::Model>, DbErr> {
    let query = match owner {
        Some(owner) => webhooks::Entity::find().filter(webhooks::Column::UserId.eq(owner)),
        None => webhooks::Entity::find().filter(webhooks::Column::UserId.is_null()),
    };
    query.order_by_asc(webhooks::Column::Id).all(db).await
}

/// Pending deliveries due by `now` to the `endpoints` given, oldest due first.
pub async fn due(
    db: &DatabaseConnection,
    endpoints: &[i64],
    now: i64,
    limit: u64,
) -> Result<Vec<deliveries::Model>, DbErr> {
    if endpoints.is_empty() {
        return Ok(Vec::new());
    }
    deliveries::Entity::find()
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(deliveries::Column::NextAttemptAt.lte(now))
        .filter(deliveries::Column::WebhookId.is_in(endpoints.iter().copied()))
        .order_by_asc(deliveries::Column::NextAttemptAt)
        .order_by_asc(deliveries::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// When the next pending delivery to one of `endpoints` is due, if any.
pub async fn next_due(db: &DatabaseConnection, endpoints: &[i64]) -> Result<Option<i64>, DbErr> {
    if endpoints.is_empty() {
        return Ok(None);
    }
    deliveries::Entity::find()
        .select_only()
        .column_as(deliveries::Column::NextAttemptAt.min(), "due")
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(deliveries::Column::WebhookId.is_in(endpoints.iter().copied()))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await
        .map(Option::flatten)
}

/// Claims these deliveries until `until` (a crash mid-attempt lets them come
/// due again then): the ids still pending and unclaimed, which this caller now holds.
pub async fn claim(writer: &Writer, ids: &[i64], now: i64, until: i64) -> Result<(), DbErr> {
    let _turn = writer.turn().await;
    deliveries::Entity::update_many()
        .col_expr(deliveries::Column::NextAttemptAt, Expr::value(until))
        .filter(deliveries::Column::Id.is_in(ids.iter().copied()))
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(deliveries::Column::NextAttemptAt.lte(now))
        .exec(writer.db())
        .await
        .map(|_| ())
}

pub async fn events_by_id(db: &DatabaseConnection, ids: Vec<i64>) -> Result<Vec<events::Model>, DbErr> {
    events::Entity::find().filter(events::Column::Id.is_in(ids)).all(db).await
}

/// What one attempt came to.
pub struct Settled {
    pub status: DeliveryStatus,
    pub next_attempt_at: i64,
    pub code: Option<i32>,
    pub response: Option<String>,
}

/// Writes the outcomes of attempts in one transaction: those alike (the same
/// status, answer and next attempt, as successes mostly are) in one statement.
pub async fn settle_all(writer: &Writer, outcomes: &[(i64, &Settled)], now: i64) -> Result<(), DbErr> {
    /// `(status, next attempt, last status, last response)`.
    type Alike<'a> = (&'a str, i64, Option<i32>, Option<&'a str>);
    let mut alike: std::collections::BTreeMap<Alike, Vec<i64>> = Default::default();
    for (id, o) in outcomes {
        alike.entry((o.status.as_str(), o.next_attempt_at, o.code, o.response.as_deref())).or_default().push(*id);
    }
    let write = writer.begin().await?;
    let tx = &write.tx;
    for ((status, next, code, response), ids) in alike {
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::Status, Expr::value(status))
            .col_expr(deliveries::Column::Attempts, Expr::col(deliveries::Column::Attempts).add(1))
            .col_expr(deliveries::Column::NextAttemptAt, Expr::value(next))
            .col_expr(deliveries::Column::LastStatus, Expr::value(code))
            .col_expr(deliveries::Column::LastResponse, Expr::value(response))
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(deliveries::Column::Id.is_in(ids))
            .exec(tx)
            .await?;
    }
    write.commit().await
}

/// Marks an endpoint healthy (a success) or failing since `now` (unless it already was).
pub async fn set_failing(writer: &Writer, webhook: i64, failing: bool, now: i64) -> Result<(), DbErr> {
    let update = webhooks::Entity::update_many().filter(webhooks::Column::Id.eq(webhook));
    let update = if failing {
        update
            .col_expr(webhooks::Column::FailingSince, Expr::value(now))
            .filter(webhooks::Column::FailingSince.is_null())
    } else {
        update
            .col_expr(webhooks::Column::FailingSince, Expr::value(Option::<i64>::None))
            .filter(webhooks::Column::FailingSince.is_not_null())
    };
    let _turn = writer.turn().await;
    update.exec(writer.db()).await.map(|_| ())
}

/// Disables an endpoint, saying why.
pub async fn disable(writer: &Writer, webhook: i64, reason: &str, now: i64) -> Result<(), DbErr> {
    let _turn = writer.turn().await;
    webhooks::Entity::update_many()
        .col_expr(webhooks::Column::Enabled, Expr::value(false))
        .col_expr(webhooks::Column::DisabledReason, Expr::value(reason))
        .col_expr(webhooks::Column::UpdatedAt, Expr::value(now))
        .filter(webhooks::Column::Id.eq(webhook))
        .exec(writer.db())
        .await
        .map(|_| ())
}

/// A page of an endpoint's deliveries, newest first, with their events; and how many match.
pub async fn deliveries_of(
    db: &DatabaseConnection,
    webhook: i64,
    status: Option<DeliveryStatus>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<(deliveries::Model, Option<events::Model>)>, u64), DbErr> {
    let mut query = deliveries::Entity::find().filter(deliveries::Column::WebhookId.eq(webhook));
    if let Some(status) = status {
        query = query.filter(deliveries::Column::Status.eq(status.as_str()));
    }
    let total = query.clone().count(db).await?;
    let rows =
        query.order_by_desc(deliveries::Column::Id).offset((page - 1) * per_page).limit(per_page).all(db).await?;
    let events: std::collections::HashMap<i64, events::Model> =
        events_by_id(db, rows.iter().map(|d| d.event_id).collect()).await?.into_iter().map(|e| (e.id, e)).collect();
    Ok((rows.into_iter().map(|d| (d.clone(), events.get(&d.event_id).cloned())).collect(), total))
}

pub async fn delivery(db: &DatabaseConnection, webhook: i64, id: i64) -> Result<Option<deliveries::Model>, DbErr> {
    deliveries::Entity::find_by_id(id).filter(deliveries::Column::WebhookId.eq(webhook)).one(db).await
}

/// Puts deliveries of `webhook` back in line, due now: one (`Some(id)`), or
/// all of events since `since` (epoch ms). How many.
pub async fn resend(
    writer: &Writer,
    webhook: i64,
    one: Option<i64>,
    since: Option<i64>,
    now: i64,
) -> Result<u64, DbErr> {
    let mut condition = Condition::all().add(deliveries::Column::WebhookId.eq(webhook));
    if let Some(id) = one {
        condition = condition.add(deliveries::Column::Id.eq(id));
    }
    if let Some(since) = since {
        let recent = events::Entity::find()
            .select_only()
            .column(events::Column::Id)
            .filter(events::Column::CreatedAt.gte(since))
            .into_query();
        condition = condition.add(deliveries::Column::EventId.in_subquery(recent));
    }
    let _turn = writer.turn().await;
    let result = deliveries::Entity::update_many()
        .col_expr(deliveries::Column::Status, Expr::value(DeliveryStatus::Pending.as_str()))
        .col_expr(deliveries::Column::NextAttemptAt, Expr::value(now))
        .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
        .filter(condition)
        .exec(writer.db())
        .await?;
    Ok(result.rows_affected)
}

/// How many deliveries wait, and since when the oldest (epoch ms).
pub async fn backlog(db: &DatabaseConnection) -> Result<(u64, Option<i64>), DbErr> {
    let (count, oldest): (i64, Option<i64>) = deliveries::Entity::find()
        .select_only()
        .column_as(deliveries::Column::Id.count(), "n")
        .column_as(deliveries::Column::CreatedAt.min(), "oldest")
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or((0, None));
    Ok((u64::try_from(count).unwrap_or(0), oldest))
}

/// Forgets events (and their deliveries) older than `before`, a chunk at a time. How many.
pub async fn forget_before(db: &DatabaseConnection, before: i64) -> Result<u64, DbErr> {
    let old: Vec<i64> = events::Entity::find()
        .select_only()
        .column(events::Column::Id)
        .filter(events::Column::CreatedAt.lt(before))
        .limit(1000)
        .into_tuple()
        .all(db)
        .await?;
    if old.is_empty() {
        return Ok(0);
    }
    deliveries::Entity::delete_many().filter(deliveries::Column::EventId.is_in(old.clone())).exec(db).await?;
    let gone = events::Entity::delete_many().filter(events::Column::Id.is_in(old)).exec(db).await?;
    Ok(gone.rows_affected)
}

pub async fn touch(db: &DatabaseConnection, row: webhooks::ActiveModel) -> Result<webhooks::Model, DbErr> {
    row.update(db).await
}
