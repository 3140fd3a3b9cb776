//! sea-orm entities, one module per table.

pub mod api_keys;
pub mod sessions;
pub mod users;
