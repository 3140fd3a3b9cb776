//! Configuration: built-in defaults, then `config.toml` (or `--config PATH`), then
//! environment variables `WAGATE__SECTION__KEY`, then `DATABASE_URL`.
//!
//! The names here are part of the public contract (DESIGN.md "Configuration"); every
//! setting is listed with its default in the repository's `config.toml`.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub whatsapp: WhatsappConfig,
    pub limits: LimitsConfig,
    pub media: MediaConfig,
    pub notify: NotifyConfig,
    pub inbox: InboxConfig,
    pub calls: CallsConfig,
    pub webhook: WebhookConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhatsappConfig {
    /// `auto`: WhatsApp Web's current version, fetched at start and kept in
    /// `data_dir` (the kept one, or the built-in one, when the fetch fails);
    /// or a pinned `2.3000.N`.
    pub version: String,
    /// Empty: WhatsApp itself. Anything else is only for a build with the
    /// `insecure-simulator` feature, and then only a loopback `ws://` or
    /// `wss://` address (a local wa-sim).
    pub server_url: String,
    /// How long a new session keeps offering QR codes (and pairing codes) before
    /// it stops and waits for `/session/restart`.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub link_timeout: Duration,
    /// At start-up, linked sessions reconnect at this many per second, so a
    /// gateway with a thousand numbers does not open them in one burst.
    pub restore_per_second: u32,
}

impl Default for WhatsappConfig {
    fn default() -> Self {
        Self {
            version: "auto".into(),
            server_url: String::new(),
            link_timeout: Duration::from_secs(300),
            restore_per_second: 50,
        }
    }
}

/// How each session paces, counts and retries its sends (seed 003's defaults).
/// A session may override the first six, `typing` and `group_interval` with `PUT /session/{id}/limits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// A random pause in `[delay_min_ms, delay_max_ms]` between two sends of a session.
    pub delay_min_ms: u64,
    pub delay_max_ms: u64,
    /// Most sends of a session in any `minute_window`; 0 = no limit.
    pub per_minute: u32,
    /// Most sends of a session in any `hour_window`; 0 = no limit.
    pub per_hour: u32,
    /// Most sends of a session to one recipient in any `hour_window`; 0 = no limit.
    pub per_recipient_per_hour: u32,
    /// Tries of a message before it fails.
    pub max_attempts: u32,
    /// The windows `per_minute` and `per_hour` count over; shorter ones only
    /// for tests and demos.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub minute_window: Duration,
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub hour_window: Duration,
    /// A sent message the server has not acknowledged by then is sent again
    /// (with the same id, so it is never delivered twice).
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub ack_timeout: Duration,
    /// Pause before the first retry after a failure; it doubles for each
    /// further attempt, with random jitter.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub retry_backoff: Duration,
    /// Show the recipient "typing…" before each text, for a human-looking time
    /// inside the pause between sends (never added to it).
    pub typing: bool,
    /// The shortest time between two sends of a session to one group (a group
    /// counts as one recipient in `per_recipient_per_hour` besides).
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub group_interval: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            delay_min_ms: 3000,
            delay_max_ms: 7000,
            per_minute: 20,
            per_hour: 500,
            per_recipient_per_hour: 10,
            max_attempts: 3,
            minute_window: Duration::from_secs(60),
            hour_window: Duration::from_secs(3600),
            ack_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_secs(10),
            typing: false,
            group_interval: Duration::from_secs(10),
        }
    }
}

/// Images and documents given by URL or uploaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Largest image, in bytes.
    pub max_image_bytes: u64,
    /// Largest document, in bytes.
    pub max_document_bytes: u64,
    /// Largest video, in bytes.
    pub max_video_bytes: u64,
    /// Largest audio file or voice note, in bytes.
    pub max_audio_bytes: u64,
    /// Largest sticker, in bytes.
    pub max_sticker_bytes: u64,
    /// Fetching a media URL, redirects included, must finish in this time.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub fetch_timeout: Duration,
    /// Let media URLs reach loopback, private, link-local and other internal
    /// addresses. Only for tests: it opens the gateway to SSRF.
    pub allow_private_addresses: bool,
    /// Media received at once (multipart uploads read, URLs fetched); more wait.
    pub max_concurrent: usize,
    /// Of those, at most this many for one account: one account's slow
    /// uploads never hold every slot.
    pub max_concurrent_per_account: usize,
}

