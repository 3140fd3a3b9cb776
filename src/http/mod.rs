//! The HTTP API: the router, its route groups with their access areas, the
//! OpenAPI document generated from the handlers, and the cross-cutting layers
//! (metrics, tracing, panics, body limits, JSON 404/405).

pub mod analytics;
pub mod auth;
pub mod authenticate;
pub mod bot;
pub mod broadcasts;
pub mod canned;
pub mod changes;
pub mod chats;
pub mod client_addr;
pub mod common;
pub mod contacts;
pub mod customers;
pub mod dashboard;
pub mod docs;
pub mod events;
pub mod export;
pub mod extract;
pub mod groups;
pub mod health;
pub mod idempotency;
pub mod labels;
pub mod media;
pub mod messages;
pub mod notices;
pub mod qr;
pub mod replies;
pub mod search;
pub mod sends;
pub mod serve;
pub mod sessions;
pub mod settings;
pub mod slots;
pub mod state;
pub mod users;
pub mod webhooks;
pub mod whatsapp;

use std::time::Instant;

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{Method, StatusCode, Uri},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::Area, db::health::DbState, error::ApiError};
use state::AppState;

/// `{"data": ...}`: the envelope of single resources and lists.
#[derive(Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

/// One page of a list: `{"data": [...], page, limit, total}` (`total`: all that match).
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub page: u64,
    pub limit: u64,
    pub total: u64,
}

/// `{"message": ...}`: the answer of actions with nothing else to return.
#[derive(Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "wagate", description = "Self-hosted WhatsApp Web gateway"),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health", description = "Liveness, database, metrics, this document"),
        (name = "auth", description = "Registration, login, profile, API keys"),
        (name = "users", description = "Account management (admin)"),
        (name = "sessions", description = "Linked WhatsApp numbers: linking, status, logout (seed 003)"),
        (name = "messages", description = "The durable, rate-limited send queue (seed 003)"),
        (name = "contacts", description = "Whether numbers are on WhatsApp, asked through a session"),
        (name = "groups", description = "The WhatsApp groups a session is in: read, make and change them through its device"),
        (name = "whatsapp", description = "Single-number shortcuts of the outage-notice service (seed 002)"),
        (name = "notices", description = "Outage notices (seed 002)"),
        (name = "customers", description = "Customers and their ODPs, as the billing system keeps them (seed 002)"),
        (name = "broadcasts", description = "Notices and texts to many customers, with live progress and reports (seed 002)"),
        (name = "inbox", description = "The shared inbox: chats, timelines, agents' replies (seed 004)"),
        (name = "events", description = "Live events (Server-Sent Events)"),
        (name = "webhooks", description = "Signed outgoing webhooks (Standard Webhooks): endpoints, delivery log, replay"),
        (name = "bot", description = "The menu bot that answers customers first (seed 000)"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))));
    }
}

/// Gives every response the `description` OpenAPI requires (client generators
/// refuse a document without): its status's reason phrase where the handler
/// says nothing more; and adds the answers the server gives any route.
fn describe_responses(openapi: &mut utoipa::openapi::OpenApi) {
    let error = |description: &str| {
        utoipa::openapi::ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (path, item) in openapi.paths.paths.iter_mut() {
        let needs_database = !without_database(path);
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            // Any request with a body may be cut short by the body timeout (see `serve`).
            let responses = &mut operation.responses.responses;
            if operation.request_body.is_some() && !responses.contains_key("408") {
                let timeout = error("Request Timeout: the body came too slowly (`request_timeout`)");
                responses.insert("408".into(), timeout.into());
            }
            // See `database_gate`.
            if needs_database && !responses.contains_key("503") {
                let away = error(
                    "Service Unavailable: the database is not answering (`database_unavailable`, with `Retry-After`)",
                );
                responses.insert("503".into(), away.into());
            }
            for (status, response) in &mut operation.responses.responses {
                if let utoipa::openapi::RefOr::T(response) = response
                    && response.description.is_empty()
                {
                    let reason = status.parse().ok().and_then(|code| StatusCode::from_u16(code).ok());
                    response.description =
                        reason.and_then(|s| s.canonical_reason()).unwrap_or("The response").to_owned();
                }
            }
        }
    }
}

/// Routes behind authentication, admitted by `area`'s row of the role table.
fn guarded(state: &AppState, area: Area, routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    routes.route_layer(middleware::from_fn_with_state(state.clone(), move |s, req, next| {
        authenticate::require(area, s, req, next)
    }))
}

