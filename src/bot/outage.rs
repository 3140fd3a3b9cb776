//! The outage-status answer: the customer with the chat's number, their ODP,
//! and the account's active notices on it, told with the notice template.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use super::Effective;
use crate::{
    config::NotifyConfig,
    db::entities::{chats, notices, odps},
    model::now_ms,
    notify::{
        notices::{NoticeStatus, odps_of},
        template::{self, Values},
    },
};

/// What the bot tells the chat's customer about outages on their ODP.
pub async fn status(
    conn: &impl ConnectionTrait,
    notify: &NotifyConfig,
    bot: &Effective,
    chat: &chats::Model,
) -> Result<String, DbErr> {
    let offset = notify.offset();
    let now = template::format_time(Some(now_ms()), offset);
    let customers = crate::notify::customers::by_phone(conn, chat.user_id, &[chat.contact.as_str()]).await?;
    let customer = customers.get(&chat.contact);
    let odp = match customer.and_then(|c| c.odp_id) {
        Some(id) => odps::Entity::find_by_id(id).one(conn).await?.map(|o| o.code),
        None => None,
    };
    let (Some(customer), Some(odp)) = (customer, odp) else {
        let values = Values { name: &chat.name, now: &now, ..Default::default() };
        return Ok(template::render(&bot.outage.unknown, &values));
    };
    let active: Vec<notices::Model> = notices::Entity::find()
        .filter(notices::Column::UserId.eq(chat.user_id))
        .filter(notices::Column::Status.eq(NoticeStatus::Active.as_str()))
        .order_by_asc(notices::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .filter(|n| odps_of(n).iter().any(|code| code.eq_ignore_ascii_case(&odp)))
        .collect();
    if active.is_empty() {
        let values = Values { name: &customer.name, odp: &odp, now: &now, ..Default::default() };
        return Ok(template::render(&bot.outage.none, &values));
    }
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
                },
            )
        })
        .collect();
    Ok(told.join("\n\n"))
}
