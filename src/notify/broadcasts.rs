//! Broadcasts: one notice (or custom text) to many customers. Accepting one
//! writes the broadcast, a row per recipient and a queue message per distinct
//! valid phone in one transaction, spread over the broadcast's sessions in
//! turn; from then on the queue sends them under each session's limits. How
//! far it got is read from those messages, so a restart resumes it with
//! nothing to repair, and `broadcast.progress` events follow their statuses.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    NotifyError,
    template::{self, Values},
};
use crate::{
    db::{
        entities::{broadcast_recipients as recipients, broadcasts, customers, messages, notices},
        write::Writer,
    },
    model::{MessageStatus, SessionKey, now_ms},
    queue::{MAX_TEXT_CHARS, Queue, text_message},
};

/// Rows per INSERT statement.
const CHUNK: usize = 500;

/// What a broadcast was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A notice to all active customers, or to some by id.
    Notification,
    /// A text of the caller's own.
    Custom,
    /// One number.
    Phone,
    /// A notice (or text) to the active customers of one ODP.
    Odp,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Notification => "notification",
            Kind::Custom => "custom",
            Kind::Phone => "phone",
            Kind::Odp => "odp",
        }
    }

    fn parse(text: &str) -> Kind {
        match text {
            "custom" => Kind::Custom,
            "phone" => Kind::Phone,
            "odp" => Kind::Odp,
            _ => Kind::Notification,
        }
    }
}

/// Whom a broadcast goes to.
pub enum Audience {
    /// Every active customer.
    Active,
    /// These customers (active or not), by id.
    Customers(Vec<i64>),
    /// The active customers of the ODP with this id.
    Odp(i64),
    /// One number, already normalised.
    Phone(String),
}

/// A broadcast to start, checked by the caller.
pub struct Plan {
    pub kind: Kind,
    pub audience: Audience,
    /// `{nama}` and the notice's fields are filled in per recipient.
    pub template: String,
    pub notice: Option<notices::Model>,
    /// The ODP code of a by-ODP broadcast.
    pub odp: Option<String>,
    /// At least one session; recipients are spread over them in turn.
    pub sessions: Vec<SessionKey>,
    /// `(Idempotency-Key, hash of the request)`: a retry gets this broadcast back.
    pub idempotency: Option<(String, String)>,
    /// A by-ODP broadcast's ODP group: the message is also posted into it, once.
    pub group: Option<GroupPost>,
}

impl Plan {
    /// A broadcast of `kind` to `audience` from `sessions`: no notice, ODP or
    /// group (the caller sets those it has).
    pub fn new(kind: Kind, audience: Audience, template: String, sessions: Vec<SessionKey>) -> Plan {
        Plan { kind, audience, template, notice: None, odp: None, sessions, idempotency: None, group: None }
    }
}

/// The post of a by-ODP broadcast into the ODP's group.
#[derive(Debug, Clone)]
pub struct GroupPost {
    /// `<id>@g.us`.
    pub jid: String,
    /// The session that posts it; `Err`: why it may not (the caller cannot
    /// send from the ODP's session), reported as the group line's reason.
    pub session: Result<SessionKey, String>,
}

/// Where a broadcast is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastStatus {
    /// Messages are still waiting or on the wire.
    Running,
    /// Every message was sent or failed.
    Completed,
    /// Cancelled: waiting messages failed; those on the wire finished.
    Cancelled,
}

/// One recipient's result.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecipientResult {
    pub customer_id: Option<i64>,
    /// Digits with country code when valid, else as the customer has it.
    pub phone: String,
    pub customer_name: String,
    /// Sent to WhatsApp (and maybe delivered or read).
    pub success: bool,
    /// `skipped`, or the message's status (`queued`, `sending`, `sent`,
    /// `delivered`, `read`, `failed`).
    pub status: String,
    /// Why it was skipped or failed.
    pub error: Option<String>,
    pub message_id: Option<String>,
    /// The line of the ODP's group (`phone`: the group's JID), not a customer's.
    pub group: bool,
}

