//! The menu bot through HTTP and wa-sim: scripted conversations through menus
//! and modes, outage status by ODP, its document validated and applied to the
//! next message, and its safety limits (cap, offline backlog, groups, status
//! updates, the phone's own messages). The bot answers in the transaction that
//! stores the customer's message, so once that message is in the timeline, a
//! reply it got is there too: silence is checked without sleeping.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wa_sim::messages::Write;

use crate::{
    db_tests,
    helpers::{EventStream, TestApp, TestDb, error_code, no_limits},
};

const NUMBER: &str = "628111000301";
const OTHER_NUMBER: &str = "628111000302";
const CONTACT: &str = "628222000301";

/// Seed 000's menu, which the default document sends.
const MAIN_MENU: &str = "Halo 👋\nSilakan pilih:\n1️⃣ Info\n2️⃣ Bantuan\n\nKetik *agent* untuk berbicara dengan manusia.";
const INFO: &str = "Layanan pelanggan kami buka Senin–Sabtu pukul 08.00–17.00 WIB.";
const HAND_OVER: &str = "Baik, Anda akan dihubungkan dengan admin kami. Mohon tunggu sebentar 🙏";
const PAUSED: &str = "Bot dijeda. Ketik *bot* untuk kembali ke menu.";

fn write(from: &str, to: &str, text: &str) -> Write {
    Write {
        from: from.into(),
        to: to.into(),
        text: Some(text.into()),
        push_name: Some("Budi".into()),
        ..Default::default()
    }
}

