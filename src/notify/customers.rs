//! Customers as the billing system keeps them, matched by its own id
//! (`external_id`): bulk upserts from JSON, CSV files (over HTTP or
//! `wagate customers import`), and the list the API shows. A customer whose
//! number is not valid is kept, with the reason, and skipped by broadcasts.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, OnConflict},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::phone;
use crate::{
    db::{
        entities::{customers, odps},
        write::Writer,
    },
    model::now_ms,
};

/// Rows per INSERT statement (SQLite allows 32,766 bound values).
const CHUNK: usize = 500;
const MAX_EXTERNAL_ID: usize = 64;
const MAX_NAME: usize = 255;
const MAX_PHONE: usize = 64;
const MAX_ODP: usize = 64;

/// One customer as the billing system sends it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// The billing system's id for the customer (1-64 characters): a second
    /// upsert with it updates the customer.
    pub external_id: String,
    pub name: String,
    /// As the billing system has it; invalid numbers are kept and skipped when sending.
    #[serde(default)]
    pub phone: String,
    /// The ODP the customer hangs off, e.g. `ODP-001`.
    #[serde(default)]
    pub odp: Option<String>,
    /// Default `true`.
    #[serde(default)]
    pub active: Option<bool>,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    /// The CSV line (1 is the header), or the position in the JSON array (from 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// What an upsert or import did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct UpsertReport {
    /// Rows read.
    pub received: usize,
    pub inserted: usize,
    pub updated: usize,
    /// Imported customers whose number is not valid (they are skipped by broadcasts).
    pub invalid_phones: usize,
    /// Rows not imported.
    pub errors: Vec<RowError>,
}

/// A checked row, ready to write.
struct Row {
    external_id: String,
    name: String,
    phone_raw: String,
    phone: Result<String, String>,
    odp: Option<String>,
    active: bool,
}

fn clean(value: &str) -> String {
    value.trim().to_owned()
}

