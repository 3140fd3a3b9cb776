//! The HTTP side of a stand-alone simulator, all on one port: WebSocket
//! `/ws/chat` for clients, the media host's upload and download paths, and the
//! admin API that tests and tools drive (names are a contract; see README.md).

use std::net::SocketAddr;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{
        DefaultBodyLimit, Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::info;

use crate::{Fault, Sim};

/// Serves `sim` on `listener` until the process ends.
pub async fn serve(sim: Sim, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(sim)).await
}

/// The largest media upload accepted (WhatsApp takes documents up to 2 GB;
/// this keeps the simulator's memory within reason).
const MAX_MEDIA_BYTES: usize = 256 * 1024 * 1024;

pub fn router(sim: Sim) -> Router {
    Router::new()
        .route("/ws/chat", get(websocket))
        .route("/admin/scan", post(scan))
        .route("/admin/pair-code", post(pair_code))
        .route("/admin/contacts", post(contacts))
        .route("/admin/messages", get(messages))
        .route("/admin/reactions", get(reactions))
        .route("/admin/chatstates", get(chatstates))
        .route("/admin/inbound", post(inbound))
        .route("/admin/receipts", post(receipts))
        .route("/admin/calls", get(calls).post(call))
        .route("/admin/profile", post(profile))
        .route("/admin/typing", post(typing))
        .route("/admin/picture-asks", get(picture_asks))
        .route("/admin/calls/{id}/end", post(hang_up))
        .route("/admin/read-receipts", get(read_receipts))
        .route("/admin/groups", get(groups).post(create_group))
        .route("/admin/groups/join", post(join_group))
        .route("/admin/groups/{id}/change", post(change_group))
        .route("/admin/overheard", get(overheard))
        .route("/admin/fault", post(fault))
        .route("/admin/devices", get(devices))
        .route("/admin/logins", get(logins))
        .route("/mms/{*rest}", any(media).layer(DefaultBodyLimit::max(MAX_MEDIA_BYTES)))
        .route("/v/{*rest}", any(media))
        .with_state(sim)
}

struct AdminError(StatusCode, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let code = if self.0 == StatusCode::NOT_FOUND { "not_found" } else { "bad_request" };
        (self.0, Json(json!({"error": {"code": code, "message": self.1}}))).into_response()
    }
}

fn bad(e: impl std::fmt::Display) -> AdminError {
    AdminError(StatusCode::BAD_REQUEST, format!("{e:#}"))
}

fn digits(phone: &str) -> Result<String, AdminError> {
    let d: String = phone.chars().filter(char::is_ascii_digit).collect();
    if d.len() < 6 || d.len() > 15 {
        return Err(bad(format!("not a phone number: {phone:?}")));
    }
    Ok(d)
}

async fn websocket(State(sim): State<Sim>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| pump(sim, socket))
}

/// Carries bytes between a WebSocket and a simulator connection.
async fn pump(sim: Sim, socket: WebSocket) {
    let (to_server, mut from_server) = sim.accept();
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Binary(bytes))) => {
                    if to_server.send(bytes).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            outgoing = from_server.recv() => match outgoing {
                Some(bytes) => {
                    if sink.send(Message::Binary(bytes)).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            },
        }
    }
}

#[derive(Deserialize)]
struct ScanBody {
    qr: String,
    phone: Option<String>,
}

async fn scan(State(sim): State<Sim>, Json(body): Json<ScanBody>) -> Result<Json<Value>, AdminError> {
    let phone = match body.phone {
        Some(p) => digits(&p)?,
        None => format!("6281{:09}", rand::random::<u32>() % 1_000_000_000),
    };
    sim.scan(&body.qr, &phone).await.map_err(|e| AdminError(StatusCode::NOT_FOUND, format!("{e:#}")))?;
    Ok(Json(json!({"phone": phone})))
}

#[derive(Deserialize)]
struct PairCodeBody {
    phone: String,
    code: String,
}

async fn pair_code(State(sim): State<Sim>, Json(body): Json<PairCodeBody>) -> Result<Json<Value>, AdminError> {
    let phone = digits(&body.phone)?;
    sim.enter_pair_code(&phone, &body.code).await.map_err(|e| AdminError(StatusCode::NOT_FOUND, format!("{e:#}")))?;
    Ok(Json(json!({"phone": phone})))
}

#[derive(Deserialize)]
struct ContactsBody {
    phones: Vec<String>,
}

async fn contacts(State(sim): State<Sim>, Json(body): Json<ContactsBody>) -> Result<Json<Value>, AdminError> {
    let phones = body.phones.iter().map(|p| digits(p)).collect::<Result<Vec<_>, _>>()?;
    sim.add_contacts(&phones);
    Ok(Json(json!({"added": phones.len()})))
}

#[derive(Deserialize)]
struct MessagesQuery {
    to: Option<String>,
}