/// Saves the bot `document`; with `max_replies_per_minute` 60 unless it says
/// (these scripts answer faster than a person).
async fn put_bot(app: &TestApp, token: &str, mut document: Value) -> Value {
    if document.get("max_replies_per_minute").is_none() {
        document["max_replies_per_minute"] = json!(60);
    }
    let (status, body) = app.call(Method::PUT, "/bot/config", Some(token), Some(document)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

/// `(sender, text)` of each entry of `contact`'s chat on `session`, and the chat.
async fn timeline(app: &TestApp, token: &str, session: &str, contact: &str) -> (Value, Vec<(String, String)>) {
    let (status, list) = app.get("/chats/?limit=100", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let Some(chat) = list.as_array().unwrap().iter().find(|c| c["phone"] == contact && c["session"] == session) else {
        return (Value::Null, Vec::new());
    };
    let (status, detail) = app.get(&format!("/chats/{}?limit=200", chat["id"]), Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let entries = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["sender"].as_str().unwrap().to_owned(), m["text"].as_str().unwrap_or_default().to_owned()))
        .collect();
    (detail, entries)
}

/// `contact` writes `text` to `number` (session `session`); waits until the
/// message is stored, and returns what the bot answered it (its entries after it).
async fn say(app: &TestApp, token: &str, session: &str, number: &str, contact: &str, text: &str) -> Vec<String> {
    let id = app.sim.deliver(&write(contact, number, text)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (chat, _) = timeline(app, token, session, contact).await;
        if let Some(entries) = chat["messages"].as_array()
            && let Some(at) = entries.iter().position(|m| m["message_id"] == id.as_str())
        {
            return entries[at + 1..]
                .iter()
                .filter(|m| m["sender"] == "bot")
                .map(|m| m["text"].as_str().unwrap().to_owned())
                .collect();
        }
        assert!(std::time::Instant::now() < deadline, "{text:?} was never stored");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The texts `contact`'s phone shows from `number`, once there are `count` (no more may follow).
async fn shown(app: &TestApp, number: &str, contact: &str, count: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let texts = || -> Vec<String> {
        app.sim
            .shown(Some(contact))
            .into_iter()
            .filter(|r| r.from == number)
            .map(|r| r.text.unwrap_or_default())
            .collect()
    };
    while texts().len() < count {
        assert!(std::time::Instant::now() < deadline, "only {:?} arrived", texts());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    texts()
}

/// Waits until nothing the account queued is still on its way.
async fn queue_settled(app: &TestApp, token: &str, session: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = app.get(&format!("/message/queue-status?session={session}"), Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["pending"] == 0 && body["processing"] == 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the queue never settled: {body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn a_scripted_conversation(db: TestDb) {
    let app = TestApp::spawn_with(db, |config| {
        no_limits(config);
        config.webhook.allow_ranges = vec!["127.0.0.0/8".into()];
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    app.linked_session(&token, "s2", OTHER_NUMBER).await;
    let receiver = crate::webhooks::Receiver::start_at("127.0.0.1:0", 200).await;
    let hook = json!({"url": receiver.url, "events": ["chat.updated", "chat.message"], "sessions": ["s1"]});
    let (status, hook) = app.post("/webhooks", Some(&token), hook).await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let secret = hook["data"]["secret"].as_str().unwrap().to_owned();
    let (status, off) = app.get("/bot/config", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{off}");
    assert_eq!(off["data"]["config"]["enabled"], false, "off until the account turns it on");
    assert_eq!(off["data"]["updated_at"], Value::Null);
    // Off, a message gets no answer.
    assert!(say(&app, &token, "s1", NUMBER, CONTACT, "halo").await.is_empty());

    let mut document = off["data"]["config"].clone();
    assert_eq!(document["max_replies_per_minute"], 10);
    document["enabled"] = json!(true);
    document["max_replies_per_minute"] = json!(60);
    let on = put_bot(&app, &token, document).await;
    assert_eq!(on["sessions"], json!([{"session": "s1", "enabled": true}, {"session": "s2", "enabled": true}]));
    let mut events = EventStream::open(&app, &token).await;

    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "halo").await, [MAIN_MENU]);
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "1").await, [INFO]);
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "  AGENT ").await, [HAND_OVER]);
    let (chat, _) = timeline(&app, &token, "s1", CONTACT).await;
    assert_eq!(chat["mode"], "agent");
    let id = chat["id"].as_i64().unwrap();
    events.until(30, |kind, data| kind == "chat.updated" && data["id"] == id && data["mode"] == "agent").await;
    // Webhooks hear the hand-over and the bot's answer, signed.
    receiver.until(&secret, 30, |e| e["type"] == "chat.updated" && e["data"]["mode"] == "agent").await;
    receiver
        .until(&secret, 30, |e| {
            e["type"] == "chat.message"
                && e["data"]["message"]["sender"] == "bot"
                && e["data"]["message"]["text"] == HAND_OVER
        })
        .await;

    // A human has it: the bot is silent while the agent answers.
    let (status, reply) = app
        .post("/chats/messages", Some(&token), json!({"chat_id": id, "text": "Halo, saya Rina", "sender": "agent"}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    assert!(say(&app, &token, "s1", NUMBER, CONTACT, "internet saya mati").await.is_empty());
    assert!(say(&app, &token, "s1", NUMBER, CONTACT, "1").await.is_empty());

    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "Bot").await, [MAIN_MENU]);
    assert_eq!(timeline(&app, &token, "s1", CONTACT).await.0["mode"], "bot");
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "pause").await, [PAUSED]);
    assert_eq!(timeline(&app, &token, "s1", CONTACT).await.0["mode"], "paused");
    assert!(say(&app, &token, "s1", NUMBER, CONTACT, "halo?").await.is_empty());
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "menu").await, [MAIN_MENU]);

    // Sub-menus, and back.
    let help = "Bantuan — silakan pilih:\n1️⃣ Cek gangguan di area saya\n2️⃣ Bicara dengan admin\n0️⃣ \
                Kembali ke menu utama\n\nKetik *agent* untuk berbicara dengan manusia.";
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "2").await, [help]);
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "0").await, [MAIN_MENU]);

    // Closed, the next message reopens the chat at the menu.
    let (status, body) =
        app.call(Method::PATCH, &format!("/chats/{id}"), Some(&token), Some(json!({"mode": "closed"}))).await;
    assert_eq!((status, body["mode"].as_str()), (StatusCode::OK, Some("closed")), "{body}");
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "halo lagi").await, [MAIN_MENU]);
    assert_eq!(timeline(&app, &token, "s1", CONTACT).await.0["mode"], "bot");

    // The same contact writing to the other number is answered from that number.
    assert_eq!(say(&app, &token, "s2", OTHER_NUMBER, CONTACT, "halo").await, [MAIN_MENU]);

    // Each reply reached the contact once, from the chat's own number, in order.
    let from_s1 =
        [MAIN_MENU, INFO, HAND_OVER, "Halo, saya Rina", MAIN_MENU, PAUSED, MAIN_MENU, help, MAIN_MENU, MAIN_MENU];
    queue_settled(&app, &token, "s1").await;
    assert_eq!(shown(&app, NUMBER, CONTACT, from_s1.len()).await, from_s1);
    assert_eq!(shown(&app, OTHER_NUMBER, CONTACT, 1).await, [MAIN_MENU]);
    assert_eq!(app.sim.received(Some(CONTACT)).len(), from_s1.len() + 1, "no copy twice");
    let (_, entries) = timeline(&app, &token, "s1", CONTACT).await;
    assert_eq!(entries.iter().filter(|(sender, _)| sender == "bot").count(), 9);

    // Operators see how long received messages (and the bot's answers) wait for their commit.
    let metrics = app.client.get(format!("{}/metrics", app.address)).bearer_auth(&token).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let count: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("wagate_inbound_commit_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no wagate_inbound_commit_seconds_count in {metrics}"));
    assert!(count > 0, "received batches are counted: {count}");
}

