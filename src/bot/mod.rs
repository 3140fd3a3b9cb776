//! The menu bot (seed 000): answers customers in chats of mode `bot` with
//! menus kept as data, hands them over to a human on request (`agent`,
//! `admin`), pauses (`pause`), comes back (`bot`, `menu`) and tells the
//! outage status of the customer's ODP. Owns the table `bot_configs` (each
//! account's [`BotConfig`]) and the bot's columns of `chats` (`mode_at`,
//! `bot_menu`, `bot_replied_at`, `bot_window_at`, `bot_window_count`).
//!
//! The bot answers inside the inbox's commit of the messages it answers
//! ([`Bot::answer`]): its mode changes and its replies (queued messages of
//! sender `bot`, through the rate-limited queue) commit with them, so a crash
//! or a redelivery never loses nor doubles a reply. It never answers groups,
//! status updates, newsletters, reactions or the linked phone's own messages
//! (a human on the phone takes the chat over); an offline backlog gets one reply per chat,
//! and a chat that would get more than `max_replies_per_minute` is paused.

pub mod document;
mod outage;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::OnConflict,
};

use crate::{
    config::Config,
    db::{
        entities::{bot_configs, chat_entries as entries, chats, messages, sessions},
        write::Writer,
    },
    engine::{Inbound, Place},
    model::{ChatKind, ChatMode, Origin, SessionKey},
    queue::text_message,
};
pub use document::{Action, BotConfig, Command, Effective};

#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// A path in the document, and what is wrong there.
    #[error("{0}: {1}")]
    Invalid(String, String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// An account's document as stored, and when it was saved (`None`: never, the default).
#[derive(Debug, Clone)]
pub struct Stored {
    pub config: BotConfig,
    pub updated_at: Option<i64>,
}

/// Whether the bot answers the chats of one of the account's sessions.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SessionAnswering {
    pub session: String,
    pub enabled: bool,
}

#[derive(Clone)]
pub struct Bot(Arc<Inner>);

struct Inner {
    db: DatabaseConnection,
    /// Writes the bot documents.
    writer: Writer,
    config: Arc<Config>,
    cache: Mutex<Cache>,
}

/// Effective configurations by (owner, session name); `None`: the bot is off there.
#[derive(Default)]
struct Cache {
    /// Bumped by every save: a read that started before it is not cached.
    generation: u64,
    effective: HashMap<(i64, String), Option<Arc<Effective>>>,
}

/// What the bot does with one message, before its safety limits.
#[derive(Debug, PartialEq)]
enum Say {
    Nothing,
    Text(String),
    /// The outage status of the customer's ODP (read from the database).
    Outage,
}

impl Bot {
    pub fn new(writer: Writer, config: Arc<Config>) -> Bot {
        let db = writer.db().clone();
        Bot(Arc::new(Inner { db, writer, config, cache: Mutex::new(Cache::default()) }))
    }

    /// `owner`'s document (the default when never saved).
    pub async fn get(&self, owner: i64) -> Result<Stored, BotError> {
        Ok(load(&self.0.db, owner).await?)
    }

