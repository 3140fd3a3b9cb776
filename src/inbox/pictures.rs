//! Contacts' profile pictures, fetched through a session's device and kept
//! on disk (`data_dir/contact-pictures`) for `inbox.picture_retention`: one
//! file per session and contact, named after WhatsApp's picture id, so a
//! picture is fetched again only when the contact changed it or the kept one
//! expired.

use std::path::PathBuf;

use super::Inbox;
use crate::{engine::Sender, model::SessionKey};

/// The largest profile picture taken from WhatsApp.
const MAX_PICTURE_BYTES: usize = 5 * 1024 * 1024;

pub struct Pictures {
    dir: PathBuf,
}

/// A kept picture: its WhatsApp id and file.
pub struct Kept {
    pub id: String,
    pub path: PathBuf,
}

/// What a picture id may hold in a file name.
fn clean(id: &str) -> String {
    id.chars().filter(char::is_ascii_alphanumeric).take(64).collect()
}

impl Pictures {
    pub fn new(data_dir: &std::path::Path) -> anyhow::Result<Pictures> {
        let dir = data_dir.join("contact-pictures");
        crate::files::private_dir(&dir)?;
        Ok(Pictures { dir })
    }

    fn prefix(session: &SessionKey, phone: &str) -> String {
        format!("{session}_{phone}_")
    }

    /// The kept picture of `phone` for `session` younger than `retention`, if any.
    pub async fn kept(&self, session: &SessionKey, phone: &str, retention: std::time::Duration) -> Option<Kept> {
        let prefix = Self::prefix(session, phone);
        let mut dir = tokio::fs::read_dir(&self.dir).await.ok()?;
        while let Ok(Some(entry)) = dir.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(".jpg")) else { continue };
            let fresh = entry
                .metadata()
                .await
                .and_then(|m| m.modified())
                .is_ok_and(|at| at.elapsed().is_ok_and(|age| age < retention));
            if fresh {
                return Some(Kept { id: id.to_owned(), path: entry.path() });
            }
        }
        None
    }

    /// Keeps `bytes` as the picture `id` of `phone`, in place of any earlier one.
    async fn keep(&self, session: &SessionKey, phone: &str, id: &str, bytes: &[u8]) -> std::io::Result<Kept> {
        self.forget(session, phone).await;
        let path = self.dir.join(format!("{}{}.jpg", Self::prefix(session, phone), clean(id)));
        let part = path.with_extension("part");
        tokio::fs::write(&part, bytes).await?;
        tokio::fs::rename(&part, &path).await?;
        Ok(Kept { id: clean(id), path })
    }

    async fn forget(&self, session: &SessionKey, phone: &str) {
        let prefix = Self::prefix(session, phone);
        let Ok(mut dir) = tokio::fs::read_dir(&self.dir).await else { return };
        while let Ok(Some(entry)) = dir.next_entry().await {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
    }

    /// Removes pictures kept longer than `retention`; how many.
    pub async fn sweep(&self, retention: std::time::Duration) -> usize {
        let Ok(mut dir) = tokio::fs::read_dir(&self.dir).await else { return 0 };
        let mut removed = 0;
        while let Ok(Some(entry)) = dir.next_entry().await {
            let old = entry
                .metadata()
                .await
                .and_then(|m| m.modified())
                .is_ok_and(|at| at.elapsed().is_ok_and(|age| age >= retention));
            if old && tokio::fs::remove_file(entry.path()).await.is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

impl Inbox {
    /// The profile picture `id` of `phone` as `session` sees it: the kept one
    /// when it is that picture and not expired, else fetched through `sender`
    /// and kept. `None`: WhatsApp shows this number none.
    pub async fn contact_picture(
        &self,
        session: &SessionKey,
        sender: &Sender,
        phone: &str,
        id: &str,
    ) -> anyhow::Result<Option<Kept>> {
        let retention = self.config().inbox.picture_retention;
        if let Some(kept) = self.0.pictures.kept(session, phone, retention).await
            && kept.id == clean(id)
        {
            return Ok(Some(kept));
        }
        let Some((id, bytes)) = sender.picture(phone, MAX_PICTURE_BYTES).await? else {
            self.0.pictures.forget(session, phone).await;
            return Ok(None);
        };
        Ok(Some(self.0.pictures.keep(session, phone, &id, &bytes).await?))
    }

    /// The name `phone` gave itself in its latest message to `session` that had one.
    pub async fn push_name(&self, session: &SessionKey, phone: &str) -> Result<Option<String>, sea_orm::DbErr> {
        use crate::db::entities::inbound_messages as inbound;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
        let name: Option<Option<String>> = inbound::Entity::find()
            .select_only()
            .column(inbound::Column::PushName)
            .filter(inbound::Column::SessionId.eq(session.clone()))
            .filter(inbound::Column::ChatJid.eq(format!("{phone}@s.whatsapp.net")))
            .filter(inbound::Column::FromMe.eq(false))
            .filter(inbound::Column::PushName.is_not_null())
            .order_by_desc(inbound::Column::Id)
            .into_tuple()
            .one(self.db())
            .await?;
        Ok(name.flatten())
    }

    /// The kept picture of `phone` for `session`, if any is fresh.
    pub async fn kept_picture(&self, session: &SessionKey, phone: &str) -> Option<Kept> {
        self.0.pictures.kept(session, phone, self.config().inbox.picture_retention).await
    }
}
