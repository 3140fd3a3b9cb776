//! sea-orm entities, one module per table.

pub mod api_keys;
pub mod message_events;
pub mod messages;
pub mod outbox;
pub mod sessions;
pub mod users;
