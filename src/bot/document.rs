//! The bot document an account keeps (`GET/PUT /bot/config`): menus,
//! commands, replies, office hours, limits and per-session overrides, with its
//! defaults (seed 000's menu, in Indonesian) and its validation, which names the
//! path of the first error (`menus.main.options[1].menu`).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, NaiveTime, Timelike};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest text the bot sends (the queue's limit for a text message).
pub const MAX_TEXT: usize = 4096;
const MAX_MENUS: usize = 100;
/// Most sessions one account's document may override.
pub const MAX_SESSION_OVERRIDES: usize = 1000;
const MAX_OPTIONS: usize = 20;
const MAX_WORDS: usize = 20;

/// An account's bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, serde_valid::Validate)]
#[serde(default, deny_unknown_fields)]
pub struct BotConfig {
    /// The bot answers the account's chats in mode `bot` (default `false`
    /// until the account turns it on).
    pub enabled: bool,
    /// Shown above the main menu; may be empty.
    pub greeting: String,
    /// The menu a conversation starts in: a key of `menus`.
    pub main_menu: String,
    /// Menus by name (letters, digits, `_`, `-`; up to 64).
    #[schema(value_type = HashMap<String, Menu>)]
    pub menus: BTreeMap<String, Menu>,
    /// Shown below every menu; may be empty.
    pub footer: String,
    /// The answer to anything that is no option and no command, followed by the
    /// menu the customer is in; empty: the menu alone.
    pub fallback: String,
    pub commands: Commands,
    pub replies: Replies,
    pub outage: OutageReplies,
    /// When agents answer, in `[server] timezone`; `null`: always.
    pub office_hours: Option<OfficeHours>,
    /// A chat in `agent` or `paused` whose customer writes after this many
    /// minutes without a human reply (or mode change) is the bot's again;
    /// `null`: never.
    pub idle_return_minutes: Option<u32>,
    /// Most replies the bot sends one chat in a minute (1–60); a chat that
    /// asks for more is paused (a flood, or another bot answering ours).
    pub max_replies_per_minute: u32,
    /// Per-session overrides, by session name.
    #[schema(value_type = HashMap<String, SessionBot>)]
    pub sessions: BTreeMap<String, SessionBot>,
}

/// A menu: its text, then its options, one per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    pub text: String,
    pub options: Vec<MenuOption>,
}

/// What the customer types (`key`, or the label) and what it does: exactly one
/// of `reply`, `menu` and `action`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MenuOption {
    /// `1`, `2`, …: shown as `1️⃣`; up to 16 characters.
    pub key: String,
    pub label: String,
    /// Answer with this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Go to this menu (a key of `menus`; menus may not lead back to themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
}

/// What an option does besides answering a text or opening a menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Hand over to a human (mode `agent`).
    Agent,
    /// Silence the bot until the customer types a `bot` command or someone resumes it.
    Pause,
    /// The active outage notices on the customer's ODP.
    OutageStatus,
    /// Back to the main menu.
    MainMenu,
}

/// Words the customer types, in any case and spacing, in any mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Commands {
    /// Hand over to a human.
    pub agent: Vec<String>,
    /// Silence the bot.
    pub pause: Vec<String>,
    /// Back to the bot and its main menu.
    pub bot: Vec<String>,
    /// The outage status of the customer's ODP (in mode `bot`).
    pub outage: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Replies {
    /// After a hand-over (in office hours).
    pub agent: String,
    /// After `pause`.
    pub pause: String,
    /// When a chat is closed with the account's `csat` on: the question.
    pub csat_question: String,
    /// After a rating, 1–5.
    pub csat_thanks: String,
    /// Once, to an answer that is no rating.
    pub csat_fallback: String,
}

