//! The `wagate` binary as an operator runs it: first start on an empty database,
//! configuration by file and environment, `migrate`, `user add`, SIGTERM, restart.

use std::{path::Path, process::Stdio, time::Duration};

use reqwest::StatusCode;
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::{
    db_tests,
    helpers::{Provisioned, TestDb, WA_VERSION, start_sim},
};

/// A port for a gateway the test starts (and may start again on the same
/// port). Not one the kernel hands out (`bind(0)`): those come from the
/// ephemeral range (32768–60999 by default), where an outgoing connection of
/// another test could take it between this pick and the gateway's bind. Below
/// it, one after another within this process, from a start of its own.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const END: u16 = 32_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = FIRST + (std::process::id() % u32::from(END - FIRST)) as u16;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    for _ in FIRST..END {
        let taken = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = FIRST + taken.wrapping_sub(FIRST) % (END - FIRST);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{END}");
}

struct Env<'a> {
    dir: &'a Path,
    port: u16,
    database_url: Option<&'a str>,
    /// The wa-sim the gateway connects to.
    sim: std::net::SocketAddr,
}

impl Env<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wagate"));
        cmd.args(args)
            .current_dir(self.dir)
            .env("WAGATE__SERVER__LISTEN", format!("127.0.0.1:{}", self.port))
            .env("WAGATE__STORAGE__DATA_DIR", self.dir.join("state"))
            .env("WAGATE__LOG__FORMAT", "json")
            .env("WAGATE__WHATSAPP__SERVER_URL", format!("ws://{}/ws/chat", self.sim))
            .env("WAGATE__WHATSAPP__VERSION", WA_VERSION)
            .env_remove("DATABASE_URL")
            .env_remove("RUST_LOG")
            .env_remove("WAGATE_PASSWORD")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(url) = self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        cmd
    }

    /// Creates session `id` as the holder of `token` and links it to `phone`
    /// through wa-sim; returns once it is connected.
    async fn linked(&self, client: &reqwest::Client, token: &str, sim: &wa_sim::Sim, id: &str, phone: &str) {
        let get = |path: String| {
            let req = client.get(format!("{}{path}", self.base())).bearer_auth(token);
            async move { req.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
        };
        let resp = client
            .post(format!("{}/session/create", self.base()))
            .bearer_auth(token)
            .json(&json!({"sessionId": id}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body = get(format!("/session/qr/{id}")).await;
        sim.scan(body["data"]["qr"].as_str().expect("qr"), phone).await.unwrap();
        for _ in 0..600 {
            if get(format!("/session/status?session={id}")).await["data"]["status"] == "connected" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{id} did not connect");
    }

    /// `GET path` as the holder of `token`, its JSON.
    async fn get_json(&self, client: &reqwest::Client, token: &str, path: &str) -> serde_json::Value {
        let resp = client.get(format!("{}{path}", self.base())).bearer_auth(token).send().await.unwrap();
        resp.json().await.unwrap()
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn serve(&self) -> Child {
        let stderr = std::fs::File::create(self.dir.join("stderr.log")).unwrap();
        self.command(&["serve", "--config", "wagate.toml"]).stdout(Stdio::piped()).stderr(stderr).spawn().unwrap()
    }

    /// Waits (bounded) until the gateway answers `GET /`.
    async fn until_up(&self) {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(resp) = client.get(format!("{}/", self.base())).send().await
                && resp.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "gateway did not come up; stderr:\n{}",
            std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
        );
    }

    async fn login(&self, identifier: &str, password: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/auth/login", self.base()))
            .json(&json!({"identifier": identifier, "password": password}))
            .send()
            .await
            .unwrap()
    }
}

/// Sends SIGTERM and returns everything the process printed on stdout.
async fn terminate(mut child: Child) -> String {
    let mut stdout = child.stdout.take().unwrap();
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("exits after SIGTERM").unwrap();
    assert!(exit.success(), "graceful exit, got {exit}");
    let mut rest = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut rest).await.unwrap();
    rest
}

async fn first_run_creates_admin_and_honours_configuration(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let database = Provisioned::new(db).await;
    let (_sim, sim) = start_sim().await;
    let env = Env { dir: dir.path(), port: free_port(), database_url: database.url.as_deref(), sim };
    std::fs::write(
        dir.path().join("wagate.toml"),
        "[server]\nlisten = \"127.0.0.1:1\"\n\n[auth]\nbcrypt_cost = 5\nadmin_email = \"boss@example.com\"\n",
    )
    .unwrap();

    // First run: the banner says where the generated password is, never what it is.
    let mut child = env.serve().await;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let password_file = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            banner.push(line.clone());
            if let Some(rest) = line.trim().strip_prefix("password: generated, in ") {
                return std::path::PathBuf::from(rest.split(" (").next().unwrap());
            }
        }
        panic!("no password file named: {banner:?}");
    })
    .await
    .expect("banner printed");
    child.stdout = Some(lines.into_inner().into_inner());
    let banner = banner.join("\n");
    assert!(banner.contains("boss@example.com"), "{banner}");
    assert!(banner.contains(&format!("127.0.0.1:{}", env.port)), "env overrides the file: {banner}");
    env.until_up().await;
    assert_eq!(password_file, dir.path().join("state/first-admin-password"));
    let password = std::fs::read_to_string(&password_file).unwrap().trim().to_owned();
    assert_eq!(password.len(), 20, "{password}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&password_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the password file is the owner's alone");
    }
    assert!(!banner.contains(&password), "the banner does not show the password: {banner}");
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(!log.contains(&password) && log.contains("first-admin-password"), "the log says where, not what: {log}");
    if db == TestDb::Sqlite {
        assert!(dir.path().join("state/wagate.db").exists(), "SQLite file in the configured data dir");
    }
    {
        // What the gateway keeps is its user's alone: the data dir and the device stores' dir,
        // the database with its WAL.
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &str| std::fs::metadata(dir.path().join(path)).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode("state"), mode("sessions")), (0o700, 0o700));
        if db == TestDb::Sqlite {
            assert_eq!(mode("state/wagate.db"), 0o600);
            if dir.path().join("state/wagate.db-wal").exists() {
                assert_eq!(mode("state/wagate.db-wal"), 0o600);
            }
        }
    }
    assert!(dir.path().join("state/jwt_secret").exists());

    let resp = env.login("admin", &password).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    assert_eq!(env.login("boss@example.com", &password).await.status(), StatusCode::OK);
    // The container's health check: the running gateway's /health, on the configured port.
    let healthcheck = || env.command(&["healthcheck", "--config", "wagate.toml"]).output();
    let out = healthcheck().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("healthy: {"), "{out:?}");
    terminate(child).await;
    let out = healthcheck().await.unwrap();
    assert!(!out.status.success(), "nothing listens any more: {out:?}");

    // Operator commands on the same database.
    let out = env.command(&["migrate", "--config", "wagate.toml"]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    let out = env
        .command(&["user", "add", "--email", "agent@example.com", "--password", "agent-pass", "--role", "agent"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Passwords kept out of argv: from the environment, or standard input.
    let out = env
        .command(&["user", "add", "--email", "env@example.com"])
        .env("WAGATE_PASSWORD", "from-the-env")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut add = env
        .command(&["user", "add", "--email", "stdin@example.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = add.stdin.take().unwrap();
        stdin.write_all(b"from-stdin-1\n").await.unwrap();
    }
    let out = add.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = env.command(&["user", "add", "--email", "none@example.com"]).output().await.unwrap();
    assert!(!out.status.success(), "no password anywhere is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no password"), "{}", String::from_utf8_lossy(&out.stderr));
    // Customers from a billing export: imported for the first admin; bad lines named on stderr.
    std::fs::write(
        dir.path().join("pelanggan.csv"),
        "id,nama,telepon,odp\nP1,Budi,0812-3456-7890,ODP-1\nP2,Siti\nP3,Joko,0,ODP-1\n",
    )
    .unwrap();
    let out = env.command(&["customers", "import", "pelanggan.csv", "--config", "wagate.toml"]).output().await.unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(
            "3 rows for boss@example.com: 2 inserted, 0 updated, 1 with an invalid phone number, 1 not imported"
        ),
        "{stdout}"
    );
    assert!(stderr.contains("line 3: has 2 fields"), "{stderr}");
    let out = env.command(&["customers", "import", "missing.csv", "--config", "wagate.toml"]).output().await.unwrap();
    assert!(!out.status.success());
    let out =
        env.command(&["customers", "import", "pelanggan.csv", "--user", "nobody@example.com"]).output().await.unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("nobody@example.com"));
    let out = env.command(&["user", "add", "--email", "bad", "--password", "agent-pass"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("email"));
    let out = env.command(&["serve", "--config", "missing.toml"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));

    // Second run: nothing printed, the same password works, and so does the old token.
    let child = env.serve().await;
    env.until_up().await;
    assert_eq!(env.login("admin", &password).await.status(), StatusCode::OK);
    assert_eq!(env.login("agent@example.com", "agent-pass").await.status(), StatusCode::OK);
    assert_eq!(env.login("env@example.com", "from-the-env").await.status(), StatusCode::OK);
    assert_eq!(env.login("stdin@example.com", "from-stdin-1").await.status(), StatusCode::OK);
    let me = reqwest::Client::new().get(format!("{}/auth/me", env.base())).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK, "a token from before the restart still works");
    let customers: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/customers?odp=ODP-1", env.base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(customers["total"], 2, "{customers}");
    assert_eq!(customers["data"][0]["phone"], "6281234567890");
    let printed = terminate(child).await;
    assert!(!printed.contains("password:"), "the password is shown only once: {printed}");
}

