//! What a linked session costs the gateway, and how fast a restart brings them back.
//!
//!     cargo bench --bench sessions -- [N=1000] [restore_per_second=50] [idle_seconds=10]
//!
//! Runs the release-built `wagate` binary in its own process (SQLite, a temp data
//! dir) against a wa-sim served from this process over loopback WebSockets, links
//! N sessions through the HTTP API (create, QR, scan), and prints the gateway's
//! resident memory per idle connected session, its idle CPU, its open
//! descriptors per session, and the time from process start to all N
//! connected again after a restart. For 10,000 the shell needs an open-files
//! limit above 12,000 (`ulimit -n 20000`; a session holds one descriptor in the
//! gateway and one in wa-sim here): the gateway refuses sessions it has no
//! room for.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::{Gateway, bench_args, cpu_seconds, mib, rss_kib};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; `cargo test` runs this as a 3-session smoke test.
    let (bench, args) = bench_args();
    let default = if bench { 1000 } else { 3 };
    let numbers: Vec<u32> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let n = numbers.first().map_or(default, |&n| n as usize);
    // At start-up the gateway reconnects `whatsapp.restore_per_second` sessions
    // a second (50 unless given), pacing its logins to WhatsApp.
    let restore_rate = numbers.get(1).copied().unwrap_or(50);
    // How long idle CPU is measured (a longer window leaves time to profile it).
    let idle_window = Duration::from_secs(numbers.get(2).copied().unwrap_or(10).into());

    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    let env = vec![("WAGATE__WHATSAPP__RESTORE_PER_SECOND".to_owned(), restore_rate.to_string())];
    let mut gateway = Gateway::new(sim_addr, env);
    let mut child = gateway.start().await;
    gateway.login().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = child.id().unwrap();
    let baseline = rss_kib(pid);
    let descriptors = |pid: u32| std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    let baseline_fds = descriptors(pid);

    // Link N sessions, 16 at a time.
    let started = Instant::now();
    let gateway = Arc::new(gateway);
    gateway.link(&sim, "bench", n, 0).await;
    let linking = started.elapsed();

    // Idle: let the linking settle, then measure memory and CPU.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let connected_rss = rss_kib(pid);
    let connected_fds = descriptors(pid);
    let cpu_before = cpu_seconds(pid);
    tokio::time::sleep(idle_window).await;
    let idle_cpu = (cpu_seconds(pid) - cpu_before) / idle_window.as_secs_f64() * 100.0;
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
    println!(
        "  open descriptors: {baseline_fds} before sessions, {connected_fds} with {n} connected: {:.1} per session",
        connected_fds.saturating_sub(baseline_fds) as f64 / n as f64
    );
    println!("  restart to all {n} connected: {:.1} s (restore_per_second = {restore_rate})", restore.as_secs_f64());
    println!("  RSS per session after the restart: {:.0} KiB", per_session(restored_rss));
}
