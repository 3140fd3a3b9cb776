//! sea-orm entities, one module per table.

pub mod api_keys;
pub mod bot_configs;
pub mod broadcast_recipients;
pub mod broadcasts;
pub mod canned_replies;
pub mod chat_entries;
pub mod chat_labels;
pub mod chats;
pub mod conversations;
pub mod customers;
pub mod due_messages;
pub mod inbound_messages;
pub mod inbox_settings;
pub mod labels;
pub mod message_events;
pub mod messages;
pub mod notices;
pub mod odps;
pub mod sessions;
pub mod users;
pub mod web_logins;
pub mod webhook_deliveries;
pub mod webhook_events;
pub mod webhooks;
