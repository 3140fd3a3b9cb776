//! What contacts add to messages a session sent: reactions (one per person,
//! replaced or taken off) and votes in its polls (decrypted with the poll's
//! secret, one ballot per voter, a changed vote moving). Written into the
//! message's `extra` in the transaction that keeps what the contact sent.

use std::collections::BTreeMap;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};

use super::content::Poll;
use crate::{db::entities::messages, model::SessionKey};

/// A session's sent message `id` to `contact`, if there is one.
async fn sent(
    tx: &impl ConnectionTrait,
    session: &SessionKey,
    contact: &str,
    id: &str,
) -> Result<Option<messages::Model>, DbErr> {
    let row = messages::Entity::find_by_id(id.to_owned()).one(tx).await?;
    Ok(row.filter(|r| r.session_id == *session && r.recipient == contact))
}

fn extra_of(row: &messages::Model) -> Value {
    row.extra
        .as_deref()
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

async fn write_extra(tx: &impl ConnectionTrait, id: &str, extra: &Value) -> Result<(), DbErr> {
    messages::Entity::update_many()
        .col_expr(messages::Column::Extra, Expr::value(Some(extra.to_string())))
        .filter(messages::Column::Id.eq(id))
        .exec(tx)
        .await?;
    Ok(())
}

/// `reactor` (a number) reacted with `emoji` (empty: took it off) to the
/// message `id` the session sent to `contact`. `false` when there is no such message.
pub async fn react(
    tx: &impl ConnectionTrait,
    session: &SessionKey,
    contact: &str,
    id: &str,
    reactor: &str,
    emoji: &str,
) -> Result<bool, DbErr> {
    let Some(row) = sent(tx, session, contact, id).await? else { return Ok(false) };
    let mut extra = extra_of(&row);
    set_reaction(&mut extra, reactor, emoji);
    write_extra(tx, id, &extra).await?;
    Ok(true)
}

/// Puts `reactor`'s reaction into `extra.reactions` (`{number: emoji}`), or takes it off.
pub fn set_reaction(extra: &mut Value, reactor: &str, emoji: &str) {
    if !extra["reactions"].is_object() {
        extra["reactions"] = json!({});
    }
    let reactions = extra["reactions"].as_object_mut().expect("an object");
    if emoji.is_empty() {
        reactions.remove(reactor);
    } else {
        reactions.insert(reactor.to_owned(), emoji.into());
    }
    if reactions.is_empty() {
        extra.as_object_mut().expect("an object").remove("reactions");
    }
}

/// A vote counted: the voter's choices and the poll's tally after it.
pub struct Counted {
    pub options: Vec<String>,
    pub tally: BTreeMap<String, usize>,
}

/// A vote in the poll `poll` the session (number `own`, digits) sent to
/// `contact`, by `voter` (digits), encrypted as WhatsApp does: decrypted with
/// the poll's secret, it replaces the voter's earlier ballot (`extra.votes`)
/// and the tally (`extra.tally`) is counted again. `None` when there is no
/// such poll or the vote does not open (not for this poll, or tampered with).
#[allow(clippy::too_many_arguments)]
pub async fn vote(
    tx: &impl ConnectionTrait,
    session: &SessionKey,
    contact: &str,
    poll: &str,
    own: &str,
    voter: &str,
    enc_payload: &str,
    enc_iv: &str,
) -> Result<Option<Counted>, DbErr> {
    let Some(row) = sent(tx, session, contact, poll).await? else { return Ok(None) };
    let Some(secret) = row.secret.as_deref().and_then(|s| STANDARD.decode(s).ok()) else { return Ok(None) };
    let Ok(question) = serde_json::from_value::<Poll>(extra_of(&row)) else { return Ok(None) };
    let (Ok(payload), Ok(iv)) = (STANDARD.decode(enc_payload), STANDARD.decode(enc_iv)) else { return Ok(None) };
    let creator = format!("{own}@s.whatsapp.net");
    let voter_jid = format!("{voter}@s.whatsapp.net");
    let Some(options) = crate::engine::open_vote(&question.options, &secret, poll, &creator, &voter_jid, &payload, &iv)
    else {
        tracing::warn!(poll, voter, "a poll vote does not open with the poll's secret; not counted");
        return Ok(None);
    };
    let mut extra = extra_of(&row);
    if !extra["votes"].is_object() {
        extra["votes"] = json!({});
    }
    let votes = extra["votes"].as_object_mut().expect("an object");
    if options.is_empty() {
        votes.remove(voter);
    } else {
        votes.insert(voter.to_owned(), json!(options));
    }
    let mut tally: BTreeMap<String, usize> = question.options.iter().map(|o| (o.clone(), 0)).collect();
    for chosen in votes.values().filter_map(Value::as_array) {
        for option in chosen.iter().filter_map(Value::as_str) {
            if let Some(count) = tally.get_mut(option) {
                *count += 1;
            }
        }
    }
    extra["tally"] = json!(tally);
    write_extra(tx, poll, &extra).await?;
    Ok(Some(Counted { options, tally }))
}
