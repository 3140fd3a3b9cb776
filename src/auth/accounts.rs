//! User accounts: creation (HTTP, CLI and the first-run admin), lookup for login,
//! updates and deletion. Emails and usernames are stored lower-case and unique;
//! the last admin can be neither demoted nor deleted.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::ToSchema;

use super::{Passwords, Role};
use crate::{
    config::AuthConfig,
    db::{self, entities::users},
    validation,
};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{field} is already taken")]
    Taken { field: &'static str },
    #[error("user not found")]
    NotFound,
    #[error("the last admin cannot be removed or demoted")]
    LastAdmin,
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A new account's details (`POST /auth/register`, and within `POST /user/create`).
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
pub struct NewUser {
    #[validate(custom = validation::email)]
    #[schema(example = "admin@example.com")]
    pub email: String,
    /// 6–72 bytes.
    #[validate(custom = validation::password)]
    #[schema(example = "password123")]
    pub password: String,
    #[validate(custom = validation::display_name)]
    #[schema(example = "Admin User")]
    pub name: String,
    /// Optional second login identifier: 3–64 of letters, digits, `.`, `_`, `-`.
    #[validate(custom = validation::username)]
    #[serde(default)]
    pub username: Option<String>,
}

/// Fields to change; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
pub struct UserUpdate {
    #[validate(custom = validation::optional_email)]
    #[serde(default)]
    pub email: Option<String>,
    #[validate(custom = validation::optional_password)]
    #[serde(default)]
    pub password: Option<String>,
    #[validate(custom = validation::optional_display_name)]
    #[serde(default)]
    pub name: Option<String>,
    #[validate(custom = validation::username)]
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub username: Option<String>,
    pub name: String,
    pub role: Role,
    /// Says they are there to answer chats (`PUT /auth/me/availability`);
    /// auto-assignment gives chats only to available agents.
    pub available: bool,
    /// The dashboard's language they chose (`PUT /auth/me/language`); `null`:
    /// their browser's.
    pub language: Option<crate::model::Language>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&users::Model> for UserView {
    fn from(m: &users::Model) -> Self {
        Self {
            id: m.id,
            email: m.email.clone(),
            username: m.username.clone(),
            name: m.name.clone(),
            role: role_of(m),
            available: m.available,
            language: m.language,
            created_at: m.created_at.and_utc(),
            updated_at: m.updated_at.and_utc(),
        }
    }
}

/// The stored role (a row with a role this build does not know cannot be read at all).
pub fn role_of(user: &users::Model) -> Role {
    user.role
}

/// An email or username as stored and compared: compatibility forms folded
/// (NFKC: `ａdmin` is `admin`), lowercased, so look-alikes collide.
fn normalise(value: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let lower = value.trim().nfkc().collect::<String>().to_lowercase();
    lower.nfkc().collect()
}

async fn ensure_free(
    db: &DatabaseConnection,
    email: Option<&str>,
    username: Option<&str>,
    except: Option<i64>,
) -> Result<(), AccountError> {
    let others = |cond: Condition| {
        let q = users::Entity::find().filter(cond);
        match except {
            Some(id) => q.filter(users::Column::Id.ne(id)),
            None => q,
        }
    };
    if let Some(email) = email
        && others(Condition::all().add(users::Column::Email.eq(email))).count(db).await? > 0
    {
        return Err(AccountError::Taken { field: "email" });
    }
    if let Some(username) = username
        && others(Condition::all().add(users::Column::Username.eq(username))).count(db).await? > 0
    {
        return Err(AccountError::Taken { field: "username" });
    }
    Ok(())
}

pub async fn count(db: &DatabaseConnection) -> Result<u64, AccountError> {
    Ok(users::Entity::find().count(db).await?)
}

pub async fn create(
    db: &DatabaseConnection,
    passwords: &Passwords,
    new: NewUser,
    role: Role,
) -> Result<users::Model, AccountError> {
    let email = normalise(&new.email);
    let username = new.username.as_deref().map(normalise);
    ensure_free(db, Some(&email), username.as_deref(), None).await?;
    let now = db::now();
    let model = users::ActiveModel {
        email: Set(email),
        username: Set(username),
        name: Set(new.name.trim().to_owned()),
        password_hash: Set(passwords.hash(&new.password).await?),
        role: Set(role),
        token_version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    model.insert(db).await.map_err(unique_to_taken)
}

/// A concurrent insert can still win the race past [`ensure_free`].
fn unique_to_taken(err: sea_orm::DbErr) -> AccountError {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(msg)) => {
            AccountError::Taken { field: if msg.contains("username") { "username" } else { "email" } }
        }
        _ => AccountError::Db(err),
    }
}

/// By email when the identifier holds an `@`, else by username.
pub async fn find_by_identifier(
    db: &DatabaseConnection,
    identifier: &str,
) -> Result<Option<users::Model>, AccountError> {
    let identifier = normalise(identifier);
    let column = if identifier.contains('@') { users::Column::Email } else { users::Column::Username };
    Ok(users::Entity::find().filter(column.eq(identifier)).one(db).await?)
}

pub async fn find(db: &DatabaseConnection, id: i64) -> Result<users::Model, AccountError> {
    users::Entity::find_by_id(id).one(db).await?.ok_or(AccountError::NotFound)
}

/// The person is available to answer chats, or away.
pub async fn set_available(db: &DatabaseConnection, id: i64, available: bool) -> Result<users::Model, AccountError> {
    let user = find(db, id).await?;
    let mut row: users::ActiveModel = user.into();
    row.available = Set(available);
    row.updated_at = Set(db::now());
    Ok(row.update(db).await?)
}

pub async fn set_language(
    db: &DatabaseConnection,
    id: i64,
    language: Option<crate::model::Language>,
) -> Result<users::Model, AccountError> {
    let user = find(db, id).await?;
    let mut row: users::ActiveModel = user.into();
    row.language = Set(language);
    row.updated_at = Set(db::now());
    Ok(row.update(db).await?)
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<users::Model>, AccountError> {
    Ok(users::Entity::find().order_by_asc(users::Column::Id).all(db).await?)
}

async fn is_last_admin(db: &DatabaseConnection, user: &users::Model) -> Result<bool, AccountError> {
    if role_of(user) != Role::Admin {
        return Ok(false);
    }
    let admins = users::Entity::find().filter(users::Column::Role.eq(Role::Admin.as_str())).count(db).await?;
    Ok(admins <= 1)
}

pub async fn update(
    db: &DatabaseConnection,
    passwords: &Passwords,
    id: i64,
    change: UserUpdate,
) -> Result<users::Model, AccountError> {
    let user = find(db, id).await?;
    let email = change.email.as_deref().map(normalise);
    let username = change.username.as_deref().map(normalise);
    ensure_free(db, email.as_deref(), username.as_deref(), Some(id)).await?;
    if change.role.is_some_and(|r| r != Role::Admin) && is_last_admin(db, &user).await? {
        return Err(AccountError::LastAdmin);
    }
    let version = user.token_version;
    let mut model: users::ActiveModel = user.into();
    if let Some(email) = email {
        model.email = Set(email);
    }
    if let Some(username) = username {
        model.username = Set(Some(username));
    }
    if let Some(name) = change.name {
        model.name = Set(name.trim().to_owned());
    }
    if let Some(password) = change.password {
        model.password_hash = Set(passwords.hash(&password).await?);
        // Every token issued with the old password stops working.
        model.token_version = Set(version + 1);
    }
    if let Some(role) = change.role {
        model.role = Set(role);
    }
    model.updated_at = Set(db::now());
    model.update(db).await.map_err(unique_to_taken)
}

/// Deletes the user and, by cascade, its API keys.
pub async fn delete(db: &DatabaseConnection, id: i64) -> Result<(), AccountError> {
    let user = find(db, id).await?;
    if is_last_admin(db, &user).await? {
        return Err(AccountError::LastAdmin);
    }
    users::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// How the first admin logs in, for `serve` to print.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub email: String,
    pub username: String,
    /// Where the generated password was written (readable by the owner only);
    /// `None` when it came from config. The password itself is never logged.
    pub password_file: Option<std::path::PathBuf>,
}

/// The file in `data_dir` that holds a generated first admin's password.
pub const PASSWORD_FILE: &str = "first-admin-password";

pub const DEFAULT_ADMIN_EMAIL: &str = "admin@wagate.local";

/// On an empty database, creates the admin named by `auth.admin_email` /
/// `auth.admin_password`, generating the password when none is configured.
/// A generated password goes to [`PASSWORD_FILE`] in `data_dir`, mode 0600.
pub async fn bootstrap_first_admin(
    db: &DatabaseConnection,
    passwords: &Passwords,
    auth: &AuthConfig,
    data_dir: &std::path::Path,
) -> anyhow::Result<Option<FirstAdmin>> {
    if count(db).await? > 0 {
        return Ok(None);
    }
    let email = if auth.admin_email.trim().is_empty() { DEFAULT_ADMIN_EMAIL } else { auth.admin_email.trim() };
    let generated_password = auth.admin_password.is_empty().then(|| super::api_keys::random_alphanumeric(20));
    let password = generated_password.clone().unwrap_or_else(|| auth.admin_password.expose().to_owned());
    let new =
        NewUser { email: email.to_owned(), password, name: "Administrator".into(), username: Some("admin".into()) };
    if let Err((field, message)) = validation::check(&new) {
        anyhow::bail!("auth.admin_{field} {message}");
    }
    // Written before the account exists: a crash in between leaves no admin whose password nobody knows.
    let password_file = match &generated_password {
        Some(password) => Some(write_secret_file(&data_dir.join(PASSWORD_FILE), password)?),
        None => None,
    };
    let user =
        create(db, passwords, new, Role::Admin).await.map_err(|e| anyhow::anyhow!("creating the first admin: {e}"))?;
    match &password_file {
        Some(path) => tracing::info!(email = %user.email, password_file = %path.display(), "created the first admin"),
        None => tracing::info!(email = %user.email, "created the first admin with auth.admin_password"),
    }
    Ok(Some(FirstAdmin { email: user.email, username: "admin".into(), password_file }))
}

/// Writes `secret` to `path`, replacing any earlier file, readable by the owner only.
fn write_secret_file(path: &std::path::Path, secret: &str) -> anyhow::Result<std::path::PathBuf> {
    use std::io::Write;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))?;
    file.write_all(format!("{secret}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(path.to_owned())
}
