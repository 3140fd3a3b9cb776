//! The database schema of wagate, as ordered sea-orm migrations.
//!
//! Every migration is written with sea-query builders so the same code produces the
//! same schema on SQLite and on MySQL/MariaDB; CI runs the test suite on both.
//! Migrations run at start-up (`wagate serve`) and on `wagate migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_users_and_api_keys;
mod m20261124_000002_sessions;
mod m20261125_000003_messages;
mod m20261126_000004_notify;
mod m20261202_000005_inbox;
mod m20261203_000006_hardening;
mod m20261204_000007_webhooks;
mod m20261205_000008_bot;
mod m20261206_000009_web_logins;
mod m20261207_000010_due_messages;
mod m20261208_000011_rich_messages;
mod m20261209_000012_calls;
mod m20261210_000013_groups;
mod m20261211_000014_notes;
mod m20261212_000015_canned_replies;
mod m20261213_000016_labels;
mod m20261214_000017_search;
mod m20261215_000018_search_words;
mod m20261216_000019_assignment;
mod m20261217_000020_csat;
mod m20261218_000021_conversations;
mod m20261219_000022_language;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_users_and_api_keys::Migration),
            Box::new(m20261124_000002_sessions::Migration),
            Box::new(m20261125_000003_messages::Migration),
            Box::new(m20261126_000004_notify::Migration),
            Box::new(m20261202_000005_inbox::Migration),
            Box::new(m20261203_000006_hardening::Migration),
            Box::new(m20261204_000007_webhooks::Migration),
            Box::new(m20261205_000008_bot::Migration),
            Box::new(m20261206_000009_web_logins::Migration),
            Box::new(m20261207_000010_due_messages::Migration),
            Box::new(m20261208_000011_rich_messages::Migration),
            Box::new(m20261209_000012_calls::Migration),
            Box::new(m20261210_000013_groups::Migration),
            Box::new(m20261211_000014_notes::Migration),
            Box::new(m20261212_000015_canned_replies::Migration),
            Box::new(m20261213_000016_labels::Migration),
            Box::new(m20261214_000017_search::Migration),
            Box::new(m20261215_000018_search_words::Migration),
            Box::new(m20261216_000019_assignment::Migration),
            Box::new(m20261217_000020_csat::Migration),
            Box::new(m20261218_000021_conversations::Migration),
            Box::new(m20261219_000022_language::Migration),
        ]
    }
}