/// The outage-status answers: `{nama}`, `{odp}` and `{waktu}` (now) are filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OutageReplies {
    /// How each active notice on the ODP is told (with the notice's
    /// placeholders); `null`: `notify.template`.
    pub template: Option<String>,
    /// No active notice on the customer's ODP.
    pub none: String,
    /// The number is no customer's, or the customer has no ODP.
    pub unknown: String,
}

/// Office hours: on these days, from `open` to `close` (`close` before `open`:
/// overnight). Outside them a hand-over still happens, answered with `reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficeHours {
    /// ISO weekdays: 1 Monday … 7 Sunday.
    pub days: Vec<u8>,
    /// `HH:MM`.
    pub open: String,
    pub close: String,
    pub reply: String,
}

/// A session's own bot: `enabled` turns the bot on or off for it (`null`: as
/// the account); the other fields replace the account's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SessionBot {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_menu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<HashMap<String, Menu>>)]
    pub menus: Option<BTreeMap<String, Menu>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl Default for Commands {
    fn default() -> Self {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect();
        Self {
            agent: words(&["agent", "admin"]),
            pause: words(&["pause"]),
            bot: words(&["bot", "menu"]),
            outage: words(&["gangguan", "cek gangguan"]),
        }
    }
}

impl Default for Replies {
    fn default() -> Self {
        Self {
            agent: "Baik, Anda akan dihubungkan dengan admin kami. Mohon tunggu sebentar 🙏".into(),
            pause: "Bot dijeda. Ketik *bot* untuk kembali ke menu.".into(),
            csat_question: "Terima kasih telah menghubungi kami. Seberapa puas Anda dengan layanan kami? \
                            Balas dengan angka 1 (tidak puas) sampai 5 (sangat puas)."
                .into(),
            csat_thanks: "Terima kasih atas penilaian Anda 🙏".into(),
            csat_fallback: "Mohon balas dengan satu angka dari 1 sampai 5.".into(),
        }
    }
}

impl Default for OutageReplies {
    fn default() -> Self {
        Self {
            template: None,
            none: "Halo {nama}, saat ini tidak ada gangguan yang kami ketahui di ODP {odp} (per {waktu}). \
                   Jika internet Anda tetap bermasalah, ketik *agent* untuk berbicara dengan admin."
                .into(),
            unknown: "Maaf, nomor Anda belum terdaftar sebagai pelanggan kami, jadi kami tidak dapat memeriksa \
                      gangguan di area Anda. Ketik *agent* untuk berbicara dengan admin."
                .into(),
        }
    }
}

impl Default for BotConfig {
    /// Seed 000's bot: `Halo 👋 / Silakan pilih: / 1️⃣ Info / 2️⃣ Bantuan`.
    fn default() -> Self {
        let option = |key: &str, label: &str| MenuOption {
            key: key.into(),
            label: label.into(),
            reply: None,
            menu: None,
            action: None,
        };
        let main = Menu {
            text: "Silakan pilih:".into(),
            options: vec![
                MenuOption {
                    reply: Some("Layanan pelanggan kami buka Senin–Sabtu pukul 08.00–17.00 WIB.".into()),
                    ..option("1", "Info")
                },
                MenuOption { menu: Some("bantuan".into()), ..option("2", "Bantuan") },
            ],
        };
        let help = Menu {
            text: "Bantuan — silakan pilih:".into(),
            options: vec![
                MenuOption { action: Some(Action::OutageStatus), ..option("1", "Cek gangguan di area saya") },
                MenuOption { action: Some(Action::Agent), ..option("2", "Bicara dengan admin") },
                MenuOption { action: Some(Action::MainMenu), ..option("0", "Kembali ke menu utama") },
            ],
        };
        Self {
            enabled: false,
            greeting: "Halo 👋".into(),
            main_menu: "main".into(),
            menus: BTreeMap::from([("main".to_owned(), main), ("bantuan".to_owned(), help)]),
            footer: "Ketik *agent* untuk berbicara dengan manusia.".into(),
            fallback: String::new(),
            commands: Commands::default(),
            replies: Replies::default(),
            outage: OutageReplies::default(),
            office_hours: None,
            idle_return_minutes: None,
            max_replies_per_minute: 10,
            sessions: BTreeMap::new(),
        }
    }
}