async fn messages(State(sim): State<Sim>, Query(q): Query<MessagesQuery>) -> Result<Json<Value>, AdminError> {
    let to = q.to.as_deref().map(digits).transpose()?;
    Ok(Json(json!(sim.received(to.as_deref()))))
}

/// The typing a contact's phone was shown, oldest first.
async fn chatstates(State(sim): State<Sim>, Query(q): Query<MessagesQuery>) -> Result<Json<Value>, AdminError> {
    let to = digits(q.to.as_deref().unwrap_or_default())?;
    Ok(Json(json!(sim.chatstates(&to))))
}

/// The reactions a contact's phone shows, on which message and by whom.
async fn reactions(State(sim): State<Sim>, Query(q): Query<MessagesQuery>) -> Result<Json<Value>, AdminError> {
    let to = digits(q.to.as_deref().unwrap_or_default())?;
    let shown: Vec<Value> = sim
        .reactions(&to)
        .into_iter()
        .map(|(id, by, emoji)| json!({"messageId": id, "from": by, "emoji": emoji}))
        .collect();
    Ok(Json(json!(shown)))
}

async fn inbound(
    State(sim): State<Sim>,
    Json(mut body): Json<crate::messages::Write>,
) -> Result<Json<Value>, AdminError> {
    body.from = digits(&body.from)?;
    // A message in a group goes to its participants: `to` is not needed.
    if body.group.is_none() || !body.to.is_empty() {
        body.to = digits(&body.to)?;
    }
    let id = sim.deliver(&body).await.map_err(bad)?;
    Ok(Json(json!({"id": id})))
}

#[derive(Deserialize)]
struct TypingBody {
    from: String,
    to: String,
    state: String,
}

/// A contact types to a linked number.
async fn typing(State(sim): State<Sim>, Json(body): Json<TypingBody>) -> Result<Json<Value>, AdminError> {
    let (from, to) = (digits(&body.from)?, digits(&body.to)?);
    let shown = sim.contact_types(&from, &to, &body.state).map_err(bad)?;
    Ok(Json(json!({"shown": shown})))
}

#[derive(Deserialize)]
struct ProfileBody {
    phone: String,
    about: Option<String>,
    /// The picture, base64.
    picture: Option<String>,
}

/// What a number shows others: its "about" text and profile picture.
async fn profile(State(sim): State<Sim>, Json(body): Json<ProfileBody>) -> Result<Json<Value>, AdminError> {
    use base64::Engine as _;
    let phone = digits(&body.phone)?;
    let picture = body.picture.map(|p| base64::engine::general_purpose::STANDARD.decode(p)).transpose().map_err(bad)?;
    sim.set_profile(&phone, body.about, picture);
    Ok(Json(json!({"ok": true})))
}

/// How often devices asked for a number's profile picture.
async fn picture_asks(State(sim): State<Sim>, Query(q): Query<PhoneQuery>) -> Result<Json<Value>, AdminError> {
    let phone = digits(&q.phone)?;
    Ok(Json(json!({"phone": phone, "asks": sim.picture_asks(&phone)})))
}

#[derive(Deserialize)]
struct PhoneQuery {
    phone: String,
}

#[derive(Deserialize)]
struct CallBody {
    from: String,
    to: String,
    #[serde(default)]
    video: bool,
    #[serde(rename = "pushName")]
    push_name: Option<String>,
}

/// A contact calls a linked number.
async fn call(State(sim): State<Sim>, Json(body): Json<CallBody>) -> Result<Json<Value>, AdminError> {
    let (from, to) = (digits(&body.from)?, digits(&body.to)?);
    let id = sim.call(&from, &to, body.video, body.push_name.as_deref()).map_err(bad)?;
    Ok(Json(json!({"id": id})))
}

