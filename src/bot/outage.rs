//! The outage-status answer: what notify knows of the chat's customer (their
//! ODP and the account's active notices on it), told with the notice template.

use sea_orm::{ConnectionTrait, DbErr};

use super::Effective;
use crate::{
    config::NotifyConfig,
    db::entities::chats,
    model::now_ms,
    notify::{
        notices::{self, Outage},
        template::{self, Values},
    },
};

/// What the bot tells the chat's customer about outages on their ODP.
pub async fn status(
    conn: &impl ConnectionTrait,
    notify: &NotifyConfig,
    zone: crate::config::Zone,
    bot: &Effective,
    chat: &chats::Model,
) -> Result<String, DbErr> {
    let offset = zone;
    let now = template::format_time(Some(now_ms()), offset);
    let (customer, odp, active) = match notices::outage_of(conn, chat.user_id, &chat.contact).await? {
        Outage::Unknown => {
            let values = Values { name: &chat.name, now: &now, ..Default::default() };
            return Ok(template::render(&bot.outage.unknown, &values));
        }
        Outage::Known { active, customer, odp } if active.is_empty() => {
            let values = Values { name: &customer.name, odp: &odp, now: &now, ..Default::default() };
            return Ok(template::render(&bot.outage.none, &values));
        }
        Outage::Known { customer, odp, active } => (customer, odp, active),
    };
    let template = bot.outage.template.as_deref().unwrap_or(&notify.template);
    let told: Vec<String> = active
        .iter()
        .map(|notice| {
            let starts = template::format_time(notice.starts_at, offset);
            let ends = template::format_time(notice.estimated_end, offset);
            template::render(
                template,
                &Values {
                    name: &customer.name,
                    odp: &odp,
                    title: &notice.title,
                    message: &notice.message,
                    starts: &starts,
                    estimated_end: &ends,
                    now: &now,
                    agent: "",
                },
            )
        })
        .collect();
    Ok(told.join("\n\n"))
}
