//! `/groups/*`: the WhatsApp groups a session is in, asked of and changed
//! through its device (it must be connected). What changes is told back by
//! WhatsApp to every participant, this session included, and comes out as
//! `group.updated` / `group.participants` events (`inbox::groups`), so an
//! answer here and the events never disagree.
//!
//! A group is named by its JID (`<id>@g.us`) or its id alone; a group the
//! session is not in, another account's among them, is not found (404).

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::{IntoParams, ToSchema};

use super::{
    Data,
    common::{connected, phone_field, unavailable},
    extract::{ApiJson, ApiPath, ApiQuery},
};
use crate::{
    auth::Principal,
    engine::{GroupFailure, GroupInfo, GroupSetting, MemberAction, Sender},
    error::{ApiError, ErrorBody},
    http::state::AppState,
    validation,
};

/// WhatsApp's largest group, and so the most participants one request may name.
pub const MAX_PARTICIPANTS: usize = 1024;
/// WhatsApp's longest subject and description, in characters.
pub const MAX_SUBJECT: usize = 100;
pub const MAX_DESCRIPTION: usize = 2048;

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupsQuery {
    /// The session whose device asks (it must be connected).
    #[validate(custom = validation::session_id)]
    pub session: String,
}

/// A group as one of its participants (the session) sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    /// `<id>@g.us`: what the send routes take as `to`.
    pub jid: String,
    pub subject: String,
    pub description: Option<String>,
    /// The creator's number, when WhatsApp names it.
    pub creator: Option<String>,
    /// When it was made (RFC 3339), when WhatsApp says.
    pub created_at: Option<String>,
    /// Only admins may write.
    pub announce: bool,
    /// Only admins may change the subject and description.
    pub locked: bool,
    /// The session's role: `member`, `admin` or `superadmin`.
    pub role: String,
    /// Whether the session may write in it now.
    pub can_send: bool,
    pub participant_count: usize,
    /// Everyone in it, with their roles (left out of lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<ParticipantView>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantView {
    pub phone: String,
    /// `member`, `admin` or `superadmin`.
    pub role: String,
}

impl GroupView {
    fn of(info: GroupInfo, own: &str, with_participants: bool) -> GroupView {
        let role = info.role_of(own);
        let participants = with_participants.then(|| {
            info.participants
                .iter()
                .map(|m| ParticipantView { phone: m.phone.clone(), role: m.role.as_str().to_owned() })
                .collect()
        });
        GroupView {
            can_send: role.is_some_and(|r| !info.announce || r.is_admin()),
            role: role.map_or("member", |r| r.as_str()).to_owned(),
            participant_count: info.participants.len(),
            created_at: info
                .created_at
                .and_then(|s| chrono::DateTime::from_timestamp(s as i64, 0))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            jid: info.jid,
            subject: info.subject,
            description: info.description,
            creator: info.creator,
            announce: info.announce,
            locked: info.locked,
            participants,
        }
    }
}

/// What the API answers for a refusal of WhatsApp's.
fn refused(e: GroupFailure) -> ApiError {
    match e {
        GroupFailure::NotIn => ApiError::new(StatusCode::NOT_FOUND, "not_found", "the session is not in that group"),
        GroupFailure::NotAdmin => {
            ApiError::new(StatusCode::FORBIDDEN, "not_group_admin", "only the group's admins may do that")
        }
        GroupFailure::Conflict => {
            ApiError::conflict("conflict", "the group's description changed meanwhile; try again")
        }
        GroupFailure::Refused(why) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "whatsapp_refused", format!("WhatsApp refused it: {why}"))
        }
        GroupFailure::Unavailable(why) => unavailable(why),
    }
}

/// A group named in a path: its JID, or its id alone.
fn group_path(raw: &str) -> Result<String, ApiError> {
    validation::group_jid(raw)
        .ok_or_else(|| ApiError::invalid_field("jid", "must be a group's JID (<digits>@g.us) or its id (digits)"))
}