async fn outage_status_by_odp(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let (sari, joko, stranger) = ("628222000311", "628222000312", "628222000313");
    let customers = json!([
        {"external_id": "C1", "name": "Sari", "phone": "0822-2000-311", "odp": "ODP-7"},
        {"external_id": "C2", "name": "Joko", "phone": "+62 822-2000-312", "odp": "ODP-9"},
    ]);
    let (status, body) = app.post("/api/customers/bulk", Some(&token), json!({"customers": customers})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notice = json!({"title": "Kabel putus", "message": "Tim sedang memperbaiki kabel.", "odps": ["ODP-7"],
                        "starts_at": "2026-12-02T08:00:00+07:00", "estimated_end": "2026-12-02T17:00:00+07:00"});
    let (status, body) = app.post("/api/notices", Some(&token), notice).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let resolved =
        json!({"title": "Lama", "message": "Sudah selesai.", "odps": ["ODP-7", "ODP-9"], "status": "resolved"});
    let (status, body) = app.post("/api/notices", Some(&token), resolved).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    put_bot(&app, &token, json!({"enabled": true})).await;

    let told = say(&app, &token, "s1", NUMBER, sari, "Cek Gangguan").await;
    assert_eq!(told.len(), 1, "{told:?}");
    let expected = "Yth. Bapak/Ibu Sari,\n\nKami informasikan ada gangguan jaringan di area ODP-7.\n\n*Kabel putus*\n\
                    Tim sedang memperbaiki kabel.\n\nMulai: 02-12-2026 08:00\nEstimasi selesai: 02-12-2026 17:00\n\n\
                    Mohon maaf atas ketidaknyamanannya. Terima kasih.";
    assert_eq!(told[0], expected);
    // Through the menus: Bantuan, then the outage option.
    say(&app, &token, "s1", NUMBER, sari, "2").await;
    assert_eq!(say(&app, &token, "s1", NUMBER, sari, "1").await, [expected]);

    let none = say(&app, &token, "s1", NUMBER, joko, "gangguan").await;
    assert_eq!(none.len(), 1, "{none:?}");
    assert!(
        none[0].starts_with("Halo Joko, saat ini tidak ada gangguan yang kami ketahui di ODP ODP-9 (per "),
        "{none:?}"
    );
    assert!(!none[0].contains('{'), "every placeholder filled: {none:?}");

    let unknown = say(&app, &token, "s1", NUMBER, stranger, "gangguan").await;
    assert_eq!(unknown.len(), 1);
    assert!(unknown[0].starts_with("Maaf, nomor Anda belum terdaftar sebagai pelanggan kami"), "{unknown:?}");

    // The account's own template for notices told by the bot.
    let document = json!({"enabled": true, "outage": {"template": "{nama}: {judul} di {odp} sampai {estimasi}"}});
    put_bot(&app, &token, document).await;
    assert_eq!(
        say(&app, &token, "s1", NUMBER, sari, "gangguan").await,
        ["Sari: Kabel putus di ODP-7 sampai 02-12-2026 17:00"]
    );
    queue_settled(&app, &token, "s1").await;
    assert_eq!(shown(&app, NUMBER, sari, 4).await.len(), 4);
}

/// `HH:MM` in WIB (the default `notify.utc_offset`), `hours` from now.
fn wib_in(hours: i64) -> String {
    let wib = chrono::FixedOffset::east_opt(7 * 3600).unwrap();
    (chrono::Utc::now() + chrono::Duration::hours(hours)).with_timezone(&wib).format("%H:%M").to_string()
}

async fn the_document_is_checked_and_applies_at_once(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    app.linked_session(&token, "s2", OTHER_NUMBER).await;

    // Invalid documents, each refused with the path of its error; nothing is saved.
    let menu = |options: Value| json!({"enabled": true, "menus": {"main": {"text": "Pilih:", "options": options}}});
    let cases = [
        (menu(json!([{"key": "1", "label": "Ke", "menu": "tidak-ada"}])), "menus.main.options[0].menu"),
        (
            json!({"menus": {
                "main": {"text": "Pilih:", "options": [{"key": "1", "label": "A", "menu": "a"}]},
                "a": {"text": "A:", "options": [{"key": "1", "label": "B", "menu": "b"}]},
                "b": {"text": "B:", "options": [{"key": "1", "label": "Lagi", "menu": "a"}]},
            }}),
            "menus.a.options[0].menu",
        ),
        (menu(json!([{"key": "1", "label": "Info", "reply": " "}])), "menus.main.options[0].reply"),
        (menu(json!([{"key": "1", "label": "Info"}])), "menus.main.options[0]"),
        (menu(json!([])), "menus.main.options"),
        (json!({"greeting": "x".repeat(5000)}), "greeting"),
        (json!({"main_menu": "awal"}), "main_menu"),
        (json!({"commands": {"agent": ["agent"], "pause": ["Agent"]}}), "commands.pause[0]"),
        (
            json!({"office_hours": {"days": [1, 9], "open": "08:00", "close": "17:00", "reply": "Tutup"}}),
            "office_hours.days[1]",
        ),
        (
            json!({"office_hours": {"days": [1], "open": "8 pagi", "close": "17:00", "reply": "Tutup"}}),
            "office_hours.open",
        ),
        (json!({"max_replies_per_minute": 0}), "max_replies_per_minute"),
        (json!({"sessions": {"tidak-ada": {"enabled": false}}}), "sessions.tidak-ada"),
        (json!({"sessions": {"s1": {"main_menu": "x"}}}), "sessions.s1.main_menu"),
        (json!({"enabled": "ya"}), "enabled"),
    ];
    for (document, path) in cases {
        let (status, body) = app.call(Method::PUT, "/bot/config", Some(&token), Some(document.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{document}: {body}");
        assert_eq!(body["error"]["field"].as_str(), Some(path), "{document}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with(path), "{body}");
    }
    let (_, still) = app.get("/bot/config", Some(&token)).await;
    assert_eq!(still["data"]["updated_at"], Value::Null, "nothing was saved");
    let unknown = menu(json!([{"key": "1", "label": "Info", "reply": "x", "colour": "red"}]));
    let (status, body) = app.call(Method::PUT, "/bot/config", Some(&token), Some(unknown)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["field"].as_str().unwrap().starts_with("menus.main.options[0]"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("colour"), "{body}");
    let (status, body) = app.call(Method::PUT, "/bot/config", Some(&token), Some(json!(["enabled"]))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");

    // A valid change applies to the next message, without a restart.
    put_bot(&app, &token, json!({"enabled": true})).await;
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "halo").await, [MAIN_MENU]);
    let saved =
        put_bot(&app, &token, json!({"enabled": true, "greeting": "Selamat datang di NetKu", "fallback": "Maaf?"}))
            .await;
    assert!(saved["updated_at"].is_string());
    let welcome = MAIN_MENU.replace("Halo 👋", "Selamat datang di NetKu");
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "apa").await, [format!("Maaf?\n\n{welcome}")]);

    // A session of its own: s2 is off, s1 has its own menu.
    let document = json!({"enabled": true, "sessions": {
        "s2": {"enabled": false},
        "s1": {"greeting": "", "menus": {"main": {"text": "Kantor:", "options": [{"key": "9", "label": "Alamat", "reply": "Jl. Merdeka 1"}]}}},
    }});
    let saved = put_bot(&app, &token, document).await;
    assert_eq!(saved["sessions"], json!([{"session": "s1", "enabled": true}, {"session": "s2", "enabled": false}]));
    assert!(say(&app, &token, "s2", OTHER_NUMBER, CONTACT, "halo").await.is_empty(), "s2's bot is off");
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "9").await, ["Jl. Merdeka 1"]);
    // What GET answers goes back through PUT unchanged: the whole answer, or its data.
    let (_, read) = app.get("/bot/config", Some(&token)).await;
    for body in [read.clone(), read["data"].clone()] {
        let (status, again) = app.call(Method::PUT, "/bot/config", Some(&token), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["data"]["config"], read["data"]["config"]);
    }
    // Wrapped or not, an error names its path in the document.
    let wrapped = json!({"config": {"menus": {"main": {"text": "Pilih:", "options": []}}}});
    let (status, body) = app.call(Method::PUT, "/bot/config", Some(&token), Some(wrapped)).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("menus.main.options")));

    // Office hours that exclude now: a hand-over says so (and still happens).
    let closed = json!({"enabled": true, "office_hours": {
        "days": [1, 2, 3, 4, 5, 6, 7], "open": wib_in(2), "close": wib_in(3), "reply": "Di luar jam kerja; admin membalas besok."}});
    put_bot(&app, &token, closed).await;
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "admin").await, ["Di luar jam kerja; admin membalas besok."]);
    assert_eq!(timeline(&app, &token, "s1", CONTACT).await.0["mode"], "agent");
    let open = json!({"enabled": true, "office_hours": {
        "days": [1, 2, 3, 4, 5, 6, 7], "open": wib_in(-1), "close": wib_in(1), "reply": "Di luar jam kerja; admin membalas besok."}});
    put_bot(&app, &token, open).await;
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "bot").await, [MAIN_MENU]);
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "admin").await, [HAND_OVER]);

    // A chat left with no human reply goes back to the bot after `idle_return_minutes`
    // (one minute here; the chat's mode is made a minute old).
    put_bot(&app, &token, json!({"enabled": true, "idle_return_minutes": 1})).await;
    assert!(say(&app, &token, "s1", NUMBER, CONTACT, "halo?").await.is_empty(), "an agent has had it for less");
    let (chat, _) = timeline(&app, &token, "s1", CONTACT).await;
    let an_hour_ago = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let aged = format!("UPDATE chats SET mode_at = {an_hour_ago} WHERE id = {}", chat["id"]);
    sea_orm::ConnectionTrait::execute_unprepared(&app.db, &aged).await.unwrap();
    assert_eq!(say(&app, &token, "s1", NUMBER, CONTACT, "halo?").await, [MAIN_MENU]);
    assert_eq!(timeline(&app, &token, "s1", CONTACT).await.0["mode"], "bot");

    // A stored document that cannot be read turns the bot off; what customers write is still stored.
    let mut app = app;
    sea_orm::ConnectionTrait::execute_unprepared(&app.db, "UPDATE bot_configs SET config = '{\"menus\": 7}'")
        .await
        .unwrap();
    app.restart().await;
    app.wait_status(&token, "s1", "connected", 30).await;
    assert!(say(&app, &token, "s1", NUMBER, CONTACT, "halo setelah rusak").await.is_empty());

    // Agents and limited keys have no say over the account's bot.
    let (_, agent) = app.user_with_role("agent").await;
    assert_eq!(app.get("/bot/config", Some(&agent)).await.0, StatusCode::FORBIDDEN);
    // Another account's document is its own: the default, off.
    let (_, user) = app.user_with_role("user").await;
    let (status, theirs) = app.get("/bot/config", Some(&user)).await;
    assert_eq!((status, theirs["data"]["updated_at"].clone()), (StatusCode::OK, Value::Null));
    assert_eq!(theirs["data"]["sessions"], json!([]));
}