impl MediaConfig {
    /// The largest file any kind of media may be.
    pub fn largest(&self) -> u64 {
        [
            self.max_image_bytes,
            self.max_document_bytes,
            self.max_video_bytes,
            self.max_audio_bytes,
            self.max_sticker_bytes,
        ]
        .into_iter()
        .max()
        .unwrap_or_default()
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_image_bytes: 16 * 1024 * 1024,
            max_document_bytes: 64 * 1024 * 1024,
            max_video_bytes: 64 * 1024 * 1024,
            max_audio_bytes: 16 * 1024 * 1024,
            max_sticker_bytes: 1024 * 1024,
            fetch_timeout: Duration::from_secs(30),
            allow_private_addresses: false,
            max_concurrent: 4,
            max_concurrent_per_account: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InboxConfig {
    /// `POST /chats/{id}/read` sends read receipts (blue ticks) to the contact.
    pub read_receipts: bool,
    /// Largest received media file that is downloaded, in bytes.
    pub max_media_bytes: u64,
    /// How long downloaded media, and the files of messages sent into chats, are kept.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub media_retention: Duration,
    /// Media downloads at a time.
    pub media_downloads: usize,
    /// Keep the text and file of a message its sender deleted for everyone
    /// (it is marked deleted either way).
    pub keep_deleted: bool,
    /// How long a contact's profile picture, once fetched, is served from disk.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub picture_retention: Duration,
    /// Each group the session is in is a chat of kind `group` (its messages
    /// and changes in its timeline, agents' replies going into the group).
    /// Off: group messages are only kept for `GET /message/received`.
    pub groups: bool,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            read_receipts: true,
            max_media_bytes: 64 * 1024 * 1024,
            media_retention: Duration::from_secs(30 * 24 * 3600),
            media_downloads: 2,
            keep_deleted: false,
            picture_retention: Duration::from_secs(7 * 24 * 3600),
            groups: false,
        }
    }
}

/// What a session does when a contact calls it (each session may change these
/// with `PUT /session/{id}/calls`). A call is never answered: it is shown in
/// the inbox and sent as the `call.received` event either way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallsConfig {
    /// Decline calls at once (the caller sees "declined") instead of letting them ring.
    pub reject: bool,
    /// A text queued to the caller (through the send queue and its limits);
    /// empty: none.
    pub reply: String,
    /// At most one reply per caller in this long, however often they call.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub reply_interval: Duration,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self { reject: false, reply: String::new(), reply_interval: Duration::from_secs(6 * 3600) }
    }
}

/// The longest call reply, in characters.
pub const MAX_CALL_REPLY: usize = 4096;