pub fn router(state: AppState) -> Router {
    let public = OpenApiRouter::new()
        .routes(routes!(health::root))
        .routes(routes!(health::health))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::open_web_login, auth::close_web_login))
        .routes(routes!(health::db_connect))
        .routes(routes!(health::openapi_json))
        .routes(routes!(docs::docs));
    let system = OpenApiRouter::new().routes(routes!(health::metrics));
    let profile = OpenApiRouter::new()
        .routes(routes!(auth::me))
        .routes(routes!(auth::set_availability))
        .routes(routes!(auth::set_language))
        .routes(routes!(events::events));
    let sessions = OpenApiRouter::new()
        .routes(routes!(sessions::create_session))
        .routes(routes!(sessions::list_sessions))
        .routes(routes!(sessions::session_status))
        .routes(routes!(sessions::session_qr))
        .routes(routes!(sessions::session_qr_image))
        .routes(routes!(sessions::pairing_code))
        .routes(routes!(sessions::logout_session))
        .routes(routes!(sessions::restart_session))
        .routes(routes!(sessions::delete_session))
        .routes(routes!(sessions::check_phone))
        .routes(routes!(sessions::cleanup_sessions))
        .routes(routes!(whatsapp::whatsapp_status))
        .routes(routes!(whatsapp::whatsapp_qr))
        .routes(routes!(whatsapp::whatsapp_connect))
        .routes(routes!(whatsapp::whatsapp_restart))
        .routes(routes!(whatsapp::whatsapp_logout))
        .routes(routes!(messages::send_text))
        .routes(routes!(sends::send_location))
        .routes(routes!(sends::send_contact))
        .routes(routes!(sends::send_poll))
        .routes(routes!(messages::get_message, changes::delete))
        .routes(routes!(changes::react))
        .routes(routes!(contacts::check))
        .routes(routes!(contacts::profile))
        .routes(routes!(contacts::picture))
        .routes(routes!(groups::list_groups, groups::create_group))
        .routes(routes!(groups::get_group, groups::update_group))
        .routes(routes!(groups::change_participants))
        .routes(routes!(groups::group_invite))
        .routes(routes!(groups::revoke_group_invite))
        .routes(routes!(groups::join_group))
        .routes(routes!(groups::leave_group))
        .routes(routes!(changes::edit))
        .routes(routes!(messages::list_messages))
        .routes(routes!(chats::list_received))
        .routes(routes!(messages::queue_status))
        .routes(routes!(messages::clear_queue))
        .routes(routes!(messages::get_limits, messages::set_limits))
        .routes(routes!(sessions::get_calls, sessions::set_calls));
    // Uploads may be as large as the media limits allow (plus the form around them).
    let media_body = state.config.media.largest() as usize + 64 * 1024;
    let uploads = OpenApiRouter::new()
        .routes(routes!(messages::send_image))
        .routes(routes!(messages::send_document))
        .routes(routes!(sends::send_video))
        .routes(routes!(sends::send_audio))
        .routes(routes!(sends::send_voice))
        .routes(routes!(sends::send_sticker))
        .layer(DefaultBodyLimit::max(media_body))
        .layer(middleware::from_fn_with_state(state.clone(), media_slot));
    let replies = OpenApiRouter::new()
        .routes(routes!(replies::send_chat_message))
        .layer(DefaultBodyLimit::max(media_body))
        .layer(middleware::from_fn_with_state(state.clone(), media_slot));
    let notices = OpenApiRouter::new()
        .routes(routes!(notices::list_notices, notices::create_notice))
        .routes(routes!(notices::get_notice, notices::update_notice, notices::delete_notice))
        .routes(routes!(customers::list_odps));
    let customers = OpenApiRouter::new()
        .routes(routes!(customers::list_customers))
        .routes(routes!(customers::bulk_customers))
        .routes(routes!(customers::set_odp_group));
    let broadcasts = OpenApiRouter::new()
        .routes(routes!(broadcasts::send_notification))
        .routes(routes!(broadcasts::send_custom))
        .routes(routes!(broadcasts::send_phone))
        .routes(routes!(broadcasts::send_by_odp))
        .routes(routes!(broadcasts::list_broadcasts))
        .routes(routes!(broadcasts::get_broadcast))
        .routes(routes!(broadcasts::cancel_broadcast));
    let imports = OpenApiRouter::new()
        .routes(routes!(customers::import_customers))
        .layer(DefaultBodyLimit::max(state.config.notify.max_import_bytes + 64 * 1024));
    let inbox = OpenApiRouter::new()
        .routes(routes!(chats::list_chats, chats::create_chat))
        .routes(routes!(chats::chat_counts))
        .routes(routes!(search::search_messages))
        .routes(routes!(export::export_chats))
        .routes(routes!(analytics::inbox_analytics))
        .routes(routes!(chats::get_chat, chats::update_chat))
        .routes(routes!(chats::chat_messages))
        .routes(routes!(chats::read_chat))
        .routes(routes!(chats::add_note))
        .routes(routes!(canned::list_canned_replies, canned::create_canned_reply))
        .routes(routes!(canned::update_canned_reply, canned::delete_canned_reply))
        .routes(routes!(labels::list_labels, labels::create_label))
        .routes(routes!(labels::update_label, labels::delete_label))
        .routes(routes!(labels::set_chat_labels))
        .routes(routes!(chats::typing))
        .routes(routes!(replies::react_in_chat))
        .routes(routes!(replies::edit_in_chat))
        .routes(routes!(replies::delete_in_chat))
        .routes(routes!(chats::chat_media));
    let api_keys = OpenApiRouter::new()
        .routes(routes!(auth::list_api_keys, auth::create_api_key))
        .routes(routes!(auth::delete_api_key));
    let webhooks = OpenApiRouter::new()
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(webhooks::get_webhook, webhooks::update_webhook, webhooks::delete_webhook))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::retry_delivery))
        .routes(routes!(webhooks::replay))
        .routes(routes!(webhooks::test_webhook));
    let bot = OpenApiRouter::new()
        .routes(routes!(bot::get_bot_config, bot::put_bot_config))
        .routes(routes!(settings::get_inbox_settings, settings::put_inbox_settings));
    let users = OpenApiRouter::new()
        .routes(routes!(users::list_users))
        .routes(routes!(users::create_user))
        .routes(routes!(users::update_user, users::delete_user));

    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(public)
        .merge(guarded(&state, Area::System, system))
        .merge(guarded(&state, Area::Profile, profile))
        .merge(guarded(&state, Area::ApiKeys, api_keys))
        .merge(guarded(&state, Area::Users, users))
        .merge(guarded(&state, Area::Sessions, sessions))
        .merge(guarded(&state, Area::Sessions, uploads))
        .merge(guarded(&state, Area::Notices, notices))
        .merge(guarded(&state, Area::Customers, customers))
        .merge(guarded(&state, Area::Customers, imports))
        .merge(guarded(&state, Area::Broadcasts, broadcasts))
        .merge(guarded(&state, Area::Inbox, inbox))
        .merge(guarded(&state, Area::Inbox, replies))
        .merge(guarded(&state, Area::Webhooks, webhooks))
        .merge(guarded(&state, Area::Bot, bot))
        .split_for_parts();
    let mut openapi = openapi;
    describe_responses(&mut openapi);
    let document = openapi.to_json().expect("the OpenAPI document serialises");
    let page = docs::render(&serde_json::from_str(&document).expect("the OpenAPI document is JSON"));
    let _ = state.openapi.set(document);
    let _ = state.docs.set(page);

    let cors = cors(&state.config.server.cors_origins);
    let router = router
        .route(dashboard::PATH, axum::routing::get(dashboard::page))
        .route("/assets/{version}/{*path}", axum::routing::get(dashboard::file))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), database_gate))
        .layer(middleware::from_fn_with_state(state.clone(), record_metrics))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("a request handler panicked").into_response()))
        .layer(TraceLayer::new_for_http())
        .layer(DefaultBodyLimit::max(state.config.server.max_body_bytes))
        .with_state(state);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Browsers on `origins` may call the API with a bearer token or API key