async fn the_bot_stays_safe(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    put_bot(&app, &token, json!({"enabled": true, "max_replies_per_minute": 5})).await;

    // 50 messages in a few seconds: no more replies than the cap, then the chat is paused.
    let flood = "628222000321";
    let mut last = String::new();
    for i in 0..50 {
        last = app.sim.deliver(&write(flood, NUMBER, &format!("halo {i}"))).await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (chat, _) = timeline(&app, &token, "s1", flood).await;
        if chat["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["message_id"] == last.as_str())) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the 50 messages were never stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, entries) = timeline(&app, &token, "s1", flood).await;
    assert_eq!(entries.iter().filter(|(s, _)| s == "customer").count(), 50);
    assert_eq!(entries.iter().filter(|(s, _)| s == "bot").count(), 5, "{entries:?}");
    assert_eq!(timeline(&app, &token, "s1", flood).await.0["mode"], "paused");
    queue_settled(&app, &token, "s1").await;
    assert_eq!(shown(&app, NUMBER, flood, 5).await.len(), 5);
    assert_eq!(app.sim.received(Some(flood)).len(), 5);

    // Groups, status updates and the phone's own messages get no answer.
    let member = "628222000322";
    app.sim.add_contacts(&[member.to_owned()]);
    let group = app.sim.create_group(member, "Warga", &[NUMBER.to_owned()]).unwrap();
    let in_group = Write { group: Some(group.id.clone()), ..write(member, NUMBER, "halo grup") };
    let status_post = Write { status: true, ..write(member, NUMBER, "status baru") };
    let group_id = app.sim.deliver(&in_group).await.unwrap();
    let status_id = app.sim.deliver(&status_post).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, received) = app.get("/message/received?session=s1&limit=200", Some(&token)).await;
        let ids: Vec<&str> =
            received["data"].as_array().unwrap().iter().filter_map(|m| m["message_id"].as_str()).collect();
        if ids.contains(&group_id.as_str()) && ids.contains(&status_id.as_str()) {
            let chats: Vec<&str> = received["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["message_id"] == group_id.as_str() || m["message_id"] == status_id.as_str())
                .filter_map(|m| m["chat"].as_str())
                .collect();
            let group_jid = format!("{}@g.us", group.id);
            assert!(chats.contains(&group_jid.as_str()) && chats.contains(&"status@broadcast"), "{chats:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the group and status messages were never stored: {received}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(timeline(&app, &token, "s1", member).await.1.is_empty(), "no chat, so no bot, for groups and statuses");
    let group_jid = format!("{}@g.us", group.id);
    assert!(timeline(&app, &token, "s1", &group_jid).await.0.is_null(), "inbox.groups is off: the group is no chat");
    let (_, bots) = app.get("/message/list?session=s1&limit=100", Some(&token)).await;
    assert_eq!(bots["data"].as_array().unwrap().len(), 5, "only the flood's five replies were queued: {bots}");

    let customer = "628222000323";
    assert_eq!(say(&app, &token, "s1", NUMBER, customer, "halo").await, [MAIN_MENU]);
    let (chat, _) = timeline(&app, &token, "s1", customer).await;
    let menu_id = chat["messages"].as_array().unwrap().last().unwrap()["message_id"].as_str().unwrap().to_owned();
    let reaction =
        Write { kind: Some("reaction".into()), quoted: Some(menu_id.clone()), ..write(customer, NUMBER, "👍") };
    app.sim.deliver(&reaction).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (chat, entries) = timeline(&app, &token, "s1", customer).await;
        let messages = chat["messages"].as_array().unwrap();
        let menu = messages.iter().find(|m| m["message_id"] == menu_id.as_str()).unwrap();
        if menu["extra"]["reactions"][customer] == "👍" {
            assert_eq!(entries.last().unwrap().0, "bot", "a reaction gets no answer: {entries:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the reaction was never applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let from_phone = Write { from_phone: true, ..write(customer, NUMBER, "Saya bantu dari HP ya") };
    let phone_id = app.sim.deliver(&from_phone).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (chat, entries) = timeline(&app, &token, "s1", customer).await;
        if chat["messages"].as_array().unwrap().iter().any(|m| m["message_id"] == phone_id.as_str()) {
            assert_eq!(entries.last().unwrap(), &("phone".to_owned(), "Saya bantu dari HP ya".to_owned()));
            assert_eq!(chat["mode"], "agent", "a human on the phone has the chat");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the phone's message was never stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(say(&app, &token, "s1", NUMBER, customer, "terima kasih").await.is_empty());

    // 20 messages while the gateway is down arrive from the offline queue: one reply.
    let backlog = "628222000324";
    let mut app = app;
    app.stop().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(app.sim.deliver(&write(backlog, NUMBER, &format!("halo? {i}"))).await.unwrap());
    }
    app.start().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (chat, _) = timeline(&app, &token, "s1", backlog).await;
        let stored = chat["messages"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| ids.iter().any(|id| m["message_id"] == id.as_str())).count());
        if stored == ids.len() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{stored} of the backlog stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, entries) = timeline(&app, &token, "s1", backlog).await;
    assert_eq!(
        entries.iter().filter(|(s, _)| s == "bot").collect::<Vec<_>>(),
        [&("bot".to_owned(), MAIN_MENU.to_owned())]
    );
    queue_settled(&app, &token, "s1").await;
    assert_eq!(shown(&app, NUMBER, backlog, 1).await, [MAIN_MENU]);
    assert_eq!(app.sim.received(Some(backlog)).len(), 1);
    // Live again, the next message is answered as usual.
    assert_eq!(say(&app, &token, "s1", NUMBER, backlog, "1").await, [INFO]);
}

/// The outage morning: many customers write for the first time at once, and
/// each gets the menu exactly once: none is lost (each first message takes one
/// of the device's one-time pre-keys, never one another took) and none is sent
/// twice (WhatsApp acks each at once: within the queue's lease, nothing may go
/// out again, even while the burst keeps the acks' writer busy).
async fn new_contacts_are_answered_once(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    app.linked_session(&token, "s2", OTHER_NUMBER).await;
    let (_, off) = app.get("/bot/config", Some(&token)).await;
    let mut document = off["data"]["config"].clone();
    document["enabled"] = json!(true);
    put_bot(&app, &token, document).await;

    let contacts: Vec<(String, &str)> =
        (0..300).map(|n| (format!("628222{n:06}"), if n % 2 == 0 { NUMBER } else { OTHER_NUMBER })).collect();
    let writes: Vec<Write> = contacts.iter().map(|(contact, number)| write(contact, number, "halo")).collect();
    for id in futures_util::future::join_all(writes.iter().map(|w| app.sim.deliver(w))).await {
        id.unwrap();
    }
    for (contact, number) in &contacts {
        assert_eq!(shown(&app, number, contact, 1).await, [MAIN_MENU], "{contact}");
    }
    // Once nothing is in flight, nothing can be sent again.
    queue_settled(&app, &token, "s1").await;
    queue_settled(&app, &token, "s2").await;
    let copies: Vec<String> = app.sim.duplicates().into_iter().map(|r| format!("{} to {}", r.id, r.to)).collect();
    assert!(copies.is_empty(), "replies sent twice: {copies:?}");
    assert_eq!(app.sim.received(None).len(), contacts.len(), "one reply each, nothing else");
}

db_tests!(
    new_contacts_are_answered_once,
    a_scripted_conversation,
    outage_status_by_odp,
    the_document_is_checked_and_applies_at_once,
    the_bot_stays_safe,
);