/// Parses `whatsapp.version`: `None` for `auto`, else `2.3000.N`.
pub fn parse_version(text: &str) -> Result<Option<(u32, u32, u32)>, String> {
    if text == "auto" {
        return Ok(None);
    }
    let parts: Vec<_> = text.split('.').map(str::parse::<u32>).collect();
    match parts.as_slice() {
        [Ok(a), Ok(b), Ok(c)] => Ok(Some((*a, *b, *c))),
        _ => Err(format!("whatsapp.version must be \"auto\" or three numbers like 2.3000.1012345678, not {text:?}")),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// The session seed 002's single-number endpoints (`/api/whatsapp/*`) act on
    /// when the request names none with `?session=`.
    pub default_session: String,
    /// Country calling code put in front of national numbers (`08...`).
    pub country_code: String,
    /// The outage notice every customer gets (`/api/send/notification`,
    /// `/api/send/by-odp`): `{nama}`, `{odp}`, `{judul}`, `{pesan}`, `{mulai}`,
    /// `{estimasi}` are filled in.
    pub template: String,
    /// Replaced by `[server] timezone`; still read from older configuration
    /// files (`+07:00`: a whole-hour zone, like `Etc/GMT-7`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utc_offset: Option<String>,
    /// Largest customer import (bulk JSON or CSV), in bytes.
    pub max_import_bytes: usize,
}

/// Outgoing webhooks (Standard Webhooks): endpoints come from the API; this
/// section adds one that hears every account (seed 003's `WEBHOOK_BASE_URL`)
/// and sets how deliveries are made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Empty: none. Else an endpoint that gets every event of every account.
    pub url: String,
    /// Its secret, `whsec_` and base64 (24+ bytes); empty: one is generated
    /// once into `data_dir/webhook_secret`.
    pub secret: Secret,
    /// How long a receiver has to answer.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// When attempts are made, counted from the event (each but the first with
    /// ±10 % jitter); after the last the delivery has failed. Standard
    /// Webhooks' schedule by default.
    #[serde(serialize_with = "ser_durations", deserialize_with = "de_durations")]
    pub schedule: Vec<Duration>,
    /// An endpoint whose every delivery has failed for this long is disabled.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub disable_after: Duration,
    /// Deliveries under way to one endpoint at once (a slow receiver stalls
    /// only its own).
    pub per_endpoint: usize,
    /// A rotated secret keeps signing, beside the new one, this long.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub rotation_grace: Duration,
    /// Address ranges (CIDR) a webhook URL may reach although they are not
    /// public, e.g. a billing system on the provider's LAN: `["10.20.0.0/16"]`.
    pub allow_ranges: Vec<String>,
    /// Events and deliveries older than this are forgotten.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub retention: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        let schedule = [0, 5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 86_400];
        Self {
            url: String::new(),
            secret: Secret::default(),
            timeout: Duration::from_secs(15),
            schedule: schedule.into_iter().map(Duration::from_secs).collect(),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            per_endpoint: 8,
            rotation_grace: Duration::from_secs(24 * 3600),
            allow_ranges: Vec::new(),
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// The notice template `[notify] template` has by default.
pub const DEFAULT_NOTICE_TEMPLATE: &str = "Yth. Bapak/Ibu {nama},\n\nKami informasikan ada gangguan jaringan di area {odp}.\n\n*{judul}*\n{pesan}\n\nMulai: {mulai}\nEstimasi selesai: {estimasi}\n\nMohon maaf atas ketidaknyamanannya. Terima kasih.";

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            default_session: String::new(),
            country_code: "62".into(),
            template: DEFAULT_NOTICE_TEMPLATE.into(),
            utc_offset: None,
            max_import_bytes: 16 * 1024 * 1024,
        }
    }
}

/// A time zone of the IANA database (`Asia/Jakarta`).
pub type Zone = chrono_tz::Tz;

/// The zone when none is configured: WIB.
pub const DEFAULT_ZONE: Zone = chrono_tz::Asia::Jakarta;

/// The zone `[server] timezone` names; or, left at its default, the
/// whole-hour zone of `notify.utc_offset` (older files).
fn zone_of(timezone: &str, utc_offset: Option<&str>) -> Result<Zone, String> {
    let default = timezone == DEFAULT_ZONE.name();
    match utc_offset {
        Some(_) if !default => Err("notify.utc_offset is replaced by server.timezone: set only server.timezone".into()),
        None => timezone.trim().parse::<Zone>().map_err(|_| {
            format!("server.timezone must be a time zone of the IANA database, like Asia/Jakarta (not {timezone:?})")
        }),
        Some(offset) => {
            let fixed = parse_offset(offset).ok_or("notify.utc_offset must look like +07:00")?;
            let seconds = fixed.local_minus_utc();
            if seconds % 3600 != 0 {
                return Err(
                    "notify.utc_offset is not whole hours: set server.timezone (e.g. Asia/Kolkata) instead".into()
                );
            }
            // The IANA database's signs are POSIX's: Etc/GMT-7 is UTC+7.
            let hours = seconds / 3600;
            let name = if hours == 0 { "Etc/UTC".to_owned() } else { format!("Etc/GMT{:+}", -hours) };
            name.parse::<Zone>().map_err(|_| format!("notify.utc_offset {offset} has no zone"))
        }
    }
}

impl Config {
    /// The one time zone times are shown and read in (checked at load time).
    pub fn zone(&self) -> Zone {
        zone_of(&self.server.timezone, self.notify.utc_offset.as_deref()).unwrap_or(DEFAULT_ZONE)
    }
}

/// `+07:00`, `-03:30`, `+00:00`.
pub fn parse_offset(text: &str) -> Option<chrono::FixedOffset> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Whether this binary was built to talk to a simulator (certificate check off).
pub const SIMULATOR_BUILD: bool = cfg!(feature = "insecure-simulator");