    /// Replaces `owner`'s document, once it is valid and names only the
    /// account's sessions (or ones the stored document named already, whose
    /// session may be gone: a document read back is accepted as it is); the
    /// next message is answered by it.
    pub async fn put(&self, owner: i64, config: BotConfig) -> Result<Stored, BotError> {
        // What is cheap first: how many session overrides, named how, and
        // whether the account has those sessions; then the document, off the
        // async workers (its cost grows with its size).
        config.check_session_names().map_err(|(path, message)| BotError::Invalid(path, message))?;
        let before = load(&self.0.db, owner).await?.config;
        let names: Vec<&String> = config.sessions.keys().filter(|n| !before.sessions.contains_key(*n)).collect();
        if !names.is_empty() {
            let known: Vec<String> = sessions::Entity::find()
                .select_only()
                .column(sessions::Column::Name)
                .filter(sessions::Column::UserId.eq(owner))
                .filter(sessions::Column::DeletedAt.is_null())
                .filter(sessions::Column::Name.is_in(names.iter().map(|n| n.as_str())))
                .into_tuple()
                .all(&self.0.db)
                .await?;
            if let Some(name) = names.iter().find(|n| !known.contains(n)) {
                return Err(BotError::Invalid(format!("sessions.{name}"), "you have no session of that name".into()));
            }
        }
        let config = tokio::task::spawn_blocking(move || config.check().map(|()| config))
            .await
            .map_err(|e| DbErr::Custom(format!("checking the bot document: {e}")))?
            .map_err(|(path, message)| BotError::Invalid(path, message))?;
        let now = crate::model::now_ms();
        let text = serde_json::to_string(&config).map_err(|e| DbErr::Custom(e.to_string()))?;
        let write = self.0.writer.begin().await?;
        bot_configs::Entity::insert(bot_configs::ActiveModel {
            user_id: Set(owner),
            config: Set(text),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(bot_configs::Column::UserId)
                .update_columns([bot_configs::Column::Config, bot_configs::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(&write.tx)
        .await?;
        write.commit().await?;
        self.forget(owner);
        Ok(Stored { config, updated_at: Some(now) })
    }

    /// For each of `owner`'s sessions, whether `config` answers its chats.
    pub async fn answering(&self, owner: i64, config: &BotConfig) -> Result<Vec<SessionAnswering>, BotError> {
        let mut names: Vec<String> = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Name)
            .filter(sessions::Column::UserId.eq(owner))
            .filter(sessions::Column::DeletedAt.is_null())
            .into_tuple()
            .all(&self.0.db)
            .await?;
        names.sort();
        Ok(names
            .into_iter()
            .map(|session| {
                let enabled = config.effective(Some(&session)).is_ok_and(|e| e.enabled);
                SessionAnswering { session, enabled }
            })
            .collect())
    }

    /// Drops what is cached of `owner`'s bot.
    pub fn forget(&self, owner: i64) {
        let mut cache = self.0.cache.lock().expect("bot cache");
        cache.generation += 1;
        cache.effective.retain(|(o, _), _| *o != owner);
    }

    /// The bot of `owner`'s session `key`, read on `conn` when not cached; `None`: off.
    async fn effective(
        &self,
        conn: &impl ConnectionTrait,
        owner: i64,
        key: &SessionKey,
    ) -> Result<Option<Arc<Effective>>, DbErr> {
        let name = key.name().to_owned();
        let generation = {
            let cache = self.0.cache.lock().expect("bot cache");
            if let Some(found) = cache.effective.get(&(owner, name.clone())) {
                return Ok(found.clone());
            }
            cache.generation
        };
        // A document that cannot be read or is no longer valid turns the bot
        // off, loudly; it must not fail the commit of what customers wrote.
        let stored = bot_configs::Entity::find_by_id(owner).one(conn).await?;
        let config = match stored.map(|row| serde_json::from_str::<BotConfig>(&row.config)) {
            None => Ok(BotConfig::default()),
            Some(Ok(config)) => Ok(config),
            Some(Err(e)) => Err(("".to_owned(), e.to_string())),
        };
        let effective = match config.and_then(|c| c.effective(Some(&name))) {
            Ok(e) => e.enabled.then(|| Arc::new(e)),
            Err((path, message)) => {
                tracing::warn!(owner, %path, %message, "the stored bot document is unreadable or invalid; the bot is off");
                None
            }
        };
        let mut cache = self.0.cache.lock().expect("bot cache");
        if cache.generation == generation {
            cache.effective.insert((owner, name), effective.clone());
        }
        Ok(effective)
    }

    /// Answers the new messages of one chat, in the transaction `conn` that
    /// stores them: changes `chat` (mode, menu, reply counters; the caller
    /// writes it) and gives back the replies to queue, in order (the inbox's
    /// [`Answerer`](crate::inbox::Answerer)).
    pub async fn answer(
        &self,
        conn: &impl ConnectionTrait,
        chat: &mut chats::Model,
        messages: &[&Inbound],
        now: i64,
    ) -> Result<Vec<messages::Model>, DbErr> {
        let (mut said, messages) = survey(conn, chat, messages, now).await?;
        let reply =
            |text| text_message(chat.session_id.clone(), chat.user_id, chat.contact.clone(), text, Origin::Bot, now);
        let said: Vec<messages::Model> = said.drain(..).map(reply).collect();
        let Some(bot) = self.effective(conn, chat.user_id, &chat.session_id).await? else { return Ok(said) };
        let offset = self.0.config.zone();
        let local = Utc::now().with_timezone(&offset).naive_local();
        let in_hours = bot.office_hours.as_ref().is_none_or(|h| h.open_at(local));
        // An offline backlog gets one reply, to its last message: the one it had before counts.
        let replied_before = chat.bot_replied_at;
        let mut backlog_reply: Option<String> = None;
        let mut replies = Vec::new();
        for message in messages {
            // A reaction to something the bot said is no request; a call is answered by `[calls]`.
            if message.place != Place::Direct || matches!(message.kind, "reaction" | "call") {
                continue;
            }
            if message.from_me {
                // Someone answers on the phone: a human has the chat.
                if chat.mode == ChatMode::Bot {
                    set_mode(chat, ChatMode::Agent, now);
                }
                continue;
            }
            if let Some(idle) = bot.idle_return_ms
                && (chat.mode == ChatMode::Agent || chat.mode == ChatMode::Paused)
                && now - last_human(conn, chat).await? >= idle
            {
                set_mode(chat, ChatMode::Bot, now);
            }
            let say = match step(&bot, chat, message.text.as_deref(), in_hours, now) {
                Say::Nothing => continue,
                Say::Text(text) => text,
                Say::Outage => outage::status(conn, &self.0.config.notify, self.0.config.zone(), &bot, chat).await?,
            };
            if message.offline {
                if replied_before.is_none_or(|at| at < message.sent_at) {
                    backlog_reply = Some(say);
                }
                continue;
            }
            if let Some(reply) = spend(&bot, chat, say, now) {
                replies.push(reply);
            }
        }
        if let Some(say) = backlog_reply
            && let Some(reply) = spend(&bot, chat, say, now)
        {
            replies.push(reply);
        }
        let reply =
            |text| text_message(chat.session_id.clone(), chat.user_id, chat.contact.clone(), text, Origin::Bot, now);
        Ok(said.into_iter().chain(replies.into_iter().map(reply)).collect())
    }

    /// `chat` was just closed: with the account's `csat` on, a 1:1 chat's
    /// customer is asked for a rating (the document's `replies.csat_question`,
    /// said even while the bot is off: the account asked for it).
    pub async fn closed(
        &self,
        conn: &impl ConnectionTrait,
        chat: &mut chats::Model,
        now: i64,
    ) -> Result<Vec<messages::Model>, DbErr> {
        if chat.kind != ChatKind::Direct || !crate::inbox::assign::settings(conn, chat.user_id).await?.csat {
            return Ok(Vec::new());
        }
        let question = load(conn, chat.user_id).await?.config.replies.csat_question;
        chat.csat_state = Some(CSAT_ASKED.to_owned());
        chat.csat_at = Some(now);
        let to = chat.contact.clone();
        Ok(vec![text_message(chat.session_id.clone(), chat.user_id, to, question, Origin::Bot, now)])
    }
}

/// `chats.csat_state`: the question was asked; the fallback was said once.
const CSAT_ASKED: &str = "asked";
const CSAT_RETRIED: &str = "retried";

/// A rating, 1–5: the whole answer is one digit (spaces, a trailing `.` or
/// `!` aside).
fn rating(text: Option<&str>) -> Option<i32> {
    let t = text?.trim().trim_end_matches(['.', '!']).trim();
    let n: i32 = t.parse().ok().filter(|_| t.len() == 1)?;
    (1..=5).contains(&n).then_some(n)
}

/// The customer's answers to a pending satisfaction question, before the
/// bot: a rating is kept and thanked (the chat stays closed); anything else
/// gets the fallback once, and the second time ends the question and goes on
/// as any message to a closed chat (it reopens to the bot). Gives back what
/// to say and the messages left for the bot.
async fn survey<'m>(
    conn: &impl ConnectionTrait,
    chat: &mut chats::Model,
    messages: &'m [&'m Inbound],
    now: i64,
) -> Result<(Vec<String>, &'m [&'m Inbound]), DbErr> {
    if chat.csat_state.is_none() {
        return Ok((Vec::new(), messages));
    }
    if chat.mode != ChatMode::Closed {
        // Reopened meanwhile: the question lapsed.
        chat.csat_state = None;
        return Ok((Vec::new(), messages));
    }
    let replies = load(conn, chat.user_id).await?.config.replies;
    let mut said = Vec::new();
    let mut i = 0;
    while let Some(message) = messages.get(i)
        && chat.csat_state.is_some()
    {
        if message.place != Place::Direct || message.from_me || matches!(message.kind, "reaction" | "call") {
            i += 1;
            continue;
        }
        match rating(message.text.as_deref()) {
            Some(n) => {
                chat.csat_rating = Some(n);
                chat.csat_state = None;
                chat.csat_at = Some(now);
                said.push(replies.csat_thanks.clone());
                i += 1;
            }
            None if chat.csat_state.as_deref() == Some(CSAT_ASKED) => {
                chat.csat_state = Some(CSAT_RETRIED.to_owned());
                said.push(replies.csat_fallback.clone());
                i += 1;
            }
            None => chat.csat_state = None,
        }
    }
    let rest = &messages[i..];
    if chat.mode == ChatMode::Closed && rest.iter().any(|m| m.place == Place::Direct && !m.from_me) {
        set_mode(chat, ChatMode::Bot, now);
    }
    Ok((said, rest))
}

