//! Calls to a linked number: what a session does about them (`[calls]` and
//! its own overrides), and the call as the inbox keeps it — a timeline entry
//! of kind `call`, the `call.received` event, and the reply queued to the
//! caller at most once per `reply_interval`, in the commit that keeps the call.

use std::time::Duration;

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::ToSchema;

use crate::{
    config::CallsConfig,
    db::entities::{messages, sessions},
    engine::{Call, Inbound, Place},
    model::{Origin, SessionKey},
};

/// A session's overrides of `[calls]`; what is left out follows the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallsOverride {
    /// Decline calls at once instead of letting them ring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject: Option<bool>,
    /// The text queued to a caller; `""`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(max_length = 4096)]
    pub reply: Option<String>,
    /// At most one reply per caller in this many seconds (a minute to 30 days).
    #[serde(default, rename = "replyIntervalSecs", skip_serializing_if = "Option::is_none")]
    #[validate(minimum = 60)]
    #[validate(maximum = 2_592_000)]
    pub reply_interval_secs: Option<u64>,
}

impl CallsOverride {
    fn parse(json: Option<&str>) -> CallsOverride {
        json.and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default()
    }
}

/// What a session does about calls now (config, then its overrides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallPolicy {
    pub reject: bool,
    /// Empty: no reply.
    pub reply: String,
    pub reply_interval_secs: u64,
}

impl CallPolicy {
    pub fn resolve(config: &CallsConfig, o: &CallsOverride) -> CallPolicy {
        CallPolicy {
            reject: o.reject.unwrap_or(config.reject),
            reply: o.reply.clone().unwrap_or_else(|| config.reply.clone()),
            reply_interval_secs: o.reply_interval_secs.unwrap_or(config.reply_interval.as_secs()),
        }
    }

    /// The policy of a session from its row's `calls` column.
    pub fn of_row(config: &CallsConfig, calls: Option<&str>) -> CallPolicy {
        CallPolicy::resolve(config, &CallsOverride::parse(calls))
    }
}

/// A session's own call settings, as stored.
pub async fn overrides(db: &impl ConnectionTrait, session: &SessionKey) -> Result<CallsOverride, DbErr> {
    let stored: Option<Option<String>> = sessions::Entity::find_by_id(session.clone())
        .select_only()
        .column(sessions::Column::Calls)
        .into_tuple()
        .one(db)
        .await?;
    Ok(CallsOverride::parse(stored.flatten().as_deref()))
}

/// Stores a session's call settings (`{}` follows the config entirely).
pub async fn set_overrides(db: &impl ConnectionTrait, session: &SessionKey, o: &CallsOverride) -> Result<(), DbErr> {
    let json = (*o != CallsOverride::default()).then(|| serde_json::to_string(o).expect("plain data serializes"));
    sessions::Entity::update_many()
        .col_expr(sessions::Column::Calls, sea_orm::sea_query::Expr::value(json))
        .filter(sessions::Column::Id.eq(session.clone()))
        .exec(db)
        .await?;
    Ok(())
}

/// A call as a received message: kind `call`, its id WhatsApp's call id (so
/// a call told twice is kept once), `extra` saying what was done.
pub fn as_inbound(call: &Call, rejected: bool) -> Inbound {
    // Named by number when it is known, as messages are.
    let contact = call.phone.clone().unwrap_or_else(|| call.creator.user.to_string());
    let jid = match &call.phone {
        Some(phone) => format!("{phone}@s.whatsapp.net"),
        None => call.creator.to_non_ad().to_string(),
    };
    Inbound {
        contact: Some(contact),
        push_name: call.push_name.clone(),
        offline: call.offline,
        extra: Some(serde_json::json!({
            "video": call.video,
            // The gateway never answers: a call it does not decline is missed.
            "action": if rejected { "rejected" } else { "missed" },
            "offline": call.offline,
        })),
        ..Inbound::bare(call.id.clone(), jid.clone(), jid, Place::Direct, "call", call.at_ms)
    }
}

/// Whether `caller` was sent a call reply by `session` since `since` (epoch ms).
pub async fn replied_since(
    tx: &impl ConnectionTrait,
    session: &SessionKey,
    caller: &str,
    since: i64,
) -> Result<bool, DbErr> {
    let found: Option<String> = messages::Entity::find()
        .select_only()
        .column(messages::Column::Id)
        .filter(messages::Column::SessionId.eq(session.clone()))
        .filter(messages::Column::Recipient.eq(caller))
        .filter(messages::Column::Origin.eq(Origin::Call))
        .filter(messages::Column::CreatedAt.gte(since))
        .into_tuple()
        .one(tx)
        .await?;
    Ok(found.is_some())
}

/// How long `policy` waits between replies to one caller, in ms.
pub fn interval_ms(policy: &CallPolicy) -> i64 {
    Duration::from_secs(policy.reply_interval_secs).as_millis() as i64
}
