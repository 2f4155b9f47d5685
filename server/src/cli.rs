//! The `manifesto` command line: `serve` and the operator commands.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::auth::accounts::{is_plausible_email, normalise_email, NewUser};
use crate::auth::password::{check_policy, hash_blocking};
use crate::auth::{Accounts, Actor, AuditLog, Role};
use crate::config::{Config, LogFormat};
use crate::store::{SledStore, Store, SyncMode};

/// Manifesto: write, amend and adopt a forum's Manifesto together.
#[derive(Debug, Parser)]
#[command(name = "manifesto", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Config),
    /// Manage accounts (while the server is stopped).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens (while the server is stopped).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Check the audit log (while the server is stopped).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Create and list documents (while the server is stopped).
    #[command(subcommand)]
    Document(DocumentCommand),
    /// Export a document as PDF, Markdown or HTML (while the server is stopped).
    Export(crate::export::ExportArgs),
    /// Check the server's configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write a consistent backup of a data directory, while the server runs (through its
    /// admin socket, `admin.sock` in the data directory) or while it is stopped.
    Backup {
        #[command(flatten)]
        data: DataDir,
        /// The backup file to write (a gzip file; `.mfbk` by convention).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into a new, empty data directory.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// The data directory to create (it must be empty or absent).
        #[arg(long = "data")]
        data_dir: PathBuf,
    },
}

/// `manifesto config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (flags > MANIFESTO_* variables > --config file >
    /// defaults) as TOML, secrets masked, and every mistake in it; exits 1 if there is one.
    Check(Config),
}

/// `manifesto document …`
#[derive(Debug, Subcommand)]
pub enum DocumentCommand {
    /// Create a document, empty, from the template, or from a Markdown draft.
    Create {
        #[command(flatten)]
        data: DataDir,
        /// Its id (and live path `/ws/ID`).
        #[arg(long)]
        id: String,
        /// Its title (for a Markdown draft, overrides the front matter's).
        #[arg(long)]
        title: Option<String>,
        /// Import this Markdown draft (front matter, headings, paragraphs).
        #[arg(long, conflicts_with = "template")]
        markdown: Option<PathBuf>,
        /// Start from the template (preamble, numbered sections, closing call).
        #[arg(long)]
        template: bool,
        /// Language of the template (`en`, `fr`).
        #[arg(long)]
        language: Option<String>,
        /// Email of the secretariat account recorded as its creator (default: the first).
        #[arg(long)]
        by: Option<String>,
    },
    /// List every document.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

/// The data directory of an operator command.
#[derive(Debug, Clone, Args)]
pub struct DataDir {
    /// Data directory of the server (the server must be stopped: one process opens it).
    #[arg(long = "data", env = "MANIFESTO_DATA", default_value = "./data")]
    pub data_dir: PathBuf,
}

/// `manifesto user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input.
    Add {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: Role,
        /// Display name.
        #[arg(long)]
        name: String,
        #[arg(long)]
        organisation: Option<String>,
        #[arg(long)]
        country: Option<String>,
    },
    /// Set a new password (read from standard input); the account's sessions end.
    ResetPassword {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        email: String,
    },
    /// List every account.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

/// `manifesto token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a personal API token for an account and print its secret (once).
    Create {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        email: String,
        /// What the token is for.
        #[arg(long)]
        name: String,
    },
}

/// `manifesto audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's hash chain; fails at the first broken entry.
    Verify {
        #[command(flatten)]
        data: DataDir,
    },
}

/// A data directory opened by an operator command.
struct Opened {
    store: SledStore,
    accounts: Accounts,
    audit: AuditLog,
}

impl Opened {
    /// Opens existing data.
    fn open(data: &DataDir) -> anyhow::Result<Opened> {
        Opened::open_or_create(data, false)
    }

    /// Opens data, creating it when `create` is set (accounts may be made before the first
    /// start; the server then creates no default account).
    fn open_or_create(data: &DataDir, create: bool) -> anyhow::Result<Opened> {
        if !create && !data.data_dir.join("store").exists() {
            bail!(
                "no data in {}: start the server once (or pass --data)",
                data.data_dir.display()
            );
        }
        let store = crate::open_sled(&data.data_dir, SyncMode::PowerLoss)?;
        let accounts = Accounts::open(store.db())?;
        let audit = AuditLog::open(store.db())?;
        Ok(Opened {
            store,
            accounts,
            audit,
        })
    }

    fn flush(&self) -> anyhow::Result<()> {
        self.store.flush().context("cannot flush the store")
    }
}

/// Reads a new password: without echo from a terminal, else the first line of standard input.
fn read_new_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    check_policy(&password).map_err(|e| anyhow::anyhow!("password refused: {e}"))?;
    Ok(password)
}

