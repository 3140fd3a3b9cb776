//! wagate: a self-hosted WhatsApp Web gateway.
//!
//! [`App::build`] connects the database, runs migrations, prepares secrets and the
//! first admin, binds the listener and returns an [`App`] whose `run` future serves
//! until shutdown. `main` only parses the command line and calls it; tests build
//! apps on port 0.
//!
//! Imports go down, in the order `src/layers.rs` lists (leaves such as `model`
//! and `net`, then `db`, `engine`, the domains, `bot`, `http`) and its test
//! keeps; an upward need is a port owned below and wired here.

pub mod auth;
pub mod bot;
pub mod config;
pub mod db;
#[cfg(feature = "insecure-simulator")]
pub mod demo;
pub mod engine;
pub mod error;
pub mod events;
pub mod files;
pub mod http;
pub mod inbox;
pub mod metrics;
pub mod model;
pub mod net;
pub mod notify;
pub mod queue;
pub mod sealed;
pub mod sessions;
pub mod sign;

pub mod telemetry;
pub mod validation;
pub mod webhooks;

#[cfg(test)]
mod layers;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use anyhow::Context;
use tokio::net::TcpListener;

pub use auth::accounts::FirstAdmin;
pub use config::Config;
use http::state::{AppState, Inner};

/// How long a stop waits for the stopped sessions' dispatchers to end.
const DISPATCHERS_END: Duration = Duration::from_secs(5);
/// How long a graceful stop waits for acks and receipts to be written.
const STATUS_FLUSH: Duration = Duration::from_secs(10);

pub struct App {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    /// Set when this start created the first admin.
    pub first_admin: Option<FirstAdmin>,
    /// This process's claim on the database, held until [`App::run`] returns.
    owner: db::owner::Ownership,
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        files::private_dir(&config.storage.data_dir)
            .with_context(|| format!("creating data dir {}", config.storage.data_dir.display()))?;
        // Before anything touches the database: a second gateway stops here.
        let owner = db::owner::claim(&config).await?;
        let db = db::connect(&config).await?;
        db::migrate(&db).await?;

        let secret = auth::jwt::load_or_create_secret(config.auth.jwt_secret.expose(), &config.storage.data_dir)?;
        let metrics = metrics::Metrics::default();
        let passwords = auth::Passwords::counted(config.auth.bcrypt_cost, metrics.password_verifications());
        passwords.decoy().await?;
        let first_admin =
            auth::accounts::bootstrap_first_admin(&db, &passwords, &config.auth, &config.storage.data_dir).await?;

        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        let config = Arc::new(config);
        // WhatsApp's media hosts are public: the engine reaches nothing else.
        let guard = net::GuardedResolver { policy: Arc::new(net::AddressPolicy::default()) };
        let engine = engine::Engine::new(&config, &db, Arc::new(guard)).await?;
        let events = events::Events::default();
        let webhook_secret = match config.webhook.secret.expose() {
            "" => files::kept_secret(
                &config.storage.data_dir.join("webhook_secret"),
                "webhook secret",
                sign::Key::generate,
            )?,
            configured => configured.to_owned(),
        };
        let webhook_key =
            sign::Key::parse(&webhook_secret).map_err(|e| anyhow::anyhow!("data_dir/webhook_secret: {e}"))?;
        let sealer = sealed::Sealer::load_or_create(config.storage.secrets_key.expose(), &config.storage.data_dir)?;
        // The floor every write goes through, with the events it records for
        // webhooks and publishes live.
        let first_delay = config.webhook.schedule.first().map_or(0, |d| d.as_millis() as i64);
        let recorder = db::record::Recorder::open(&db, first_delay).await?;
        let writer = db::write::Writer::new(db.clone(), recorder, events.clone());
        let webhooks =
            webhooks::Webhooks::new(writer.clone(), config.clone(), metrics.webhooks(), &webhook_key, sealer).await?;
        // The ports: the queue writes timelines through the inbox's, the inbox
        // asks the bot for its answers.
        let timeline = Arc::new(inbox::QueuedInChats::new(&config.storage.data_dir));
        let queue = queue::Queue::new(writer.clone(), config.clone(), timeline).await?;
        let bot = bot::Bot::new(writer.clone(), config.clone());
        let answerer = Arc::new(bot.clone());
        let inbox = inbox::Inbox::new(writer.clone(), config.clone(), queue.clone(), answerer, &metrics)?;
        tokio::spawn(inbox.clone().run_media());
        let sessions = sessions::Sessions::new(writer.clone(), engine, queue.clone(), inbox.clone(), config.clone());
        let restored = sessions.restore().await.context("restoring sessions")?;
        if restored > 0 {
            tracing::info!(sessions = restored, "reconnecting linked sessions");
        }
        tokio::spawn(notify::publish_progress(writer.clone(), queue.clone()));
        webhooks.start();
        let media = queue::media::Fetcher::new(&config.media)?;
        let write_lock = db::sqlite_file(&db::url(&config)).map(|file| db::sqlite_lock::WriteLock::new(&file));
        let db_health = db::health::DbHealth::watch(db.clone(), write_lock);
        let media_slots =
            http::slots::MediaSlots::new(config.media.max_concurrent, config.media.max_concurrent_per_account);
        let state = AppState::new(Inner {
            jwt: auth::JwtKeys::new(&secret, config.auth.jwt_expires_in),
            logins: auth::LoginThrottle::new(
                config.auth.login_attempts_per_minute,
                config.auth.login_attempts_per_account_per_hour,
            ),
            config,
            db,
            writer,
            sessions,
            queue,
            inbox,
            bot,
            webhooks,
            media,
            media_slots,
            db_health,
            passwords,
            credentials: Default::default(),
            metrics,
            started_at: Instant::now(),
            openapi: OnceLock::new(),
            docs: OnceLock::new(),
        });
        let router = http::router(state.clone());
        Ok(App { listener, router, state, first_admin, owner })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let App { listener, router, state, owner, .. } = self;
        tracing::info!(address = %listener.local_addr()?, "wagate listening");
        let events = state.sessions.events().clone();
        let shutdown = async move {
            shutdown.await;
            // Open event streams would otherwise hold the graceful shutdown forever.
            events.close();
        };
        let limits = http::serve::Limits::of(&state.config.server);
        http::serve::serve(listener, router, limits, shutdown).await.context("serving HTTP")?;
        // No request is left to answer 503: the watcher's pings would only
        // compete with the sessions stopping (at 10,000, long enough to miss
        // its second and log that the database does not answer).
        state.db_health.stop();
        state.sessions.shutdown().await;
        let running = state.queue.dispatchers_ended(DISPATCHERS_END).await;
        if running > 0 {
            tracing::warn!(dispatchers = running, "stopping with session dispatchers still running");
        }
        // The devices are offline: what they heard last is written before the
        // database closes, or those messages would be sent again at start.
        let unwritten = state.queue.flush_statuses(STATUS_FLUSH).await;
        if unwritten > 0 {
            tracing::warn!(
                messages = unwritten,
                "stopping with acks or receipts unwritten: those messages go again (same id)"
            );
        }
        state.db.clone().close().await.context("closing the database")?;
        drop(owner);
        tracing::info!("wagate stopped");
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