/// A command the customer typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Agent,
    Pause,
    Bot,
    Outage,
}

/// What one session's chats get: the account's document with the session's overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub enabled: bool,
    pub greeting: String,
    pub main_menu: String,
    pub menus: BTreeMap<String, Menu>,
    pub footer: String,
    pub fallback: String,
    /// Normalised command words.
    pub commands: HashMap<String, Command>,
    pub replies: Replies,
    pub outage: OutageReplies,
    pub office_hours: Option<Hours>,
    pub idle_return_ms: Option<i64>,
    pub max_replies_per_minute: u32,
}

/// Office hours, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Hours {
    pub days: Vec<u8>,
    pub open: NaiveTime,
    pub close: NaiveTime,
    pub reply: String,
}

impl Hours {
    /// Whether agents are in at this local time.
    pub fn open_at(&self, local: chrono::NaiveDateTime) -> bool {
        let time = local.time();
        let day = local.weekday().number_from_monday() as u8;
        if self.open < self.close {
            self.days.contains(&day) && time >= self.open && time < self.close
        } else {
            // Overnight: the evening belongs to its day, the early hours to the day before.
            let yesterday = if day == 1 { 7 } else { day - 1 };
            (self.days.contains(&day) && time >= self.open) || (self.days.contains(&yesterday) && time < self.close)
        }
    }
}

/// Lower case, single spaces, no spaces around: how typed words are compared.
pub fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// A validation failure: the path in the document, and what is wrong.
pub type Invalid = (String, String);

fn fail<T>(path: impl Into<String>, message: impl Into<String>) -> Result<T, Invalid> {
    Err((path.into(), message.into()))
}

fn text(path: &str, value: &str, may_be_empty: bool) -> Result<(), Invalid> {
    if !may_be_empty && value.trim().is_empty() {
        return fail(path, "must not be empty");
    }
    if value.chars().count() > MAX_TEXT {
        return fail(path, format!("is longer than {MAX_TEXT} characters"));
    }
    Ok(())
}

fn time_of(path: &str, value: &str) -> Result<NaiveTime, Invalid> {
    NaiveTime::parse_from_str(value, "%H:%M")
        .ok()
        .filter(|t| t.second() == 0)
        .ok_or_else(|| (path.to_owned(), "must be a time as HH:MM".to_owned()))
}

