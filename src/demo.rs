//! `wagate demo` (simulator builds only): the whole product without a phone.
//! The gateway runs on a temporary data dir with wa-sim, the local WhatsApp
//! simulator, in the same process. Seed 001's demo users log in to the
//! dashboard; two demo numbers are linked; demo customers sit on a few ODPs
//! with an outage notice; the menu bot is on; and scripted contacts write in
//! now and then and answer the agents who reply to them.
//!
//! Everything is set up through the public HTTP API, as a user would, and
//! everything is thrown away when the demo stops.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use rand::{Rng, seq::IndexedRandom};
use serde_json::{Value, json};

use crate::{
    App, Config,
    auth::{
        Passwords,
        accounts::{self, NewUser},
    },
    db,
    model::Role,
};

/// The linked demo numbers: (session, phone).
const NUMBERS: [(&str, &str); 2] = [("kantor", "6281100000001"), ("teknisi", "6281100000002")];

/// Seed 004's contacts and a few more: (name, phone, ODP).
const CONTACTS: [(&str, &str, &str); 8] = [
    ("John Doe", "6281234500001", "ODP-JKT-01"),
    ("Sarah Williams", "6281234500002", "ODP-JKT-01"),
    ("Maria Lopez", "6281234500003", "ODP-JKT-02"),
    ("Ahmed Hassan", "6281234500004", "ODP-JKT-02"),
    ("Budi Santoso", "6281234500005", "ODP-BDG-01"),
    ("Siti Rahmawati", "6281234500006", "ODP-BDG-01"),
    ("Dewi Lestari", "6281234500007", "ODP-JKT-01"),
    ("Agus Pratama", "6281234500008", "ODP-BDG-01"),
];

/// What contacts write, unprompted.
const OPENERS: [&str; 8] = [
    "Halo, internet saya mati dari pagi",
    "Selamat siang, mau tanya tagihan bulan ini",
    "Wifi lemot banget, bisa dicek?",
    "halo",
    "Lampu LOS di modem merah kak",
    "Mau upgrade paket ke 50 Mbps, caranya gimana?",
    "agent",
    "cek gangguan",
];

/// What contacts answer to an agent.
const ANSWERS: [&str; 5] = [
    "Baik, terima kasih kak 🙏",
    "Oke, saya tunggu ya",
    "Sudah saya restart modemnya, masih sama",
    "Siap, sudah normal lagi. Makasih!",
    "Jam berapa teknisinya datang?",
];

/// Runs the demo until Ctrl-C: the dashboard on `listen`.
pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let data_dir = std::env::temp_dir().join(format!("wagate-demo-{}", std::process::id()));
    let result = demo(listen, data_dir.clone()).await;
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

async fn demo(listen: SocketAddr, data_dir: PathBuf) -> anyhow::Result<()> {
    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse()?).await.context("starting wa-sim")?;
    let mut config = Config::default();
    config.server.listen = listen;
    config.storage.sessions_dir = data_dir.join("sessions");
    config.storage.data_dir = data_dir;
    config.whatsapp.server_url = format!("ws://{sim_addr}/ws/chat");
    // Lively, but still paced like a careful sender.
    config.limits.delay_min_ms = 300;
    config.limits.delay_max_ms = 900;

    // Seed 001's demo users, made before the gateway would make a first admin.
    // These passwords exist only here, in a demo that runs on loopback.
    crate::files::private_dir(&config.storage.data_dir)?;
    {
        let db = db::connect(&config).await?;
        db::migrate(&db).await?;
        let passwords = Passwords::new(config.auth.bcrypt_cost);
        for (name, password, role) in [("admin", "admin123", Role::Admin), ("agent", "agent123", Role::Agent)] {
            let new = NewUser {
                email: format!("{name}@demo.wagate"),
                password: password.into(),
                name: if role == Role::Admin { "Demo Admin".into() } else { "Demo Agent".into() },
                username: Some(name.into()),
            };
            accounts::create(&db, &passwords, new, role).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        db.close().await?;
    }

    let app = App::build(config).await?;
    let address = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    let api = Api::login(address).await?;
    set_up(&api, &sim).await?;
    println!();
    println!("  wagate demo is running: open http://{address}/ in a browser");
    println!(
        "  log in as admin / admin123 (everything) or agent / agent123 (the inbox: chats an admin assigned to it)"
    );
    println!(
        "  numbers {} are linked to wa-sim; its contacts write in now and then",
        NUMBERS.map(|(_, p)| p).join(" and ")
    );
    println!("  Ctrl-C stops the demo and deletes its data");
    println!();
    let contacts = tokio::spawn(converse(sim.clone()));
    crate::shutdown_signal().await;
    contacts.abort();
    let _ = stop.send(());
    server.await.context("the gateway task")?
}

