//! What a linked session costs the gateway, and how fast a restart brings them back.
//!
//!     cargo bench --bench sessions -- [N=1000]
//!
//! Runs the release-built `wagate` binary in its own process (SQLite, a temp data
//! dir) against a wa-sim served from this process over loopback WebSockets, links
//! N sessions through the HTTP API (create, QR, scan), and prints the gateway's
//! resident memory per idle connected session, its idle CPU, and the time from
//! process start to all N connected again after a restart.

use std::{
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::{process::Child, sync::Semaphore};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of `pid`, in seconds (Linux counts in 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    (fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

struct Gateway {
    dir: tempfile::TempDir,
    port: u16,
    sim: std::net::SocketAddr,
    http: reqwest::Client,
    token: String,
}

impl Gateway {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&self) -> Child {
        let data = self.dir.path().join("data");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wagate"))
            .arg("serve")
            .current_dir(self.dir.path())
            .env("WAGATE__SERVER__LISTEN", format!("127.0.0.1:{}", self.port))
            .env("WAGATE__STORAGE__DATA_DIR", &data)
            .env("WAGATE__STORAGE__SESSIONS_DIR", self.dir.path().join("sessions"))
            .env("WAGATE__WHATSAPP__SERVER_URL", format!("ws://{}/ws/chat", self.sim))
            .env("WAGATE__WHATSAPP__VERSION", "2.3000.1000000000")
            .env("WAGATE__AUTH__ADMIN_PASSWORD", "bench-password")
            .env("WAGATE__AUTH__BCRYPT_COST", "4")
            .env("WAGATE__LOG__LEVEL", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start wagate");
        for _ in 0..600 {
            if self.http.get(format!("{}/", self.base())).send().await.is_ok_and(|r| r.status().is_success()) {
                return child;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("wagate did not come up");
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base())).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn connected(&self) -> usize {
        let list = self.call(reqwest::Method::GET, "/session/list", None).await;
        list["data"].as_array().map_or(0, |l| l.iter().filter(|s| s["status"] == "connected").count())
    }

    async fn until_connected(&self, n: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while self.connected().await < n {
            assert!(Instant::now() < deadline, "not all {n} sessions connected {what}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; `cargo test` runs this as a 3-session smoke test.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let default = if args.iter().any(|a| a == "--bench") { 1000 } else { 3 };
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(default);

    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut gateway = Gateway {
        dir: tempfile::tempdir().unwrap(),
        port,
        sim: sim_addr,
        http: reqwest::Client::new(),
        token: String::new(),
    };
    let mut child = gateway.start().await;
    let login: Value = gateway
        .http
        .post(format!("{}/auth/login", gateway.base()))
        .json(&json!({"identifier": "admin", "password": "bench-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    gateway.token = login["token"].as_str().expect("login").to_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = child.id().unwrap();
    let baseline = rss_kib(pid);

    // Link N sessions, 16 at a time.
    let started = Instant::now();
    let gateway = Arc::new(gateway);
    let gate = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (gateway, gate, sim) = (gateway.clone(), gate.clone(), sim.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let id = format!("bench-{i}");
            gateway.call(reqwest::Method::POST, "/session/create", Some(json!({"sessionId": id}))).await;
            let qr = gateway.call(reqwest::Method::GET, &format!("/session/qr/{id}"), None).await;
            sim.scan(qr["data"]["qr"].as_str().expect("qr"), &format!("62811{i:07}")).await.expect("scan");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    gateway.until_connected(n, "after linking").await;
    let linking = started.elapsed();

    // Idle: let the linking settle, then measure memory and CPU.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let connected_rss = rss_kib(pid);
    let cpu_before = cpu_seconds(pid);
    let window = Duration::from_secs(10);
    tokio::time::sleep(window).await;
    let idle_cpu = (cpu_seconds(pid) - cpu_before) / window.as_secs_f64() * 100.0;
    assert_eq!(gateway.connected().await, n, "sessions stayed connected while idle");

    // Restart: SIGTERM, then time from the new process's start to all N connected.
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    child.wait().await.unwrap();
    let restarting = Instant::now();
    let child = gateway.start().await;
    gateway.until_connected(n, "after the restart").await;
    let restore = restarting.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let restored_rss = rss_kib(child.id().unwrap());

    let per_session = |rss: u64| rss.saturating_sub(baseline) as f64 / n as f64;
    println!("wagate sessions bench ({n} sessions, SQLite, wa-sim over loopback WebSockets)");
    println!("  linked and connected: {n} of {n} in {:.1} s", linking.as_secs_f64());
    println!(
        "  gateway RSS: {:.1} MiB before sessions, {:.1} MiB with {n} idle connected",
        mib(baseline),
        mib(connected_rss)
    );
    println!("  RSS per idle connected session: {:.0} KiB", per_session(connected_rss));
    println!("  idle CPU with {n} connected: {idle_cpu:.1} % of one core");
    println!("  restart to all {n} connected: {:.1} s", restore.as_secs_f64());
    println!("  RSS per session after the restart: {:.0} KiB", per_session(restored_rss));
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
