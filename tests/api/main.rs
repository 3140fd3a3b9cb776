//! Black-box tests of the gateway over HTTP (and of the `wagate` binary), each on
//! SQLite and on MariaDB. One test binary keeps link time down.

mod helpers;

mod access;
mod api_keys;
mod auth;
mod bad_input;
mod bot;
mod browser;
mod calls;
mod cli;
mod contacts;
mod device_store;
mod groups;
mod hardening;
mod health;
mod inbox;
mod kinds;
mod messages;
mod notify;
mod outage;
mod server;
mod sessions;
mod users;
mod webhooks;