/// Links the numbers and loads customers, a notice and the bot, through the API.
async fn set_up(api: &Api, sim: &wa_sim::Sim) -> anyhow::Result<()> {
    sim.add_contacts(&CONTACTS.map(|(_, phone, _)| phone.to_owned()));
    for (session, phone) in NUMBERS {
        api.call("POST", "/session/create", json!({ "sessionId": session })).await?;
        let qr = api.call("GET", &format!("/session/qr/{session}"), Value::Null).await?;
        let qr = qr["data"]["qr"].as_str().context("a QR code")?;
        sim.scan(qr, phone).await.context("wa-sim scans the QR code")?;
    }
    for _ in 0..100 {
        let list = api.call("GET", "/session/list", Value::Null).await?;
        let connected = list["data"].as_array().map_or(0, |s| s.iter().filter(|s| s["status"] == "connected").count());
        if connected == NUMBERS.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let customers: Vec<Value> = CONTACTS
        .iter()
        .enumerate()
        .map(|(i, (name, phone, odp))| {
            json!({"external_id": format!("PLG-{:04}", i + 1), "name": name, "phone": phone, "odp": odp})
        })
        .collect();
    api.call("POST", "/api/customers/bulk", json!({ "customers": customers })).await?;
    api.call(
        "POST",
        "/api/notices",
        json!({"title": "Gangguan kabel fiber ODP-JKT-01",
               "message": "Kabel fiber putus karena galian. Teknisi sedang menuju lokasi.",
               "odps": ["ODP-JKT-01"]}),
    )
    .await?;
    let mut bot = api.call("GET", "/bot/config", Value::Null).await?["data"]["config"].clone();
    bot["enabled"] = json!(true);
    api.call("PUT", "/bot/config", bot).await?;
    Ok(())
}

/// The scripted contacts: one writes every 20–40 s, and a contact whose chat
/// an agent answered answers back (at most once a minute, so a bot's reply
/// never starts an endless exchange).
async fn converse(sim: wa_sim::Sim) {
    let mut seen = sim.received(None).len();
    let mut answered: std::collections::HashMap<String, tokio::time::Instant> = Default::default();
    let mut next_opener = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let received = sim.received(None);
        for message in received.iter().skip(seen) {
            let Some((name, phone, _)) = CONTACTS.iter().find(|(_, p, _)| *p == message.to) else { continue };
            let recent = answered.get(*phone).is_some_and(|at| at.elapsed() < Duration::from_secs(60));
            // Bot menus are not answered by the script; people's replies are.
            let from_bot = message.text.as_deref().is_some_and(|t| t.contains("Silakan pilih") || t.contains("Ketik"));
            if recent || from_bot || message.copy != 1 {
                continue;
            }
            answered.insert((*phone).to_owned(), tokio::time::Instant::now());
            let text = *ANSWERS.choose(&mut rand::rng()).expect("answers");
            let write = write(name, phone, &message.from, text);
            let sim = sim.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(3)).await;
                if let Err(e) = sim.deliver(&write).await {
                    tracing::warn!(error = %e, "a demo contact could not answer");
                }
            });
        }
        seen = received.len();
        if tokio::time::Instant::now() >= next_opener {
            let (name, phone, _) = *CONTACTS.choose(&mut rand::rng()).expect("contacts");
            let (_, number) = *NUMBERS.choose(&mut rand::rng()).expect("numbers");
            let text = *OPENERS.choose(&mut rand::rng()).expect("openers");
            if let Err(e) = sim.deliver(&write(name, phone, number, text)).await {
                tracing::warn!(error = %e, "a demo contact could not write");
            }
            next_opener = tokio::time::Instant::now() + Duration::from_secs(rand::rng().random_range(20..40));
        }
    }
}

fn write(name: &str, from: &str, to: &str, text: &str) -> wa_sim::messages::Write {
    wa_sim::messages::Write {
        from: from.into(),
        to: to.into(),
        text: Some(text.into()),
        push_name: Some(name.into()),
        ..Default::default()
    }
}

/// The gateway's API, as the demo admin.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn login(address: SocketAddr) -> anyhow::Result<Api> {
        let http = reqwest::Client::new();
        let base = format!("http://{address}");
        let mut api = Api { http, base, token: String::new() };
        let answer = api.call("POST", "/auth/login", json!({"identifier": "admin", "password": "admin123"})).await?;
        api.token = answer["token"].as_str().context("a token")?.to_owned();
        Ok(api)
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if !body.is_null() {
            req = req.header("content-type", "application/json").body(body.to_string());
        }
        let resp = req.send().await.with_context(|| format!("calling {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{path} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