/// The caller's connected session and its number.
async fn device(state: &AppState, principal: &Principal, session: &str) -> Result<(Sender, String), ApiError> {
    let (row, sender) = connected(state, principal, session).await?;
    Ok((sender, row.phone_number.unwrap_or_default()))
}

/// The groups the session is in.
#[utoipa::path(
    get, path = "/groups", tag = "groups",
    security(("bearer" = []), ("api_key" = [])),
    params(GroupsQuery),
    responses(
        (status = 200, body = Data<Vec<GroupView>>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such session", body = ErrorBody),
        (status = 409, description = "the session is not linked or not connected", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer in time", body = ErrorBody),
    )
)]
pub async fn list_groups(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<GroupsQuery>,
) -> Result<Json<Data<Vec<GroupView>>>, ApiError> {
    let (sender, own) = device(&state, &principal, &q.session).await?;
    let groups = sender.groups().await.map_err(refused)?;
    Ok(Json(Data { data: groups.into_iter().map(|g| GroupView::of(g, &own, false)).collect() }))
}

/// One group: its settings and participants with their roles.
#[utoipa::path(
    get, path = "/groups/{jid}", tag = "groups",
    security(("bearer" = []), ("api_key" = [])),
    params(("jid" = String, Path, description = "the group's JID (`<id>@g.us`) or id"), GroupsQuery),
    responses(
        (status = 200, body = Data<GroupView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such session, or the session is not in that group", body = ErrorBody),
        (status = 409, description = "the session is not linked or not connected", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer in time", body = ErrorBody),
    )
)]
pub async fn get_group(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(raw): ApiPath<String>,
    ApiQuery(q): ApiQuery<GroupsQuery>,
) -> Result<Json<Data<GroupView>>, ApiError> {
    let jid = group_path(&raw)?;
    let (sender, own) = device(&state, &principal, &q.session).await?;
    let info = sender.group(&jid).await.map_err(refused)?;
    Ok(Json(Data { data: GroupView::of(info, &own, true) }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    /// The session whose number makes the group (and is its super admin).
    #[validate(custom = validation::session_id)]
    pub session: String,
    /// 1–100 characters.
    pub subject: String,
    /// 1–1,024 numbers, in any common spelling.
    pub participants: Vec<String>,
}

/// What a request did for one number.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantResult {
    pub phone: String,
    /// Whether WhatsApp did it.
    pub ok: bool,
    /// Why not (`not_on_whatsapp`, `already_in_group`, `not_in_group`,
    /// `not_allowed`, or WhatsApp's error code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedGroup {
    #[serde(flatten)]
    pub group: GroupView,
    /// One per distinct number asked, in the order asked.
    pub results: Vec<ParticipantResult>,
}

fn subject_field(raw: &str) -> Result<String, ApiError> {
    let subject = raw.trim();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT {
        return Err(ApiError::invalid_field("subject", format!("must be 1 to {MAX_SUBJECT} characters")));
    }
    Ok(subject.to_owned())
}

/// Numbers of a list field: normalized, each once, 1 to 1,024 of them.
fn phones_field(state: &AppState, field: &str, raw: &[String]) -> Result<Vec<String>, ApiError> {
    if raw.is_empty() || raw.len() > MAX_PARTICIPANTS {
        return Err(ApiError::invalid_field(field, format!("must hold 1 to {MAX_PARTICIPANTS} numbers")));
    }
    let mut phones: Vec<String> = Vec::with_capacity(raw.len());
    for (i, one) in raw.iter().enumerate() {
        let phone = phone_field(state, &format!("{field}[{i}]"), one)?;
        if !phones.contains(&phone) {
            phones.push(phone);
        }
    }
    Ok(phones)
}

/// Makes a group of the session's number (its super admin) and the numbers
/// named; the answer says for each whether it was added (numbers not on
/// WhatsApp are not).
#[utoipa::path(
    post, path = "/groups", tag = "groups",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateGroupRequest,
    responses(
        (status = 201, body = Data<CreatedGroup>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such session", body = ErrorBody),
        (status = 409, description = "the session is not linked or not connected", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer in time", body = ErrorBody),
    )
)]
pub async fn create_group(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateGroupRequest>,
) -> Result<Response, ApiError> {
    let subject = subject_field(&req.subject)?;
    let phones = phones_field(&state, "participants", &req.participants)?;
    let (sender, own) = device(&state, &principal, &req.session).await?;
    let phones: Vec<String> = phones.into_iter().filter(|p| *p != own).collect();
    let info = sender.create_group(&subject, &phones).await.map_err(refused)?;
    let results = phones
        .iter()
        .map(|phone| {
            let ok = info.role_of(phone).is_some();
            ParticipantResult { phone: phone.clone(), ok, reason: (!ok).then(|| "not_on_whatsapp".to_owned()) }
        })
        .collect();
    let group = GroupView::of(info, &own, true);
    let location = format!("/groups/{}", group.jid);
    let created = CreatedGroup { group, results };
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(Data { data: created })).into_response())
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    /// The session whose device asks.
    #[validate(custom = validation::session_id)]
    pub session: String,
    /// 1–100 characters.
    pub subject: Option<String>,
    /// Up to 2,048 characters; `""` deletes it.
    pub description: Option<String>,
    /// Only admins may write.
    pub announce: Option<bool>,
    /// Only admins may change the subject and description.
    pub locked: Option<bool>,
}

