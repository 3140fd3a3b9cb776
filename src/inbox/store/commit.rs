//! Committing received messages in one transaction: each message once, 1:1
//! messages (and, with `inbox.groups`, group messages and changes) into their
//! chats (made on the first message), unread counts and modes, the bot's
//! answers queued, and the events of it all.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::Expr,
};

use super::addons;
use crate::{
    config::Config,
    db::{
        entities::{chat_entries as entries, chats, inbound_messages as inbound, messages, sessions},
        write::Writer,
    },
    engine::{Inbound, Place},
    events::GatewayEvent,
    inbox::{
        Answerer, assign,
        calls::{CallPolicy, interval_ms},
        conversations, groups, search,
    },
    model::{ChatKind, ChatMode, Origin, SessionKey, now_ms},
    queue::{Queue, text_message},
};

/// What a commit wrote, for its events.
#[derive(Default)]
pub struct Written {
    /// The new received messages.
    pub received: Vec<inbound::Model>,
    /// Chats created or changed (as they are now), with their new timeline entries.
    pub entries: Vec<(chats::Model, Vec<entries::Model>)>,
    /// Session owners.
    pub owners: HashMap<SessionKey, i64>,
    /// Some media waits to be downloaded.
    pub media_pending: bool,
    /// The bot's replies, queued.
    pub replies: Vec<messages::Model>,
    /// Reactions, edits, deletions and votes applied: `(session, owner, the
    /// chat's agent, event type, data)`.
    pub changes: Vec<(SessionKey, i64, Option<i64>, &'static str, serde_json::Value)>,
    /// Received files their senders deleted (row ids): removed after the commit.
    pub dropped_media: Vec<i64>,
    /// Group chats still named by their JID: `(session, chat id, group JID)`,
    /// for the inbox to ask WhatsApp their subject.
    pub unnamed_groups: Vec<(SessionKey, i64, String)>,
}

/// Bounded text for a `VARCHAR(n)` column.
pub fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The longest `chats.contact`: a group's JID that does not fit (none
/// WhatsApp makes) is kept without a chat rather than failing the commit.
const MAX_CONTACT: usize = 32;

/// The chat a received message goes into, if any: a 1:1 message's contact;
/// with `groups`, a group message's group.
fn chat_key(message: &Inbound, groups: bool) -> Option<&str> {
    match message.place {
        Place::Direct => message.contact.as_deref(),
        Place::Group if groups && message.chat.len() <= MAX_CONTACT => Some(&message.chat),
        _ => None,
    }
}

/// Commits received messages of several sessions in one transaction: each
/// message once per (session, chat, sender, WhatsApp id), 1:1 messages (and
/// with `inbox.groups`, group messages) into their chat (made on the first
/// message), unread counts and modes updated. The bot answers the 1:1 chats'
/// new messages in the same transaction. `events` tells the events of what
/// was written: they go into the same transaction (webhooks), and to the live
/// stream after it commits. A deletion drops the deleted message's text and
/// file unless `inbox.keep_deleted`.
pub async fn commit(
    writer: &Writer,
    queue: &Queue,
    bot: &dyn Answerer,
    batches: &[(SessionKey, Vec<Inbound>)],
    config: &Config,
    events: impl FnOnce(&Written) -> Vec<GatewayEvent>,
) -> Result<Written, DbErr> {
    let (keep_deleted, calls, with_groups) = (config.inbox.keep_deleted, &config.calls, config.inbox.groups);
    let mut write = writer.begin().await?;
    let tx = &write.tx;
    let now = now_ms();
    let mut written = Written::default();
    for (session, batch) in batches {
        let Some((owner, own, call_settings)) = sessions::Entity::find_by_id(session.clone())
            .select_only()
            .columns([sessions::Column::UserId, sessions::Column::PhoneNumber, sessions::Column::Calls])
            .into_tuple::<(i64, Option<String>, Option<String>)>()
            .one(tx)
            .await?
        else {
            continue; // the session was deleted meanwhile: nothing to keep it for
        };
        written.owners.insert(session.clone(), owner);
        // What is stored already (a redelivery), and repeats within the batch.
        let ids: Vec<String> = batch.iter().map(|m| clip(&m.wa_id, 128)).collect();
        let known: HashSet<(String, String, String)> = inbound::Entity::find()
            .select_only()
            .columns([inbound::Column::ChatJid, inbound::Column::SenderJid, inbound::Column::WaId])
            .filter(inbound::Column::SessionId.eq(session))
            .filter(inbound::Column::WaId.is_in(ids))
            .into_tuple::<(String, String, String)>()
            .all(tx)
            .await?
            .into_iter()
            .collect();
        let mut seen = known;
        let mut fresh: Vec<&Inbound> = Vec::new();
        for message in batch {
            let key = (clip(&message.chat, 128), clip(&message.sender, 128), clip(&message.wa_id, 128));
            if seen.insert(key) {
                fresh.push(message);
            }
        }
        if fresh.is_empty() {
            continue;
        }
        let chats_of = chats_for(tx, session, owner, &fresh, with_groups, now).await?;
        let own_jid = own.as_deref().map(|o| format!("{o}@s.whatsapp.net"));
        let mut by_chat: HashMap<i64, (chats::Model, Vec<entries::Model>, Vec<&Inbound>)> = HashMap::new();
        // Callers answered in this commit (not yet in the queue's table).
        let mut called_back: HashSet<String> = HashSet::new();
        // The new entries' texts, for search.
        let mut searched: Vec<(i64, i64, String)> = Vec::new();
        for message in fresh {
            let chat = chat_key(message, with_groups).and_then(|c| chats_of.get(c));
            let mut row = inbound_row(session, chat.map(|c| c.id), message, now);
            if message.kind == "call"
                && let Some(caller) = &message.contact
            {
                let policy = CallPolicy::of_row(calls, call_settings.as_deref());
                let due = !policy.reply.trim().is_empty()
                    && !called_back.contains(caller)
                    && !crate::inbox::calls::replied_since(tx, session, caller, now - interval_ms(&policy)).await?;
                if due {
                    called_back.insert(caller.clone());
                    let reply = policy.reply.clone();
                    written.replies.push(text_message(
                        session.clone(),
                        owner,
                        caller.clone(),
                        reply,
                        Origin::Call,
                        now,
                    ));
                }
                let mut extra = message.extra.clone().unwrap_or_else(|| serde_json::json!({}));
                extra["replied"] = due.into();
                row.extra = Set(Some(extra.to_string()));
            }
            written.media_pending |= message.media.is_some();
            let row = row.insert(tx).await?;
            if addons::CHANGES.contains(&message.kind) {
                // It changes another message: no timeline entry, no answer.
                let own = own.as_deref().unwrap_or_default();
                if let Some(applied) =
                    addons::apply(tx, session, own, chat.map(|c| c.id), message, keep_deleted).await?
                {
                    let agent = chat.and_then(|c| c.assigned_agent_id);
                    written.dropped_media.extend(applied.dropped_media);
                    written.changes.push((session.clone(), owner, agent, applied.kind, applied.data));
                }
                written.received.push(row);
                continue;
            }
            if let Some(chat) = chat {
                // A group's change made from the session's own number is the phone's.
                let own_change = message.kind == groups::KIND && own_jid.as_deref() == Some(message.sender.as_str());
                let sender = if message.from_me || own_change { Origin::Phone } else { Origin::Customer };
                let entry = entries::ActiveModel {
                    chat_id: Set(chat.id),
                    sender: Set(sender),
                    inbound_id: Set(Some(row.id)),
                    message_id: Set(None),
                    agent_id: Set(None),
                    at: Set(now),
                    ..Default::default()
                }
                .insert(tx)
                .await?;
                if let Some(text) = search::searchable(row.body.as_deref(), &row.kind, row.extra.as_deref()) {
                    searched.push((entry.id, chat.id, text));
                }
                let slot = by_chat.entry(chat.id).or_insert_with(|| (chat.clone(), Vec::new(), Vec::new()));
                slot.1.push(entry);
                slot.2.push(message);
            }
            written.received.push(row);
        }
        search::index(tx, &std::mem::take(&mut searched)).await?;
        for (_, (mut chat, new_entries, messages)) in by_chat {
            let before = chat.clone();
            let customer_count = new_entries.iter().filter(|e| e.sender == Origin::Customer).count() as i32;
            chat.unread += customer_count;
            chat.last_message_at = now;
            chat.updated_at = now;
            // A pending satisfaction question hears the answer first (the bot's).
            if messages.iter().any(|m| !m.from_me) && chat.mode == ChatMode::Closed && chat.csat_state.is_none() {
                // The bot never answers a group: its chat reopens to the agents.
                chat.mode = if chat.kind == ChatKind::Group { ChatMode::Agent } else { ChatMode::Bot };
                chat.mode_at = now;
                chat.bot_menu = None;
            }
            if chat.kind == ChatKind::Direct {
                written.replies.extend(bot.answer(tx, &mut chat, &messages, now).await?);
            }
            if let Some(subject) = messages.iter().rev().find_map(|m| groups::subject_of(m)) {
                chat.name = clip(subject, 255);
            }
            assign::auto_assign(tx, &mut chat, now).await?;
            let counted: Vec<conversations::Entered> = new_entries
                .iter()
                .map(|e| conversations::Entered { sender: e.sender, agent: e.agent_id, at: e.at })
                .collect();
            conversations::entered(tx, &chat, &counted).await?;
            conversations::moved(tx, &chat, before.mode, false).await?;
            if let Some(rating) = chat.csat_rating
                && before.csat_rating != chat.csat_rating
            {
                conversations::rated(tx, chat.id, rating).await?;
            }
            // Only what changed: a mode an agent set meanwhile (MySQL reads
            // without locking the row) is not written back over.
            let mut update = chats::ActiveModel {
                id: Set(chat.id),
                unread: Set(chat.unread),
                last_message_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            };
            if chat.mode != before.mode {
                update.mode = Set(chat.mode);
                update.mode_at = Set(chat.mode_at);
            }
            if chat.bot_menu != before.bot_menu {
                update.bot_menu = Set(chat.bot_menu.clone());
            }
            if chat.name != before.name {
                update.name = Set(chat.name.clone());
            }
            if chat.kind == ChatKind::Group && chat.name == chat.contact {
                written.unnamed_groups.push((session.clone(), chat.id, chat.contact.clone()));
            }
            if (&chat.csat_state, chat.csat_rating, chat.csat_at)
                != (&before.csat_state, before.csat_rating, before.csat_at)
            {
                update.csat_state = Set(chat.csat_state.clone());
                update.csat_rating = Set(chat.csat_rating);
                update.csat_at = Set(chat.csat_at);
            }
            if chat.bot_window_at != before.bot_window_at || chat.bot_window_count != before.bot_window_count {
                update.bot_replied_at = Set(chat.bot_replied_at);
                update.bot_window_at = Set(chat.bot_window_at);
                update.bot_window_count = Set(chat.bot_window_count);
            }
            update.update(tx).await?;
            if chat.assigned_agent_id != before.assigned_agent_id {
                // Auto-assigned: unless someone was named meanwhile.
                chats::Entity::update_many()
                    .col_expr(chats::Column::AssignedAgentId, Expr::value(chat.assigned_agent_id))
                    .filter(chats::Column::Id.eq(chat.id))
                    .filter(chats::Column::AssignedAgentId.is_null())
                    .exec(tx)
                    .await?;
            }
            written.entries.push((chat, new_entries));
        }
    }
    if writer.heard() {
        write.emit(events(&written)).await?;
    }
    // The replies come after what they answer, in the timeline and in the events.
    queue.put(&mut write, &written.replies).await?;
    write.commit().await?;
    Ok(written)
}

/// The chats of these messages (their [`chat_key`]s), made where missing: a
/// 1:1 chat named after the owner's customer with that number, else the
/// contact's push name; a group's after its subject when the batch tells it
/// (the group was made, or renamed), else its JID until the inbox asks.
async fn chats_for(
    tx: &impl ConnectionTrait,
    session: &SessionKey,
    owner: i64,
    messages: &[&Inbound],
    groups: bool,
    now: i64,
) -> Result<HashMap<String, chats::Model>, DbErr> {
    let mut contacts: Vec<&str> = messages.iter().filter_map(|m| chat_key(m, groups)).collect();
    contacts.sort_unstable();
    contacts.dedup();
    if contacts.is_empty() {
        return Ok(HashMap::new());
    }
    let mut found: HashMap<String, chats::Model> = chats::Entity::find()
        .filter(chats::Column::SessionId.eq(session))
        .filter(chats::Column::Contact.is_in(contacts.iter().copied()))
        .all(tx)
        .await?
        .into_iter()
        .map(|c| (c.contact.clone(), c))
        .collect();
    let missing: Vec<&str> = contacts.iter().copied().filter(|c| !found.contains_key(*c)).collect();
    if missing.is_empty() {
        return Ok(found);
    }
    let phones: Vec<&str> = missing.iter().copied().filter(|c| !crate::model::is_group(c)).collect();
    let known = crate::notify::customers::by_phone(tx, owner, &phones).await?;
    for contact in missing {
        if crate::model::is_group(contact) {
            let subject = messages.iter().filter(|m| m.chat == contact).find_map(|m| groups::subject_of(m));
            let mut chat = new_chat(session, owner, contact, subject.unwrap_or(contact), None, None, None, now);
            chat.kind = Set(ChatKind::Group);
            chat.mode = Set(ChatMode::Agent);
            found.insert(contact.to_owned(), chat.insert(tx).await?);
            continue;
        }
        let push_name = messages
            .iter()
            .filter(|m| m.contact.as_deref() == Some(contact) && !m.from_me)
            .find_map(|m| m.push_name.clone());
        let customer = known.get(contact);
        let name = customer.map(|c| c.name.clone()).or(push_name).unwrap_or_else(|| format!("+{contact}"));
        let chat = new_chat(session, owner, contact, &name, customer.map(|c| c.id), None, None, now).insert(tx).await?;
        found.insert(contact.to_owned(), chat);
    }
    Ok(found)
}

#[allow(clippy::too_many_arguments)]
pub fn new_chat(
    session: &SessionKey,
    owner: i64,
    contact: &str,
    name: &str,
    customer: Option<i64>,
    email: Option<String>,
    address: Option<String>,
    now: i64,
) -> chats::ActiveModel {
    chats::ActiveModel {
        session_id: Set(session.to_owned()),
        user_id: Set(owner),
        contact: Set(contact.to_owned()),
        name: Set(clip(name, 255)),
        customer_id: Set(customer),
        email: Set(email),
        address: Set(address),
        mode: Set(ChatMode::Bot),
        assigned_agent_id: Set(None),
        unread: Set(0),
        online: Set(false),
        last_message_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
        mode_at: Set(now),
        bot_menu: Set(None),
        bot_replied_at: Set(None),
        bot_window_at: Set(None),
        bot_window_count: Set(0),
        kind: Set(ChatKind::Direct),
        ..Default::default()
    }
}

fn inbound_row(session: &SessionKey, chat: Option<i64>, m: &Inbound, now: i64) -> inbound::ActiveModel {
    let media = m.media.as_ref().and_then(|r| serde_json::to_string(r).ok());
    let pending = media.is_some();
    inbound::ActiveModel {
        session_id: Set(session.to_owned()),
        chat_id: Set(chat),
        chat_jid: Set(clip(&m.chat, 128)),
        sender_jid: Set(clip(&m.sender, 128)),
        wa_id: Set(clip(&m.wa_id, 128)),
        from_me: Set(m.from_me),
        kind: Set(m.kind.into()),
        wa_type: Set(m.wa_type.as_deref().map(|t| clip(t, 64))),
        body: Set(m.text.clone()),
        filename: Set(m.filename.as_deref().map(|t| clip(t, 255))),
        mimetype: Set(m.mimetype.as_deref().map(|t| clip(t, 127))),
        media_size: Set(m.size),
        media: Set(media),
        media_state: Set(pending.then(|| "pending".to_owned())),
        media_error: Set(None),
        media_attempts: Set(0),
        media_due_at: Set(pending.then_some(now)),
        quoted_id: Set(m.quoted_id.as_deref().map(|t| clip(t, 128))),
        push_name: Set(m.push_name.as_deref().map(|t| clip(t, 255))),
        extra: Set(m.extra.as_ref().map(|v| v.to_string())),
        sent_at: Set(m.sent_at),
        received_at: Set(now),
        read_at: Set(None),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};

    use futures_util::future::BoxFuture;
    use sea_orm::DatabaseTransaction;

    use super::*;
    use crate::{
        auth::{Passwords, accounts},
        config::Config,
        engine::MediaRef,
        inbox::QueuedInChats,
        model::Role,
    };

    /// No bot: these commits are about what is kept.
    struct Silent;

    impl Answerer for Silent {
        fn answer<'a>(
            &'a self,
            _: &'a DatabaseTransaction,
            _: &'a mut chats::Model,
            _: &'a [&'a Inbound],
            _: i64,
        ) -> BoxFuture<'a, Result<Vec<messages::Model>, DbErr>> {
            Box::pin(async { Ok(Vec::new()) })
        }

        fn closed<'a>(
            &'a self,
            _: &'a DatabaseTransaction,
            _: &'a mut chats::Model,
            _: i64,
        ) -> BoxFuture<'a, Result<Vec<messages::Model>, DbErr>> {
            Box::pin(async { Ok(Vec::new()) })
        }
    }

    fn inbound(chat: &str, sender: &str, place: Place, contact: Option<&str>, wa_id: &str) -> Inbound {
        Inbound {
            contact: contact.map(str::to_owned),
            push_name: Some("Budi".into()),
            text: Some("halo".into()),
            ..Inbound::bare(wa_id.into(), chat.into(), sender.into(), place, "text", 1)
        }
    }

    /// A database with a user's session `s1`, and the writer and queue over it.
    async fn setup(groups: bool) -> (tempfile::TempDir, Arc<Config>, sea_orm::DatabaseConnection, Writer, Queue) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.storage.data_dir = dir.path().to_owned();
        config.inbox.groups = groups;
        let config = Arc::new(config);
        let db = crate::db::connect(&config).await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let new = accounts::NewUser {
            email: "a@b.co".into(),
            password: "secret-pw".into(),
            name: "A".into(),
            username: None,
        };
        let owner = accounts::create(&db, &Passwords::new(4), new, Role::User).await.unwrap();
        let now = crate::db::now();
        sessions::ActiveModel {
            id: Set(SessionKey::named("s1")),
            user_id: Set(owner.id),
            status: Set(crate::model::SessionStatus::Connected),
            phone_number: Set(Some("628111000001".into())),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let recorder = crate::db::record::Recorder::detached();
        let writer = Writer::new(db.clone(), recorder, crate::events::Events::default());
        let timeline = std::sync::Arc::new(QueuedInChats::new(&config.storage.data_dir));
        let queue = Queue::new(writer.clone(), config.clone(), timeline).await.unwrap();
        (dir, config, db, writer, queue)
    }

    /// Groups, status updates and newsletters are kept but make no chat; a
    /// repeat of one is not stored twice, within a batch or across batches.
    #[tokio::test]
    async fn only_direct_messages_make_chats() {
        let (_dir, config, db, writer, queue) = setup(false).await;
        let bot = Silent;

        let group = inbound("1203@g.us", "628222000001@s.whatsapp.net", Place::Group, None, "G1");
        let status = inbound("status@broadcast", "628222000001@s.whatsapp.net", Place::Status, None, "S1");
        let news = inbound("1204@newsletter", "1204@newsletter", Place::Newsletter, None, "N1");
        let mut direct = inbound(
            "628222000001@s.whatsapp.net",
            "628222000001@s.whatsapp.net",
            Place::Direct,
            Some("628222000001"),
            "D1",
        );
        direct.media = Some(MediaRef {
            kind: "image".into(),
            direct_path: "/v/x".into(),
            media_key: "AAAA".into(),
            file_sha256: None,
            file_enc_sha256: None,
            file_length: Some(3),
        });
        let batch = vec![group.clone(), status, news, direct.clone(), group.clone()];
        let written =
            commit(&writer, &queue, &bot, &[(SessionKey::named("s1"), batch)], &config, |_| Vec::new()).await.unwrap();
        assert_eq!(written.received.len(), 4, "the repeat within the batch is dropped");
        assert!(written.media_pending);
        assert_eq!(written.entries.len(), 1);
        assert_eq!(written.entries[0].0.contact, "628222000001");
        let rows = inbound::Entity::find().all(&db).await.unwrap();
        assert_eq!(rows.iter().filter(|r| r.chat_id.is_some()).count(), 1, "only the 1:1 message is in a chat");
        assert_eq!(rows.iter().find(|r| r.wa_id == "D1").unwrap().media_state.as_deref(), Some("pending"));
        assert_eq!(chats::Entity::find().all(&db).await.unwrap().len(), 1);
        assert_eq!(entries::Entity::find().all(&db).await.unwrap().len(), 1);

        // Delivered again: nothing new.
        let again =
            commit(&writer, &queue, &bot, &[(SessionKey::named("s1"), vec![group, direct])], &config, |_| Vec::new())
                .await
                .unwrap();
        assert!(again.received.is_empty() && again.entries.is_empty());
        assert_eq!(inbound::Entity::find().all(&db).await.unwrap().len(), 4);
        // A session that is gone keeps nothing, and fails nothing.
        let gone = commit(
            &writer,
            &queue,
            &bot,
            &[(
                SessionKey::named("gone"),
                vec![inbound("x@s.whatsapp.net", "x@s.whatsapp.net", Place::Direct, Some("1"), "X")],
            )],
            &config,
            |_| Vec::new(),
        )
        .await
        .unwrap();
        assert!(gone.received.is_empty());
    }

    /// With `inbox.groups`, each group is one chat of kind `group`, in mode
    /// `agent` (the bot never answers it), named by its subject once a change
    /// tells it; its own number's changes are the phone's, others' count unread.
    #[tokio::test]
    async fn groups_make_group_chats_when_asked() {
        let (_dir, config, db, writer, queue) = setup(true).await;
        let bot = Silent;
        let g = "120363000000000001@g.us";
        let first = inbound(g, "628222000001@s.whatsapp.net", Place::Group, None, "G1");
        let second = inbound(g, "628222000002@s.whatsapp.net", Place::Group, None, "G2");
        let session = SessionKey::named("s1");
        let written = commit(&writer, &queue, &bot, &[(session.clone(), vec![first, second])], &config, |_| Vec::new())
            .await
            .unwrap();
        assert_eq!(written.entries.len(), 1, "one chat for the group");
        let (chat, new_entries) = &written.entries[0];
        assert_eq!(
            (chat.kind, chat.mode, chat.contact.as_str(), chat.name.as_str()),
            (ChatKind::Group, ChatMode::Agent, g, g)
        );
        assert_eq!((new_entries.len(), chat.unread), (2, 2));
        assert_eq!(written.unnamed_groups, vec![(session.clone(), chat.id, g.to_owned())]);

        // The session's own rename: the chat takes the subject, the entry is the phone's.
        let rename = Inbound {
            extra: Some(serde_json::json!({"action": "subject", "subject": "ODP Melati"})),
            ..Inbound::bare(
                "N1:0".into(),
                g.into(),
                "628111000001@s.whatsapp.net".into(),
                Place::Group,
                groups::KIND,
                2,
            )
        };
        let written =
            commit(&writer, &queue, &bot, &[(session.clone(), vec![rename])], &config, |_| Vec::new()).await.unwrap();
        let (chat, new_entries) = &written.entries[0];
        assert_eq!((chat.name.as_str(), chat.unread), ("ODP Melati", 2));
        assert_eq!(new_entries[0].sender, Origin::Phone);
        assert!(written.unnamed_groups.is_empty());
        let stored = chats::Entity::find_by_id(chat.id).one(&db).await.unwrap().unwrap();
        assert_eq!(stored.name, "ODP Melati");
        assert_eq!(
            inbound::Entity::find().all(&db).await.unwrap().iter().filter(|r| r.chat_id == Some(chat.id)).count(),
            3
        );
    }
}