/// The process dies with three linked sessions (SIGKILL: nothing is flushed or
/// said goodbye); started again, all three reconnect from their stores, no scan.
async fn killed_gateway_restores_linked_sessions(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let database = Provisioned::new(db).await;
    let (sim, sim_addr) = start_sim().await;
    let env = Env { dir: dir.path(), port: free_port(), database_url: database.url.as_deref(), sim: sim_addr };
    std::fs::write(
        dir.path().join("wagate.toml"),
        "[auth]\nbcrypt_cost = 4\nadmin_password = \"admin-password\"\n\n[storage]\nsessions_dir = \"state/sessions\"\n",
    )
    .unwrap();
    let client = reqwest::Client::new();
    let mut child = env.serve().await;
    env.until_up().await;
    let resp = env.login("admin", "admin-password").await;
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let get = |path: String| client.get(format!("{}{path}", env.base())).bearer_auth(&token).send();
    let status_of = |id: &'static str| {
        let get = &get;
        async move {
            let body: serde_json::Value =
                get(format!("/session/status?session={id}")).await.unwrap().json().await.unwrap();
            body["data"]["status"].as_str().unwrap_or_default().to_owned()
        }
    };
    let wait_all_connected = |what: &'static str| async move {
        for _ in 0..600 {
            let mut all = true;
            for id in ["k1", "k2", "k3"] {
                all &= status_of(id).await == "connected";
            }
            if all {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not all connected {what}");
    };

    for (id, phone) in [("k1", "628111000051"), ("k2", "628111000052"), ("k3", "628111000053")] {
        let resp = client
            .post(format!("{}/session/create", env.base()))
            .bearer_auth(&token)
            .json(&json!({"sessionId": id}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body: serde_json::Value = get(format!("/session/qr/{id}")).await.unwrap().json().await.unwrap();
        sim.scan(body["data"]["qr"].as_str().expect("qr"), phone).await.unwrap();
    }
    wait_all_connected("after linking").await;

    child.kill().await.unwrap();
    let logins = sim.logins().len();
    let child = env.serve().await;
    env.until_up().await;
    wait_all_connected("after the restart").await;
    assert!(sim.logins().len() >= logins + 3, "each logged in again");
    assert_eq!(sim.devices().len(), 3, "no new devices were linked: {:?}", sim.devices());
    assert!(sim.devices().iter().all(|(_, _, connected)| *connected));
    terminate(child).await;
}

/// SIGKILL while 50 queued messages are being sent; started again, the
/// gateway sends the rest: the contact has all 50, none twice.
async fn killed_gateway_sends_every_message_once(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let database = Provisioned::new(db).await;
    let (sim, sim_addr) = start_sim().await;
    let env = Env { dir: dir.path(), port: free_port(), database_url: database.url.as_deref(), sim: sim_addr };
    std::fs::write(
        dir.path().join("wagate.toml"),
        "[auth]\nbcrypt_cost = 4\nadmin_password = \"admin-password\"\n\n[storage]\nsessions_dir = \"state/sessions\"\n\n\
         [limits]\ndelay_min_ms = 20\ndelay_max_ms = 40\nper_minute = 0\nper_hour = 0\nper_recipient_per_hour = 0\n",
    )
    .unwrap();
    let (phone, contact) = ("628111000061", "628222000061");
    sim.add_contacts(&[contact.to_owned()]);
    let client = reqwest::Client::new();
    let mut child = env.serve().await;
    env.until_up().await;
    let resp = env.login("admin", "admin-password").await;
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let call = |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
        let mut req = client.request(method, format!("{}{path}", env.base())).bearer_auth(&token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, _) = call(reqwest::Method::POST, "/session/create", Some(json!({"sessionId": "q1"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, body) = call(reqwest::Method::GET, "/session/qr/q1", None).await;
    sim.scan(body["data"]["qr"].as_str().expect("qr"), phone).await.unwrap();
    for _ in 0..600 {
        let (_, body) = call(reqwest::Method::GET, "/session/status?session=q1", None).await;
        if body["data"]["status"] == "connected" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut ids = std::collections::HashSet::new();
    for i in 0..50 {
        let body = json!({"session": "q1", "to": contact, "text": format!("pesan nomor {i}")});
        let (status, body) = call(reqwest::Method::POST, "/message/send-text", Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.insert(body["data"]["id"].as_str().unwrap().to_owned());
    }
    // Kill it mid-way through the queue.
    for _ in 0..600 {
        if sim.received(Some(contact)).len() >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().await.unwrap();
    let before = sim.received(Some(contact)).len();
    assert!((10..50).contains(&before), "killed while dispatching: {before} of 50 had arrived");

    let child = env.serve().await;
    env.until_up().await;
    let mut done = 0;
    for _ in 0..1200 {
        let (_, body) = call(reqwest::Method::GET, "/message/list?session=q1&status=sent&limit=1", None).await;
        done = body["total"].as_u64().unwrap_or(0);
        if done == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(done, 50, "every message ends sent");
    let shown = sim.shown(Some(contact));
    let arrived: std::collections::HashSet<String> = shown.iter().map(|r| r.id.clone()).collect();
    assert_eq!(shown.len(), 50, "the phone shows none twice");
    assert_eq!(arrived, ids, "all 50, and only those");
    // A resend (the same id) is only possible for what was on the wire at the
    // kill; the contact's phone drops such a copy by its id.
    let resent = sim.duplicates();
    assert!(resent.len() <= 2, "resent: {resent:?}");
    assert_eq!(sim.received(Some(contact)).len(), 50 + resent.len(), "every copy sent is counted");
    terminate(child).await;
}

/// SIGKILL while WhatsApp delivers 200 messages from 20 contacts: after a
/// restart every one is stored exactly once (what was not committed before the
/// kill is delivered again, what was is not stored twice).
async fn killed_gateway_keeps_every_received_message_once(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let database = Provisioned::new(db).await;
    let (sim, sim_addr) = start_sim().await;
    let env = Env { dir: dir.path(), port: free_port(), database_url: database.url.as_deref(), sim: sim_addr };
    std::fs::write(
        dir.path().join("wagate.toml"),
        "[auth]\nbcrypt_cost = 4\nadmin_password = \"admin-password\"\n\n[storage]\nsessions_dir = \"state/sessions\"\n",
    )
    .unwrap();
    let phone = "628111000071";
    let client = reqwest::Client::new();
    let mut child = env.serve().await;
    env.until_up().await;
    let resp = env.login("admin", "admin-password").await;
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let get = |path: String| {
        let req = client.get(format!("{}{path}", env.base())).bearer_auth(&token);
        async move { req.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    env.linked(&client, &token, &sim, "r1", phone).await;

    // 20 contacts write 10 messages each, all at once, while the gateway is killed.
    let writer = {
        let sim = sim.clone();
        tokio::spawn(async move {
            let mut ids = std::collections::HashSet::new();
            for n in 0..10 {
                for c in 0..20 {
                    let write = wa_sim::messages::Write {
                        from: format!("6282220001{c:02}"),
                        to: phone.into(),
                        text: Some(format!("pesan {n} dari {c}")),
                        ..Default::default()
                    };
                    ids.insert((write.from.clone(), sim.deliver(&write).await.unwrap()));
                }
            }
            ids
        })
    };
    // Killed once some are stored.
    for _ in 0..2000 {
        if get("/message/received?limit=20".into()).await["data"].as_array().map_or(0, Vec::len) >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().await.unwrap();
    let sent = writer.await.unwrap();
    assert_eq!(sent.len(), 200);
    let waiting = sim.pending_for(phone, 1);
    assert!(waiting > 0, "killed while receiving: WhatsApp still holds some of the 200");

    let child = env.serve().await;
    env.until_up().await;
    for _ in 0..1200 {
        if sim.pending_for(phone, 1) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.pending_for(phone, 1), 0, "the gateway took all 200 after the restart");
    let mut stored = Vec::new();
    let mut before = String::new();
    loop {
        let page = get(format!("/message/received?session=r1&limit=200{before}")).await;
        let rows = page["data"].as_array().unwrap().clone();
        let Some(last) = rows.last() else { break };
        before = format!("&before={}", last["id"]);
        stored.extend(rows);
    }
    let keys: std::collections::HashSet<(String, String)> = stored
        .iter()
        .map(|r| {
            (
                r["sender"].as_str().unwrap().trim_end_matches("@s.whatsapp.net").to_owned(),
                r["message_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(stored.len(), 200, "each stored once (of {waiting} waiting at the kill)");
    assert_eq!(keys, sent, "all 200, and only those");
    terminate(child).await;
}

/// Issue 15, acceptance 3: the receiver is down (connection refused) while 500
/// messages arrive; the gateway is SIGKILLed, restarted, and the receiver comes
/// up: every one of the 500 `message.received` events arrives, signed.
async fn killed_gateway_delivers_every_webhook(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let database = Provisioned::new(db).await;
    let (sim, sim_addr) = start_sim().await;
    let env = Env { dir: dir.path(), port: free_port(), database_url: database.url.as_deref(), sim: sim_addr };
    let receiver_port = free_port();
    let secret = wagate::sign::Key::generate();
    std::fs::write(
        dir.path().join("wagate.toml"),
        format!(
            "[auth]\nbcrypt_cost = 4\nadmin_password = \"admin-password\"\n\n[storage]\nsessions_dir = \"state/sessions\"\n\n\
             [webhook]\nurl = \"http://127.0.0.1:{receiver_port}/hook\"\nsecret = \"{secret}\"\n\
             allow_ranges = [\"127.0.0.0/8\"]\nschedule = \"0s, 100ms, 200ms, 300ms, 500ms, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s\"\n"
        ),
    )
    .unwrap();
    let phone = "628111000081";
    let client = reqwest::Client::new();
    let mut child = env.serve().await;
    env.until_up().await;
    let resp = env.login("admin", "admin-password").await;
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    env.linked(&client, &token, &sim, "w1", phone).await;

    let mut sent = std::collections::HashSet::new();
    for n in 0..500 {
        let write = wa_sim::messages::Write {
            from: format!("6282220002{:02}", n % 50),
            to: phone.into(),
            text: Some(format!("pesan {n}")),
            ..Default::default()
        };
        sent.insert(sim.deliver(&write).await.unwrap());
    }
    // All committed (the device acknowledges only then), none delivered yet: then killed.
    for _ in 0..1200 {
        if sim.pending_for(phone, 0) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.pending_for(phone, 0), 0, "all 500 stored before the kill");
    child.kill().await.unwrap();

    let receiver = crate::webhooks::Receiver::start_at(&format!("127.0.0.1:{receiver_port}"), 200).await;
    let child = env.serve().await;
    env.until_up().await;
    let received = || -> std::collections::HashSet<String> {
        receiver
            .accepted(&secret)
            .into_iter()
            .filter(|(_, e)| e["type"] == "message.received")
            .map(|(_, e)| e["data"]["message_id"].as_str().unwrap().to_owned())
            .collect()
    };
    for _ in 0..1200 {
        if received().len() == 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(received(), sent, "every one of the 500 arrived");
    terminate(child).await;
}

/// Issue 27, item 7: SIGKILL while contacts' delivered and read receipts
/// pour in; after a restart every message has its final status. What the
/// gateway heard before the kill was journaled before its client answered
/// WhatsApp; what it had not answered WhatsApp delivers again.
async fn killed_gateway_keeps_every_status(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let database = Provisioned::new(db).await;
    let (sim, sim_addr) = start_sim().await;
    let env = Env { dir: dir.path(), port: free_port(), database_url: database.url.as_deref(), sim: sim_addr };
    std::fs::write(
        dir.path().join("wagate.toml"),
        "[auth]\nbcrypt_cost = 4\nadmin_password = \"admin-password\"\n\n[storage]\nsessions_dir = \"state/sessions\"\n\n\
         [limits]\ndelay_min_ms = 0\ndelay_max_ms = 0\nper_minute = 0\nper_hour = 0\nper_recipient_per_hour = 0\n",
    )
    .unwrap();
    let contacts: Vec<String> = (0..4).map(|n| format!("62822200007{n}")).collect();
    sim.add_contacts(&contacts);
    let client = reqwest::Client::new();
    let mut child = env.serve().await;
    env.until_up().await;
    let resp = env.login("admin", "admin-password").await;
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    env.linked(&client, &token, &sim, "r1", "628111000071").await;
    let total_with = |status: &'static str| {
        let req =
            client.get(format!("{}/message/list?session=r1&status={status}&limit=1", env.base())).bearer_auth(&token);
        async move { req.send().await.unwrap().json::<serde_json::Value>().await.unwrap()["total"].as_u64().unwrap_or(0) }
    };
    let mut ids = Vec::new();
    for i in 0..200 {
        let body = json!({"session": "r1", "to": contacts[i % 4], "text": format!("tagihan {i}")});
        let resp = client.post(format!("{}/message/send-text", env.base())).bearer_auth(&token).json(&body).send();
        let body: serde_json::Value = resp.await.unwrap().json().await.unwrap();
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    for _ in 0..1200 {
        if total_with("sent").await == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(total_with("sent").await, 200, "all sent before the receipts come");

    // Every phone receives and reads at once; the gateway is killed amid it.
    for id in &ids {
        sim.receipt(id, "delivered").unwrap();
    }
    for id in &ids {
        sim.receipt(id, "read").unwrap();
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    child.kill().await.unwrap();
    let child = env.serve().await;
    env.until_up().await;
    let mut read = 0;
    for _ in 0..600 {
        read = total_with("read").await;
        if read == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(read, 200, "every message ends read");
    terminate(child).await;
}

/// Issue 27, item 9: linking a number and its first uploads (image and
/// document) log no ERROR: whatsapp-rust's routine errors are not failures.
async fn logs_are_quiet_for_linking_and_a_first_upload(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let database = Provisioned::new(db).await;
    let (sim, sim_addr) = start_sim().await;
    let env = Env { dir: dir.path(), port: free_port(), database_url: database.url.as_deref(), sim: sim_addr };
    std::fs::write(
        dir.path().join("wagate.toml"),
        "[auth]\nbcrypt_cost = 4\nadmin_password = \"admin-password\"\n\n[storage]\nsessions_dir = \"state/sessions\"\n\n\
         [limits]\ndelay_min_ms = 0\ndelay_max_ms = 0\n",
    )
    .unwrap();
    let contact = "628222000081";
    sim.add_contacts(&[contact.to_owned()]);
    let client = reqwest::Client::new();
    let child = env.serve().await;
    env.until_up().await;
    let resp = env.login("admin", "admin-password").await;
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    env.linked(&client, &token, &sim, "l1", "628111000081").await;
    // And one by pairing code (WhatsApp closes the socket after pairing).
    let resp = client
        .post(format!("{}/session/create", env.base()))
        .bearer_auth(&token)
        .json(&json!({"sessionId": "l2", "phoneNumber": "628111000082"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let status_of = |id: &'static str| {
        let req = client.get(format!("{}/session/status?session={id}", env.base())).bearer_auth(&token);
        async move { req.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let mut code = None;
    for _ in 0..600 {
        let qr: serde_json::Value = client
            .get(format!("{}/session/qr/l2", env.base()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        code = qr["data"]["pairingCode"].as_str().map(str::to_owned);
        if code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sim.enter_pair_code("628111000082", &code.expect("a pairing code")).await.unwrap();
    for _ in 0..600 {
        if status_of("l2").await["data"]["status"] == "connected" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status_of("l2").await["data"]["status"], "connected");
    let png = {
        let mut bytes = Vec::new();
        let image = image::RgbImage::from_pixel(8, 8, image::Rgb([200, 30, 30]));
        image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        bytes
    };
    let mut ids = Vec::new();
    for (route, field, bytes, name, mime) in [
        ("send-image", "image", png, "banner.png", "image/png"),
        ("send-document", "document", b"%PDF-1.4 tagihan".to_vec(), "tagihan.pdf", "application/pdf"),
    ] {
        let form = reqwest::multipart::Form::new()
            .text("session", "l1")
            .text("to", contact)
            .part(field, reqwest::multipart::Part::bytes(bytes).file_name(name).mime_str(mime).unwrap());
        let resp = client.post(format!("{}/message/{route}", env.base())).bearer_auth(&token).multipart(form);
        let resp = resp.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        ids.push(resp.json::<serde_json::Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned());
    }
    for _ in 0..600 {
        if ids.iter().all(|id| sim.received(Some(contact)).iter().any(|r| &r.id == id)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ids.iter().all(|id| sim.received(Some(contact)).iter().any(|r| &r.id == id)), "both arrived");
    terminate(child).await;
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(r#""level":"ERROR""#)).collect();
    assert!(errors.is_empty(), "{} ERROR lines:\n{}", errors.len(), errors.join("\n"));
    assert!(log.contains(r#""level":"INFO""#), "the log is there: {log}");
}

/// Under a low open-files limit (soft and hard: the gateway cannot raise it),
/// sessions are made and linked while there is room, a descriptor each; the
/// next one is refused with 409 `capacity` naming the limit, never left half
/// linked, and `/health` tells the room. A deleted session leaves the device
/// store and WhatsApp. Restarted under a lower limit, the sessions that fit
/// connect again and the others stay stopped, saying why.
async fn a_low_open_files_limit_refuses_sessions_clearly(db: TestDb) {
    const LIMIT: u64 = 100;
    let dir = tempfile::tempdir().unwrap();
    let database = Provisioned::new(db).await;
    let (sim, sim_addr) = start_sim().await;
    let env = Env { dir: dir.path(), port: free_port(), database_url: database.url.as_deref(), sim: sim_addr };
    std::fs::write(dir.path().join("wagate.toml"), "[auth]\nbcrypt_cost = 4\nadmin_password = \"admin-password\"\n")
        .unwrap();
    let serve = |limit: u64| {
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut command = env.command(&["serve", "--config", "wagate.toml"]);
        // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        command.stdout(Stdio::piped()).stderr(stderr).spawn().unwrap()
    };
    let child = serve(LIMIT);
    let pid = child.id().unwrap();
    let descriptors = || std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    env.until_up().await;
    let token = env.login("admin", "admin-password").await.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let health = || async {
        client.get(format!("{}/health", env.base())).send().await.unwrap().json::<serde_json::Value>().await.unwrap()
    };
    let room = health().await["capacity"].clone();
    assert_eq!(room["open_files_limit"], LIMIT, "{room}");
    let left = room["sessions_left"].as_u64().unwrap();
    assert!((3..=60).contains(&left), "{room}");
    let before = descriptors();

    let mut linked = Vec::new();
    let refusal = loop {
        let id = format!("f{}", linked.len());
        let resp = client
            .post(format!("{}/session/create", env.base()))
            .bearer_auth(&token)
            .json(&json!({ "sessionId": id }))
            .send()
            .await
            .unwrap();
        if resp.status() != StatusCode::CREATED {
            break (resp.status(), resp.json::<serde_json::Value>().await.unwrap());
        }
        let qr = env.get_json(&client, &token, &format!("/session/qr/{id}")).await;
        sim.scan(qr["data"]["qr"].as_str().expect("qr"), &format!("62811100{:04}", 7000 + linked.len())).await.unwrap();
        linked.push(id);
        assert!(linked.len() as u64 <= left, "more sessions than the room said");
    };
    assert_eq!(refusal.0, StatusCode::CONFLICT, "{}", refusal.1);
    assert_eq!(refusal.1["error"]["code"], "capacity", "{}", refusal.1);
    assert!(refusal.1["error"]["message"].as_str().unwrap().contains("open-files limit"), "{}", refusal.1);
    // Up to what the room said (the test's own connections and the
    // database pool's growth take some of it).
    assert!(!linked.is_empty(), "none of the {left} the room said");
    // Each one linked and connected: none half way.
    for id in &linked {
        let mut status = String::new();
        for _ in 0..400 {
            let body = env.get_json(&client, &token, &format!("/session/status?session={id}")).await;
            status = body["data"]["status"].as_str().unwrap_or_default().to_owned();
            if status == "connected" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status, "connected", "{id}");
    }
    // Per session: its socket (plus what the gateway's own database pool grew
    // by under this test's load). The device stores share one database: on
    // SQLite a file in the sessions dir, whose descriptors do not grow with sessions.
    let store_files = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("/sessions/"))
        .count();
    let per_session = (descriptors() - before) as f64 / linked.len() as f64;
    println!("descriptors per linked session: {per_session:.1} ({} sessions under a limit of {LIMIT})", linked.len());
    match db {
        TestDb::Sqlite => assert!((2..=9).contains(&store_files), "the shared store's files, {store_files}"),
        TestDb::MariaDb => assert_eq!(store_files, 0, "the device stores are in the database"),
    }
    // As the refusal said (a connection of the test's closing may free a little since).
    assert!(health().await["capacity"]["sessions_left"].as_u64() <= Some(1));
    assert_eq!(sim.devices().len(), linked.len(), "no device was linked for the refused one");

    // Deleted, its device leaves the store.
    let stores = match &database.url {
        Some(url) => sea_orm::Database::connect(url.as_str()).await.unwrap(),
        None => sea_orm::Database::connect("sqlite::memory:").await.unwrap(),
    };
    let stores = wagate::engine::store::Stores::open(&stores, &dir.path().join("sessions")).await.unwrap();
    assert!(stores.holds(&linked[0]).await.unwrap(), "the session's device is in the store while it runs");
    let resp = client.delete(format!("{}/session/{}", env.base(), linked[0])).bearer_auth(&token).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert!(!stores.holds(&linked[0]).await.unwrap(), "the deleted session's device is still in the store");
    // And WhatsApp saw it go: unlinked, its connection closed.
    for _ in 0..100 {
        if sim.devices().len() < linked.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.devices().len(), linked.len() - 1, "the deleted session's device is gone from WhatsApp");
    terminate(child).await;

    // Restarted under a lower limit, with room for about half of them: those
    // that fit connect again, the others stay stopped saying why; none is
    // left half way.
    let kept = &linked[1..];
    // What was open before any session, the reserve a limit under 256 keeps
    // (32), and room for half.
    let lower = before as u64 + 32 + (kept.len() as u64 / 2).max(1);
    let child = serve(lower);
    env.until_up().await;
    let (mut connected, mut refused) = (0, 0);
    for id in kept {
        let mut body = serde_json::Value::Null;
        for _ in 0..400 {
            body = env.get_json(&client, &token, &format!("/session/status?session={id}")).await;
            if matches!(body["data"]["status"].as_str(), Some("connected" | "stopped")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match body["data"]["status"].as_str() {
            Some("connected") => connected += 1,
            Some("stopped") => {
                let reason = body["data"]["reason"].as_str().unwrap_or_default();
                assert!(reason.contains("no room under the gateway's open-files limit"), "{id}: {body}");
                refused += 1;
            }
            _ => panic!("{id} neither connected nor stopped under a limit of {lower}: {body}"),
        }
    }
    println!("under a limit of {lower}: {connected} of {} connected again, {refused} refused", kept.len());
    assert!(connected > 0 && refused > 0, "{connected} connected, {refused} refused of {}", kept.len());
    terminate(child).await;
}

db_tests!(
    killed_gateway_keeps_every_status,
    killed_gateway_delivers_every_webhook,
    first_run_creates_admin_and_honours_configuration,
    killed_gateway_restores_linked_sessions,
    killed_gateway_sends_every_message_once,
    killed_gateway_keeps_every_received_message_once,
    a_low_open_files_limit_refuses_sessions_clearly,
);

mod logs_are_quiet_for_linking_and_a_first_upload {
    #[tokio::test]
    async fn sqlite() {
        super::logs_are_quiet_for_linking_and_a_first_upload(crate::helpers::TestDb::Sqlite).await
    }
}
