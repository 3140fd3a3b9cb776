//! An account's role (what each may do is `auth`'s table, `Role::can`).

use sea_orm::{DeriveActiveEnum, EnumIter, sea_query::StringLen};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Stored as its name in `users.role`: a value this type does not know makes
/// reading the row an error, never a guessed role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    /// Everything, including user management.
    #[sea_orm(string_value = "admin")]
    Admin,
    /// Own sessions, sending, broadcasts, own API keys.
    #[sea_orm(string_value = "user")]
    User,
    /// The inbox: chats assigned to them.
    #[sea_orm(string_value = "agent")]
    Agent,
    /// Reads what a user may read; never changes anything.
    #[sea_orm(string_value = "readonly")]
    Readonly,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::User, Role::Agent, Role::Readonly];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Agent => "agent",
            Role::Readonly => "readonly",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

/// A language the dashboard speaks; stored as its code in `users.language`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
pub enum Language {
    /// English.
    #[sea_orm(string_value = "en")]
    En,
    /// Bahasa Indonesia.
    #[sea_orm(string_value = "id")]
    Id,
}

impl Language {
    /// The language an `Accept-Language` header prefers among ours (by its
    /// weights; `in` is Indonesian's older code); English when it names neither.
    pub fn from_accept(header: Option<&str>) -> Language {
        let mut best: Option<(f32, Language)> = None;
        for part in header.unwrap_or_default().split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.trim().parse::<f32>().ok()))
                .unwrap_or(1.0);
            let language = match tag.split('-').next().unwrap_or_default() {
                "id" | "in" => Language::Id,
                "en" => Language::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, language));
            }
        }
        best.map_or(Language::En, |(_, l)| l)
    }
}

#[cfg(test)]
mod tests {
    use super::Language;

    #[test]
    fn the_browser_s_preferred_language() {
        assert_eq!(Language::from_accept(None), Language::En);
        assert_eq!(Language::from_accept(Some("id-ID,id;q=0.9,en-US;q=0.8,en;q=0.7")), Language::Id);
        assert_eq!(Language::from_accept(Some("en-US,en;q=0.9,id;q=0.8")), Language::En);
        assert_eq!(Language::from_accept(Some("fr-FR, id;q=0.5, en;q=0.4")), Language::Id);
        assert_eq!(Language::from_accept(Some("en;q=0.2, in;q=0.3")), Language::Id);
        assert_eq!(Language::from_accept(Some("id;q=0, de")), Language::En);
        assert_eq!(Language::from_accept(Some("ja")), Language::En);
    }
}
