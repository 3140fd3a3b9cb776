//! Authentication and authorisation: passwords, JWTs, API keys, accounts, the
//! [`Principal`] and the role table.

pub mod accounts;
pub mod api_keys;
pub mod jwt;
pub mod password;
pub mod principal;
pub mod roles;
pub mod throttle;
pub mod web_login;

use crate::model::Role;
pub use jwt::JwtKeys;
pub use password::Passwords;
pub use principal::{AuthMethod, Principal};
pub use roles::{Access, Area};
pub use throttle::LoginThrottle;