impl crate::inbox::Answerer for Bot {
    fn answer<'a>(
        &'a self,
        tx: &'a sea_orm::DatabaseTransaction,
        chat: &'a mut chats::Model,
        messages: &'a [&'a Inbound],
        now: i64,
    ) -> futures_util::future::BoxFuture<'a, Result<Vec<messages::Model>, DbErr>> {
        Box::pin(Bot::answer(self, tx, chat, messages, now))
    }

    fn closed<'a>(
        &'a self,
        tx: &'a sea_orm::DatabaseTransaction,
        chat: &'a mut chats::Model,
        now: i64,
    ) -> futures_util::future::BoxFuture<'a, Result<Vec<messages::Model>, DbErr>> {
        Box::pin(Bot::closed(self, tx, chat, now))
    }
}

/// `owner`'s stored document, or the default.
async fn load(conn: &impl ConnectionTrait, owner: i64) -> Result<Stored, DbErr> {
    let Some(row) = bot_configs::Entity::find_by_id(owner).one(conn).await? else {
        return Ok(Stored { config: BotConfig::default(), updated_at: None });
    };
    let config = serde_json::from_str(&row.config)
        .map_err(|e| DbErr::Custom(format!("the stored bot document of user {owner} is unreadable: {e}")))?;
    Ok(Stored { config, updated_at: Some(row.updated_at) })
}