fn user_command(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            data,
            email,
            role,
            name,
            organisation,
            country,
        } => {
            let email = normalise_email(&email);
            if !is_plausible_email(&email) {
                bail!("{email:?} is not an email address");
            }
            let name = name.trim().to_owned();
            if name.is_empty() || name.chars().count() > 100 {
                bail!("--name has 1 to 100 characters");
            }
            let opened = Opened::open_or_create(&data, true)?;
            let password = read_new_password()?;
            let user = opened.accounts.create_user(NewUser {
                email: email.clone(),
                name,
                organisation,
                country,
                role,
                password_hash: hash_blocking(&password),
            })?;
            opened.audit.append(
                Actor::cli(),
                "user.created",
                Some(format!("user:{}", user.id)),
                serde_json::json!({ "email": email, "role": role }),
            )?;
            opened.flush()?;
            println!(
                "created {} ({}) with id {}",
                user.email,
                role.as_str(),
                user.id
            );
        }
        UserCommand::ResetPassword { data, email } => {
            let opened = Opened::open(&data)?;
            let user = opened
                .accounts
                .user_by_email(&email)
                .with_context(|| format!("no account with email {email}"))?;
            let password = read_new_password()?;
            let hash = hash_blocking(&password);
            opened
                .accounts
                .update_user(user.id, |u| u.password_hash = hash.clone())?;
            let ended = opened.accounts.delete_sessions_of(user.id, None)?;
            opened.audit.append(
                Actor::cli(),
                "password.reset",
                Some(format!("user:{}", user.id)),
                serde_json::json!({ "sessions_ended": ended.len() }),
            )?;
            opened.flush()?;
            println!(
                "password of {} reset; {} session(s) ended",
                user.email,
                ended.len()
            );
        }
        UserCommand::List { data } => {
            let opened = Opened::open(&data)?;
            println!(
                "{:>6}  {:<11}  {:<8}  {:<32}  name",
                "id", "role", "status", "email"
            );
            for user in opened.accounts.users()? {
                println!(
                    "{:>6}  {:<11}  {:<8}  {:<32}  {}",
                    user.id,
                    user.role.as_str(),
                    if user.active { "active" } else { "inactive" },
                    user.email,
                    user.name
                );
            }
        }
    }
    Ok(())
}

fn token_command(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { data, email, name } => {
            let opened = Opened::open(&data)?;
            let user = opened
                .accounts
                .user_by_email(&email)
                .with_context(|| format!("no account with email {email}"))?;
            let (secret, token) = opened.accounts.create_token(user.id, &name)?;
            opened.audit.append(
                Actor::cli(),
                "token.created",
                Some(format!("token:{}", token.id)),
                serde_json::json!({ "name": name, "user": user.id }),
            )?;
            opened.flush()?;
            println!("{secret}");
        }
    }
    Ok(())
}

fn document_command(command: DocumentCommand) -> anyhow::Result<()> {
    use crate::documents::{Documents, InitialText};
    match command {
        DocumentCommand::Create {
            data,
            id,
            title,
            markdown,
            template,
            language,
            by,
        } => {
            if !crate::http::is_valid_document_name(&id)
                || id.len() > crate::documents::MAX_DOCUMENT_ID_BYTES
            {
                bail!("--id is 1 to 64 characters from A-Z a-z 0-9 . _ - and starts with a letter or digit");
            }
            let opened = Opened::open(&data)?;
            let owner = match by {
                Some(email) => opened
                    .accounts
                    .user_by_email(&email)
                    .with_context(|| format!("no account with email {email}"))?,
                None => opened
                    .accounts
                    .users()?
                    .into_iter()
                    .find(|u| u.role == Role::Secretariat)
                    .context("no secretariat account: create one with `manifesto user add`")?,
            };
            let (mut metadata, text) = match (markdown, template) {
                (Some(path), _) => {
                    let source = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let draft = crate::text::import_markdown(&source)
                        .with_context(|| format!("cannot import {}", path.display()))?;
                    (draft.metadata.clone(), InitialText::Draft(Box::new(draft)))
                }
                (None, true) => (
                    crate::text::Metadata::default(),
                    InitialText::Draft(Box::new(crate::demo::template(language.as_deref()))),
                ),
                (None, false) => (crate::text::Metadata::default(), InitialText::Empty),
            };
            if let Some(title) = title {
                metadata.title = Some(title);
            }
            if language.is_some() {
                metadata.language = language;
            }
            let documents = Documents::open(opened.store.db())?;
            let record = documents
                .create_offline(&opened.store, id.clone(), metadata, text, owner.id)
                .map_err(|e| anyhow::anyhow!("cannot create {id}: {e}"))?;
            opened.audit.append(
                Actor::cli(),
                "document.created",
                Some(format!("document:{id}")),
                serde_json::json!({ "title": record.title() }),
            )?;
            opened.flush()?;
            println!("created document {id} ({})", record.title());
        }
        DocumentCommand::List { data } => {
            let opened = Opened::open(&data)?;
            let documents = Documents::open(opened.store.db())?;
            println!("{:<32}  {:<11}  title", "id", "phase");
            for record in documents.list()? {
                println!(
                    "{:<32}  {:<11}  {}",
                    record.id,
                    record.phase.as_str(),
                    record.title()
                );
            }
        }
    }
    Ok(())
}

