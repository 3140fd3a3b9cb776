//! Received media: downloaded and decrypted in the background through the
//! session's connected device, a few at a time (`inbox.media_downloads`), no
//! larger than `inbox.max_media_bytes`, kept in `data_dir/inbox-media` for
//! `inbox.media_retention`. A failed download is tried again with backoff;
//! its state (`pending`, `done`, `failed`, `expired`) and last error are on the message.

use std::{path::PathBuf, time::Duration};

use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};

use super::Inbox;
use crate::{
    db::entities::inbound_messages as inbound,
    engine::MediaRef,
    model::{SessionKey, now_ms},
};

/// Tries before a download is given up.
const MAX_ATTEMPTS: i32 = 5;
/// Without a wake-up, the downloader looks for work this often.
const POLL: Duration = Duration::from_secs(30);

/// The files of downloaded media, named by the message's row id.
pub struct Files {
    dir: PathBuf,
}

impl Files {
    pub fn new(data_dir: &std::path::Path) -> anyhow::Result<Files> {
        let dir = data_dir.join("inbox-media");
        std::fs::create_dir_all(&dir)?;
        Ok(Files { dir })
    }

    fn path(&self, id: i64) -> PathBuf {
        self.dir.join(id.to_string())
    }

    async fn put(&self, id: i64, bytes: &[u8]) -> std::io::Result<()> {
        let part = self.dir.join(format!("{id}.part"));
        tokio::fs::write(&part, bytes).await?;
        tokio::fs::rename(&part, self.path(id)).await
    }

    /// The file of message `id`, open for reading, and its length.
    pub async fn open(&self, id: i64) -> std::io::Result<(tokio::fs::File, u64)> {
        let file = tokio::fs::File::open(self.path(id)).await?;
        let length = file.metadata().await?.len();
        Ok((file, length))
    }

    pub(super) async fn remove(&self, id: i64) {
        let _ = tokio::fs::remove_file(self.path(id)).await;
    }
}

/// Where the file of sent message `id` is kept for its chat (`None` for an
/// id that is not a plain name).
pub fn sent_file(dir: &std::path::Path, id: &str) -> Option<PathBuf> {
    let plain = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    plain.then(|| dir.join(format!("sent-{id}")))
}

impl Files {
    /// Sent message `id`'s file, kept for its chat (see `QueuedInChats`).
    pub fn sent(&self, id: &str) -> Option<PathBuf> {
        sent_file(&self.dir, id)
    }