/// `whatsapp.server_url` is allowed only in a simulator build, and there only on
/// a loopback address, so a build that does not verify WhatsApp's certificate
/// can never be pointed at a host on the network.
pub fn check_server_url(url: &str, simulator_build: bool) -> Result<(), String> {
    if url.is_empty() {
        return Ok(());
    }
    if !simulator_build {
        return Err("whatsapp.server_url is only for a build with --features insecure-simulator; leave it empty".into());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("whatsapp.server_url is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "ws" | "wss") {
        return Err("whatsapp.server_url must be a ws:// or wss:// URL".into());
    }
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if !loopback {
        return Err("whatsapp.server_url must be a loopback address (127.0.0.0/8, [::1] or localhost)".into());
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP API listens on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Largest request body accepted by JSON endpoints, in bytes.
    pub max_body_bytes: usize,
    /// Reverse proxies (addresses or blocks, `10.0.0.0/8`) whose `X-Forwarded-For`
    /// names the client; from anyone else the header is ignored.
    pub trusted_proxies: Vec<String>,
    /// Web origins (`https://panel.example.net`) whose pages may call the API
    /// from a browser (CORS), e.g. a separately hosted front end; empty: none.
    pub cors_origins: Vec<String>,
    /// A request's head (request line and headers) must arrive within this
    /// time of its first byte, or the connection is closed.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub header_timeout: Duration,
    /// A kept-alive connection with no request under way is closed after this.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub idle_timeout: Duration,
    /// A request body may take this long; past it, it must have come at
    /// `body_min_rate` on average since it began, or the request ends in 408.
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub body_timeout: Duration,
    /// Bytes per second a request body must average once `body_timeout` is over.
    pub body_min_rate: u64,
    /// Open connections at most; more are answered 503 and closed.
    pub max_connections: usize,
    /// Open connections from one client address at most (trusted proxies are
    /// not counted: they speak for many clients).
    pub max_connections_per_address: usize,
    /// The time zone every time is shown in (the dashboard, `{waktu}`, notice
    /// times, exports, analytics' days) and local times are read in: a name
    /// of the IANA database; default `Asia/Jakarta` (WIB).
    pub timezone: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 5001)),
            max_body_bytes: 1024 * 1024,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            body_min_rate: 8 * 1024,
            max_connections: 4096,
            max_connections_per_address: 256,
            timezone: DEFAULT_ZONE.name().to_owned(),
        }
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after.
pub fn is_origin(text: &str) -> bool {
    let Ok(url) = url::Url::parse(text) else { return false };
    matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.origin().ascii_serialization() == text
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// SQLite database (when `database.url` is empty) and generated secrets.
    pub data_dir: PathBuf,
    /// The device store on SQLite (`devices.sqlite`); files of sessions
    /// linked by earlier versions (`<key>.db`) move into it at start.
    pub sessions_dir: PathBuf,
    /// The key that seals secrets kept in the database (webhook signing keys):
    /// the base64 of 32 random bytes. Empty: one is generated once and kept in
    /// `data_dir/secrets_key`.
    pub secrets_key: Secret,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { data_dir: "data".into(), sessions_dir: "sessions".into(), secrets_key: Secret::default() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Empty: SQLite file `wagate.db` in `storage.data_dir`. Otherwise a
    /// `sqlite://...` or `mysql://user:pass@host:port/db` URL.
    pub url: Secret,
    /// Upper bound of pooled connections.
    pub max_connections: u32,
    /// SQLite only: how commits reach the disk. `full` syncs every commit, so
    /// whatever was answered 2xx survives a power loss; `normal` (WAL) is
    /// faster, and a power loss may take the last commits with it.
    pub sqlite_synchronous: SqliteSync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    Full,
    Normal,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: Secret::default(), max_connections: 16, sqlite_synchronous: SqliteSync::Full }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Empty: a random secret is generated once and kept in `data_dir/jwt_secret`.
    pub jwt_secret: Secret,
    /// Lifetime of issued tokens and of dashboard logins: `30m`, `12h`, `7d`, ...
    #[serde(serialize_with = "ser_duration", deserialize_with = "de_duration")]
    pub jwt_expires_in: Duration,
    pub bcrypt_cost: u32,
    /// Let anyone register once a first user exists (the first user may always register).
    pub open_registration: bool,
    /// First run only: the admin created when the database has no user.
    pub admin_email: String,
    /// Empty: a password is generated and printed once.
    pub admin_password: Secret,
    /// Login attempts allowed per client address (IPv6: per /64) and account per minute; 0: no limit.
    pub login_attempts_per_minute: u32,
    /// Login attempts allowed per account per hour from all addresses together; 0: no limit.
    pub login_attempts_per_account_per_hour: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: Secret::default(),
            jwt_expires_in: Duration::from_secs(7 * 24 * 3600),
            bcrypt_cost: 10,
            open_registration: false,
            admin_email: String::new(),
            admin_password: Secret::default(),
            login_attempts_per_minute: 10,
            login_attempts_per_account_per_hour: 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A string that never shows itself in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(text.trim()).map_err(serde::de::Error::custom)
}