impl BotConfig {
    /// The document with `session`'s overrides applied, checked; `Err` names the path.
    pub fn effective(&self, session: Option<&str>) -> Result<Effective, Invalid> {
        let own = session.and_then(|s| self.sessions.get(s));
        let prefix = session.filter(|_| own.is_some()).map(|s| format!("sessions.{s}.")).unwrap_or_default();
        let pick = |own: Option<&String>, account: &String, name: &str| match own {
            Some(v) => (v.clone(), format!("{prefix}{name}")),
            None => (account.clone(), name.to_owned()),
        };
        let (greeting, greeting_path) = pick(own.and_then(|o| o.greeting.as_ref()), &self.greeting, "greeting");
        let (main_menu, main_path) = pick(own.and_then(|o| o.main_menu.as_ref()), &self.main_menu, "main_menu");
        let (footer, footer_path) = pick(own.and_then(|o| o.footer.as_ref()), &self.footer, "footer");
        let (fallback, fallback_path) = pick(own.and_then(|o| o.fallback.as_ref()), &self.fallback, "fallback");
        let (menus, menus_path) = match own.and_then(|o| o.menus.as_ref()) {
            Some(menus) => (menus.clone(), format!("{prefix}menus")),
            None => (self.menus.clone(), "menus".to_owned()),
        };
        text(&greeting_path, &greeting, true)?;
        text(&footer_path, &footer, true)?;
        text(&fallback_path, &fallback, true)?;
        let commands = self.command_words()?;
        check_menus(&menus, &menus_path, &commands)?;
        if !menus.contains_key(&main_menu) {
            return fail(main_path, format!("no menu is named {main_menu:?}"));
        }
        text("replies.agent", &self.replies.agent, false)?;
        text("replies.pause", &self.replies.pause, false)?;
        text("replies.csat_question", &self.replies.csat_question, false)?;
        text("replies.csat_thanks", &self.replies.csat_thanks, false)?;
        text("replies.csat_fallback", &self.replies.csat_fallback, false)?;
        if let Some(template) = &self.outage.template {
            text("outage.template", template, false)?;
        }
        text("outage.none", &self.outage.none, false)?;
        text("outage.unknown", &self.outage.unknown, false)?;
        let office_hours = match &self.office_hours {
            None => None,
            Some(hours) => {
                if hours.days.is_empty() {
                    return fail("office_hours.days", "must name at least one day");
                }
                let mut seen = HashSet::new();
                for (i, day) in hours.days.iter().enumerate() {
                    if !(1..=7).contains(day) {
                        return fail(format!("office_hours.days[{i}]"), "must be 1 (Monday) to 7 (Sunday)");
                    }
                    if !seen.insert(*day) {
                        return fail(format!("office_hours.days[{i}]"), "is listed twice");
                    }
                }
                let open = time_of("office_hours.open", &hours.open)?;
                let close = time_of("office_hours.close", &hours.close)?;
                if open == close {
                    return fail("office_hours.close", "must differ from open");
                }
                text("office_hours.reply", &hours.reply, false)?;
                Some(Hours { days: hours.days.clone(), open, close, reply: hours.reply.clone() })
            }
        };
        if let Some(minutes) = self.idle_return_minutes
            && !(1..=10_080).contains(&minutes)
        {
            return fail("idle_return_minutes", "must be 1 to 10080 (a week), or null");
        }
        if !(1..=60).contains(&self.max_replies_per_minute) {
            return fail("max_replies_per_minute", "must be 1 to 60");
        }
        let effective = Effective {
            enabled: own.and_then(|o| o.enabled).unwrap_or(self.enabled),
            greeting,
            main_menu,
            menus,
            footer,
            fallback,
            commands,
            replies: self.replies.clone(),
            outage: self.outage.clone(),
            office_hours,
            idle_return_ms: self.idle_return_minutes.map(|m| i64::from(m) * 60_000),
            max_replies_per_minute: self.max_replies_per_minute,
        };
        for name in effective.menus.keys() {
            let path = format!("{menus_path}.{name}");
            if effective.render(name).chars().count() > MAX_TEXT {
                return fail(path, format!("is longer than {MAX_TEXT} characters as sent"));
            }
        }
        Ok(effective)
    }

    /// The session overrides' names: how many, and that each is a session name.
    /// Cheap: checked before anything that costs.
    pub fn check_session_names(&self) -> Result<(), Invalid> {
        if self.sessions.len() > MAX_SESSION_OVERRIDES {
            return fail("sessions", format!("has more than {MAX_SESSION_OVERRIDES} session overrides"));
        }
        for name in self.sessions.keys() {
            if crate::validation::session_id(name).is_err() {
                return fail(format!("sessions.{name}"), "is not a session name");
            }
        }
        Ok(())
    }

    /// Checks the whole document: the account's bot and each session's, as
    /// [`effective`](Self::effective) would for each, in time linear in the
    /// document's size: the account's part is checked once, and each session
    /// only for what it overrides.
    pub fn check(&self) -> Result<(), Invalid> {
        self.check_session_names()?;
        let account = self.effective(None)?;
        let bodies = body_lengths(&account.menus);
        for (name, own) in &self.sessions {
            check_override(name, own, &account, &bodies)?;
        }
        Ok(())
    }