fn audit_command(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { data } => {
            let opened = Opened::open(&data)?;
            let n = opened.audit.verify()?;
            println!("audit log intact: {n} entries");
        }
    }
    Ok(())
}

/// Sets up logging to standard error in the configured format, with `filter` (e.g. `info`;
/// checked by `Config::problems`, and `info` if it does not parse).
pub fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a file, a pipe or the journal would keep the escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Connections the kernel may queue before the server accepts them. A whole venue reconnecting
/// at once (1,500 delegates after a Wi-Fi drop) overflows tokio's default of 1,024, and the
/// kernel then drops connection attempts that clients retry only seconds later. The kernel
/// caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `address` with [`LISTEN_BACKLOG`].
fn listen(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Runs the command line; the binary's `main` only calls this.
pub async fn main() -> anyhow::Result<()> {
    let parsed = match crate::config_file::parse(std::env::args_os().collect()) {
        Ok(parsed) => parsed,
        Err(crate::config_file::CliError::Clap(e)) => e.exit(),
        Err(e) => {
            eprint!("{e}");
            std::process::exit(2);
        }
    };
    if let Command::Config(ConfigCommand::Check(config)) = &parsed.cli.command {
        print!("{}", crate::config_file::describe(&parsed));
        let problems = config.problems();
        if problems.is_empty() {
            println!("# The configuration is valid.");
            return Ok(());
        }
        print_problems(&problems);
        std::process::exit(1);
    }
    match parsed.cli.command {
        Command::Serve(config) => {
            if let Err(errors) = config.validate_all() {
                print_problems(&errors.0);
                std::process::exit(2);
            }
            init_logging(config.log_format, &config.log);
            let listener = listen(config.listen)
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
            let address = listener.local_addr()?;
            // Scripts and tests read this line to find the port when listening on port 0.
            println!("manifesto listening on http://{address}");
            crate::run(listener, config, shutdown_signal()).await
        }
        Command::User(command) => user_command(command),
        Command::Token(command) => token_command(command),
        Command::Audit(command) => audit_command(command),
        Command::Document(command) => document_command(command),
        Command::Export(args) => crate::export::export_command(args),
        Command::Config(ConfigCommand::Check(_)) => Ok(()),
        Command::Backup { data, out } => backup_command(&data.data_dir, &out),
        Command::Restore { from, data_dir } => {
            let header = crate::backup::restore(&from, &data_dir)?;
            println!(
                "restored {} records taken at {} (data format {}) into {}; start the server with --data {}",
                header.n_records,
                header.created_at,
                header.format_version,
                data_dir.display(),
                data_dir.display()
            );
            Ok(())
        }
    }
}

/// Lists every mistake in the configuration on standard error, one a line.
fn print_problems(problems: &[crate::config::ConfigError]) {
    eprintln!("invalid configuration:");
    for problem in problems {
        eprintln!("  - {problem}");
    }
}

/// `manifesto backup`: through the running server's admin socket, else from the stopped
/// server's data directory.
fn backup_command(data_dir: &std::path::Path, out: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    if let Some(bytes) = crate::backup::backup_through_socket(data_dir)? {
        crate::backup::write_file(out, &bytes)?;
        println!(
            "backup of the running server written to {} ({} bytes)",
            out.display(),
            bytes.len()
        );
        return Ok(());
    }
    if !data_dir.join("store").exists() {
        bail!("no data in {}: is --data right?", data_dir.display());
    }
    let store = crate::open_sled_unchecked(data_dir, SyncMode::ProcessCrash)?;
    // Any format this server can read back is backed up as it is, older ones included.
    if let Some(found) = crate::format::stored_version(store.db(), data_dir)? {
        if found > crate::format::FORMAT_VERSION {
            return Err(crate::format::FormatError::Newer {
                dir: data_dir.display().to_string(),
                found,
            }
            .into());
        }
    }
    let bytes = crate::backup::backup_offline(store.db())?;
    crate::backup::write_file(out, &bytes)?;
    println!(
        "backup of the stopped server's data written to {} ({} bytes)",
        out.display(),
        bytes.len()
    );
    Ok(())
}
