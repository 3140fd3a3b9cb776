//! `wa-sim --listen 127.0.0.1:PORT [--state-dir DIR]`: the simulator as a process.

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;

#[derive(Parser)]
#[command(name = "wa-sim", version, about = "A local WhatsApp Web server, phone and contacts for tests")]
struct Args {
    /// Address for WebSocket /ws/chat, the media host and the admin API.
    #[arg(long, default_value = "127.0.0.1:7080")]
    listen: SocketAddr,
    /// Keep the server key here, so clients resume with Noise IK after a restart.
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let sim = match &args.state_dir {
        Some(dir) => wa_sim::Sim::with_state_dir(dir)?,
        None => wa_sim::Sim::new(),
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    // The first line on stdout is the address, for whoever started us.
    println!("wa-sim listening on {}", listener.local_addr()?);
    wa_sim::admin::serve(sim, listener).await?;
    Ok(())
}