    fn command_words(&self) -> Result<HashMap<String, Command>, Invalid> {
        let mut words = HashMap::new();
        let lists = [
            ("agent", &self.commands.agent, Command::Agent),
            ("pause", &self.commands.pause, Command::Pause),
            ("bot", &self.commands.bot, Command::Bot),
            ("outage", &self.commands.outage, Command::Outage),
        ];
        for (name, list, command) in lists {
            if list.len() > MAX_WORDS {
                return fail(format!("commands.{name}"), format!("has more than {MAX_WORDS} words"));
            }
            for (i, word) in list.iter().enumerate() {
                let path = format!("commands.{name}[{i}]");
                let word = normalize(word);
                if word.is_empty() {
                    return fail(path, "must not be empty");
                }
                if word.chars().count() > 64 {
                    return fail(path, "is longer than 64 characters");
                }
                if words.insert(word.clone(), command).is_some() {
                    return fail(path, format!("{word:?} is already a command"));
                }
            }
        }
        Ok(words)
    }
}

/// What [`BotConfig::effective`] checks of session `name`'s overrides `own`,
/// given the account's bot (checked) and its menus' body lengths: the same
/// paths and messages, at the cost of the override alone.
fn check_override(
    name: &str,
    own: &SessionBot,
    account: &Effective,
    account_bodies: &BTreeMap<String, usize>,
) -> Result<(), Invalid> {
    let path = |field: &str| format!("sessions.{name}.{field}");
    for (field, value) in [("greeting", &own.greeting), ("footer", &own.footer), ("fallback", &own.fallback)] {
        if let Some(value) = value {
            text(&path(field), value, true)?;
        }
    }
    let own_bodies;
    let (menus, bodies, menus_path) = match &own.menus {
        Some(menus) => {
            check_menus(menus, &path("menus"), &account.commands)?;
            own_bodies = body_lengths(menus);
            (menus, &own_bodies, path("menus"))
        }
        None => (&account.menus, account_bodies, "menus".to_owned()),
    };
    let main_menu = own.main_menu.as_ref().unwrap_or(&account.main_menu);
    if !menus.contains_key(main_menu) {
        let at = if own.main_menu.is_some() { path("main_menu") } else { "main_menu".to_owned() };
        return fail(at, format!("no menu is named {main_menu:?}"));
    }
    // As sent: the greeting on the main menu, the footer on every one (see `Effective::render`).
    let around =
        |text: &str, separator: usize| if text.trim().is_empty() { 0 } else { text.chars().count() + separator };
    let greeting = around(own.greeting.as_ref().unwrap_or(&account.greeting), 1);
    let footer = around(own.footer.as_ref().unwrap_or(&account.footer), 2);
    for (menu, body) in bodies {
        let sent = body + footer + if menu == main_menu { greeting } else { 0 };
        if sent > MAX_TEXT {
            return fail(format!("{menus_path}.{menu}"), format!("is longer than {MAX_TEXT} characters as sent"));
        }
    }
    Ok(())
}

/// Each menu's length in characters as sent, without greeting and footer.
fn body_lengths(menus: &BTreeMap<String, Menu>) -> BTreeMap<String, usize> {
    menus.iter().map(|(name, menu)| (name.clone(), menu_body(menu).chars().count())).collect()
}

/// A menu's text and its options, as sent.
fn menu_body(menu: &Menu) -> String {
    let mut out = menu.text.clone();
    for option in &menu.options {
        out.push('\n');
        match option.key.as_bytes() {
            // A keycap: 1️⃣.
            [digit] if digit.is_ascii_digit() => {
                out.push(*digit as char);
                out.push_str("\u{FE0F}\u{20E3} ");
            }
            _ => {
                out.push_str(&option.key);
                out.push_str(". ");
            }
        }
        out.push_str(&option.label);
    }
    out
}

