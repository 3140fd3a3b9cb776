//! What the benches share: a release-built `wagate` process against a wa-sim
//! served from the bench process, and readings of that process from /proc.
//! `WAGATE_BENCH_LOG` sets the gateway's log filter (default `warn`), e.g.
//! `warn,whatsapp_rust=debug` to trace what each message exchanges.

#![allow(dead_code)] // each bench uses its own part

pub mod inbox_data;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::process::Child;

pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The highest resident memory of `pid` seen, sampled every `every` until
/// [`stop`](Self::stop)ped; [`restart`](Self::restart) begins a new peak.
pub struct PeakRss {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: tokio::task::JoinHandle<()>,
    pid: u32,
}

impl PeakRss {
    pub fn start(pid: u32, every: Duration) -> PeakRss {
        use std::sync::{
            Arc,
            atomic::{AtomicBool, AtomicU64, Ordering},
        };
        let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, stop) = (peak.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    tokio::time::sleep(every).await;
                }
            })
        };
        PeakRss { peak, stop, sampler, pid }
    }

    /// The peak so far, in KiB.
    pub fn peak(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets the peak so far: the next is measured from now.
    pub fn restart(&self) {
        self.peak.store(rss_kib(self.pid), std::sync::atomic::Ordering::Relaxed);
    }

    /// Stops sampling; the peak, in KiB.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = self.peak();
        self.sampler.await.unwrap();
        peak.max(self.peak.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// User + system CPU time of `pid`, in seconds (Linux counts in 1/100 s).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    (fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub sim: std::net::SocketAddr,
    pub http: reqwest::Client,
    pub token: String,
    /// Extra `WAGATE__…` settings (and `DATABASE_URL`).
    pub env: Vec<(String, String)>,
}

impl Gateway {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn start(&self) -> Child {
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
            .env("WAGATE__LOG__LEVEL", std::env::var("WAGATE_BENCH_LOG").unwrap_or_else(|_| "warn".into()))
            .env_remove("DATABASE_URL")
            .env_remove("RUST_LOG")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
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

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
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

    pub async fn connected(&self) -> usize {
        let list = self.call(reqwest::Method::GET, "/session/list", None).await;
        list["data"].as_array().map_or(0, |l| l.iter().filter(|s| s["status"] == "connected").count())
    }

    pub async fn until_connected(&self, n: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while self.connected().await < n {
            assert!(Instant::now() < deadline, "not all {n} sessions connected {what}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Gateway {
    /// A gateway on a free port with its own temp dir, against the wa-sim at `sim`.
    pub fn new(sim: std::net::SocketAddr, env: Vec<(String, String)>) -> Gateway {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Gateway {
            dir: tempfile::tempdir().unwrap(),
            port,
            sim,
            http: reqwest::Client::new(),
            token: String::new(),
            env,
        }
    }

    /// Logs in as the first admin.
    pub async fn login(&mut self) {
        self.token = self.login_as("admin", "bench-password").await;
    }

    /// Logs in as `identifier`; the token.
    pub async fn login_as(&self, identifier: &str, password: &str) -> String {
        let login: Value = self
            .http
            .post(format!("{}/auth/login", self.base()))
            .json(&json!({"identifier": identifier, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        login["token"].as_str().expect("login").to_owned()
    }

    /// Links sessions `{prefix}-{i}` to numbers `62811{first + i}`, 16 at a time.
    pub async fn link(self: &std::sync::Arc<Self>, sim: &wa_sim::Sim, prefix: &str, n: usize, first: usize) {
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
        let mut tasks = Vec::new();
        for i in 0..n {
            let (gateway, gate, sim, prefix) = (self.clone(), gate.clone(), sim.clone(), prefix.to_owned());
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let id = format!("{prefix}-{i}");
                gateway.call(reqwest::Method::POST, "/session/create", Some(json!({"sessionId": id}))).await;
                let qr = gateway.call(reqwest::Method::GET, &format!("/session/qr/{id}"), None).await;
                sim.scan(qr["data"]["qr"].as_str().expect("qr"), &format!("62811{:07}", first + i))
                    .await
                    .expect("scan");
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        self.until_connected(n, "after linking").await;
    }
}

/// The arguments after `--`: `--bench` when run by `cargo bench`, else a smoke run by `cargo test`.
pub fn bench_args() -> (bool, Vec<String>) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    (args.iter().any(|a| a == "--bench"), args)
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
