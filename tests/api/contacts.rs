//! `POST /contacts/check` through wa-sim: 500 numbers in one go, registered
//! and unregistered ones told apart, with their JIDs and LIDs.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    db_tests,
    helpers::{TestApp, TestDb, no_limits},
};

const SENDER: &str = "628111000031";

async fn numbers_are_checked_in_one_go(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    let on: Vec<String> = (0..250).map(|i| format!("62822{i:07}")).collect();
    let off: Vec<String> = (0..250).map(|i| format!("62833{i:07}")).collect();
    app.sim.add_contacts(&on);
    // Spelled as people write them, and one twice.
    let mut asked: Vec<String> = on.iter().chain(&off).map(|p| format!("+{p}")).collect();
    asked[1] = format!("0{}", &on[1][2..]);
    let body = json!({"session": "s1", "phones": asked});
    let (status, answer) = app.post("/contacts/check", Some(&token), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let data = &answer["data"];
    assert_eq!((&data["registered"], &data["unregistered"]), (&json!(250), &json!(250)), "{data}");
    let results = data["results"].as_array().unwrap();
    assert_eq!(results.len(), 500);
    assert_eq!(results[0]["phone"], on[0].as_str());
    assert_eq!(results[0]["registered"], true);
    assert_eq!(results[0]["jid"], format!("{}@s.whatsapp.net", on[0]));
    assert!(results[0]["lid"].as_str().is_some_and(|l| l.ends_with("@lid")), "{}", results[0]);
    assert_eq!(results[1]["phone"], on[1].as_str(), "0… is the same number");
    assert_eq!(results[499]["phone"], off[249].as_str());
    assert_eq!((&results[499]["registered"], &results[499]["jid"]), (&json!(false), &json!(null)));
    let (_, again) = app.post("/contacts/check", Some(&token), body).await;
    assert_eq!(again["data"], answer["data"], "the same answer again");

    let too_many: Vec<String> = (0..501).map(|i| format!("62844{i:07}")).collect();
    for (phones, field) in
        [(json!(too_many), "phones"), (json!([]), "phones"), (json!(["12ab", "6282200000001"]), "phones[0]")]
    {
        let (status, body) =
            app.post("/contacts/check", Some(&token), json!({"session": "s1", "phones": phones})).await;
        assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(field)), "{body}");
    }
    app.post("/session/create", Some(&token), json!({"sessionId": "s2"})).await;
    let (status, body) = app.post("/contacts/check", Some(&token), json!({"session": "s2", "phones": [on[0]]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "an unlinked session cannot ask: {body}");
    let (status, _) = app.post("/contacts/check", Some(&token), json!({"session": "nope", "phones": [on[0]]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

db_tests!(numbers_are_checked_in_one_go);
