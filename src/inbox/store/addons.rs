//! What a contact changes with a message of its own, applied in the commit
//! that keeps it: a reaction (on a message of the chat, sent or received;
//! one per person, replaced, or taken off when empty), an edit and a deletion
//! (of a message the same sender wrote), a vote in a poll the session sent.
//! The change is kept as a received message too (once, like any), but makes
//! no timeline entry of its own; it is told as its own event.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};

use crate::{
    db::entities::inbound_messages as inbound,
    engine::Inbound,
    inbox::search,
    model::{SessionKey, now_ms},
    queue::addons,
};

/// The kinds of received messages that change another message.
pub const CHANGES: [&str; 4] = ["reaction", "edit", "revoke", "poll_vote"];

/// A change applied: its event's type and data.
pub struct Applied {
    pub kind: &'static str,
    pub data: Value,
    /// A received file the change deleted (its row id), to remove after the commit.
    pub dropped_media: Option<i64>,
}

/// The digits of a user JID (`628…@s.whatsapp.net`, with or without a device).
fn number_of(jid: &str) -> String {
    jid.split(['@', ':']).next().unwrap_or_default().to_owned()
}

/// Applies `message` (one of [`CHANGES`]), received by `session` (linked to
/// number `own`) in its chat `chat` with `contact`. `None` when the message it
/// names is not there (not in this chat, or not the sender's to change).
pub async fn apply(
    tx: &impl ConnectionTrait,
    session: &SessionKey,
    own: &str,
    chat: Option<i64>,
    message: &Inbound,
    keep_deleted: bool,
) -> Result<Option<Applied>, DbErr> {
    let (Some(contact), Some(target)) = (message.contact.as_deref(), message.quoted_id.as_deref()) else {
        return Ok(None);
    };
    let from = number_of(&message.sender);
    let base =
        json!({"session": session.name(), "chat_id": chat, "contact": contact, "message_id": target, "from": from});
    let with = |extra: Value| {
        let mut data = base.clone();
        data.as_object_mut().expect("an object").extend(extra.as_object().cloned().unwrap_or_default());
        data
    };
    let applied = |kind, data| Ok(Some(Applied { kind, data, dropped_media: None }));
    match message.kind {
        "reaction" => {
            let emoji = message.text.clone().unwrap_or_default();
            let on_sent = addons::react(tx, session, contact, target, &from, &emoji).await?;
            if !on_sent {
                let Some(row) = received(tx, session, chat, target, None).await? else { return Ok(None) };
                let mut extra = extra_of(&row);
                addons::set_reaction(&mut extra, &from, &emoji);
                set(tx, row.id, inbound::Column::Extra, Some(extra.to_string())).await?;
            }
            applied("message.reaction", with(json!({"emoji": emoji, "removed": emoji.is_empty()})))
        }
        "edit" => {
            let Some(row) = received(tx, session, chat, target, Some(&message.sender)).await? else { return Ok(None) };
            let mut extra = extra_of(&row);
            let edit = json!({"text": row.body, "at": now_ms()});
            match extra["edits"].as_array_mut() {
                Some(edits) => edits.push(edit),
                None => extra["edits"] = json!([edit]),
            }
            inbound::Entity::update_many()
                .col_expr(inbound::Column::Body, Expr::value(message.text.clone()))
                .col_expr(inbound::Column::Extra, Expr::value(Some(extra.to_string())))
                .filter(inbound::Column::Id.eq(row.id))
                .exec(tx)
                .await?;
            search::replace_received(tx, row.id, message.text.clone()).await?;
            applied("message.edited", with(json!({"text": message.text, "previous": row.body})))
        }
        "revoke" => {
            let Some(row) = received(tx, session, chat, target, Some(&message.sender)).await? else { return Ok(None) };
            let mut extra = extra_of(&row);
            extra["deleted"] = json!({"at": now_ms()});
            let had_media = row.media_state.is_some();
            let mut update = inbound::Entity::update_many()
                .col_expr(inbound::Column::Extra, Expr::value(Some(extra.to_string())))
                .filter(inbound::Column::Id.eq(row.id));
            if !keep_deleted {
                update = update
                    .col_expr(inbound::Column::Body, Expr::value(Option::<String>::None))
                    .col_expr(inbound::Column::Media, Expr::value(Option::<String>::None));
                if had_media {
                    update = update.col_expr(inbound::Column::MediaState, Expr::value("deleted"));
                }
            }
            update.exec(tx).await?;
            // A deleted message leaves search, even where its text is kept.
            search::replace_received(tx, row.id, None).await?;
            let dropped_media = (had_media && !keep_deleted).then_some(row.id);
            Ok(Some(Applied { kind: "message.revoked", data: base, dropped_media }))
        }
        "poll_vote" => {
            let enc = message.extra.as_ref();
            let field = |name| enc.and_then(|e| e[name].as_str()).unwrap_or_default().to_owned();
            let (payload, iv) = (field("enc_payload"), field("enc_iv"));
            let Some(counted) = addons::vote(tx, session, contact, target, own, &from, &payload, &iv).await? else {
                return Ok(None);
            };
            let data = with(json!({"poll_id": target, "options": counted.options, "tally": counted.tally}));
            applied("poll.vote", data)
        }
        _ => Ok(None),
    }
}

/// The received message `id` of `chat` (by `sender` only, when given).
async fn received(
    tx: &impl ConnectionTrait,
    session: &SessionKey,
    chat: Option<i64>,
    id: &str,
    sender: Option<&str>,
) -> Result<Option<inbound::Model>, DbErr> {
    let Some(chat) = chat else { return Ok(None) };
    let mut query = inbound::Entity::find()
        .filter(inbound::Column::SessionId.eq(session.clone()))
        .filter(inbound::Column::ChatId.eq(chat))
        .filter(inbound::Column::WaId.eq(id))
        .filter(inbound::Column::Kind.is_not_in(CHANGES));
    if let Some(sender) = sender {
        query = query.filter(inbound::Column::SenderJid.eq(sender));
    }
    query.one(tx).await
}

fn extra_of(row: &inbound::Model) -> Value {
    row.extra
        .as_deref()
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

async fn set(tx: &impl ConnectionTrait, id: i64, column: inbound::Column, value: Option<String>) -> Result<(), DbErr> {
    inbound::Entity::update_many()
        .col_expr(column, Expr::value(value))
        .filter(inbound::Column::Id.eq(id))
        .exec(tx)
        .await?;
    Ok(())
}