fn check_menus(menus: &BTreeMap<String, Menu>, path: &str, commands: &HashMap<String, Command>) -> Result<(), Invalid> {
    if menus.is_empty() {
        return fail(path, "must have at least one menu");
    }
    if menus.len() > MAX_MENUS {
        return fail(path, format!("has more than {MAX_MENUS} menus"));
    }
    for (name, menu) in menus {
        let at = format!("{path}.{name}");
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return fail(at, "a menu name is 1 to 64 letters, digits, _ or -");
        }
        text(&format!("{at}.text"), &menu.text, false)?;
        if menu.options.is_empty() {
            return fail(format!("{at}.options"), "must have at least one option");
        }
        if menu.options.len() > MAX_OPTIONS {
            return fail(format!("{at}.options"), format!("has more than {MAX_OPTIONS} options"));
        }
        let mut keys = HashSet::new();
        for (i, option) in menu.options.iter().enumerate() {
            let at = format!("{at}.options[{i}]");
            let key = normalize(&option.key);
            if key.is_empty() {
                return fail(format!("{at}.key"), "must not be empty");
            }
            if key.chars().count() > 16 {
                return fail(format!("{at}.key"), "is longer than 16 characters");
            }
            if commands.contains_key(&key) {
                return fail(format!("{at}.key"), format!("{key:?} is also a command"));
            }
            if !keys.insert(key.clone()) {
                return fail(format!("{at}.key"), format!("{key:?} is used twice in this menu"));
            }
            text(&format!("{at}.label"), &option.label, false)?;
            if option.label.chars().count() > 255 {
                return fail(format!("{at}.label"), "is longer than 255 characters");
            }
            let label = normalize(&option.label);
            if commands.contains_key(&label) {
                return fail(format!("{at}.label"), format!("{label:?} is also a command"));
            }
            let targets = [option.reply.is_some(), option.menu.is_some(), option.action.is_some()];
            if targets.iter().filter(|t| **t).count() != 1 {
                return fail(at, "needs exactly one of reply, menu and action");
            }
            if let Some(reply) = &option.reply {
                text(&format!("{at}.reply"), reply, false)?;
            }
            if let Some(target) = &option.menu
                && !menus.contains_key(target)
            {
                return fail(format!("{at}.menu"), format!("no menu is named {target:?}"));
            }
        }
    }
    // Menus lead on to others, never back: going back is the `main_menu` action.
    for (name, menu) in menus {
        for (i, option) in menu.options.iter().enumerate() {
            let Some(target) = &option.menu else { continue };
            if leads_to(menus, target, name, &mut HashSet::new()) {
                return fail(
                    format!("{path}.{name}.options[{i}].menu"),
                    format!("{target:?} leads back to {name:?} (a loop; use the main_menu action to go back)"),
                );
            }
        }
    }
    Ok(())
}

/// Whether menu `from` reaches menu `to` by its options.
fn leads_to(menus: &BTreeMap<String, Menu>, from: &str, to: &str, seen: &mut HashSet<String>) -> bool {
    if from == to {
        return true;
    }
    if !seen.insert(from.to_owned()) {
        return false;
    }
    menus.get(from).is_some_and(|menu| {
        menu.options.iter().filter_map(|o| o.menu.as_deref()).any(|next| leads_to(menus, next, to, seen))
    })
}

impl Effective {
    /// A menu as sent: the greeting (main menu only), its text, its options and the footer.
    pub fn render(&self, name: &str) -> String {
        let Some(menu) = self.menus.get(name) else { return String::new() };
        let mut out = String::new();
        if name == self.main_menu && !self.greeting.trim().is_empty() {
            out.push_str(&self.greeting);
            out.push('\n');
        }
        out.push_str(&menu_body(menu));
        if !self.footer.trim().is_empty() {
            out.push_str("\n\n");
            out.push_str(&self.footer);
        }
        out
    }