/// (no cookies: `Access-Control-Allow-Credentials` is not sent); preflights
/// are answered before authentication. `None` when no origin is configured.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, header};
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-api-key"),
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(3600)),
    )
}

/// A multipart upload takes its media slots (see [`slots`]) when its body
/// starts arriving and holds them while it is read (to disk); URL fetches take
/// theirs in `messages::content`. Authentication runs first.
async fn media_slot(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let multipart = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/"));
    if !multipart {
        return next.run(req).await;
    }
    let account = req.extensions().get::<crate::auth::Principal>().map_or(0, |p| p.user_id);
    let req = req.map(|body| state.media_slots.around(account, body));
    next.run(req).await
}

/// While the database does not answer, what needs it is answered 503 at once
/// (`database_unavailable`, `Retry-After`), not after the pool's timeouts;
/// while another process holds its write lock, so is what would write.
/// Liveness, the documents and the dashboard's files are still served.
async fn database_gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let turned_away = match state.db_health.state() {
        DbState::Up => false,
        DbState::Locked { .. } => !req.method().is_safe(),
        DbState::Away => true,
    };
    if turned_away && !without_database(req.uri().path()) {
        return ApiError::database_unavailable().into_response();
    }
    next.run(req).await
}

/// What is served while the database is away.
fn without_database(path: &str) -> bool {
    matches!(path, "/" | "/health" | "/db-connect" | "/openapi.json" | "/docs")
        || path == dashboard::PATH
        || path.starts_with("/assets/")
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let response = next.run(req).await;
    state.metrics.observe_request(&method, &route, response.status().as_u16(), started.elapsed());
    response
}
