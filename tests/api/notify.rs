//! Outage notices (seed 002) through HTTP and wa-sim: customers in bulk and by
//! CSV, notices, broadcasts by ODP with exact reports and live progress, a
//! restart in the middle, several sessions, cancelling, and bad input.

use std::collections::{HashMap, HashSet};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    db_tests,
    helpers::{EventStream, TestApp, TestDb, error_code, no_limits},
};

const SENDER: &str = "628111000001";
const SENDER2: &str = "628111000002";

/// The digits of customer `i`'s own number (valid, distinct).
fn number(i: usize) -> String {
    format!("62813{:08}", 10_000 + i)
}

/// Waits (bounded) until broadcast `id` is no longer running; returns its report.
pub(crate) async fn until_done(app: &TestApp, token: &str, id: i64, secs: u64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let (status, body) = app.get(&format!("/api/broadcasts/{id}"), Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["status"] != "running" {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "broadcast {id} still running: {}", body["message"]);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn upsert(app: &TestApp, token: &str, customers: Value) -> Value {
    let (status, body) = app.post("/api/customers/bulk", Some(token), json!({ "customers": customers })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

/// Customer `C{i}`, "Nama {i}", for each phone.
fn customers_with(phones: &[String]) -> Value {
    phones
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"external_id": format!("C{i}"), "name": format!("Nama {i}"), "phone": p}))
        .collect()
}

async fn notice(app: &TestApp, token: &str, body: Value) -> i64 {
    let (status, created) = app.post("/api/notices", Some(token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["data"]["id"].as_i64().unwrap()
}

/// Messages wa-sim received from `sender`, by recipient.
fn received_from(app: &TestApp, sender: &str) -> HashMap<String, Vec<wa_sim::Received>> {
    let mut by_recipient: HashMap<String, Vec<wa_sim::Received>> = HashMap::new();
    for r in app.sim.received(None).into_iter().filter(|r| r.from == sender) {
        by_recipient.entry(r.to.clone()).or_default().push(r);
    }
    by_recipient
}

/// 200 active customers on one ODP: 10 invalid numbers, 20 not on WhatsApp, 5
/// sharing a number with an earlier customer; the rest get exactly one message
/// each, in their own name, and the report counts all of it.
async fn broadcast_by_odp_reports_exactly(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;

    let invalid = ["0", "", "abc", "0812", "08123456789012345678", "62", "+", "0000", "12-ab-34", "(0)"];
    let mut customers = Vec::new();
    let mut registered = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for i in 0..200 {
        let name = format!("Pelanggan {i}");
        let phone = match i {
            0..10 => invalid.get(i).unwrap().to_string(),
            10..30 => number(i), // not on WhatsApp
            30..195 => {
                registered.push(number(i));
                names.insert(number(i), name.clone());
                format!("+{}", number(i))
            }
            // The same number as customer i - 165, spelled otherwise.
            _ => format!("0{}", &number(i - 165)[2..]),
        };
        customers.push(json!({"external_id": format!("C{i}"), "name": name, "phone": phone, "odp": "ODP-7"}));
    }
    // Not theirs to get: inactive, or on another ODP.
    customers
        .push(json!({"external_id": "X1", "name": "Nonaktif", "phone": number(900), "odp": "ODP-7", "active": false}));
    customers.push(json!({"external_id": "X2", "name": "Tetangga", "phone": number(901), "odp": "ODP-8"}));
    registered.extend([number(900), number(901)]);
    app.sim.add_contacts(&registered);
    let report = upsert(&app, &token, Value::Array(customers)).await;
    assert_eq!((report["inserted"].as_u64(), report["invalid_phones"].as_u64()), (Some(202), Some(10)), "{report}");

    let notice_id = notice(
        &app,
        &token,
        json!({"title": "Gangguan kabel", "message": "Kabel FO putus di jalan utama.", "odps": ["ODP-7"],
               "starts_at": "2026-11-23 14:00", "estimated_end": "2026-11-23T18:30:00+07:00"}),
    )
    .await;
    // A dry run counts and renders the same, and writes nothing.
    let (status, dry) =
        app.post("/api/send/by-odp/ODP-7", Some(&token), json!({"notice_id": notice_id, "dry_run": true})).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(
        (&dry["dry_run"], &dry["total_customers"], &dry["skipped_count"], &dry["queued_count"]),
        (&json!(true), &json!(200), &json!(15), &json!(185))
    );
    let preview = dry["preview"].as_str().unwrap();
    assert!(preview.contains("Pelanggan 10,") && preview.contains("Kabel FO putus"), "{preview}");
    assert_eq!(dry["preview_recipient"], format!("Pelanggan 10 ({})", number(10)));
    assert_eq!(dry["skipped"].as_array().unwrap().len(), 15);
    assert!(dry["skipped"][0]["reason"].as_str().unwrap().starts_with("invalid phone number"), "{dry}");
    let (_, found) = app.get("/api/customers?search=Pelanggan%2031", Some(&token)).await;
    let id = found["data"][0]["id"].clone();
    assert_eq!(found["data"][0]["name"], "Pelanggan 31", "{found}");
    let (_, custom) = app
        .post(
            "/api/send/custom",
            Some(&token),
            json!({"message": "Halo {nama}", "customer_ids": [id], "dry_run": true}),
        )
        .await;
    assert_eq!(
        (custom["queued_count"].as_u64(), custom["preview"].as_str()),
        (Some(1), Some("Halo Pelanggan 31")),
        "{custom}"
    );
    let (_, listed) = app.get("/api/broadcasts", Some(&token)).await;
    assert_eq!(listed["total"], 0, "a dry run is no broadcast");
    assert!(app.sim.received(None).is_empty());

    let mut events = EventStream::open(&app, &token).await;
    let (status, accepted) = app.post("/api/send/by-odp/ODP-7", Some(&token), json!({"notice_id": notice_id})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["broadcast_id"].as_i64().unwrap();
    assert_eq!(
        (&accepted["total_customers"], &accepted["skipped_count"], &accepted["queued_count"], &accepted["status"]),
        (&json!(200), &json!(15), &json!(185), &json!("running"))
    );

    let done = until_done(&app, &token, id, 90).await;
    assert_eq!(done["status"], "completed", "{}", done["message"]);
    assert_eq!(
        (
            &done["total_customers"],
            &done["sent_count"],
            &done["failed_count"],
            &done["skipped_count"],
            &done["pending_count"]
        ),
        (&json!(200), &json!(165), &json!(20), &json!(15), &json!(0)),
        "{}",
        done["message"]
    );
    let results = done["results"].as_array().unwrap();
    assert_eq!(results.len(), 200);
    let errors =
        |prefix: &str| results.iter().filter(|r| r["error"].as_str().is_some_and(|e| e.starts_with(prefix))).count();
    assert_eq!(errors("invalid phone number"), 10);
    assert_eq!(errors("same phone number as customer"), 5);
    assert_eq!(errors("not registered on WhatsApp"), 20);
    assert_eq!(results.iter().filter(|r| r["success"] == true).count(), 165);
    assert_eq!(results[0]["customer_name"], "Pelanggan 0");
    assert_eq!(results[0]["status"], "skipped");
    assert_eq!((&results[196]["phone"], &results[196]["status"]), (&json!(number(31)), &json!("skipped")));
    assert!(results[196]["error"].as_str().unwrap().contains("(Pelanggan 31)"), "{}", results[196]);

    // wa-sim: one message per valid, registered, distinct phone, in the customer's name.
    let got = received_from(&app, SENDER);
    let expected: HashSet<&String> = names.keys().collect();
    assert_eq!(got.keys().collect::<HashSet<_>>(), expected);
    for (phone, messages) in &got {
        assert_eq!(messages.len(), 1, "{phone} got {} messages", messages.len());
        let text = messages[0].text.as_deref().unwrap();
        assert!(text.starts_with(&format!("Yth. Bapak/Ibu {},", names[phone])), "{text}");
        assert!(text.contains("area ODP-7") && text.contains("*Gangguan kabel*"), "{text}");
        assert!(
            text.contains("Mulai: 23-11-2026 14:00") && text.contains("Estimasi selesai: 23-11-2026 18:30"),
            "{text}"
        );
    }
    assert!(app.sim.duplicates().is_empty());

    // Live progress over SSE, up to the end.
    let seen = events
        .until(30, |kind, data| {
            kind == "broadcast.progress" && data["broadcast_id"] == id && data["status"] == "completed"
        })
        .await;
    let last = &seen.last().unwrap().1;
    assert_eq!((&last["sent_count"], &last["failed_count"]), (&json!(165), &json!(20)));
    assert!(seen.iter().any(|(kind, data)| kind == "broadcast.progress" && data["status"] == "running"));

    let (_, list) = app.get("/api/broadcasts", Some(&token)).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["data"][0]["sent_count"], 165);
    assert!(list["data"][0].get("results").is_none());
    let (_, page) = app.get(&format!("/api/broadcasts/{id}?page=2&limit=150"), Some(&token)).await;
    assert_eq!(page["results"].as_array().unwrap().len(), 50);
}

/// A broadcast over two sessions, the gateway restarted in the middle: each
/// customer gets exactly one message, from one of the two numbers.
async fn broadcast_resumes_after_restart_across_sessions(db: TestDb) {
    let mut app = TestApp::spawn_with(db, |c| {
        no_limits(c);
        c.limits.delay_min_ms = 80;
        c.limits.delay_max_ms = 120;
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    app.linked_session(&token, "s2", SENDER2).await;
    let phones: Vec<String> = (0..60).map(number).collect();
    app.sim.add_contacts(&phones);
    upsert(&app, &token, customers_with(&phones)).await;

    let (status, accepted) = app
        .post(
            "/api/send/custom",
            Some(&token),
            json!({"message": "Halo {nama}, tagihan sudah terbit.", "sessions": ["s1", "s2"]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["broadcast_id"].as_i64().unwrap();
    assert_eq!(accepted["queued_count"], 60);
    assert_eq!(accepted["sessions"], json!(["s1", "s2"]));

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while app.sim.received(None).len() < 10 {
        assert!(std::time::Instant::now() < deadline, "the broadcast did not start");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.restart().await;
    let (status, mid) = app.get(&format!("/api/broadcasts/{id}"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(mid["status"], "completed", "the restart came too late to test anything: {}", mid["message"]);
    app.wait_status(&token, "s1", "connected", 30).await;
    app.wait_status(&token, "s2", "connected", 30).await;

    let done = until_done(&app, &token, id, 90).await;
    assert_eq!(
        (&done["status"], &done["sent_count"], &done["failed_count"]),
        (&json!("completed"), &json!(60), &json!(0))
    );
    let (one, two) = (received_from(&app, SENDER), received_from(&app, SENDER2));
    assert_eq!(one.len() + two.len(), 60, "every customer got a message");
    assert_eq!((one.len(), two.len()), (30, 30), "spread over both sessions in turn");
    for (phone, messages) in one.iter().chain(two.iter()) {
        let ids: HashSet<&String> = messages.iter().map(|m| &m.id).collect();
        assert_eq!(ids.len(), 1, "{phone} got {} different messages", ids.len());
        assert!(!(one.contains_key(phone) && two.contains_key(phone)), "{phone} got one from each session");
        let i: usize = phones.iter().position(|p| p == phone).unwrap();
        assert_eq!(messages[0].text.as_deref(), Some(format!("Halo Nama {i}, tagihan sudah terbit.").as_str()));
    }
}

/// Cancelling fails what still waits; what was sent stays sent.
async fn cancelled_broadcast_stops(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| {
        no_limits(c);
        c.limits.delay_min_ms = 300;
        c.limits.delay_max_ms = 300;
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    let phones: Vec<String> = (0..20).map(number).collect();
    app.sim.add_contacts(&phones);
    upsert(&app, &token, customers_with(&phones)).await;
    let (status, accepted) = app.post("/api/send/custom", Some(&token), json!({"message": "Halo {nama}"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["broadcast_id"].as_i64().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.sim.received(None).is_empty() {
        assert!(std::time::Instant::now() < deadline, "nothing was sent");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, cancelled) = app.post(&format!("/api/broadcasts/{id}/cancel"), Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    // What was on the wire finishes; then nothing is pending.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let done = loop {
        let (_, done) = app.get(&format!("/api/broadcasts/{id}"), Some(&token)).await;
        if done["pending_count"] == 0 {
            break done;
        }
        assert!(std::time::Instant::now() < deadline, "{}", done["message"]);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(done["status"], "cancelled");
    let (sent, failed) = (done["sent_count"].as_u64().unwrap(), done["failed_count"].as_u64().unwrap());
    assert_eq!(sent + failed, 20, "{}", done["message"]);
    assert!(failed >= 10, "most were still waiting: {}", done["message"]);
    let results = done["results"].as_array().unwrap();
    assert_eq!(results.iter().filter(|r| r["error"] == "the broadcast was cancelled").count() as u64, failed);
    // A message sent after the cancel from the same session: the session sends
    // in order, so once it has arrived, nothing cancelled is still on its way.
    let marker = app.send_text(&token, "s1", &number(0), "penanda").await;
    app.wait_message(&token, &marker, "sent", 30).await;
    let others = app.sim.received(None).into_iter().filter(|r| r.id != marker).count() as u64;
    assert_eq!(others, sent, "nothing cancelled went out");
    let (status, again) =
        app.post(&format!("/api/broadcasts/{id}/cancel"), Some(&token), json!({"reason": "salah kirim"})).await;
    assert_eq!((status, &again["failed_count"]), (StatusCode::OK, &json!(failed)), "cancelling again changes nothing");
    let (status, body) = app.post(&format!("/api/broadcasts/{id}/cancel"), Some(&token), json!({"reason": " "})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")));
}

/// 10,000 customers in one bulk upsert; updates by external id; CSV imports
/// (text/csv and multipart) with bad lines reported by number; the list's filters.
async fn customers_upsert_import_and_list(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    let many: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"external_id": format!("B{i}"), "name": format!("Pelanggan {i}"), "phone": format!("0813{:08}", i),
                   "odp": format!("ODP-{:03}", i % 50), "active": i % 10 != 0})
        })
        .collect();
    let report = upsert(&app, &token, Value::Array(many)).await;
    assert_eq!(
        (&report["received"], &report["inserted"], &report["updated"]),
        (&json!(10_000), &json!(10_000), &json!(0))
    );
    assert_eq!(report["errors"], json!([]));

    let report = upsert(
        &app,
        &token,
        json!([
            {"external_id": "B1", "name": "Budi Baru", "phone": "0813-0000-0001", "odp": "ODP-NEW"},
            {"external_id": "B2", "name": "Siti", "phone": "0", "odp": "ODP-002", "active": false},
            {"external_id": "N1", "name": "Baru", "phone": "08130000999"},
            {"external_id": "N1", "name": "Lagi", "phone": "08130000998"},
            {"external_id": "N2", "name": "  ", "phone": "08130000997"},
            {"external_id": "", "name": "Tanpa id", "phone": "08130000996"},
        ]),
    )
    .await;
    assert_eq!((&report["received"], &report["inserted"], &report["updated"]), (&json!(6), &json!(1), &json!(2)));
    assert_eq!(report["invalid_phones"], 1);
    let errors: Vec<(u64, &str)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(errors, [(3, "external_id"), (4, "name"), (5, "external_id")]);

    let (status, page) = app.get("/api/customers?search=Budi%20Baru", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 1);
    let budi = &page["data"][0];
    assert_eq!(
        (&budi["phone"], &budi["odp"], &budi["active"]),
        (&json!("6281300000001"), &json!("ODP-NEW"), &json!(true))
    );
    let (_, page) = app.get("/api/customers?search=Siti", Some(&token)).await;
    assert_eq!(
        (&page["data"][0]["phone"], &page["data"][0]["phone_error"]),
        (&Value::Null, &json!("phone number is empty"))
    );
    let (_, page) = app.get("/api/customers?odp=ODP-007&active=true&page=2&limit=100", Some(&token)).await;
    // ODP-007 has customers 7, 57, ... (200); those with i % 10 == 0 are inactive (none end in 7).
    assert_eq!((&page["total"], page["data"].as_array().unwrap().len()), (&json!(200), 100));
    let (_, page) = app.get("/api/customers?active=false&limit=1", Some(&token)).await;
    assert_eq!(page["total"], 1001, "every tenth, and Siti");
    let (status, body) = app.get("/api/customers?odp=NOPE", Some(&token)).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = app.get("/api/customers?limit=0", Some(&token)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("limit")));

    // CSV as the body, semicolons, a header in Indonesian, bad lines by number.
    let csv = "ID;Nama;No HP;ODP;Aktif\nK1;Ani;0812-1111-0001;ODP-900;1\nK2;Bayu;0812 1111 0002\n\
               K3;\"Citra; S.\";+62 812 1111 0003;ODP-900;tidak\nK4;Dewi;0812;ODP-900;mungkin\nK1;Ani lagi;0812;;1\n";
    let resp = app
        .client
        .post(format!("{}/api/customers/import", app.address))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let (status, body) = (resp.status(), resp.json::<Value>().await.unwrap());
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!((&data["received"], &data["inserted"]), (&json!(5), &json!(2)));
    let lines: Vec<u64> = data["errors"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [3, 5, 6]);
    let (_, odps) = app.get("/api/odps", Some(&token)).await;
    let odp900 = odps["data"].as_array().unwrap().iter().find(|o| o["code"] == "ODP-900").unwrap().clone();
    assert_eq!((&odp900["customers"], &odp900["active_customers"]), (&json!(2), &json!(1)));

    // The same file as a multipart upload updates what it inserted.
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("pelanggan.csv"));
    let resp = app
        .client
        .post(format!("{}/api/customers/import", app.address))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!((&body["data"]["inserted"], &body["data"]["updated"]), (&json!(0), &json!(2)), "{body}");

    // Unreadable files, bad content types: 4xx, nothing imported.
    for (content_type, file) in
        [("text/csv", "nama,telepon\nA,0812\n"), ("text/csv", ""), ("text/plain", "id,name,phone\n1,a,0812\n")]
    {
        let resp = app
            .client
            .post(format!("{}/api/customers/import", app.address))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(file)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error(), "{content_type} {file:?}: {}", resp.status());
    }
    let (_, page) = app.get("/api/customers?limit=1", Some(&token)).await;
    assert_eq!(page["total"], 10_003);

    // Another account sees none of them.
    let (_, other) = app.user_with_role("user").await;
    let (_, page) = app.get("/api/customers", Some(&other)).await;
    assert_eq!(page["total"], 0);
}

/// Notices CRUD; unknown ODP or notice 404; empty message 422; a broadcast with
/// no valid recipient completes with everything skipped; nothing bad reaches WhatsApp.
async fn notices_and_bad_input(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;

    let id =
        notice(&app, &token, json!({"title": "Gangguan", "message": "Perbaikan", "odps": ["ODP-1", "ODP-1", "ODP-2"]}))
            .await;
    let (status, got) = app.get(&format!("/api/notices/{id}"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((&got["data"]["odps"], &got["data"]["status"]), (&json!(["ODP-1", "ODP-2"]), &json!("active")));
    let (status, updated) = app
        .call(
            Method::PUT,
            &format!("/api/notices/{id}"),
            Some(&token),
            Some(json!({"status": "resolved", "estimated_end": "2026-11-24 08:00", "starts_at": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (&updated["data"]["status"], &updated["data"]["estimated_end"]),
        (&json!("resolved"), &json!("2026-11-24T01:00:00Z"))
    );
    let (_, list) = app.get("/api/notices?status=resolved", Some(&token)).await;
    assert_eq!(list["total"], 1);
    for (body, field) in [
        (json!({"title": "", "message": "x"}), "title"),
        (json!({"title": "x", "message": " "}), "message"),
        (json!({"title": "x", "message": "y", "starts_at": "besok"}), "starts_at"),
        (
            json!({"title": "x", "message": "y", "starts_at": "2026-11-23 10:00", "estimated_end": "2026-11-23 09:00"}),
            "estimated_end",
        ),
        (json!({"title": "x", "message": "y", "status": "open"}), "status"),
    ] {
        let (status, body) = app.post("/api/notices", Some(&token), body).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}"
        );
    }
    let (_, other) = app.user_with_role("user").await;
    assert_eq!(app.get(&format!("/api/notices/{id}"), Some(&other)).await.0, StatusCode::NOT_FOUND);

    // Customers on ODP-1 whose numbers are all invalid.
    upsert(
        &app,
        &token,
        json!([{"external_id": "A", "name": "A", "phone": "0", "odp": "ODP-1"},
               {"external_id": "B", "name": "B", "phone": "", "odp": "ODP-1"}]),
    )
    .await;
    let live = notice(&app, &token, json!({"title": "Putus", "message": "Kabel putus", "odps": ["ODP-1"]})).await;

    let cases = [
        ("/api/send/by-odp/NOPE", json!({"notice_id": live}), StatusCode::NOT_FOUND, None),
        ("/api/send/by-odp/ODP-1", json!({"notice_id": 999_999}), StatusCode::NOT_FOUND, None),
        ("/api/send/notification", json!({"notice_id": 999_999}), StatusCode::NOT_FOUND, None),
        ("/api/send/by-odp/ODP-1", json!({"message": ""}), StatusCode::UNPROCESSABLE_ENTITY, Some("message")),
        ("/api/send/custom", json!({"message": "   "}), StatusCode::UNPROCESSABLE_ENTITY, Some("message")),
        ("/api/send/custom", json!({"message": "x".repeat(65_537)}), StatusCode::UNPROCESSABLE_ENTITY, Some("message")),
        (
            "/api/send/custom",
            json!({"message": "hi", "customer_ids": [424242]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("customer_ids"),
        ),
        (
            "/api/send/custom",
            json!({"message": "hi", "customer_ids": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("customer_ids"),
        ),
        ("/api/send/phone", json!({"phone": "0", "message": "hi"}), StatusCode::UNPROCESSABLE_ENTITY, Some("phone")),
        (
            "/api/send/phone",
            json!({"phone": "08123456789", "message": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("message"),
        ),
        (
            "/api/send/phone",
            json!({"phone": "08123456789", "message": "hi", "session": "ghost"}),
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "/api/send/phone",
            json!({"phone": "08123456789", "message": "hi", "sessions": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("sessions"),
        ),
        (
            "/api/send/phone",
            json!({"phone": "08123456789", "message": "hi", "sessions": ["bad id!"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("sessions"),
        ),
    ];
    for (path, body, expected, field) in cases {
        let (status, resp) = app.post(path, Some(&token), body).await;
        assert_eq!(status, expected, "{path}: {resp}");
        error_code(&resp);
        if field.is_some() {
            assert_eq!(resp["error"]["field"].as_str(), field, "{path}: {resp}");
        }
    }
    // Another user's session, and a session that is not linked.
    app.post("/session/create", Some(&token), json!({"sessionId": "unlinked"})).await;
    let (status, _) = app
        .post("/api/send/phone", Some(&other), json!({"phone": "0812345678", "message": "hi", "session": "s1"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, resp) = app
        .post("/api/send/phone", Some(&token), json!({"phone": "0812345678", "message": "hi", "session": "unlinked"}))
        .await;
    assert_eq!((status, error_code(&resp)), (StatusCode::CONFLICT, "session_not_linked"));
    assert!(app.sim.received(None).is_empty(), "nothing bad reached WhatsApp");
    let (_, list) = app.get("/api/broadcasts", Some(&token)).await;
    assert_eq!(list["total"], 0, "nothing bad was queued");

    // Everyone skipped: accepted, and done at once.
    let (status, accepted) =
        app.post("/api/send/by-odp/ODP-1", Some(&token), json!({"notice_id": live, "session": "s1"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!((&accepted["queued_count"], &accepted["skipped_count"]), (&json!(0), &json!(2)));
    let done = until_done(&app, &token, accepted["broadcast_id"].as_i64().unwrap(), 10).await;
    assert_eq!(
        (&done["status"], &done["sent_count"], &done["skipped_count"]),
        (&json!("completed"), &json!(0), &json!(2))
    );

    // The newest active notice is the default; none left -> 422 naming notice_id.
    let (status, accepted) = app.post("/api/send/notification", Some(&token), json!({})).await;
    assert_eq!((status, &accepted["notice_id"]), (StatusCode::ACCEPTED, &json!(live)));
    assert_eq!(app.call(Method::DELETE, &format!("/api/notices/{live}"), Some(&token), None).await.0, StatusCode::OK);
    let (status, resp) = app.post("/api/send/notification", Some(&token), json!({})).await;
    assert_eq!((status, resp["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("notice_id")));

    // One number: a broadcast of one.
    app.sim.add_contacts(&["6281234567890".to_owned()]);
    let (status, accepted) =
        app.post("/api/send/phone", Some(&token), json!({"phone": "0812-3456-7890", "message": "Tes"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let done = until_done(&app, &token, accepted["broadcast_id"].as_i64().unwrap(), 30).await;
    assert_eq!((&done["sent_count"], &done["results"][0]["phone"]), (&json!(1), &json!("6281234567890")));
    assert_eq!(app.sim.received(Some("6281234567890"))[0].text.as_deref(), Some("Tes"));
}

/// The same `Idempotency-Key` gives back the same broadcast, even sent at once
/// by several clients; a different request under it is refused.
async fn idempotency_keys_give_one_broadcast(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    let phones: Vec<String> = (0..3).map(number).collect();
    app.sim.add_contacts(&phones);
    upsert(&app, &token, customers_with(&phones)).await;
    let send = |key: &'static str, message: &'static str| {
        app.client
            .post(format!("{}/api/send/custom", app.address))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(&json!({"message": message}))
            .send()
    };

    let first = send("tagihan-2026-11", "Halo {nama}").await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let id = first.json::<Value>().await.unwrap()["broadcast_id"].as_i64().unwrap();
    let again = send("tagihan-2026-11", "Halo {nama}").await.unwrap();
    assert_eq!(
        (again.status(), again.headers()["idempotent-replayed"].to_str().unwrap()),
        (StatusCode::ACCEPTED, "true")
    );
    assert_eq!(again.json::<Value>().await.unwrap()["broadcast_id"], id);
    let other = send("tagihan-2026-11", "Halo lagi {nama}").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = other.json().await.unwrap();
    assert_eq!(
        (error_code(&body), body["error"]["field"].as_str()),
        ("idempotency_key_reused", Some("Idempotency-Key"))
    );

    let at_once: Vec<_> = (0..6).map(|_| send("gangguan-1", "Maaf {nama}")).collect();
    let mut ids = HashSet::new();
    for resp in futures_util::future::join_all(at_once).await {
        let resp = resp.unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        ids.insert(resp.json::<Value>().await.unwrap()["broadcast_id"].as_i64().unwrap());
    }
    assert_eq!(ids.len(), 1, "six requests with one key made {ids:?}");
    let (_, list) = app.get("/api/broadcasts", Some(&token)).await;
    assert_eq!(list["total"], 2);
    for id in [id, *ids.iter().next().unwrap()] {
        assert_eq!(until_done(&app, &token, id, 30).await["sent_count"], 3);
    }
    for phone in &phones {
        assert_eq!(app.sim.received(Some(phone)).len(), 2, "{phone}: one message per broadcast");
    }
}

/// Imports larger than `notify.max_import_bytes` get 413 however they come.
async fn imports_are_capped(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| c.notify.max_import_bytes = 4096).await;
    let token = app.admin_token.clone();
    let mut csv = String::from("id,nama,telepon\n");
    for i in 0..400 {
        csv.push_str(&format!("C{i},Pelanggan {i},{}\n", number(i)));
    }
    let url = format!("{}/api/customers/import", app.address);
    let as_body = app.client.post(&url).bearer_auth(&token).header("content-type", "text/csv").body(csv.clone());
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("pelanggan.csv"));
    let as_form = app.client.post(&url).bearer_auth(&token).multipart(form);
    let rows: Vec<String> = (0..400).map(number).collect();
    let as_json = app
        .client
        .post(format!("{}/api/customers/bulk", app.address))
        .bearer_auth(&token)
        .json(&json!({ "customers": customers_with(&rows) }));
    for (what, req) in [("text/csv", as_body), ("multipart", as_form), ("bulk JSON", as_json)] {
        let (status, body) = TestApp::read(req).await;
        assert_eq!((status, error_code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"), "{what}: {body}");
    }
    let (_, page) = app.get("/api/customers", Some(&token)).await;
    assert_eq!(page["total"], 0);
}

/// Upserts at the same time (a billing system retrying, two imports) all
/// succeed: on SQLite each takes the write lock before it reads.
async fn concurrent_upserts_all_succeed(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    let batch = |offset: usize| {
        let customers: Vec<Value> = (0..300)
            .map(|i| {
                let n = offset + i;
                json!({"external_id": format!("C{n}"), "name": format!("Pelanggan {n}"), "phone": format!("0812{n:08}"), "odp": format!("ODP-{}", n % 7)})
            })
            .collect();
        json!({"customers": customers})
    };
    let calls = (0..6).map(|k| {
        let (app, token, body) = (&app, token.clone(), batch(k * 150));
        async move { app.post("/api/customers/bulk", Some(&token), body).await }
    });
    for (status, body) in futures_util::future::join_all(calls).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, list) = app.get("/api/customers?limit=1", Some(&token)).await;
    assert_eq!(list["total"], 5 * 150 + 300, "{list}");
}

db_tests!(
    imports_are_capped,
    idempotency_keys_give_one_broadcast,
    broadcast_by_odp_reports_exactly,
    broadcast_resumes_after_restart_across_sessions,
    cancelled_broadcast_stops,
    customers_upsert_import_and_list,
    notices_and_bad_input,
    concurrent_upserts_all_succeed
);
