//! Session rows: who may see which, and the queries the manager needs.

use chrono::NaiveDateTime;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};

use super::{SessionError, SessionStatus};
use crate::{
    db::{self, entities::sessions as rows},
    model::SessionKey,
};

/// Which sessions a caller may see and act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `None`: every user's (admins).
    pub owner: Option<i64>,
    /// `None`: all of the owner's; an API key may be limited to some (by name:
    /// such a key's scope always has its owner).
    pub sessions: Option<Vec<String>>,
    /// The caller's own account, where names are looked up first.
    pub account: Option<i64>,
}

impl Scope {
    pub const ALL: Scope = Scope { owner: None, sessions: None, account: None };

    /// Whether every account's sessions are in scope (an admin's, unlimited).
    pub fn is_everyone(&self) -> bool {
        self.owner.is_none() && self.sessions.is_none()
    }

    pub fn admits(&self, row: &rows::Model) -> bool {
        self.admits_session(row.user_id, &row.id)
    }

    /// Whether the session with key `key` owned by `owner` is in scope.
    pub fn admits_session(&self, owner: i64, key: &SessionKey) -> bool {
        self.owner.is_none_or(|o| o == owner) && self.admits_name(key.name())
    }

    /// Whether a new session with this name would be in scope.
    pub fn admits_name(&self, name: &str) -> bool {
        self.sessions.as_ref().is_none_or(|names| names.iter().any(|s| s == name))
    }

    fn condition(&self) -> Condition {
        self.condition_with_deleted().add(rows::Column::DeletedAt.is_null())
    }

    /// Like the scope's condition, deleted sessions included.
    fn condition_with_deleted(&self) -> Condition {
        let mut condition = Condition::all();
        if let Some(owner) = self.owner {
            condition = condition.add(rows::Column::UserId.eq(owner));
        }
        if let Some(names) = &self.sessions {
            condition = condition.add(rows::Column::Name.is_in(names.clone()));
        }
        condition
    }
}

/// Whether the session holds a linked device (its store logs in rather than links).
pub fn linked(row: &rows::Model) -> bool {
    row.phone_number.is_some() && row.status.holds_device()
}