fn set_mode(chat: &mut chats::Model, mode: ChatMode, now: i64) {
    chat.mode = mode;
    chat.mode_at = now;
    chat.bot_menu = None;
}

/// When a human last had a say in the chat: its mode change, or a reply from
/// the inbox or the phone.
async fn last_human(conn: &impl ConnectionTrait, chat: &chats::Model) -> Result<i64, DbErr> {
    let replied: Option<i64> = entries::Entity::find()
        .select_only()
        .column_as(entries::Column::At.max(), "at")
        .filter(entries::Column::ChatId.eq(chat.id))
        .filter(entries::Column::Sender.is_in([Origin::Agent, Origin::Phone]))
        .into_tuple::<Option<i64>>()
        .one(conn)
        .await?
        .flatten();
    Ok(replied.map_or(chat.mode_at, |at| at.max(chat.mode_at)))
}

/// The bot's state machine: what one message from the customer does to the
/// chat, and what it answers.
fn step(bot: &Effective, chat: &mut chats::Model, text: Option<&str>, in_hours: bool, now: i64) -> Say {
    let typed = text.map(document::normalize).unwrap_or_default();
    let hand_over = |chat: &mut chats::Model| {
        if chat.mode == ChatMode::Agent {
            return Say::Nothing;
        }
        set_mode(chat, ChatMode::Agent, now);
        match &bot.office_hours {
            Some(hours) if !in_hours => Say::Text(hours.reply.clone()),
            _ => Say::Text(bot.replies.agent.clone()),
        }
    };
    let pause = |chat: &mut chats::Model| {
        if chat.mode == ChatMode::Paused {
            return Say::Nothing;
        }
        set_mode(chat, ChatMode::Paused, now);
        Say::Text(bot.replies.pause.clone())
    };
    let in_bot = chat.mode == ChatMode::Bot;
    match bot.commands.get(&typed) {
        Some(Command::Bot) => {
            if !in_bot {
                set_mode(chat, ChatMode::Bot, now);
            }
            chat.bot_menu = None;
            return Say::Text(bot.render(&bot.main_menu));
        }
        Some(Command::Agent) => return hand_over(chat),
        Some(Command::Pause) => return pause(chat),
        Some(Command::Outage) if in_bot => return Say::Outage,
        Some(Command::Outage) | None => {}
    }
    if !in_bot {
        return Say::Nothing; // an agent has it, or it is paused
    }
    // A menu that is gone since the customer entered it: the main menu.
    let current = chat.bot_menu.clone().filter(|m| bot.menus.contains_key(m)).unwrap_or_else(|| bot.main_menu.clone());
    let Some(option) = bot.option(&current, &typed) else {
        let menu = bot.render(&current);
        return Say::Text(if bot.fallback.trim().is_empty() { menu } else { format!("{}\n\n{menu}", bot.fallback) });
    };
    if let Some(reply) = &option.reply {
        return Say::Text(reply.clone());
    }
    if let Some(target) = &option.menu {
        chat.bot_menu = (*target != bot.main_menu).then(|| target.clone());
        return Say::Text(bot.render(target));
    }
    match option.action {
        Some(Action::Agent) => hand_over(chat),
        Some(Action::Pause) => pause(chat),
        Some(Action::OutageStatus) => Say::Outage,
        Some(Action::MainMenu) | None => {
            chat.bot_menu = None;
            Say::Text(bot.render(&bot.main_menu))
        }
    }
}