fn ser_durations<S: Serializer>(list: &[Duration], s: S) -> Result<S::Ok, S::Error> {
    let texts: Vec<String> = list.iter().map(|d| humantime::format_duration(*d).to_string()).collect();
    texts.serialize(s)
}

/// A list of durations: `["0s", "5s", "5m"]`, or one string `"0s, 5s, 5m"`
/// (so an environment variable can set it).
fn de_durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Durations {
        List(Vec<String>),
        Text(String),
    }
    let texts = match Durations::deserialize(d)? {
        Durations::List(list) => list,
        Durations::Text(text) => text.split(',').map(str::to_owned).collect(),
    };
    texts.iter().map(|t| humantime::parse_duration(t.trim()).map_err(serde::de::Error::custom)).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads the layered configuration. `path = None` reads `config.toml` in the
    /// working directory if there is one; an explicit path must exist.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match path {
            Some(p) if !p.exists() => return Err(ConfigError::Missing(p.to_owned())),
            Some(p) => p.to_owned(),
            None => PathBuf::from("config.toml"),
        };
        let mut config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&file))
            .merge(Env::prefixed("WAGATE__").split("__"))
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Ok(url) = std::env::var("DATABASE_URL")
            && !url.trim().is_empty()
        {
            config.database.url = Secret::new(url.trim());
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: &str| Err(ConfigError::Invalid(msg.to_owned()));
        if !(4..=31).contains(&self.auth.bcrypt_cost) {
            return invalid("auth.bcrypt_cost must be between 4 and 31");
        }
        if self.auth.jwt_expires_in < Duration::from_secs(60) {
            return invalid("auth.jwt_expires_in must be at least 1m");
        }
        if !self.auth.jwt_secret.is_empty() && self.auth.jwt_secret.expose().len() < 32 {
            return invalid("auth.jwt_secret must be at least 32 characters (or empty to generate one)");
        }
        let url = self.database.url.expose();
        let known = ["sqlite:", "mysql://", "mariadb://"].iter().any(|p| url.starts_with(p));
        if !url.is_empty() && !known {
            return invalid("database.url must be empty, sqlite:... or mysql://...");
        }
        check_server_url(&self.whatsapp.server_url, SIMULATOR_BUILD).map_err(ConfigError::Invalid)?;
        parse_version(&self.whatsapp.version).map_err(ConfigError::Invalid)?;
        if self.whatsapp.link_timeout < Duration::from_secs(5) {
            return invalid("whatsapp.link_timeout must be at least 5s");
        }
        if self.whatsapp.restore_per_second == 0 {
            return invalid("whatsapp.restore_per_second must be at least 1");
        }
        let limits = &self.limits;
        if limits.delay_min_ms > limits.delay_max_ms {
            return invalid("limits.delay_min_ms must not exceed limits.delay_max_ms");
        }
        if limits.max_attempts == 0 {
            return invalid("limits.max_attempts must be at least 1");
        }
        if limits.minute_window.is_zero() || limits.hour_window.is_zero() {
            return invalid("limits.minute_window and limits.hour_window must be longer than 0");
        }
        if limits.ack_timeout < Duration::from_millis(100) {
            return invalid("limits.ack_timeout must be at least 100ms");
        }
        let m = &self.media;
        if [m.max_image_bytes, m.max_document_bytes, m.max_video_bytes, m.max_audio_bytes, m.max_sticker_bytes]
            .contains(&0)
        {
            return invalid("media.max_*_bytes must each be more than 0");
        }
        if self.media.max_concurrent == 0 {
            return invalid("media.max_concurrent must be at least 1");
        }
        if !(1..=self.media.max_concurrent).contains(&self.media.max_concurrent_per_account) {
            return invalid("media.max_concurrent_per_account must be 1 to media.max_concurrent");
        }
        if self.media.fetch_timeout.is_zero() {
            return invalid("media.fetch_timeout must be longer than 0");
        }
        let cc = &self.notify.country_code;
        if cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit()) || cc.starts_with('0') {
            return invalid("notify.country_code must be 1-3 digits without a leading 0, e.g. 62");
        }
        if !self.notify.default_session.is_empty()
            && crate::validation::session_id(&self.notify.default_session).is_err()
        {
            return invalid("notify.default_session must be a session id (1-64 of A-Z a-z 0-9 _ -)");
        }
        if self.notify.template.trim().is_empty() {
            return invalid("notify.template must not be empty");
        }
        if let Err(e) = zone_of(&self.server.timezone, self.notify.utc_offset.as_deref()) {
            return invalid(&e);
        }
        if self.notify.max_import_bytes < 1024 {
            return invalid("notify.max_import_bytes must be at least 1024");
        }
        if self.calls.reply.chars().count() > MAX_CALL_REPLY {
            return invalid("calls.reply must be at most 4096 characters");
        }
        if self.calls.reply_interval < Duration::from_secs(60) {
            return invalid("calls.reply_interval must be at least 1m");
        }
        if self.server.max_body_bytes < 1024 {
            return invalid("server.max_body_bytes must be at least 1024");
        }
        let server = &self.server;
        if [server.header_timeout, server.idle_timeout, server.body_timeout].iter().any(|t| *t < Duration::from_secs(1))
        {
            return invalid("server.header_timeout, server.idle_timeout and server.body_timeout must be at least 1s");
        }
        if server.body_min_rate == 0 {
            return invalid("server.body_min_rate must be at least 1 (bytes per second)");
        }
        if !(1..=server.max_connections).contains(&server.max_connections_per_address) {
            return invalid("server.max_connections_per_address must be 1 to server.max_connections");
        }
        for proxy in &self.server.trusted_proxies {
            crate::net::Cidr::parse(proxy).map_err(|e| ConfigError::Invalid(format!("server.trusted_proxies: {e}")))?;
        }
        for origin in &self.server.cors_origins {
            if !is_origin(origin) {
                return invalid(&format!(
                    "server.cors_origins: {origin:?} is not an origin like \"https://panel.example.net\" (no path, no slash at the end)"
                ));
            }
        }
        self.webhook.validate()
    }
}