/// A new session row named `name` for `owner`; a deleted session of the
/// owner's with that name is brought back (its old messages stay the owner's
/// either way). Its key is the name, unless another account has or had a
/// session under that key: then the name, `~` and a random suffix, so no
/// account can take or probe another's names.
pub async fn insert(db: &DatabaseConnection, name: &str, owner: i64) -> Result<rows::Model, SessionError> {
    let row = |key: SessionKey| rows::ActiveModel {
        id: Set(key),
        user_id: Set(owner),
        name: Set(name.to_owned()),
        phone_number: Set(None),
        status: Set(SessionStatus::Connecting),
        reason: Set(None),
        banned_until: Set(None),
        last_connected_at: Set(None),
        limits: Set(None),
        calls: Set(None),
        created_at: Set(db::now()),
        updated_at: Set(db::now()),
        deleted_at: Set(None),
    };
    if let Some(old) = named(db, owner, name).await? {
        if old.deleted_at.is_none() {
            return Err(SessionError::Exists);
        }
        let revived = rows::Entity::update(row(old.id)).validate()?.filter(rows::Column::DeletedAt.is_not_null());
        return match revived.exec(db).await {
            Ok(row) => Ok(row),
            Err(DbErr::RecordNotUpdated) => Err(SessionError::Exists),
            Err(e) => Err(e.into()),
        };
    }
    let mut key = SessionKey::named(name);
    for _ in 0..8 {
        match row(key.clone()).insert(db).await {
            Ok(row) => return Ok(row),
            Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
                // The owner made it at the same moment, or the key is another account's.
                if named(db, owner, name).await?.is_some() {
                    return Err(SessionError::Exists);
                }
                key = SessionKey::suffixed(name, &random_suffix());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(SessionError::Other(anyhow::anyhow!("no free key for session {name}")))
}

fn random_suffix() -> String {
    use rand::Rng;
    let bytes: [u8; 5] = rand::rng().random();
    hex::encode(bytes)
}

/// `owner`'s session named `name`, deleted or not.
async fn named(db: &DatabaseConnection, owner: i64, name: &str) -> Result<Option<rows::Model>, DbErr> {
    rows::Entity::find().filter(rows::Column::UserId.eq(owner)).filter(rows::Column::Name.eq(name)).one(db).await
}

/// The sessions named `name` that `scope`'s owner (every owner's for admins)
/// has, deleted ones only `with_deleted`.
pub async fn find_named(
    db: &DatabaseConnection,
    scope: &Scope,
    name: &str,
    with_deleted: bool,
) -> Result<Vec<rows::Model>, DbErr> {
    let condition = if with_deleted { scope.condition_with_deleted() } else { scope.condition() };
    rows::Entity::find().filter(condition).filter(rows::Column::Name.eq(name)).all(db).await
}

/// The session with key `key`, unless it was deleted.
pub async fn find(db: &DatabaseConnection, key: &SessionKey) -> Result<Option<rows::Model>, DbErr> {
    rows::Entity::find_by_id(key.clone()).filter(rows::Column::DeletedAt.is_null()).one(db).await
}

/// The owner of session `key`, deleted or not: its messages stay theirs.
pub async fn owner_of(db: &DatabaseConnection, key: &SessionKey) -> Result<Option<i64>, DbErr> {
    rows::Entity::find_by_id(key.clone()).select_only().column(rows::Column::UserId).into_tuple().one(db).await
}

/// The keys of the sessions in `scope`, deleted ones included.
pub async fn keys_with_deleted(db: &DatabaseConnection, scope: &Scope) -> Result<Vec<SessionKey>, DbErr> {
    rows::Entity::find()
        .select_only()
        .column(rows::Column::Id)
        .filter(scope.condition_with_deleted())
        .into_tuple()
        .all(db)
        .await
}

pub async fn list(db: &DatabaseConnection, scope: &Scope) -> Result<Vec<rows::Model>, DbErr> {
    rows::Entity::find()
        .filter(scope.condition())
        .order_by_asc(rows::Column::CreatedAt)
        .order_by_asc(rows::Column::Id)
        .all(db)
        .await
}

/// The session of `owner` (any owner's with `None`), other than `except`, whose
/// linked device is on `phone`. A number is linked once per account: accounts
/// are tenants, and one may not learn what another has linked (each link is a
/// companion device of its own to WhatsApp).
pub async fn holder_of(
    db: &DatabaseConnection,
    phone: &str,
    owner: Option<i64>,
    except: Option<&SessionKey>,
) -> Result<Option<rows::Model>, DbErr> {
    let mut query =
        rows::Entity::find().filter(rows::Column::PhoneNumber.eq(phone)).filter(rows::Column::DeletedAt.is_null());
    if let Some(owner) = owner {
        query = query.filter(rows::Column::UserId.eq(owner));
    }
    if let Some(except) = except {
        query = query.filter(rows::Column::Id.ne(except));
    }
    let rows = query.all(db).await?;
    Ok(rows.into_iter().find(|row| row.status.holds_device()))
}

/// Sessions in `scope` not connected now and not connected since `cutoff`.
pub async fn stale(db: &DatabaseConnection, scope: &Scope, cutoff: NaiveDateTime) -> Result<Vec<rows::Model>, DbErr> {
    let last_seen = Condition::any()
        .add(rows::Column::LastConnectedAt.lt(cutoff))
        .add(Condition::all().add(rows::Column::LastConnectedAt.is_null()).add(rows::Column::CreatedAt.lt(cutoff)));
    rows::Entity::find()
        .filter(scope.condition())
        .filter(rows::Column::Status.ne(SessionStatus::Connected.as_str()))
        .filter(last_seen)
        .all(db)
        .await
}

pub async fn counts(db: &DatabaseConnection) -> Result<Vec<(SessionStatus, u64)>, DbErr> {
    let counted: Vec<(SessionStatus, i64)> = rows::Entity::find()
        .select_only()
        .column(rows::Column::Status)
        .column_as(rows::Column::Id.count(), "n")
        .filter(rows::Column::DeletedAt.is_null())
        .group_by(rows::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(SessionStatus::ALL
        .into_iter()
        .map(|status| {
            let n = counted.iter().filter(|(s, _)| *s == status).map(|(_, n)| *n).sum::<i64>();
            (status, u64::try_from(n).unwrap_or(0))
        })
        .collect())
}

/// Marks the session deleted: nothing sees or starts it again, its number is
/// free, and the messages it accepted stay.
pub async fn mark_deleted(db: &DatabaseConnection, key: &SessionKey) -> Result<(), DbErr> {
    let now = db::now();
    rows::Entity::update_many()
        .col_expr(rows::Column::DeletedAt, Expr::value(now))
        .col_expr(rows::Column::PhoneNumber, Expr::value(Option::<String>::None))
        .col_expr(rows::Column::Status, Expr::value(SessionStatus::LoggedOut.as_str()))
        .col_expr(rows::Column::Reason, Expr::value("deleted"))
        .col_expr(rows::Column::UpdatedAt, Expr::value(now))
        .filter(rows::Column::Id.eq(key))
        .exec(db)
        .await
        .map(|_| ())
}

/// Keys of deleted sessions, for the start-up sweep of what a crash mid-delete left.
pub async fn deleted_keys(db: &DatabaseConnection) -> Result<Vec<SessionKey>, DbErr> {
    rows::Entity::find()
        .select_only()
        .column(rows::Column::Id)
        .filter(rows::Column::DeletedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await
}

/// A status change and what goes with it.
#[derive(Debug, Clone)]
pub struct Change {
    status: SessionStatus,
    phone: Option<Option<String>>,
    reason: Option<String>,
    banned_until: Option<NaiveDateTime>,
}

impl Change {
    /// The new status; the reason is cleared unless given.
    pub fn status(status: SessionStatus) -> Change {
        Change { status, phone: None, reason: None, banned_until: None }
    }

    pub fn new_status(&self) -> SessionStatus {
        self.status
    }

    pub fn phone(mut self, phone: Option<String>) -> Change {
        self.phone = Some(phone);
        self
    }

    pub fn reason(mut self, reason: Option<String>) -> Change {
        self.reason = reason;
        self
    }

    pub fn banned_until(mut self, until: NaiveDateTime) -> Change {
        self.banned_until = Some(until);
        self
    }
}

/// Applies `change`; `None` when the session was deleted.
pub async fn apply(db: &impl ConnectionTrait, key: &SessionKey, change: Change) -> Result<Option<rows::Model>, DbErr> {
    let now = db::now();
    let mut row = rows::ActiveModel {
        id: Set(key.clone()),
        status: Set(change.status),
        reason: Set(change.reason.map(|r| r.chars().take(255).collect())),
        banned_until: Set(change.banned_until),
        updated_at: Set(now),
        ..Default::default()
    };
    if let Some(phone) = change.phone {
        row.phone_number = Set(phone);
    }
    if change.status == SessionStatus::Connected {
        row.last_connected_at = Set(Some(now));
    }
    match rows::Entity::update(row).validate()?.filter(rows::Column::DeletedAt.is_null()).exec(db).await {
        Ok(row) => Ok(Some(row)),
        Err(DbErr::RecordNotUpdated) => Ok(None),
        Err(e) => Err(e),
    }
}