/// Counts a reply against the chat's per-minute cap; `None` when the cap is
/// reached. Then the chat is paused, not just slowed: a flood or another bot
/// answering ours would otherwise go on at the cap's pace for ever.
fn spend(bot: &Effective, chat: &mut chats::Model, text: String, now: i64) -> Option<String> {
    if chat.bot_window_at.is_none_or(|at| now - at >= 60_000) {
        chat.bot_window_at = Some(now);
        chat.bot_window_count = 0;
    }
    if chat.bot_window_count >= bot.max_replies_per_minute as i32 {
        if chat.mode == ChatMode::Bot {
            set_mode(chat, ChatMode::Paused, now);
        }
        return None;
    }
    chat.bot_window_count += 1;
    chat.bot_replied_at = Some(now);
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rating_is_one_digit_from_one_to_five() {
        assert_eq!((rating(Some("5")), rating(Some(" 3. ")), rating(Some("1!"))), (Some(5), Some(3), Some(1)));
        for no in ["6", "0", "10", "5 bintang", "lima", "", "-1", "+5", "٥"] {
            assert_eq!(rating(Some(no)), None, "{no}");
        }
        assert_eq!(rating(None), None);
    }

    fn chat(mode: ChatMode) -> chats::Model {
        chats::Model {
            id: 1,
            session_id: crate::model::SessionKey::named("kantor"),
            user_id: 1,
            contact: "6281".into(),
            name: "Budi".into(),
            customer_id: None,
            email: None,
            address: None,
            mode,
            assigned_agent_id: None,
            unread: 0,
            online: false,
            last_message_at: 0,
            created_at: 0,
            updated_at: 0,
            mode_at: 0,
            bot_menu: None,
            bot_replied_at: None,
            bot_window_at: None,
            bot_window_count: 0,
            kind: crate::model::ChatKind::Direct,
            csat_state: None,
            csat_rating: None,
            csat_at: None,
        }
    }

    fn text(say: Say) -> String {
        match say {
            Say::Text(t) => t,
            other => panic!("expected a text, got {other:?}"),
        }
    }

    #[test]
    fn a_conversation_through_menus_and_modes() {
        let bot = BotConfig { enabled: true, ..Default::default() }.effective(None).unwrap();
        let main = bot.render("main");
        let mut c = chat(ChatMode::Bot);
        assert_eq!(text(step(&bot, &mut c, Some("halo"), true, 1)), main);
        assert!(text(step(&bot, &mut c, Some(" 1 "), true, 2)).starts_with("Layanan pelanggan"));
        assert_eq!(text(step(&bot, &mut c, Some("Bantuan"), true, 3)), bot.render("bantuan"));
        assert_eq!(c.bot_menu.as_deref(), Some("bantuan"));
        assert_eq!(step(&bot, &mut c, Some("1"), true, 4), Say::Outage);
        assert_eq!(text(step(&bot, &mut c, Some("0"), true, 5)), main);
        assert_eq!(c.bot_menu, None);
        assert_eq!(text(step(&bot, &mut c, Some("ADMIN"), true, 6)), bot.replies.agent);
        assert_eq!((c.mode.as_str(), c.mode_at), ("agent", 6));
        assert_eq!(step(&bot, &mut c, Some("halo?"), true, 7), Say::Nothing);
        assert_eq!(step(&bot, &mut c, Some("agent"), true, 8), Say::Nothing);
        assert_eq!(step(&bot, &mut c, Some("gangguan"), true, 8), Say::Nothing, "agents answer outages too");
        assert_eq!(text(step(&bot, &mut c, Some("Menu"), true, 9)), main);
        assert_eq!(c.mode, ChatMode::Bot);
        assert_eq!(text(step(&bot, &mut c, Some("pause"), true, 10)), bot.replies.pause);
        assert_eq!(step(&bot, &mut c, Some("1"), true, 11), Say::Nothing);
        assert_eq!(step(&bot, &mut c, None, true, 12), Say::Nothing);
        assert_eq!(text(step(&bot, &mut c, Some("bot"), true, 13)), main);
        assert_eq!(step(&bot, &mut c, Some("cek  gangguan"), true, 14), Say::Outage);
        // A picture in mode bot: the menu again.
        assert_eq!(text(step(&bot, &mut c, None, true, 15)), main);
    }

    #[test]
    fn out_of_hours_a_hand_over_says_so() {
        let mut config = BotConfig { enabled: true, ..Default::default() };
        config.office_hours = Some(document::OfficeHours {
            days: vec![1, 2, 3, 4, 5],
            open: "08:00".into(),
            close: "17:00".into(),
            reply: "Di luar jam kerja".into(),
        });
        let bot = config.effective(None).unwrap();
        let mut c = chat(ChatMode::Bot);
        assert_eq!(text(step(&bot, &mut c, Some("agent"), false, 1)), "Di luar jam kerja");
        assert_eq!(c.mode, ChatMode::Agent);
        let mut c = chat(ChatMode::Bot);
        assert_eq!(text(step(&bot, &mut c, Some("agent"), true, 1)), bot.replies.agent);
    }

    #[test]
    fn the_cap_counts_replies_per_minute() {
        let bot = BotConfig { enabled: true, max_replies_per_minute: 3, ..Default::default() }.effective(None).unwrap();
        let mut c = chat(ChatMode::Bot);
        let sent: usize = (0..10).filter_map(|i| spend(&bot, &mut c, "x".into(), 1_000 + i * 1_000)).count();
        assert_eq!(sent, 3);
        assert_eq!((c.mode.as_str(), c.mode_at), ("paused", 4_000), "over the cap, the chat is paused");
        assert_eq!(c.bot_replied_at, Some(3_000));
        assert!(spend(&bot, &mut c, "x".into(), 61_000).is_some(), "a new minute");
        assert_eq!(c.bot_replied_at, Some(61_000));
    }
}