/// Checks one row; `Err((field, message))` when it cannot be imported.
fn check(input: CustomerInput, country_code: &str) -> Result<Row, (&'static str, String)> {
    let external_id = clean(&input.external_id);
    if external_id.is_empty() || external_id.chars().count() > MAX_EXTERNAL_ID {
        return Err(("external_id", format!("must be 1-{MAX_EXTERNAL_ID} characters")));
    }
    if external_id.chars().any(char::is_control) {
        return Err(("external_id", "must not contain control characters".into()));
    }
    let name = clean(&input.name);
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(("name", format!("must be 1-{MAX_NAME} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(("name", "must not contain control characters".into()));
    }
    let phone_raw = clean(&input.phone);
    if phone_raw.chars().count() > MAX_PHONE {
        return Err(("phone", format!("must be at most {MAX_PHONE} characters")));
    }
    let odp = input.odp.map(|o| clean(&o)).filter(|o| !o.is_empty());
    if let Some(odp) = &odp
        && (odp.chars().count() > MAX_ODP || odp.chars().any(char::is_control))
    {
        return Err(("odp", format!("must be at most {MAX_ODP} characters, without control characters")));
    }
    let phone = phone::normalize(&phone_raw, country_code).map_err(|e| e.to_string());
    Ok(Row { external_id, name, phone_raw, phone, odp, active: input.active.unwrap_or(true) })
}

/// Inserts or updates `inputs` (by `external_id`) for `owner`, creating the
/// ODPs they name; one transaction. `positions` says where each row came from
/// (CSV line or array index) for the report; `errors` are those found earlier.
pub async fn upsert(
    writer: &Writer,
    owner: i64,
    country_code: &str,
    inputs: Rows,
    mut errors: Vec<RowError>,
) -> Result<UpsertReport, DbErr> {
    let mut report = UpsertReport { received: inputs.len() + errors.len(), ..Default::default() };
    let mut rows: Vec<Row> = Vec::with_capacity(inputs.len());
    let mut seen: HashMap<String, Position> = HashMap::new();
    for (at, input) in inputs {
        match check(input, country_code) {
            Ok(row) => {
                if let Some(first) = seen.get(&row.external_id) {
                    errors.push(at.error(Some("external_id"), format!("repeats the customer of {}", first.describe())));
                    continue;
                }
                seen.insert(row.external_id.clone(), at);
                rows.push(row);
            }
            Err((field, message)) => errors.push(at.error(Some(field), message)),
        }
    }
    errors.sort_by_key(|e| (e.line, e.index));
    report.errors = errors;
    if rows.is_empty() {
        return Ok(report);
    }

    // MariaDB may pick this transaction as a deadlock victim when another
    // upsert takes the same keys; the upsert is idempotent, so it goes again.
    let mut tries = 0;
    let existing = loop {
        tries += 1;
        match write(writer, owner, &rows).await {
            Err(e) if tries < 5 && e.to_string().contains("Deadlock found") => {
                tracing::info!(tries, "customer upsert was a deadlock victim; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(20 * tries)).await;
            }
            done => break done?,
        }
    };
    for row in &rows {
        if existing.contains(&row.external_id) {
            report.updated += 1;
        } else {
            report.inserted += 1;
        }
        if row.phone.is_err() {
            report.invalid_phones += 1;
        }
    }
    Ok(report)
}

/// One try of [`upsert`]'s transaction: which external ids existed before it.
async fn write(writer: &Writer, owner: i64, rows: &[Row]) -> Result<HashSet<String>, DbErr> {
    let write = writer.begin().await?;
    let tx = &write.tx;
    let now = now_ms();
    let codes: Vec<String> = rows.iter().filter_map(|r| r.odp.clone()).collect::<HashSet<_>>().into_iter().collect();
    let odp_ids = ensure_odps(tx, owner, &codes, now).await?;

    let mut existing: HashSet<String> = HashSet::new();
    for chunk in rows.chunks(CHUNK) {
        let found: Vec<String> = customers::Entity::find()
            .select_only()
            .column(customers::Column::ExternalId)
            .filter(customers::Column::UserId.eq(owner))
            .filter(customers::Column::ExternalId.is_in(chunk.iter().map(|r| r.external_id.clone())))
            .into_tuple()
            .all(tx)
            .await?;
        existing.extend(found);
    }
    for chunk in rows.chunks(CHUNK) {
        let models = chunk.iter().map(|row| {
            use sea_orm::ActiveValue::{NotSet, Set};
            customers::ActiveModel {
                id: NotSet,
                user_id: Set(owner),
                external_id: Set(row.external_id.clone()),
                name: Set(row.name.clone()),
                phone_raw: Set(row.phone_raw.clone()),
                phone: Set(row.phone.clone().ok()),
                phone_error: Set(row.phone.clone().err()),
                odp_id: Set(row.odp.as_ref().and_then(|code| odp_ids.get(code).copied())),
                active: Set(row.active),
                created_at: Set(now),
                updated_at: Set(now),
            }
        });
        customers::Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([customers::Column::UserId, customers::Column::ExternalId])
                    .update_columns([
                        customers::Column::Name,
                        customers::Column::PhoneRaw,
                        customers::Column::Phone,
                        customers::Column::PhoneError,
                        customers::Column::OdpId,
                        customers::Column::Active,
                        customers::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(tx)
            .await?;
    }
    write.commit().await?;
    Ok(existing)
}

/// The ids of `owner`'s ODPs with these codes, creating those that are new.
async fn ensure_odps(
    conn: &impl ConnectionTrait,
    owner: i64,
    codes: &[String],
    now: i64,
) -> Result<HashMap<String, i64>, DbErr> {
    let mut ids = HashMap::new();
    for chunk in codes.chunks(CHUNK) {
        let models = chunk.iter().map(|code| {
            use sea_orm::ActiveValue::{NotSet, Set};
            odps::ActiveModel {
                id: NotSet,
                user_id: Set(owner),
                code: Set(code.clone()),
                created_at: Set(now),
                group_jid: NotSet,
                group_session: NotSet,
            }
        });
        odps::Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([odps::Column::UserId, odps::Column::Code])
                    .update_column(odps::Column::Code)
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
        let found: Vec<(i64, String)> = odps::Entity::find()
            .select_only()
            .column(odps::Column::Id)
            .column(odps::Column::Code)
            .filter(odps::Column::UserId.eq(owner))
            .filter(odps::Column::Code.is_in(chunk.to_vec()))
            .into_tuple()
            .all(conn)
            .await?;
        ids.extend(found.into_iter().map(|(id, code)| (code, id)));
    }
    Ok(ids)
}

/// Rows to import, each with where it came from.
pub type Rows = Vec<(Position, CustomerInput)>;

/// Where an imported row came from.
#[derive(Debug, Clone, Copy)]
pub enum Position {
    /// A CSV line (the header is line 1).
    Line(u64),
    /// An index of a JSON array.
    Index(usize),
}

impl Position {
    fn error(self, field: Option<&str>, message: impl Into<String>) -> RowError {
        let (line, index) = match self {
            Position::Line(l) => (Some(l), None),
            Position::Index(i) => (None, Some(i)),
        };
        RowError { line, index, field: field.map(str::to_owned), message: message.into() }
    }

    fn describe(self) -> String {
        match self {
            Position::Line(l) => format!("line {l}"),
            Position::Index(i) => format!("index {i}"),
        }
    }
}

/// The columns a CSV file may have, by header name (case and spaces ignored).
fn column_of(header: &str) -> Option<&'static str> {
    let name: String = header.trim().trim_start_matches('\u{feff}').to_ascii_lowercase().replace([' ', '-'], "_");
    Some(match name.as_str() {
        "external_id" | "id" | "customer_id" | "id_pelanggan" | "kode" | "kode_pelanggan" => "external_id",
        "name" | "nama" | "customer_name" | "nama_pelanggan" => "name",
        "phone" | "telepon" | "telp" | "no_hp" | "hp" | "whatsapp" | "no_wa" | "nomor" => "phone",
        "odp" | "odp_code" | "kode_odp" => "odp",
        "active" | "aktif" | "status" => "active",
        _ => return None,
    })
}

/// `true`/`false` as billing exports write them.
fn parse_active(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "y" | "ya" | "aktif" | "active" => Some(true),
        "0" | "false" | "no" | "n" | "tidak" | "nonaktif" | "non_aktif" | "non-aktif" | "inactive" | "isolir" => {
            Some(false)
        }
        _ => None,
    }
}

/// Reads a CSV file (comma or semicolon separated, with a header naming at
/// least `external_id`, `name` and `phone`; `odp` and `active` are optional):
/// the rows to upsert, and the lines that could not be read, by number.
pub fn parse_csv(bytes: &[u8]) -> Result<(Rows, Vec<RowError>), String> {
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter =
        if first_line.iter().filter(|b| **b == b';').count() > first_line.iter().filter(|b| **b == b',').count() {
            b';'
        } else {
            b','
        };
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(false).from_reader(bytes);
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(header)) => header,
        Some(Err(e)) => return Err(format!("line 1: cannot read the header: {e}")),
        None => return Err("the file is empty; expected a header line".into()),
    };
    let mut columns: Vec<Option<&'static str>> = Vec::new();
    for cell in header.iter() {
        let text = std::str::from_utf8(cell).map_err(|_| "line 1: the header is not UTF-8 text".to_owned())?;
        let column = column_of(text);
        if let Some(c) = column
            && columns.contains(&Some(c))
        {
            return Err(format!("line 1: column {c} appears twice"));
        }
        columns.push(column);
    }
    for required in ["external_id", "name", "phone"] {
        if !columns.contains(&Some(required)) {
            return Err(format!(
                "line 1: the header has no {required} column (columns: external_id, name, phone, odp, active)"
            ));
        }
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(Position::Line(line).error(None, format!("cannot be read: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let at = Position::Line(line);
        if record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
            continue; // a blank line
        }
        if record.len() != columns.len() {
            errors.push(at.error(None, format!("has {} fields; the header has {}", record.len(), columns.len())));
            continue;
        }
        let mut values: HashMap<&str, String> = HashMap::new();
        let mut bad = None;
        for (column, cell) in columns.iter().zip(record.iter()) {
            let Some(column) = column else { continue };
            match std::str::from_utf8(cell) {
                Ok(text) => {
                    values.insert(column, text.to_owned());
                }
                Err(_) => bad = Some(at.error(Some(column), "is not UTF-8 text")),
            }
        }
        if let Some(error) = bad {
            errors.push(error);
            continue;
        }
        let active = match values.get("active") {
            None => None,
            Some(text) => match parse_active(text) {
                Some(active) => Some(active),
                None => {
                    errors.push(at.error(
                        Some("active"),
                        format!("{text:?} is not a yes/no value (1/0, true/false, aktif/nonaktif)"),
                    ));
                    continue;
                }
            },
        };
        let mut take = |name: &str| values.remove(name).unwrap_or_default();
        rows.push((
            at,
            CustomerInput {
                external_id: take("external_id"),
                name: take("name"),
                phone: take("phone"),
                odp: Some(take("odp")),
                active,
            },
        ));
    }
    Ok((rows, errors))
}

/// A customer as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerView {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    /// As imported.
    pub phone_raw: String,
    /// Digits with country code; `null` when the number is not valid.
    pub phone: Option<String>,
    /// Why the number is not valid.
    pub phone_error: Option<String>,
    pub odp: Option<String>,
    pub active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

fn time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl CustomerView {
    pub fn new(row: &customers::Model, odp: Option<String>) -> Self {
        CustomerView {
            id: row.id,
            external_id: row.external_id.clone(),
            name: row.name.clone(),
            phone_raw: row.phone_raw.clone(),
            phone: row.phone.clone(),
            phone_error: row.phone_error.clone(),
            odp,
            active: row.active,
            created_at: time(row.created_at),
            updated_at: time(row.updated_at),
        }
    }
}

/// What `GET /api/customers` filters by.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// An ODP code.
    pub odp: Option<String>,
    pub active: Option<bool>,
    /// In the name, external id or phone.
    pub search: Option<String>,
}

/// The ODP with this code, if `owner` has one.
pub async fn find_odp(db: &impl ConnectionTrait, owner: i64, code: &str) -> Result<Option<odps::Model>, DbErr> {
    odps::Entity::find().filter(odps::Column::UserId.eq(owner)).filter(odps::Column::Code.eq(code)).one(db).await
}

/// Codes of `owner`'s ODPs by id.
pub async fn odp_codes(db: &impl ConnectionTrait, owner: i64) -> Result<HashMap<i64, String>, DbErr> {
    let rows: Vec<(i64, String)> = odps::Entity::find()
        .select_only()
        .column(odps::Column::Id)
        .column(odps::Column::Code)
        .filter(odps::Column::UserId.eq(owner))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// A page of `owner`'s customers by id, and how many match in all; `None` when
/// the filter names an ODP that does not exist.
pub async fn list(
    db: &DatabaseConnection,
    owner: i64,
    filter: &Filter,
    page: u64,
    per_page: u64,
) -> Result<Option<(Vec<CustomerView>, u64)>, DbErr> {
    let mut condition = Condition::all().add(customers::Column::UserId.eq(owner));
    if let Some(code) = &filter.odp {
        let Some(odp) = find_odp(db, owner, code).await? else { return Ok(None) };
        condition = condition.add(customers::Column::OdpId.eq(odp.id));
    }
    if let Some(active) = filter.active {
        condition = condition.add(customers::Column::Active.eq(active));
    }
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let like =
            |col: customers::Column| Expr::col(col).like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\'));
        condition = condition.add(
            Condition::any()
                .add(like(customers::Column::Name))
                .add(like(customers::Column::ExternalId))
                .add(like(customers::Column::PhoneRaw))
                .add(like(customers::Column::Phone)),
        );
    }
    let query = customers::Entity::find().filter(condition);
    let total = query.clone().count(db).await?;
    let rows = query.order_by_asc(customers::Column::Id).offset((page - 1) * per_page).limit(per_page).all(db).await?;
    let codes = odp_codes(db, owner).await?;
    let views = rows.iter().map(|r| CustomerView::new(r, r.odp_id.and_then(|id| codes.get(&id).cloned()))).collect();
    Ok(Some((views, total)))
}

/// An ODP with how many customers it has.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OdpView {
    pub code: String,
    pub customers: u64,
    pub active_customers: u64,
    /// The group a notice sent by this ODP is also posted into, once (`<id>@g.us`).
    pub group_jid: Option<String>,
    /// The session that posts into the group.
    pub group_session: Option<String>,
}

/// Whether `code` may be an ODP code (as a customer import takes it).
pub fn check_odp_code(code: &str) -> Result<(), String> {
    let bad = code.trim().is_empty() || code.trim() != code || code.chars().any(char::is_control);
    if bad || code.chars().count() > MAX_ODP {
        return Err(format!("must be 1-{MAX_ODP} characters, without control characters or spaces around"));
    }
    Ok(())
}

/// Names the group `owner`'s ODP `code` posts its notices into, from
/// `session` (or, `None`, none); makes the ODP if it is new.
pub async fn set_odp_group(
    writer: &crate::db::write::Writer,
    owner: i64,
    code: &str,
    group: Option<(String, crate::model::SessionKey)>,
) -> Result<OdpView, DbErr> {
    let write = writer.begin().await?;
    ensure_odps(&write.tx, owner, &[code.to_owned()], crate::model::now_ms()).await?;
    // Read back as the database compares codes (MySQL: whatever their case).
    let odp = find_odp(&write.tx, owner, code).await?.ok_or(DbErr::RecordNotFound(format!("ODP {code}")))?;
    let (jid, session) = group.unzip();
    odps::Entity::update_many()
        .col_expr(odps::Column::GroupJid, Expr::value(jid))
        .col_expr(odps::Column::GroupSession, Expr::value(session.map(|s| s.as_str().to_owned())))
        .filter(odps::Column::Id.eq(odp.id))
        .exec(&write.tx)
        .await?;
    write.commit().await?;
    let list = list_odps(writer.db(), owner).await?;
    list.into_iter().find(|o| o.code == odp.code).ok_or(DbErr::RecordNotFound(format!("ODP {code}")))
}

/// `owner`'s ODPs by code, with their customer counts.
pub async fn list_odps(db: &DatabaseConnection, owner: i64) -> Result<Vec<OdpView>, DbErr> {
    let odps =
        odps::Entity::find().filter(odps::Column::UserId.eq(owner)).order_by_asc(odps::Column::Code).all(db).await?;
    let counts: Vec<(Option<i64>, bool, i64)> = customers::Entity::find()
        .select_only()
        .column(customers::Column::OdpId)
        .column(customers::Column::Active)
        .column_as(customers::Column::Id.count(), "n")
        .filter(customers::Column::UserId.eq(owner))
        .group_by(customers::Column::OdpId)
        .group_by(customers::Column::Active)
        .into_tuple()
        .all(db)
        .await?;
    Ok(odps
        .into_iter()
        .map(|odp| {
            let of = counts.iter().filter(|(id, _, _)| *id == Some(odp.id));
            let customers = of.clone().map(|(_, _, n)| *n as u64).sum();
            let active_customers = of.filter(|(_, active, _)| *active).map(|(_, _, n)| *n as u64).sum();
            OdpView {
                code: odp.code,
                customers,
                active_customers,
                group_jid: odp.group_jid,
                group_session: odp.group_session.map(|s| s.name().to_owned()),
            }
        })
        .collect())
}

/// The owner's customers with these numbers (the first by id for each).
pub async fn by_phone(
    conn: &impl ConnectionTrait,
    owner: i64,
    phones: &[&str],
) -> Result<HashMap<String, customers::Model>, DbErr> {
    let rows = customers::Entity::find()
        .filter(customers::Column::UserId.eq(owner))
        .filter(customers::Column::Phone.is_in(phones.iter().copied()))
        .order_by_asc(customers::Column::Id)
        .all(conn)
        .await?;
    let mut out = HashMap::new();
    for row in rows {
        if let Some(phone) = row.phone.clone() {
            out.entry(phone).or_insert(row);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_and_bad_lines_by_number() {
        let csv = "ID;Nama;No HP;ODP;Aktif\n\
                   C1;Budi;0812-3456-789;ODP-001;1\n\
                   C2;Siti;0;ODP-001;ya\n\
                   C3;Joko;08123\n\
                   \n\
                   C4;\"Ani; S.\";+62 813 1111 2222;;tidak\n\
                   C5;Rudi;0813;ODP-002;maybe\n";
        let (rows, errors) = parse_csv(csv.as_bytes()).unwrap();
        let ids: Vec<_> = rows.iter().map(|(_, r)| r.external_id.as_str()).collect();
        assert_eq!(ids, ["C1", "C2", "C4"]);
        assert_eq!(rows[2].1.name, "Ani; S.");
        assert_eq!(rows[2].1.active, Some(false));
        assert_eq!(rows[0].1.odp.as_deref(), Some("ODP-001"));
        let lines: Vec<_> = errors.iter().map(|e| (e.line, e.field.as_deref())).collect();
        assert_eq!(lines, [(Some(4), None), (Some(7), Some("active"))]);
    }

    #[test]
    fn csv_header_must_name_the_needed_columns() {
        assert!(parse_csv(b"").unwrap_err().contains("empty"));
        assert!(parse_csv(b"id,name\n1,a\n").unwrap_err().contains("phone"));
        assert!(parse_csv(b"id,nama,phone,kode\n").unwrap_err().contains("twice"));
        let (rows, errors) = parse_csv(b"external_id,name,phone,comment\nx,y,0812345678,hi\n").unwrap();
        assert_eq!((rows.len(), errors.len()), (1, 0));
    }

    #[test]
    fn rows_are_checked_field_by_field() {
        let input = |id: &str, name: &str| CustomerInput {
            external_id: id.into(),
            name: name.into(),
            phone: "0".into(),
            odp: None,
            active: None,
        };
        assert_eq!(check(input("", "a"), "62").err().unwrap().0, "external_id");
        assert_eq!(check(input("x", " "), "62").err().unwrap().0, "name");
        let row = check(input("x", "Budi"), "62").ok().unwrap();
        assert!(row.phone.is_err() && row.active);
    }
}