/// Changes a group's subject, description and settings (at least one); the
/// answer is the group as WhatsApp has it after. Settings need an admin, and
/// in a locked group the subject and description do too.
#[utoipa::path(
    patch, path = "/groups/{jid}", tag = "groups",
    security(("bearer" = []), ("api_key" = [])),
    params(("jid" = String, Path, description = "the group's JID (`<id>@g.us`) or id")),
    request_body = UpdateGroupRequest,
    responses(
        (status = 200, body = Data<GroupView>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "the session is no admin of the group", body = ErrorBody),
        (status = 404, description = "no such session, or the session is not in that group", body = ErrorBody),
        (status = 409, description = "the session is not connected, or the description changed meanwhile", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer in time", body = ErrorBody),
    )
)]
pub async fn update_group(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateGroupRequest>,
) -> Result<Json<Data<GroupView>>, ApiError> {
    let jid = group_path(&raw)?;
    let mut settings = Vec::new();
    if let Some(subject) = &req.subject {
        settings.push(GroupSetting::Subject(subject_field(subject)?));
    }
    if let Some(text) = &req.description {
        if text.chars().count() > MAX_DESCRIPTION {
            return Err(ApiError::invalid_field(
                "description",
                format!("must be at most {MAX_DESCRIPTION} characters"),
            ));
        }
        let text = text.trim();
        settings.push(GroupSetting::Description((!text.is_empty()).then(|| text.to_owned())));
    }
    if let Some(on) = req.announce {
        settings.push(GroupSetting::Announce(on));
    }
    if let Some(on) = req.locked {
        settings.push(GroupSetting::Locked(on));
    }
    if settings.is_empty() {
        return Err(ApiError::invalid_field("subject", "name at least one of subject, description, announce, locked"));
    }
    let (sender, own) = device(&state, &principal, &req.session).await?;
    // All or nothing: a change only admins may make is refused before any other is made.
    let before = sender.group(&jid).await.map_err(refused)?;
    let admin = before.role_of(&own).is_some_and(|r| r.is_admin());
    let needs_admin = settings.iter().any(|s| match s {
        GroupSetting::Announce(_) | GroupSetting::Locked(_) => true,
        GroupSetting::Subject(_) | GroupSetting::Description(_) => before.locked,
    });
    if needs_admin && !admin {
        return Err(refused(GroupFailure::NotAdmin));
    }
    for setting in settings {
        sender.set_group(&jid, setting).await.map_err(refused)?;
    }
    let info = sender.group(&jid).await.map_err(refused)?;
    Ok(Json(Data { data: GroupView::of(info, &own, true) }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantsRequest {
    /// The session whose device asks (an admin of the group).
    #[validate(custom = validation::session_id)]
    pub session: String,
    /// Exactly one of these four, with 1–1,024 numbers.
    pub add: Option<Vec<String>>,
    pub remove: Option<Vec<String>>,
    pub promote: Option<Vec<String>>,
    pub demote: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantsAnswer {
    pub jid: String,
    /// `add`, `remove`, `promote` or `demote`.
    pub action: String,
    /// One per distinct number asked, in the order asked.
    pub results: Vec<ParticipantResult>,
}

/// Why WhatsApp did not do a participants change for one number.
fn reason_of(action: MemberAction, code: &str) -> String {
    match (action, code) {
        (MemberAction::Add, "404") => "not_on_whatsapp",
        (MemberAction::Add, "409") => "already_in_group",
        (MemberAction::Add, "403") => "privacy_settings",
        (MemberAction::Add, "408") => "left_recently",
        (_, "404") => "not_in_group",
        (_, "403") => "not_allowed",
        (_, other) => return other.to_owned(),
    }
    .to_owned()
}

/// Adds, removes, promotes or demotes participants (the session must be an
/// admin); the answer says for each number what WhatsApp did.
#[utoipa::path(
    post, path = "/groups/{jid}/participants", tag = "groups",
    security(("bearer" = []), ("api_key" = [])),
    params(("jid" = String, Path, description = "the group's JID (`<id>@g.us`) or id")),
    request_body = ParticipantsRequest,
    responses(
        (status = 200, body = Data<ParticipantsAnswer>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "the session is no admin of the group", body = ErrorBody),
        (status = 404, description = "no such session, or the session is not in that group", body = ErrorBody),
        (status = 409, description = "the session is not linked or not connected", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer in time", body = ErrorBody),
    )
)]
pub async fn change_participants(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<ParticipantsRequest>,
) -> Result<Json<Data<ParticipantsAnswer>>, ApiError> {
    let jid = group_path(&raw)?;
    let named = [
        (MemberAction::Add, &req.add),
        (MemberAction::Remove, &req.remove),
        (MemberAction::Promote, &req.promote),
        (MemberAction::Demote, &req.demote),
    ];
    let mut given = named.iter().filter_map(|(action, list)| list.as_ref().map(|l| (*action, l)));
    let (Some((action, list)), None) = (given.next(), given.next()) else {
        return Err(ApiError::invalid_field("add", "name exactly one of add, remove, promote, demote"));
    };
    let phones = phones_field(&state, action.as_str(), list)?;
    let (sender, _) = device(&state, &principal, &req.session).await?;
    let answers = sender.change_members(&jid, action, &phones).await.map_err(refused)?;
    let results = answers
        .into_iter()
        .map(|(phone, error)| ParticipantResult {
            phone,
            ok: error.is_none(),
            reason: error.map(|code| reason_of(action, &code)),
        })
        .collect();
    Ok(Json(Data { data: ParticipantsAnswer { jid, action: action.as_str().to_owned(), results } }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteView {
    pub jid: String,
    /// `https://chat.whatsapp.com/<code>`.
    pub link: String,
    pub code: String,
}

fn invite_view(jid: String, link: String) -> InviteView {
    let code = link.rsplit('/').next().unwrap_or_default().to_owned();
    InviteView { jid, link, code }
}

/// The group's invite link (admins only).
#[utoipa::path(
    get, path = "/groups/{jid}/invite", tag = "groups",
    security(("bearer" = []), ("api_key" = [])),
    params(("jid" = String, Path, description = "the group's JID (`<id>@g.us`) or id"), GroupsQuery),
    responses(
        (status = 200, body = Data<InviteView>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "the session is no admin of the group", body = ErrorBody),
        (status = 404, description = "no such session, or the session is not in that group", body = ErrorBody),
        (status = 409, description = "the session is not linked or not connected", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer in time", body = ErrorBody),
    )
)]
pub async fn group_invite(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(raw): ApiPath<String>,
    ApiQuery(q): ApiQuery<GroupsQuery>,
) -> Result<Json<Data<InviteView>>, ApiError> {
    let jid = group_path(&raw)?;
    let (sender, _) = device(&state, &principal, &q.session).await?;
    let link = sender.invite_link(&jid, false).await.map_err(refused)?;
    Ok(Json(Data { data: invite_view(jid, link) }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSessionRequest {
    /// The session whose device asks.
    #[validate(custom = validation::session_id)]
    pub session: String,
}

/// Replaces the group's invite link (admins only): the old one stops working.
#[utoipa::path(
    post, path = "/groups/{jid}/invite/revoke", tag = "groups",
    security(("bearer" = []), ("api_key" = [])),
    params(("jid" = String, Path, description = "the group's JID (`<id>@g.us`) or id")),
    request_body = GroupSessionRequest,
    responses(
        (status = 200, description = "the new link", body = Data<InviteView>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "the session is no admin of the group", body = ErrorBody),
        (status = 404, description = "no such session, or the session is not in that group", body = ErrorBody),
        (status = 409, description = "the session is not linked or not connected", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer in time", body = ErrorBody),
    )
)]
pub async fn revoke_group_invite(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<GroupSessionRequest>,
) -> Result<Json<Data<InviteView>>, ApiError> {
    let jid = group_path(&raw)?;
    let (sender, _) = device(&state, &principal, &req.session).await?;
    let link = sender.invite_link(&jid, true).await.map_err(refused)?;
    Ok(Json(Data { data: invite_view(jid, link) }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinGroupRequest {
    /// The session that joins.
    #[validate(custom = validation::session_id)]
    pub session: String,
    /// The invite link (`https://chat.whatsapp.com/<code>`) or its code.
    pub invite: String,
}

/// Joins a group by its invite link; the answer is the group.
#[utoipa::path(
    post, path = "/groups/join", tag = "groups",
    security(("bearer" = []), ("api_key" = [])),
    request_body = JoinGroupRequest,
    responses(
        (status = 200, body = Data<GroupView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such session, or no group has that link (any more)", body = ErrorBody),
        (status = 409, description = "the session is not linked or not connected", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer in time", body = ErrorBody),
    )
)]
pub async fn join_group(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<JoinGroupRequest>,
) -> Result<Json<Data<GroupView>>, ApiError> {
    let code = validation::invite_code(&req.invite)
        .ok_or_else(|| ApiError::invalid_field("invite", "must be a WhatsApp group invite link or its code"))?;
    let (sender, own) = device(&state, &principal, &req.session).await?;
    let jid = sender.join_group(&code).await.map_err(|e| match e {
        GroupFailure::NotIn | GroupFailure::Refused(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no group has that invite link (any more)")
        }
        other => refused(other),
    })?;
    let info = sender.group(&jid).await.map_err(refused)?;
    Ok(Json(Data { data: GroupView::of(info, &own, true) }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeftGroup {
    pub jid: String,
    pub left: bool,
}

/// Leaves a group: sends to it fail from then on.
#[utoipa::path(
    post, path = "/groups/{jid}/leave", tag = "groups",
    security(("bearer" = []), ("api_key" = [])),
    params(("jid" = String, Path, description = "the group's JID (`<id>@g.us`) or id")),
    request_body = GroupSessionRequest,
    responses(
        (status = 200, body = Data<LeftGroup>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such session, or the session is not in that group", body = ErrorBody),
        (status = 409, description = "the session is not linked or not connected", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer in time", body = ErrorBody),
    )
)]
pub async fn leave_group(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<GroupSessionRequest>,
) -> Result<Json<Data<LeftGroup>>, ApiError> {
    let jid = group_path(&raw)?;
    let (sender, _) = device(&state, &principal, &req.session).await?;
    sender.leave_group(&jid).await.map_err(refused)?;
    Ok(Json(Data { data: LeftGroup { jid, left: true } }))
}