async fn hang_up(
    State(sim): State<Sim>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, AdminError> {
    sim.hang_up(&id).map_err(|e| AdminError(StatusCode::NOT_FOUND, format!("{e:#}")))?;
    Ok(Json(json!({"ok": true})))
}

/// The calls contacts made (to one linked number with `?to=`).
async fn calls(State(sim): State<Sim>, Query(q): Query<MessagesQuery>) -> Result<Json<Value>, AdminError> {
    let to = q.to.as_deref().map(digits).transpose()?;
    Ok(Json(json!(sim.calls(to.as_deref()))))
}

#[derive(Deserialize)]
struct GroupsQuery {
    phone: Option<String>,
}

/// The groups (those `phone` is in, with `?phone=`: what its phone shows).
async fn groups(State(sim): State<Sim>, Query(q): Query<GroupsQuery>) -> Result<Json<Value>, AdminError> {
    let phone = q.phone.as_deref().map(digits).transpose()?;
    let groups: Vec<_> =
        sim.groups().into_iter().filter(|g| phone.as_ref().is_none_or(|p| g.participants.contains_key(p))).collect();
    Ok(Json(json!(groups)))
}

#[derive(Deserialize)]
struct CreateGroupBody {
    creator: String,
    subject: String,
    #[serde(default)]
    participants: Vec<String>,
}

/// A contact's phone makes a group.
async fn create_group(State(sim): State<Sim>, Json(body): Json<CreateGroupBody>) -> Result<Json<Value>, AdminError> {
    let creator = digits(&body.creator)?;
    let participants = body.participants.iter().map(|p| digits(p)).collect::<Result<Vec<_>, _>>()?;
    let group = sim.create_group(&creator, &body.subject, &participants).map_err(bad)?;
    Ok(Json(json!(group)))
}

#[derive(Deserialize)]
struct JoinBody {
    phone: String,
    code: String,
}

/// A contact joins a group by its invite link.
async fn join_group(State(sim): State<Sim>, Json(body): Json<JoinBody>) -> Result<Json<Value>, AdminError> {
    let phone = digits(&body.phone)?;
    let id = sim.join_group(&phone, &body.code).map_err(|e| AdminError(StatusCode::NOT_FOUND, format!("{e:#}")))?;
    Ok(Json(json!({"id": id})))
}

/// One change to a group by one of its participants (`by`): exactly one field besides `by`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChangeBody {
    by: String,
    add: Option<Vec<String>>,
    remove: Option<Vec<String>>,
    promote: Option<Vec<String>>,
    demote: Option<Vec<String>>,
    subject: Option<String>,
    description: Option<String>,
    #[serde(default)]
    delete_description: bool,
    announce: Option<bool>,
    locked: Option<bool>,
    #[serde(default)]
    reset_invite: bool,
    #[serde(default)]
    leave: bool,
}

async fn change_group(
    State(sim): State<Sim>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Json(body): Json<ChangeBody>,
) -> Result<Json<Value>, AdminError> {
    use crate::groups::Change;
    let by = digits(&body.by)?;
    let numbers = |list: Vec<String>| list.iter().map(|p| digits(p)).collect::<Result<Vec<_>, _>>();
    let prev = || sim.group(&id).and_then(|g| g.description_id);
    let change = if let Some(list) = body.add {
        Change::Add(numbers(list)?)
    } else if let Some(list) = body.remove {
        Change::Remove(numbers(list)?)
    } else if let Some(list) = body.promote {
        Change::Promote(numbers(list)?)
    } else if let Some(list) = body.demote {
        Change::Demote(numbers(list)?)
    } else if let Some(subject) = body.subject {
        Change::Subject(subject)
    } else if body.description.is_some() || body.delete_description {
        Change::Description { text: body.description, prev: prev() }
    } else if let Some(on) = body.announce {
        Change::Announce(on)
    } else if let Some(on) = body.locked {
        Change::Locked(on)
    } else if body.reset_invite {
        Change::ResetInvite
    } else if body.leave {
        Change::Leave
    } else {
        return Err(AdminError(StatusCode::UNPROCESSABLE_ENTITY, "name one change".into()));
    };
    let results = sim.change_group(&id, &by, change).map_err(bad)?;
    let results: Vec<Value> =
        results.into_iter().map(|(phone, error)| json!({"phone": phone, "error": error})).collect();
    Ok(Json(json!({"results": results})))
}

/// Group messages former participants tried with the sender keys they kept.
async fn overheard(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(sim.overheard()))
}

async fn read_receipts(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(sim.read_receipts()))
}

#[derive(Deserialize)]
struct ReceiptBody {
    message_id: String,
    #[serde(rename = "type")]
    kind: String,
}

async fn receipts(State(sim): State<Sim>, Json(body): Json<ReceiptBody>) -> Result<Json<Value>, AdminError> {
    sim.receipt(&body.message_id, &body.kind).map_err(bad)?;
    Ok(Json(json!({"ok": true})))
}

#[derive(Deserialize)]
struct FaultBody {
    phone: String,
    kind: String,
    seconds: Option<u64>,
}

async fn fault(State(sim): State<Sim>, Json(body): Json<FaultBody>) -> Result<Json<Value>, AdminError> {
    let phone = digits(&body.phone)?;
    sim.fault(&phone, Fault::parse(&body.kind, body.seconds).map_err(bad)?);
    Ok(Json(json!({"ok": true})))
}

async fn devices(State(sim): State<Sim>) -> Json<Value> {
    let list: Vec<Value> = sim
        .devices()
        .into_iter()
        .map(|(phone, device, connected)| json!({"phone": phone, "device": device, "connected": connected}))
        .collect();
    Json(json!(list))
}

async fn logins(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(sim.logins()))
}

async fn media(State(sim): State<Sim>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let body = (method == Method::POST).then_some(&body[..]);
    let (status, bytes) = crate::media::http(&sim, method.as_str(), path, body);
    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), bytes).into_response()
}

/// Binds `listen` and serves in the background; returns the bound address.
pub async fn spawn(sim: Sim, listen: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    info!(%addr, "wa-sim listening");
    tokio::spawn(serve(sim, listener));
    Ok(addr)
}