impl WebhookConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        if !self.url.is_empty() {
            match url::Url::parse(&self.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => return invalid("webhook.url must be empty or an http(s) URL".into()),
            }
        }
        if !self.secret.is_empty() && crate::sign::Key::parse(self.secret.expose()).is_err() {
            return invalid("webhook.secret must be whsec_ and the base64 of 24 to 64 random bytes".into());
        }
        if self.schedule.is_empty() || self.schedule.len() > 30 {
            return invalid("webhook.schedule must list 1 to 30 times".into());
        }
        if self.timeout < Duration::from_secs(1) {
            return invalid("webhook.timeout must be at least 1s".into());
        }
        if self.per_endpoint == 0 {
            return invalid("webhook.per_endpoint must be at least 1".into());
        }
        for range in &self.allow_ranges {
            if let Err(e) = crate::net::Cidr::parse(range) {
                return invalid(format!("webhook.allow_ranges: {e}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use figment::value::{Dict, Value};

    use super::*;

    fn keys(dict: &Dict, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in dict {
            let path = format!("{prefix}{k}");
            match v {
                Value::Dict(_, inner) => keys(inner, &format!("{path}."), out),
                _ => out.push(path),
            }
        }
    }

    /// The repository's `config.toml` names every setting, each with its default.
    #[test]
    fn repository_config_lists_every_setting_with_its_default() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml");
        let from_file: Config = Figment::from(Toml::file(path)).extract().expect("config.toml parses");
        assert_eq!(from_file, Config::default());
        let (mut listed, mut known) = (Vec::new(), Vec::new());
        keys(&Figment::from(Toml::file(path)).extract::<Dict>().unwrap(), "", &mut listed);
        keys(&Figment::from(Serialized::defaults(Config::default())).extract::<Dict>().unwrap(), "", &mut known);
        listed.sort();
        known.sort();
        assert_eq!(listed, known);
    }

    #[test]
    fn one_time_zone_by_name_or_from_an_older_offset() {
        assert_eq!(zone_of("Asia/Jakarta", None), Ok(chrono_tz::Asia::Jakarta));
        assert_eq!(zone_of("Asia/Makassar", None), Ok(chrono_tz::Asia::Makassar));
        assert!(zone_of("WIB", None).is_err());
        // An older file's offset, the zone left at its default.
        assert_eq!(zone_of("Asia/Jakarta", Some("+09:00")), Ok(chrono_tz::Etc::GMTMinus9));
        assert_eq!(zone_of("Asia/Jakarta", Some("-03:00")), Ok(chrono_tz::Etc::GMTPlus3));
        assert_eq!(zone_of("Asia/Jakarta", Some("+00:00")), Ok(chrono_tz::Etc::UTC));
        assert!(zone_of("Asia/Jakarta", Some("+05:30")).is_err(), "not whole hours");
        assert!(zone_of("Asia/Makassar", Some("+08:00")).is_err(), "both");
        let mut config = Config::default();
        config.server.timezone = "Mars/Olympus".into();
        assert!(config.validate().is_err());
    }

    #[test]
    fn secrets_hide_in_debug_output() {
        let mut config = Config::default();
        config.auth.jwt_secret = Secret::new("a-very-secret-value-of-some-length");
        config.database.url = Secret::new("mysql://root:hunter2@db/wagate");
        let shown = format!("{config:?}");
        assert!(!shown.contains("a-very-secret") && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn server_url_only_in_a_simulator_build_and_only_on_loopback() {
        assert!(check_server_url("", false).is_ok());
        assert!(check_server_url("", true).is_ok());
        assert!(
            check_server_url("ws://127.0.0.1:7080/ws/chat", false).is_err(),
            "a default build refuses any server_url"
        );
        for ok in
            ["ws://127.0.0.1:7080/ws/chat", "ws://127.5.6.7:1/ws/chat", "ws://[::1]:7080/ws/chat", "ws://localhost:9/x"]
        {
            assert!(check_server_url(ok, true).is_ok(), "{ok}");
        }
        for bad in [
            "wss://web.whatsapp.com/ws/chat",
            "ws://10.0.0.5:7080/ws/chat",
            "ws://192.168.1.10/ws/chat",
            "ws://0.0.0.0:7080/ws/chat",
            "ws://localhost.evil.example/ws/chat",
            "http://127.0.0.1:7080/",
            "not a url",
        ] {
            assert!(check_server_url(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn cors_origins_are_bare_origins() {
        for good in ["https://panel.example.net", "http://10.0.0.5:3000", "https://[::1]:8443"] {
            assert!(is_origin(good), "{good}");
        }
        for bad in
            ["https://panel.example.net/", "https://a.example/app", "ftp://a.example", "*", "https://u@a.example"]
        {
            assert!(!is_origin(bad), "{bad}");
        }
        let mut config = Config::default();
        config.server.cors_origins = vec!["https://panel.example.net/".into()];
        assert!(config.validate().is_err());
    }

    #[test]
    fn invalid_values_are_refused() {
        let mut config = Config::default();
        config.auth.bcrypt_cost = 3;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.auth.jwt_secret = Secret::new("short");
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.database.url = Secret::new("postgres://x");
        assert!(config.validate().is_err());
        for bad in [
            |c: &mut Config| c.webhook.url = "ftp://billing.example/hook".into(),
            |c: &mut Config| c.webhook.secret = Secret::new("not-whsec"),
            |c: &mut Config| c.webhook.schedule = Vec::new(),
            |c: &mut Config| c.webhook.per_endpoint = 0,
            |c: &mut Config| c.webhook.allow_ranges = vec!["10.0.0.0/33".into()],
        ] {
            let mut config = Config::default();
            bad(&mut config);
            assert!(config.validate().is_err(), "{:?}", config.webhook);
        }
    }

    #[test]
    fn a_schedule_is_a_list_or_one_string() {
        let toml = "[webhook]\nschedule = \"0s, 1s, 2m\"";
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(toml))
            .extract()
            .expect("a schedule in one string");
        let expected = [0, 1, 120].map(Duration::from_secs);
        assert_eq!(config.webhook.schedule, expected);
    }
}