/// A broadcast's progress and, once done, its report (seed 002's shape plus
/// the broadcast's own fields).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BroadcastReport {
    /// The broadcast was accepted (individual results say how each recipient fared).
    pub success: bool,
    pub message: String,
    pub broadcast_id: i64,
    pub kind: Kind,
    pub status: BroadcastStatus,
    pub notice_id: Option<i64>,
    pub odp: Option<String>,
    pub sessions: Vec<String>,
    /// Recipients considered, skipped ones included.
    pub total_customers: u64,
    /// Messages queued when it was accepted: one per valid, distinct phone.
    pub queued_count: u64,
    /// Messages still waiting or on the wire.
    pub pending_count: u64,
    /// Sent to WhatsApp (delivered and read included).
    pub sent_count: u64,
    pub delivered_count: u64,
    pub read_count: u64,
    pub failed_count: u64,
    /// Invalid numbers and repeated phones.
    pub skipped_count: u64,
    pub created_at: DateTime<Utc>,
    /// One row per recipient, in order (`GET /api/broadcasts/{id}` pages them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<RecipientResult>>,
}

/// Message counts of one broadcast.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    pending: u64,
    sent: u64,
    delivered: u64,
    read: u64,
    failed: u64,
}

impl Counts {
    fn add(&mut self, status: MessageStatus, n: u64) {
        match status {
            MessageStatus::Queued | MessageStatus::Sending => self.pending += n,
            MessageStatus::Sent => self.sent += n,
            MessageStatus::Delivered => {
                self.sent += n;
                self.delivered += n;
            }
            MessageStatus::Read => {
                self.sent += n;
                self.delivered += n;
                self.read += n;
            }
            MessageStatus::Failed => self.failed += n,
        }
    }
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn report(row: &broadcasts::Model, counts: Counts, results: Option<Vec<RecipientResult>>) -> BroadcastReport {
    let queued = row.queued.max(0) as u64;
    // Messages deleted with their session count as failed.
    let failed = counts.failed + queued.saturating_sub(counts.pending + counts.sent + counts.failed);
    let status = if row.cancelled_at.is_some() {
        BroadcastStatus::Cancelled
    } else if counts.pending == 0 {
        BroadcastStatus::Completed
    } else {
        BroadcastStatus::Running
    };
    let (total, skipped) = (row.total.max(0) as u64, row.skipped.max(0) as u64);
    let message = match status {
        BroadcastStatus::Running => format!(
            "{queued} of {total} customers queued ({skipped} skipped): {} sent, {failed} failed, {} waiting",
            counts.sent, counts.pending
        ),
        _ => format!(
            "{} for {total} customers: {} sent, {failed} failed, {skipped} skipped",
            if status == BroadcastStatus::Cancelled { "cancelled" } else { "done" },
            counts.sent
        ),
    };
    BroadcastReport {
        success: true,
        message,
        broadcast_id: row.id,
        kind: Kind::parse(&row.kind),
        status,
        notice_id: row.notice_id,
        odp: row.odp.clone(),
        sessions: keys_in(&row.sessions).iter().map(|key| key.name().to_owned()).collect(),
        total_customers: total,
        queued_count: queued,
        pending_count: counts.pending,
        sent_count: counts.sent,
        delivered_count: counts.delivered,
        read_count: counts.read,
        failed_count: failed,
        skipped_count: skipped,
        created_at: time(row.created_at),
        results,
    }
}

/// A recipient before it is written.
struct Recipient {
    customer_id: Option<i64>,
    name: String,
    phone: String,
    message: Result<messages::Model, String>,
}

/// The customers `audience` names, by id.
async fn audience(db: &DatabaseConnection, owner: i64, audience: &Audience) -> Result<Vec<customers::Model>, DbErr> {
    let mut condition = Condition::all().add(customers::Column::UserId.eq(owner));
    condition = match audience {
        Audience::Active => condition.add(customers::Column::Active.eq(true)),
        Audience::Odp(odp) => condition.add(customers::Column::Active.eq(true)).add(customers::Column::OdpId.eq(*odp)),
        Audience::Customers(ids) => {
            let mut found = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(CHUNK) {
                found.extend(
                    customers::Entity::find()
                        .filter(condition.clone().add(customers::Column::Id.is_in(chunk.to_vec())))
                        .all(db)
                        .await?,
                );
            }
            found.sort_by_key(|c| c.id);
            return Ok(found);
        }
        Audience::Phone(_) => return Ok(Vec::new()),
    };
    customers::Entity::find().filter(condition).order_by_asc(customers::Column::Id).all(db).await
}

/// Ids among `ids` that are not `owner`'s customers.
pub async fn unknown_customers(db: &DatabaseConnection, owner: i64, ids: &[i64]) -> Result<Vec<i64>, DbErr> {
    let mut known = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        let found: Vec<i64> = customers::Entity::find()
            .select_only()
            .column(customers::Column::Id)
            .filter(customers::Column::UserId.eq(owner))
            .filter(customers::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        known.extend(found);
    }
    Ok(ids.iter().copied().filter(|id| !known.contains(id)).collect())
}

/// Each recipient of `plan` with its message, or why it is skipped; and when
/// the messages were made.
async fn recipients(
    db: &DatabaseConnection,
    zone: crate::config::Zone,
    owner: i64,
    plan: &Plan,
) -> Result<(Vec<Recipient>, i64), NotifyError> {
    let offset = zone;
    let customers = audience(db, owner, &plan.audience).await?;
    let odp_codes = super::customers::odp_codes(db, owner).await?;
    let notice = plan.notice.as_ref();
    let notice_odps = notice.map(|n| super::notices::odps_of(n).join(", ")).unwrap_or_default();
    let (starts, ends) = match notice {
        Some(n) => (template::format_time(n.starts_at, offset), template::format_time(n.estimated_end, offset)),
        None => (String::new(), String::new()),
    };
    let now = now_ms();
    let written = template::format_time(Some(now), offset);
    let text_for = |name: &str, odp: &str| {
        let text = template::render(
            &plan.template,
            &Values {
                name,
                odp: if odp.is_empty() { &notice_odps } else { odp },
                title: notice.map_or("", |n| n.title.as_str()),
                message: notice.map_or("", |n| n.message.as_str()),
                starts: &starts,
                estimated_end: &ends,
                now: &written,
                agent: "",
            },
        );
        if text.trim().is_empty() {
            Err("the message is empty for this customer".to_owned())
        } else if text.chars().count() > MAX_TEXT_CHARS {
            Err(format!("the message is longer than {MAX_TEXT_CHARS} characters"))
        } else {
            Ok(text)
        }
    };
    let mut next_session = plan.sessions.iter().cycle();
    let mut message = |phone: &str, text: String| {
        let session = next_session.next().expect("a broadcast has sessions").clone();
        text_message(session, owner, phone.to_owned(), text, crate::model::Origin::Broadcast, now)
    };

    let mut list: Vec<Recipient> = Vec::new();
    if let Some(group) = &plan.group {
        // `{nama}` in the group: the ODP's customers.
        let odp = plan.odp.as_deref().unwrap_or_default();
        let body = group.session.clone().and_then(|session| {
            let text = text_for(&format!("Pelanggan {odp}"), odp)?;
            Ok(text_message(session, owner, group.jid.clone(), text, crate::model::Origin::Broadcast, now))
        });
        list.push(Recipient {
            customer_id: None,
            name: format!("Grup {odp}"),
            phone: group.jid.clone(),
            message: body,
        });
    }
    if let Audience::Phone(phone) = &plan.audience {
        let body = text_for("", "").map(|text| message(phone, text));
        list.push(Recipient { customer_id: None, name: String::new(), phone: phone.clone(), message: body });
    }
    // The first customer (by id) with a number gets the message; later ones are told so.
    // (One whose text cannot be made does not count: the next customer with the number gets it.)
    let mut first_with: HashMap<String, (i64, String)> = HashMap::new();
    for customer in &customers {
        let (phone, body) = match &customer.phone {
            None => {
                let why = customer.phone_error.as_deref().unwrap_or("no number");
                (customer.phone_raw.clone(), Err(format!("invalid phone number: {why}")))
            }
            Some(phone) => match first_with.get(phone) {
                Some((id, name)) => {
                    (phone.clone(), Err(format!("same phone number as customer {id} ({name}); sent to them once")))
                }
                None => {
                    let odp = customer.odp_id.and_then(|id| odp_codes.get(&id)).map_or("", String::as_str);
                    let body = text_for(&customer.name, odp).map(|text| message(phone, text));
                    if body.is_ok() {
                        first_with.insert(phone.clone(), (customer.id, customer.name.clone()));
                    }
                    (phone.clone(), body)
                }
            },
        };
        list.push(Recipient { customer_id: Some(customer.id), name: customer.name.clone(), phone, message: body });
    }

    Ok((list, now))
}

/// What a broadcast would send, written nowhere (`dry_run`).
#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastPreview {
    /// Always `true`: nothing was queued.
    pub dry_run: bool,
    /// Recipients, skipped ones included.
    pub total_customers: u64,
    /// How many messages would be queued.
    pub queued_count: u64,
    pub skipped_count: u64,
    /// The first message exactly as it would be sent.
    pub preview: Option<String>,
    /// Who would get `preview`.
    pub preview_recipient: Option<String>,
    /// The ODP's group the message would also be posted into, once (`<id>@g.us`).
    pub group: Option<String>,
    /// The first 50 recipients that would be skipped, and why.
    pub skipped: Vec<SkippedRecipient>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedRecipient {
    pub customer_id: Option<i64>,
    pub name: String,
    pub phone: String,
    pub reason: String,
}

/// Makes every message of `plan` as [`start`] would, and keeps none.
pub async fn preview(
    db: &DatabaseConnection,
    zone: crate::config::Zone,
    owner: i64,
    plan: &Plan,
) -> Result<BroadcastPreview, NotifyError> {
    let (list, _) = recipients(db, zone, owner, plan).await?;
    let is_group = |r: &&Recipient| r.customer_id.is_none() && crate::model::is_group(&r.phone);
    let first = list.iter().filter(|r| !is_group(r)).find(|r| r.message.is_ok());
    let group = list.iter().find(|r| is_group(r) && r.message.is_ok()).map(|r| r.phone.clone());
    let skipped: Vec<SkippedRecipient> = list
        .iter()
        .filter_map(|r| {
            let reason = r.message.as_ref().err()?;
            Some(SkippedRecipient {
                customer_id: r.customer_id,
                name: r.name.clone(),
                phone: r.phone.clone(),
                reason: reason.clone(),
            })
        })
        .collect();
    Ok(BroadcastPreview {
        dry_run: true,
        total_customers: list.len() as u64,
        queued_count: (list.len() - skipped.len()) as u64,
        skipped_count: skipped.len() as u64,
        preview: first.and_then(|r| r.message.as_ref().ok()).map(|m| m.body.clone().unwrap_or_default()),
        preview_recipient: first
            .map(|r| if r.name.is_empty() { r.phone.clone() } else { format!("{} ({})", r.name, r.phone) }),
        group,
        skipped: skipped.into_iter().take(50).collect(),
    })
}

/// Accepts a broadcast: everything it will send is durably queued when this returns.
pub async fn start(
    writer: &Writer,
    queue: &Queue,
    zone: crate::config::Zone,
    owner: i64,
    plan: Plan,
) -> Result<BroadcastReport, NotifyError> {
    let (list, now) = recipients(writer.db(), zone, owner, &plan).await?;
    let notice = plan.notice.as_ref();
    let queued = list.iter().filter(|r| r.message.is_ok()).count();
    // The sessions it sends from: the ODP group's too.
    let mut sending = plan.sessions.clone();
    if let Some(GroupPost { session: Ok(session), .. }) = &plan.group
        && !sending.contains(session)
    {
        sending.push(session.clone());
    }
    let mut write = writer.begin().await?;
    let row = broadcasts::ActiveModel {
        user_id: Set(owner),
        kind: Set(plan.kind.as_str().into()),
        notice_id: Set(notice.map(|n| n.id)),
        odp: Set(plan.odp.clone()),
        template: Set(plan.template.clone()),
        sessions: Set(keys_column(&sending)),
        total: Set(list.len() as i32),
        skipped: Set((list.len() - queued) as i32),
        queued: Set(queued as i32),
        cancelled_at: Set(None),
        completed_at: Set(None),
        idempotency_key: Set(plan.idempotency.as_ref().map(|(key, _)| key.clone())),
        request_hash: Set(plan.idempotency.as_ref().map(|(_, hash)| hash.clone())),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&write.tx)
    .await?;
    let mut rows: Vec<messages::Model> = Vec::with_capacity(queued);
    let mut recipient_rows = Vec::with_capacity(list.len());
    for recipient in list {
        let (message_id, skipped) = match recipient.message {
            Ok(mut message) => {
                message.broadcast_id = Some(row.id);
                let id = message.id.clone();
                rows.push(message);
                (Some(id), None)
            }
            Err(why) => (None, Some(why)),
        };
        recipient_rows.push(recipients::ActiveModel {
            broadcast_id: Set(row.id),
            customer_id: Set(recipient.customer_id),
            customer_name: Set(recipient.name),
            phone: Set(recipient.phone.chars().take(64).collect()),
            message_id: Set(message_id),
            skipped: Set(skipped.map(|s| s.chars().take(255).collect())),
            ..Default::default()
        });
    }
    queue.put(&mut write, &rows).await?;
    for chunk in recipient_rows.chunks(CHUNK) {
        recipients::Entity::insert_many(chunk.to_vec()).exec_without_returning(&write.tx).await?;
    }
    let (queue, id) = (queue.clone(), row.id);
    write.on_commit(move || queue.broadcast_moved(id));
    write.commit().await?;
    let counts = Counts { pending: queued as u64, ..Default::default() };
    Ok(report(&row, counts, None))
}

/// The broadcast `owner` started with this idempotency key, if any; an error
/// if that was a different request.
pub async fn replay(
    db: &DatabaseConnection,
    owner: i64,
    key: &str,
    hash: &str,
) -> Result<Option<broadcasts::Model>, NotifyError> {
    let row = broadcasts::Entity::find()
        .filter(broadcasts::Column::UserId.eq(owner))
        .filter(broadcasts::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?;
    match row {
        Some(row) if row.request_hash.as_deref() != Some(hash) => Err(NotifyError::KeyReused),
        row => Ok(row),
    }
}

/// `owner`'s broadcast `id`.
/// `owner`'s broadcast `id`; with `within`, only one that sends from those sessions alone.
pub async fn find(
    db: &DatabaseConnection,
    owner: i64,
    within: Option<&[String]>,
    id: i64,
) -> Result<broadcasts::Model, NotifyError> {
    broadcasts::Entity::find_by_id(id)
        .filter(broadcasts::Column::UserId.eq(owner))
        .one(db)
        .await?
        .filter(|row| sends_within(&row.sessions, within))
        .ok_or(NotifyError::NotFound("broadcast"))
}

/// The keys of a broadcast's sessions, from its `sessions` column (a JSON list).
pub fn keys_in(column: &str) -> Vec<SessionKey> {
    serde_json::from_str::<Vec<String>>(column).unwrap_or_default().into_iter().map(SessionKey::stored).collect()
}

/// The `sessions` column of a broadcast from these sessions.
fn keys_column(keys: &[SessionKey]) -> String {
    serde_json::to_string(&keys.iter().map(SessionKey::as_str).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

/// Whether every session of a broadcast (its `sessions` column) is one of
/// `within` (`None`: any).
fn sends_within(sessions: &str, within: Option<&[String]>) -> bool {
    let Some(within) = within else { return true };
    let sessions = keys_in(sessions);
    !sessions.is_empty() && sessions.iter().all(|key| within.iter().any(|name| name == key.name()))
}

async fn counts_of(queue: &Queue, ids: &[i64]) -> Result<HashMap<i64, Counts>, NotifyError> {
    let mut counts: HashMap<i64, Counts> = HashMap::new();
    for (broadcast, status, n) in queue.broadcast_counts(ids).await? {
        counts.entry(broadcast).or_default().add(status, n);
    }
    Ok(counts)
}

/// A broadcast's progress, without its recipients.
pub async fn summary(queue: &Queue, row: &broadcasts::Model) -> Result<BroadcastReport, NotifyError> {
    let counts = counts_of(queue, &[row.id]).await?;
    Ok(report(row, counts.get(&row.id).copied().unwrap_or_default(), None))
}

/// A broadcast's progress with a page of its recipients' results.
pub async fn detail(
    db: &DatabaseConnection,
    queue: &Queue,
    row: &broadcasts::Model,
    page: u64,
    per_page: u64,
) -> Result<BroadcastReport, NotifyError> {
    // Counts first: statuses only move on, so results read after a "completed" are final too.
    let counts = counts_of(queue, &[row.id]).await?;
    let page_rows = recipients::Entity::find()
        .filter(recipients::Column::BroadcastId.eq(row.id))
        .order_by_asc(recipients::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    let ids: Vec<String> = page_rows.iter().filter_map(|r| r.message_id.clone()).collect();
    let statuses: HashMap<String, (MessageStatus, Option<String>)> =
        queue.statuses(&ids).await?.into_iter().map(|(id, s, r)| (id, (s, r))).collect();
    let results = page_rows
        .into_iter()
        .map(|r| {
            let (status, error) = match (&r.message_id, &r.skipped) {
                (None, skipped) => ("skipped".to_owned(), skipped.clone()),
                (Some(id), _) => match statuses.get(id) {
                    Some((status, reason)) => (status.as_str().to_owned(), reason.clone()),
                    None => ("failed".to_owned(), Some("the message was deleted with its session".to_owned())),
                },
            };
            let success = matches!(status.as_str(), "sent" | "delivered" | "read");
            let group_line = crate::model::is_group(&r.phone);
            RecipientResult {
                customer_id: r.customer_id,
                phone: r.phone,
                customer_name: r.customer_name,
                success,
                error: if success { None } else { error },
                status,
                message_id: r.message_id,
                group: r.customer_id.is_none() && group_line,
            }
        })
        .collect();
    Ok(report(row, counts.get(&row.id).copied().unwrap_or_default(), Some(results)))
}

/// A page of `owner`'s broadcasts, newest first, with their progress; with
/// `within`, only those that send from those sessions alone.
pub async fn list(
    db: &DatabaseConnection,
    queue: &Queue,
    owner: i64,
    within: Option<&[String]>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<BroadcastReport>, u64), NotifyError> {
    let query = broadcasts::Entity::find().filter(broadcasts::Column::UserId.eq(owner));
    let (rows, total) = match within {
        None => {
            let total = query.clone().count(db).await?;
            let rows = query
                .order_by_desc(broadcasts::Column::Id)
                .offset((page - 1) * per_page)
                .limit(per_page)
                .all(db)
                .await?;
            (rows, total)
        }
        // The sessions are a JSON list: matched here, over the ids and sessions only.
        Some(_) => {
            let ids: Vec<(i64, String)> = query
                .clone()
                .select_only()
                .column(broadcasts::Column::Id)
                .column(broadcasts::Column::Sessions)
                .order_by_desc(broadcasts::Column::Id)
                .into_tuple()
                .all(db)
                .await?;
            let matching: Vec<i64> =
                ids.into_iter().filter(|(_, sessions)| sends_within(sessions, within)).map(|(id, _)| id).collect();
            let total = matching.len() as u64;
            let start = ((page - 1) * per_page).min(total) as usize;
            let wanted: Vec<i64> = matching.into_iter().skip(start).take(per_page as usize).collect();
            let rows = broadcasts::Entity::find()
                .filter(broadcasts::Column::Id.is_in(wanted))
                .order_by_desc(broadcasts::Column::Id)
                .all(db)
                .await?;
            (rows, total)
        }
    };
    let counts = counts_of(queue, &rows.iter().map(|r| r.id).collect::<Vec<_>>()).await?;
    Ok((rows.iter().map(|r| report(r, counts.get(&r.id).copied().unwrap_or_default(), None)).collect(), total))
}

/// Cancels a broadcast: its waiting messages fail with `reason`; those on the wire finish.
pub async fn cancel(
    writer: &Writer,
    queue: &Queue,
    row: broadcasts::Model,
    reason: &str,
) -> Result<BroadcastReport, NotifyError> {
    let db = writer.db();
    if row.cancelled_at.is_none() {
        // Recorded first: a crash halfway leaves it cancelled, and cancelling again finishes the job.
        let _turn = writer.turn().await;
        broadcasts::Entity::update_many()
            .col_expr(broadcasts::Column::CancelledAt, Expr::value(now_ms()))
            .filter(broadcasts::Column::Id.eq(row.id))
            .exec(db)
            .await?;
    }
    queue.cancel_broadcast(row.id, reason).await?;
    let row = broadcasts::Entity::find_by_id(row.id).one(db).await?.ok_or(NotifyError::NotFound("broadcast"))?;
    summary(queue, &row).await
}

/// Progress of these broadcasts, for `broadcast.progress` events: `(row, report)`.
pub async fn progress_of(
    db: &DatabaseConnection,
    queue: &Queue,
    ids: &[i64],
) -> Result<Vec<(broadcasts::Model, BroadcastReport)>, NotifyError> {
    let rows = broadcasts::Entity::find().filter(broadcasts::Column::Id.is_in(ids.to_vec())).all(db).await?;
    let counts = counts_of(queue, ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let report = report(&row, counts.get(&row.id).copied().unwrap_or_default(), None);
            (row, report)
        })
        .collect())
}