    /// Removes the sent files kept since before `cutoff` (epoch ms). How many.
    async fn sweep_sent(&self, cutoff: i64) -> usize {
        let cutoff = std::time::UNIX_EPOCH + Duration::from_millis(cutoff.max(0) as u64);
        let mut removed = 0;
        let Ok(mut entries) = tokio::fs::read_dir(&self.dir).await else { return 0 };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let sent = entry.file_name().to_str().is_some_and(|n| n.starts_with("sent-"));
            let old = entry.metadata().await.and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
            if sent && old && tokio::fs::remove_file(entry.path()).await.is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

fn backoff(attempts: i32) -> i64 {
    5_000 * 2i64.pow(attempts.clamp(0, 10) as u32)
}

impl Inbox {
    /// The downloader: runs until the gateway's events close.
    pub async fn run_media(self) {
        let mut last_sweep = 0i64;
        loop {
            if let Err(e) = self.download_due().await {
                tracing::warn!(error = %e, "media downloads failed; retrying");
            }
            let now = now_ms();
            if now - last_sweep > 3_600_000 {
                last_sweep = now;
                if let Err(e) = self.sweep_media().await {
                    tracing::warn!(error = %e, "cannot remove old media");
                }
                self.0.pictures.sweep(self.config().inbox.picture_retention).await;
            }
            tokio::select! {
                () = self.0.media_wake.notified() => {}
                () = tokio::time::sleep(self.next_media_wait().await) => {}
                () = self.0.events.closed() => return,
            }
        }
    }

    async fn next_media_wait(&self) -> Duration {
        let due: Option<Option<i64>> = inbound::Entity::find()
            .select_only()
            .column_as(inbound::Column::MediaDueAt.min(), "due")
            .filter(inbound::Column::MediaState.eq("pending"))
            .into_tuple()
            .one(self.db())
            .await
            .ok();
        match due.flatten() {
            Some(at) => Duration::from_millis((at - now_ms()).clamp(50, POLL.as_millis() as i64) as u64),
            None => POLL,
        }
    }

    /// Downloads what is due, `inbox.media_downloads` at a time.
    async fn download_due(&self) -> Result<(), sea_orm::DbErr> {
        let online: Vec<SessionKey> = self.0.online.lock().expect("online lock").keys().cloned().collect();
        if online.is_empty() {
            return Ok(());
        }
        let width = self.config().inbox.media_downloads.max(1);
        loop {
            let due = inbound::Entity::find()
                .filter(inbound::Column::MediaState.eq("pending"))
                .filter(inbound::Column::MediaDueAt.lte(now_ms()))
                .filter(inbound::Column::SessionId.is_in(online.clone()))
                .order_by_asc(inbound::Column::MediaDueAt)
                .limit(width as u64)
                .all(self.db())
                .await?;
            if due.is_empty() {
                return Ok(());
            }
            let results = futures_util::future::join_all(due.iter().map(|row| self.download_one(row))).await;
            for result in results {
                result?;
            }
        }
    }

    async fn download_one(&self, row: &inbound::Model) -> Result<(), sea_orm::DbErr> {
        let max = self.config().inbox.max_media_bytes;
        // A media path that could lead elsewhere is refused for good: a contact wrote it.
        let media = row.media.as_deref().map(serde_json::from_str::<MediaRef>);
        let foreign = match &media {
            Some(Ok(media)) => crate::engine::check_direct_path(&media.direct_path).err(),
            _ => None,
        };
        let outcome = match (self.sender_of(&row.session_id), media) {
            (_, None | Some(Err(_))) => Err("the message names no media to download".to_owned()),
            (_, Some(Ok(_))) if foreign.is_some() => Err(foreign.unwrap_or_default().to_owned()),
            (None, _) => return Ok(()), // went offline meanwhile: later
            (Some(sender), Some(Ok(media))) => match sender.download(&media, max).await {
                Ok(bytes) => self
                    .0
                    .media
                    .put(row.id, &bytes)
                    .await
                    .map(|_| bytes.len())
                    .map_err(|e| format!("cannot keep the file: {e}")),
                Err(e) => Err(format!("{e:#}")),
            },
        };
        let update = inbound::Entity::update_many().filter(inbound::Column::Id.eq(row.id));
        match outcome {
            Ok(size) => {
                update
                    .col_expr(inbound::Column::MediaState, Expr::value("done"))
                    .col_expr(inbound::Column::MediaSize, Expr::value(size as i64))
                    .col_expr(inbound::Column::MediaError, Expr::value(Option::<String>::None))
                    .col_expr(inbound::Column::MediaDueAt, Expr::value(Option::<i64>::None))
                    .exec(self.db())
                    .await?;
            }
            Err(error) => {
                let attempts = row.media_attempts + 1;
                let give_up = attempts >= MAX_ATTEMPTS || error.contains("larger than") || foreign.is_some();
                tracing::info!(message = row.id, %error, attempts, give_up, "media download failed");
                let error: String = error.chars().take(255).collect();
                update
                    .col_expr(inbound::Column::MediaState, Expr::value(if give_up { "failed" } else { "pending" }))
                    .col_expr(inbound::Column::MediaError, Expr::value(error))
                    .col_expr(inbound::Column::MediaAttempts, Expr::value(attempts))
                    .col_expr(
                        inbound::Column::MediaDueAt,
                        Expr::value((!give_up).then(|| now_ms() + backoff(attempts))),
                    )
                    .exec(self.db())
                    .await?;
                if !give_up {
                    return Ok(());
                }
            }
        }
        // Live subscribers only: the file is kept whether or not they hear of it.
        if let Err(e) = self.media_settled(row.id).await {
            tracing::warn!(message = row.id, error = %e, "cannot tell subscribers a download settled");
        }
        Ok(())
    }

    /// Tells live subscribers that the file of received message `id` is now
    /// there (or never will be): its timeline entry, again, as `chat.message`.
    async fn media_settled(&self, id: i64) -> Result<(), sea_orm::DbErr> {
        use crate::db::entities::{chat_entries as entries, chats};
        if !self.0.events.has_subscribers() {
            return Ok(());
        }
        let Some(row) = inbound::Entity::find_by_id(id).one(self.db()).await? else { return Ok(()) };
        let Some(entry) = entries::Entity::find().filter(entries::Column::InboundId.eq(id)).one(self.db()).await?
        else {
            return Ok(()); // not a chat's message (a group's, a status)
        };
        let Some(chat) = chats::Entity::find_by_id(entry.chat_id).one(self.db()).await? else { return Ok(()) };
        let view = super::views::entry_of_inbound(&entry, Some(&row), self.config().zone());
        self.publish_entry(&chat, &view);
        Ok(())
    }

    /// Removes media kept longer than `inbox.media_retention`.
    async fn sweep_media(&self) -> Result<(), sea_orm::DbErr> {
        let cutoff = now_ms() - self.config().inbox.media_retention.as_millis() as i64;
        self.0.media.sweep_sent(cutoff).await;
        loop {
            let old: Vec<i64> = inbound::Entity::find()
                .select_only()
                .column(inbound::Column::Id)
                .filter(
                    Condition::all()
                        .add(inbound::Column::MediaState.eq("done"))
                        .add(inbound::Column::ReceivedAt.lt(cutoff)),
                )
                .limit(500)
                .into_tuple()
                .all(self.db())
                .await?;
            if old.is_empty() {
                return Ok(());
            }
            for id in &old {
                self.0.media.remove(*id).await;
            }
            inbound::Entity::update_many()
                .col_expr(inbound::Column::MediaState, Expr::value("expired"))
                .filter(inbound::Column::Id.is_in(old))
                .exec(self.db())
                .await?;
        }
    }

    /// A sent message's file, kept for its chat, open for reading, and its length.
    pub async fn sent_media_file(&self, id: &str) -> Result<(tokio::fs::File, u64), String> {
        let path = self.0.media.sent(id).ok_or("this message has no media")?;
        let file = tokio::fs::File::open(path).await.map_err(|_| "removed after inbox.media_retention".to_owned())?;
        let length = file.metadata().await.map_err(|e| e.to_string())?.len();
        Ok((file, length))
    }

    /// A received message's media file, once downloaded, open for reading
    /// (a reader streams it: memory stays a chunk, however large the file and
    /// slow the client), and its length.
    pub async fn media_file(&self, row: &inbound::Model) -> Result<(tokio::fs::File, u64), String> {
        match row.media_state.as_deref() {
            Some("done") => self.0.media.open(row.id).await.map_err(|e| format!("the file is gone: {e}")),
            Some("pending") => Err("not downloaded yet; try again shortly".into()),
            Some("expired") => Err("removed after inbox.media_retention".into()),
            Some("deleted") => Err("its sender deleted it".into()),
            Some(_) => Err(format!("the download failed: {}", row.media_error.as_deref().unwrap_or("unknown error"))),
            None => Err("this message has no media".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sent_files_go_after_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::new(dir.path()).unwrap();
        let (old, new) = (files.sent("3EB0OLD").unwrap(), files.sent("3EB0NEW").unwrap());
        for path in [&old, &new, &files.path(7)] {
            std::fs::write(path, b"x").unwrap();
        }
        let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 86_400);
        std::fs::File::options().write(true).open(&old).unwrap().set_modified(two_days_ago).unwrap();
        std::fs::File::options().write(true).open(files.path(7)).unwrap().set_modified(two_days_ago).unwrap();
        let cutoff = now_ms() - 86_400_000;
        assert_eq!(files.sweep_sent(cutoff).await, 1);
        assert!(!old.exists() && new.exists(), "only the old sent file goes");
        assert!(files.path(7).exists(), "received files are swept by their rows");
        assert_eq!(sent_file(dir.path(), "../x"), None, "an id is a plain name");
    }
}
