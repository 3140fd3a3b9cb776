//! Canned replies: texts picked by shortcut (`/salam`) in a chat's composer,
//! with placeholders filled for that chat: `{nama}` (the chat's name: the
//! customer's), `{odp}` (the customer's ODP), `{agen}` (who answers) and
//! `{waktu}` (now). An account's replies are made by its owner for everyone
//! who answers its chats; a person's own are theirs alone. A shortcut is
//! unique among what one person may use: their own and their account's.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{Inbox, InboxError};
use crate::{
    db::entities::{canned_replies as canned, chats, customers, odps},
    model::now_ms,
    notify::template,
};

/// The longest shortcut, in characters.
pub const MAX_SHORTCUT: usize = 32;
/// The longest text, in characters.
pub const MAX_TEXT: usize = 4096;
/// The placeholders a canned reply may use.
pub const PLACEHOLDERS: [&str; 4] = ["nama", "odp", "agen", "waktu"];

/// Whose replies: an account's, or one person's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Account(i64),
    Person(i64),
}

impl Owner {
    pub fn key(self) -> String {
        match self {
            Owner::Account(id) => format!("a:{id}"),
            Owner::Person(id) => format!("p:{id}"),
        }
    }
}

/// A shortcut as typed (`/Salam` or `salam`) to its stored form.
pub fn shortcut_of(raw: &str) -> Result<String, String> {
    let shortcut = raw.trim().trim_start_matches('/').to_lowercase();
    let ok = (1..=MAX_SHORTCUT).contains(&shortcut.chars().count())
        && shortcut.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(shortcut)
    } else {
        Err(format!("must be 1-{MAX_SHORTCUT} of a-z, 0-9, _ and - (a leading / is left out)"))
    }
}

/// A reply's text: not blank, at most [`MAX_TEXT`] characters, and only
/// [`PLACEHOLDERS`] in braces.
pub fn check_text(text: &str) -> Result<(), String> {
    crate::validation::check_text(text, MAX_TEXT)?;
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('}') else { break };
        let word = &rest[..close];
        if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic()) && !PLACEHOLDERS.contains(&word) {
            return Err(format!("unknown placeholder {{{word}}}; use {{nama}}, {{odp}}, {{agen}} or {{waktu}}"));
        }
    }
    Ok(())
}

impl Inbox {
    /// The replies of these owners, by shortcut.
    pub async fn canned(&self, owners: &[Owner]) -> Result<Vec<canned::Model>, InboxError> {
        Ok(canned::Entity::find()
            .filter(canned::Column::Scope.is_in(owners.iter().map(|o| o.key())))
            .order_by_asc(canned::Column::Shortcut)
            .order_by_asc(canned::Column::Id)
            .all(self.db())
            .await?)
    }

    /// `owner`'s reply `id`, if there is one.
    pub async fn canned_reply(&self, owners: &[Owner], id: i64) -> Result<canned::Model, InboxError> {
        let keys: Vec<String> = owners.iter().map(|o| o.key()).collect();
        canned::Entity::find_by_id(id)
            .one(self.db())
            .await?
            .filter(|r| keys.contains(&r.scope))
            .ok_or(InboxError::NotFound)
    }

    /// Saves a new reply of `owner` (or `id`'s new shortcut and text); a
    /// shortcut already used among `visible` (the author's own and account
    /// replies) is refused naming `shortcut`.
    pub async fn save_canned(
        &self,
        owner: Owner,
        author: i64,
        visible: &[Owner],
        id: Option<i64>,
        shortcut: String,
        text: String,
    ) -> Result<canned::Model, InboxError> {
        let taken = || InboxError::Invalid("shortcut", format!("/{shortcut} is taken already"));
        let clash = canned::Entity::find()
            .filter(canned::Column::Scope.is_in(visible.iter().map(|o| o.key())))
            .filter(canned::Column::Shortcut.eq(shortcut.as_str()))
            .all(self.db())
            .await?;
        if clash.iter().any(|r| Some(r.id) != id) {
            return Err(taken());
        }
        let now = now_ms();
        let write = self.writer().begin().await?;
        let row = match id {
            Some(id) => {
                canned::ActiveModel {
                    id: Set(id),
                    shortcut: Set(shortcut.clone()),
                    text: Set(text),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .update(&write.tx)
                .await
            }
            None => {
                canned::ActiveModel {
                    scope: Set(owner.key()),
                    author_id: Set(author),
                    shortcut: Set(shortcut.clone()),
                    text: Set(text),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(&write.tx)
                .await
            }
        };
        match row {
            Ok(row) => {
                write.commit().await?;
                Ok(row)
            }
            // Saved meanwhile by another request.
            Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => Err(taken()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete_canned(&self, id: i64) -> Result<(), InboxError> {
        let write = self.writer().begin().await?;
        canned::Entity::delete_by_id(id).exec(&write.tx).await?;
        write.commit().await?;
        Ok(())
    }

    /// `text` as it would go to `chat`, answered by `agent`.
    pub async fn fill_canned(&self, chat: &chats::Model, agent: &str, text: &str) -> Result<String, InboxError> {
        let customer = match chat.customer_id {
            Some(id) => customers::Entity::find_by_id(id).one(self.db()).await?,
            None => None,
        };
        let odp = match customer.and_then(|c| c.odp_id) {
            Some(id) => odps::Entity::find_by_id(id).one(self.db()).await?.map(|o| o.code),
            None => None,
        };
        let now = template::format_time(Some(now_ms()), self.config().zone());
        let odp = odp.unwrap_or_default();
        let values = template::Values { name: &chat.name, odp: &odp, now: &now, agent, ..Default::default() };
        Ok(template::render(text, &values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_and_placeholders_are_checked() {
        assert_eq!(shortcut_of(" /Salam ").unwrap(), "salam");
        assert_eq!(shortcut_of("cek-odp_2").unwrap(), "cek-odp_2");
        for bad in ["", "/", "salam pagi", "ã", &"x".repeat(33)] {
            assert!(shortcut_of(bad).is_err(), "{bad}");
        }
        assert!(check_text("Halo {nama} dari {odp}, saya {agen} ({waktu}). {").is_ok());
        assert!(check_text("harga {100} dan {}").is_ok(), "braces of its own are text");
        assert!(check_text("Halo {judul}").unwrap_err().contains("{judul}"));
        assert!(check_text("  ").is_err());
    }
}