    /// The option of menu `name` the customer chose, by key or label.
    pub fn option(&self, name: &str, typed: &str) -> Option<&MenuOption> {
        self.menus.get(name)?.options.iter().find(|o| normalize(&o.key) == typed || normalize(&o.label) == typed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(config: &BotConfig) -> String {
        config.check().expect_err("invalid").0
    }

    /// What `check` says of a document is what `effective` says of the account
    /// and of each session, in that order (the way it was checked before).
    fn check_by_effective(config: &BotConfig) -> Result<(), Invalid> {
        config.effective(None)?;
        for name in config.sessions.keys() {
            config.effective(Some(name))?;
        }
        Ok(())
    }

    #[test]
    fn the_linear_check_says_what_effective_says() {
        let menu = |text: &str| Menu {
            text: text.into(),
            options: vec![MenuOption {
                key: "1".into(),
                label: "Info".into(),
                reply: Some("ok".into()),
                menu: None,
                action: None,
            }],
        };
        let long = "x".repeat(MAX_TEXT - 20);
        let overrides: Vec<(&str, SessionBot)> = vec![
            ("fine", SessionBot { footer: Some("Terima kasih".into()), ..Default::default() }),
            ("no-main", SessionBot { main_menu: Some("missing".into()), ..Default::default() }),
            ("long-footer", SessionBot { footer: Some(long.clone()), ..Default::default() }),
            ("long-greeting", SessionBot { greeting: Some(long.clone()), ..Default::default() }),
            ("empty-menus", SessionBot { menus: Some(BTreeMap::new()), ..Default::default() }),
            (
                "own-menus",
                SessionBot {
                    menus: Some(BTreeMap::from([("utama".to_owned(), menu("Halo"))])),
                    main_menu: Some("utama".into()),
                    ..Default::default()
                },
            ),
            (
                "own-menus-no-main",
                SessionBot { menus: Some(BTreeMap::from([("lain".to_owned(), menu("Halo"))])), ..Default::default() },
            ),
            (
                "own-long-menu",
                SessionBot { menus: Some(BTreeMap::from([("main".to_owned(), menu(&long))])), ..Default::default() },
            ),
            ("bad-fallback", SessionBot { fallback: Some("y".repeat(MAX_TEXT + 1)), ..Default::default() }),
        ];
        for (name, own) in &overrides {
            let mut config = BotConfig::default();
            config.sessions.insert((*name).into(), own.clone());
            assert_eq!(config.check(), check_by_effective(&config), "{name}");
        }
        let mut all = BotConfig::default();
        all.sessions.extend(overrides.into_iter().map(|(n, o)| (n.to_owned(), o)));
        assert_eq!(all.check(), check_by_effective(&all));
        assert!(all.check().is_err());
    }

    #[test]
    fn session_overrides_are_capped_before_anything_is_checked() {
        let mut config = BotConfig::default();
        for n in 0..=MAX_SESSION_OVERRIDES {
            config.sessions.insert(format!("s{n}"), SessionBot::default());
        }
        assert_eq!(path_of(&config), "sessions");
        config.sessions.pop_last();
        assert!(config.check().is_ok());
    }

    #[test]
    fn the_default_is_seed_000s_menu() {
        let config = BotConfig::default();
        let effective = config.effective(None).expect("valid");
        assert_eq!(
            effective.render("main"),
            "Halo 👋\nSilakan pilih:\n1️⃣ Info\n2️⃣ Bantuan\n\nKetik *agent* untuk berbicara dengan manusia."
        );
        assert_eq!(effective.commands.get("admin"), Some(&Command::Agent));
        assert_eq!(effective.commands.get("cek gangguan"), Some(&Command::Outage));
        assert_eq!(effective.option("main", "bantuan").and_then(|o| o.menu.as_deref()), Some("bantuan"));
        assert_eq!(normalize("  Cek   GANGGUAN "), "cek gangguan");
    }

    #[test]
    fn errors_name_their_path() {
        let mut config = BotConfig::default();
        config.menus.get_mut("main").unwrap().options[1].menu = Some("nowhere".into());
        assert_eq!(path_of(&config), "menus.main.options[1].menu");

        let mut config = BotConfig::default();
        config.menus.get_mut("bantuan").unwrap().options[2] = MenuOption {
            key: "0".into(),
            label: "Kembali".into(),
            reply: None,
            menu: Some("main".into()),
            action: None,
        };
        let (path, message) = config.check().unwrap_err();
        assert!(path.ends_with(".menu") && message.contains("loop"), "{path}: {message}");

        let mut config = BotConfig::default();
        config.menus.get_mut("main").unwrap().options[0].reply = Some("  ".into());
        assert_eq!(path_of(&config), "menus.main.options[0].reply");

        let mut config = BotConfig::default();
        config.menus.get_mut("main").unwrap().options[0].menu = Some("bantuan".into());
        assert_eq!(path_of(&config), "menus.main.options[0]");

        let mut config = BotConfig::default();
        config.menus.get_mut("main").unwrap().options[0].key = "Menu".into();
        assert_eq!(path_of(&config), "menus.main.options[0].key");

        let mut config = BotConfig::default();
        config.commands.pause.push("ADMIN".into());
        assert_eq!(path_of(&config), "commands.pause[1]");

        let config = BotConfig { main_menu: "start".into(), ..Default::default() };
        assert_eq!(path_of(&config), "main_menu");

        let hours = OfficeHours { days: vec![1, 8], open: "08:00".into(), close: "17:00".into(), reply: "x".into() };
        let config = BotConfig { office_hours: Some(hours), ..Default::default() };
        assert_eq!(path_of(&config), "office_hours.days[1]");

        let mut config = BotConfig::default();
        config.sessions.insert("kantor".into(), SessionBot { main_menu: Some("x".into()), ..Default::default() });
        assert_eq!(path_of(&config), "sessions.kantor.main_menu");

        let config = BotConfig { max_replies_per_minute: 0, ..Default::default() };
        assert_eq!(path_of(&config), "max_replies_per_minute");
    }

    #[test]
    fn a_session_overrides_the_menu_and_the_switch() {
        let mut config = BotConfig { enabled: true, ..Default::default() };
        config.sessions.insert(
            "kantor".into(),
            SessionBot { enabled: Some(false), greeting: Some("Selamat datang".into()), ..Default::default() },
        );
        let kantor = config.effective(Some("kantor")).unwrap();
        assert!(!kantor.enabled);
        assert!(kantor.render("main").starts_with("Selamat datang\n"));
        let other = config.effective(Some("cabang")).unwrap();
        assert!(other.enabled);
        assert!(other.render("main").starts_with("Halo 👋\n"));
    }

    #[test]
    fn office_hours_cover_their_days_and_nights() {
        let at = |day: u32, h: u32, m: u32| {
            // 2026-11-30 is a Monday.
            chrono::NaiveDate::from_ymd_opt(2026, 11, 30 + day - 1)
                .or_else(|| chrono::NaiveDate::from_ymd_opt(2026, 12, day - 1))
                .unwrap()
                .and_hms_opt(h, m, 0)
                .unwrap()
        };
        let day = Hours {
            days: vec![1, 2, 3, 4, 5],
            open: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
            close: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            reply: String::new(),
        };
        assert!(day.open_at(at(1, 8, 0)));
        assert!(day.open_at(at(1, 16, 59)));
        assert!(!day.open_at(at(1, 17, 0)));
        assert!(!day.open_at(at(1, 7, 59)));
        let night = Hours {
            days: vec![1],
            open: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            close: NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
            reply: String::new(),
        };
        assert!(night.open_at(at(1, 23, 0)));
        assert!(night.open_at(at(2, 5, 0)), "Monday's night runs into Tuesday");
        assert!(!night.open_at(at(2, 23, 0)));
        assert!(!night.open_at(at(1, 5, 0)), "Monday's early hours belong to Sunday");
    }
}
