//! The `wagate` command line: parse, load configuration, call into the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wagate::{
    App, Config, FirstAdmin,
    auth::{
        Passwords, Role,
        accounts::{self, NewUser},
    },
    db, telemetry, validation,
};

#[derive(Parser)]
#[command(name = "wagate", version, about = "Self-hosted WhatsApp Web gateway")]
struct Cli {
    /// Configuration file (default: ./config.toml when present).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: migrate, create the first admin if needed, serve HTTP.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        /// admin, user, agent or readonly.
        #[arg(long, default_value = "user")]
        role: String,
        /// Display name (default: the part of the email before '@').
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        username: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    telemetry::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(cli.command, config))
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            raise_open_files_limit();
            let app = App::build(config).await?;
            if let Some(admin) = &app.first_admin {
                print_first_admin(admin, app.local_addr());
            }
            app.run(wagate::shutdown_signal()).await
        }
        Command::Migrate => {
            let db = db::connect(&config).await?;
            db::migrate(&db).await?;
            println!("database is up to date ({})", db::backend_name(&db));
            Ok(())
        }
        Command::User { command: UserCommand::Add { email, password, role, name, username } } => {
            let role = Role::parse(&role).context("--role must be admin, user, agent or readonly")?;
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("user").to_owned());
            let new = NewUser { email, password, name, username };
            if let Err((field, message)) = validation::check(&new) {
                anyhow::bail!("--{field} {message}");
            }
            let db = db::connect(&config).await?;
            db::migrate(&db).await?;
            let user = accounts::create(&db, &Passwords::new(config.auth.bcrypt_cost), new, role)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created user {} ({}) with role {}", user.id, user.email, user.role);
            Ok(())
        }
    }
}

fn print_first_admin(admin: &FirstAdmin, address: std::net::SocketAddr) {
    let rule = "=".repeat(68);
    println!("{rule}");
    println!("  wagate: first admin created");
    println!("  API:      http://{address}");
    println!("  login:    {} (or {})", admin.username, admin.email);
    match &admin.generated_password {
        Some(password) => {
            println!("  password: {password}");
            println!("  This password is shown only once. Change it with PUT /user/:id.");
        }
        None => println!("  password: the one set in auth.admin_password"),
    }
    println!("  POST /auth/login {{\"identifier\":\"{}\",\"password\":\"...\"}}", admin.username);
    println!("{rule}");
}

/// Each linked session holds a socket and its store's files open (about four
/// descriptors), so a shell's default soft limit (often 1024) would cap the
/// gateway at a few hundred sessions. Raise the soft limit to the hard one.
#[cfg(unix)]
fn raise_open_files_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by reference.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max && {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
        }
    };
    if raised {
        tracing::debug!(open_files = limit.rlim_cur, "raised the open-files limit");
    } else if limit.rlim_cur < 4096 {
        tracing::warn!(open_files = limit.rlim_cur, "low open-files limit: about 4 per session are needed");
    }
}

#[cfg(not(unix))]
fn raise_open_files_limit() {}
