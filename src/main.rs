//! The `wagate` command line: parse, load configuration, call into the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wagate::{
    App, Config, FirstAdmin,
    auth::{
        Passwords,
        accounts::{self, NewUser},
    },
    db,
    model::Role,
    telemetry, validation,
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
    /// Ask the gateway on this machine whether it is healthy (`GET /health` on
    /// `server.listen`, loopback for a wildcard address): exit 0 when it
    /// answers 200 within 5 s, 1 otherwise. For container health checks.
    Healthcheck,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage the customers outage notices go to.
    Customers {
        #[command(subcommand)]
        command: CustomersCommand,
    },
    /// The whole product without a phone: the gateway with the WhatsApp
    /// simulator in process, demo users (admin/admin123, agent/agent123), two
    /// linked numbers, customers, a notice, the bot, and contacts who write in.
    /// Its data lives in a temporary directory and is deleted on exit.
    #[cfg(feature = "insecure-simulator")]
    Demo {
        /// Where the dashboard listens (loopback by default: the demo users' passwords are public).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum CustomersCommand {
    /// Insert or update customers from a CSV file (columns external_id, name,
    /// phone, and optionally odp and active), as POST /api/customers/import does.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// The account (email or username) the customers belong to; default the first admin.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Add {
        #[arg(long)]
        email: String,
        /// Visible to other users in the process list: prefer $WAGATE_PASSWORD or
        /// standard input (the first line), read when this is not given.
        #[arg(long)]
        password: Option<String>,
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

/// `wagate healthcheck`: the running gateway's `/health`, asked on loopback.
async fn healthcheck(config: &Config) -> anyhow::Result<()> {
    let mut address = config.server.listen;
    anyhow::ensure!(address.port() != 0, "server.listen has port 0: there is no known port to ask");
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let url = format!("http://{address}/health");
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).no_proxy().build()?;
    let response = client.get(&url).send().await.with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    anyhow::ensure!(status == reqwest::StatusCode::OK, "GET {url}: {status} {body}");
    println!("healthy: {body}");
    Ok(())
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
            return_free_memory_every(std::time::Duration::from_secs(60));
            let app = App::build(config).await?;
            if let Some(room) = wagate::sessions::capacity::Room::now() {
                tracing::info!(
                    open_files_limit = room.open_files_limit,
                    sessions_left = room.sessions_left,
                    descriptors_each = wagate::sessions::capacity::PER_SESSION,
                    "room for sessions under the open-files limit"
                );
            }
            if let Some(admin) = &app.first_admin {
                print_first_admin(admin, app.local_addr());
            }
            app.run(wagate::shutdown_signal()).await
        }
        #[cfg(feature = "insecure-simulator")]
        Command::Demo { listen } => wagate::demo::run(listen).await,
        Command::Healthcheck => healthcheck(&config).await,
        Command::Migrate => {
            let db = db::connect(&config).await?;
            db::migrate(&db).await?;
            println!("database is up to date ({})", db::backend_name(&db));
            Ok(())
        }
        Command::Customers { command: CustomersCommand::Import { file, user } } => {
            import_customers(&config, &file, user).await
        }
        Command::User { command: UserCommand::Add { email, password, role, name, username } } => {
            let role = Role::parse(&role).context("--role must be admin, user, agent or readonly")?;
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("user").to_owned());
            let password = match password {
                Some(password) => password,
                None => password_from_env_or_stdin()?,
            };
            let new = NewUser { email, password, name, username };
            if let Err((field, message)) = validation::check(&new) {
                anyhow::bail!("--{field} {message}");
            }
            let db = db::connect(&config).await?;
            db::migrate(&db).await?;
            let user = accounts::create(&db, &Passwords::new(config.auth.bcrypt_cost), new, role)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created user {} ({}) with role {}", user.id, user.email, user.role.as_str());
            Ok(())
        }
    }
}

/// A password for `user add`: `$WAGATE_PASSWORD`, else the first line of
/// standard input (prompted for on a terminal).
fn password_from_env_or_stdin() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if let Ok(password) = std::env::var("WAGATE_PASSWORD") {
        return Ok(password);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password: ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password: give --password, $WAGATE_PASSWORD or a line on standard input");
    Ok(password)
}

/// `wagate customers import`: prints what was imported and each line that was
/// not; fails when the file cannot be read at all.
async fn import_customers(config: &Config, file: &std::path::Path, user: Option<String>) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let db = db::connect(config).await?;
    db::migrate(&db).await?;
    let owner = match user {
        Some(identifier) => accounts::find_by_identifier(&db, &identifier)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_context(|| format!("no user {identifier}"))?,
        None => accounts::list(&db)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .into_iter()
            .find(|u| u.role == Role::Admin)
            .context("no admin yet: name the account with --user")?,
    };
    let (rows, errors) =
        wagate::notify::customers::parse_csv(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    // Imports cause no events: nobody hears this process's writes.
    let recorder = wagate::db::record::Recorder::detached();
    let writer = wagate::db::write::Writer::new(db.clone(), recorder, wagate::events::Events::default());
    let report =
        wagate::notify::customers::upsert(&writer, owner.id, &config.notify.country_code, rows, errors).await?;
    println!(
        "{}: {} rows for {}: {} inserted, {} updated, {} with an invalid phone number, {} not imported",
        file.display(),
        report.received,
        owner.email,
        report.inserted,
        report.updated,
        report.invalid_phones,
        report.errors.len()
    );
    for error in &report.errors {
        let line = error.line.map_or_else(String::new, |l| format!("line {l}: "));
        let field = error.field.as_deref().map_or_else(String::new, |f| format!("{f}: "));
        eprintln!("  {line}{field}{}", error.message);
    }
    db.close().await.ok();
    Ok(())
}

fn print_first_admin(admin: &FirstAdmin, address: std::net::SocketAddr) {
    let rule = "=".repeat(68);
    println!("{rule}");
    println!("  wagate: first admin created");
    println!("  API:      http://{address}");
    println!("  login:    {} (or {})", admin.username, admin.email);
    match &admin.password_file {
        Some(path) => {
            println!("  password: generated, in {} (readable by this user only)", path.display());
            println!("  Read it, log in, change it with PUT /user/:id, then delete the file.");
        }
        None => println!("  password: the one set in auth.admin_password"),
    }
    println!("  POST /auth/login {{\"identifier\":\"{}\",\"password\":\"...\"}}", admin.username);
    println!("{rule}");
}

/// Each linked session holds its socket open, so a shell's default soft limit
/// (often 1024) would cap the gateway near a thousand sessions. Raise the soft
/// limit to the hard one.
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
        tracing::warn!(open_files = limit.rlim_cur, "low open-files limit: one per session is needed");
    }
}

#[cfg(not(unix))]
fn raise_open_files_limit() {}

/// glibc's allocator keeps what the gateway's threads free in its arenas and
/// gives little of it back by itself: after linking, or a burst of messages,
/// thousands of idle sessions held more than they used (see README,
/// performance). Every `period` the free memory goes back to the system
/// (`malloc_trim`), from a thread of its own: on a heap of gigabytes it takes
/// milliseconds.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_free_memory_every(period: std::time::Duration) {
    let spawned = std::thread::Builder::new().name("wagate-trim".into()).spawn(move || {
        loop {
            std::thread::sleep(period);
            // SAFETY: malloc_trim takes no pointers; it walks the allocator's own free lists under its locks.
            unsafe { libc::malloc_trim(0) };
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start giving free memory back to the system");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_free_memory_every(_period: std::time::Duration) {}
