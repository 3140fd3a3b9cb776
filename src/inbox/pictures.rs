//! Contacts' profile pictures, fetched through a session's device and kept
//! on disk (`data_dir/contact-pictures/<session>/<phone>.jpg`, with the
//! picture's WhatsApp id beside it) for `inbox.picture_retention`, so a
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

/// What a picture id may hold in a file.
fn clean(id: &str) -> String {
    id.chars().filter(char::is_ascii_alphanumeric).take(64).collect()
}

/// How old a file is; `None` when it is not there.
async fn age(path: &std::path::Path) -> Option<std::time::Duration> {
    let modified = tokio::fs::metadata(path).await.and_then(|m| m.modified()).ok()?;
    Some(modified.elapsed().unwrap_or_default())
}

impl Pictures {
    pub fn new(data_dir: &std::path::Path) -> anyhow::Result<Pictures> {
        let dir = data_dir.join("contact-pictures");
        crate::files::private_dir(&dir)?;
        Ok(Pictures { dir })
    }

    /// `<session>/<phone>.jpg` and, beside it, `<phone>.id` (the picture's id).
    fn paths(&self, session: &SessionKey, phone: &str) -> (PathBuf, PathBuf) {
        let dir = self.dir.join(session.to_string());
        (dir.join(format!("{phone}.jpg")), dir.join(format!("{phone}.id")))
    }

    /// The kept picture of `phone` for `session` younger than `retention`, if any.
    pub async fn kept(&self, session: &SessionKey, phone: &str, retention: std::time::Duration) -> Option<Kept> {
        let (picture, id) = self.paths(session, phone);
        if age(&picture).await? >= retention {
            return None;
        }
        let id = tokio::fs::read_to_string(&id).await.ok()?;
        Some(Kept { id: clean(&id), path: picture })
    }

    /// Keeps `bytes` as the picture `id` of `phone`, in place of any earlier one
    /// (the id is written last: a half-kept picture is never taken for one).
    async fn keep(&self, session: &SessionKey, phone: &str, id: &str, bytes: &[u8]) -> std::io::Result<Kept> {
        let (picture, id_file) = self.paths(session, phone);
        if let Some(dir) = picture.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let _ = tokio::fs::remove_file(&id_file).await;
        let part = picture.with_extension("part");
        tokio::fs::write(&part, bytes).await?;
        tokio::fs::rename(&part, &picture).await?;
        tokio::fs::write(&id_file, clean(id)).await?;
        Ok(Kept { id: clean(id), path: picture })
    }

    async fn forget(&self, session: &SessionKey, phone: &str) {
        let (picture, id) = self.paths(session, phone);
        let _ = tokio::fs::remove_file(&id).await;
        let _ = tokio::fs::remove_file(&picture).await;
    }

    /// Removes pictures kept longer than `retention`; how many.
    pub async fn sweep(&self, retention: std::time::Duration) -> usize {
        let Ok(mut sessions) = tokio::fs::read_dir(&self.dir).await else { return 0 };
        let mut removed = 0;
        while let Ok(Some(session)) = sessions.next_entry().await {
            let Ok(mut files) = tokio::fs::read_dir(session.path()).await else { continue };
            while let Ok(Some(file)) = files.next_entry().await {
                let path = file.path();
                if path.extension().is_some_and(|e| e == "jpg")
                    && age(&path).await.is_some_and(|a| a >= retention)
                    && tokio::fs::remove_file(&path).await.is_ok()
                {
                    let _ = tokio::fs::remove_file(path.with_extension("id")).await;
                    removed += 1;
                }
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
