//! The Manifesto server as a library: [`run`] serves an already-bound listener until a
//! shutdown future completes, so tests start it in-process on `127.0.0.1:0`.
//!
//! See ARCHITECTURE.md for the code map and the invariants each module keeps.

pub mod api;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod client_app;
pub mod config;
pub mod config_file;
mod demo;
pub mod documents;
pub mod export;
mod flusher;
pub mod format;
pub mod http;
pub mod metrics;
pub mod room;
pub mod rooms;
pub mod store;
pub mod text;
mod ws;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{
    Accounts, Actor, AuditLog, Auth, AuthSettings, PasswordHasher, RateLimits, Role,
};
use crate::config::Config;
use crate::documents::Documents;
use crate::flusher::Flusher;
use crate::http::{AppState, WebSettings};
use crate::rooms::{Rooms, RoomsConfig};
use crate::store::{SledStore, Store};
use crate::ws::SocketContext;

/// How often expired sessions and idle rate-limit keys are forgotten.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(300);

/// An opened data directory: the document store and the sled database holding every other
/// record (accounts, sessions, audit log).
pub struct Data {
    /// Documents (tests may wrap it to inject faults).
    pub store: Arc<dyn Store>,
    /// The database the store lives in.
    pub db: sled::Db,
}

/// How long shutdown waits for connections and rooms to finish before flushing anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Opens the store in `config.data_dir` and serves `listener` until `shutdown` completes.
///
/// On shutdown it stops accepting, closes every WebSocket with 1001, lets every room finish
/// its batch, flushes the store and returns; the data directory can then be opened again.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate_all().context("invalid configuration")?;
    let data = open_store(&config).await?;
    run_with_store(listener, config, data, shutdown).await
}

/// Opens the sled store of `config.data_dir`, creating the directory if needed, and brings
/// its data format up to date (after a backup into the backup directory) or refuses newer
/// data.
pub async fn open_store(config: &Config) -> anyhow::Result<Data> {
    let data_dir = config.data_dir.clone();
    let backup_dir = config.backup_dir();
    let sync_mode = config.durability.into();
    let store = tokio::task::spawn_blocking(move || -> anyhow::Result<SledStore> {
        let store = open_sled_unchecked(&data_dir, sync_mode)?;
        let prepared = format::prepare(store.db(), &data_dir, &backup_dir, |db, dir| {
            let bytes = backup::backup_offline(db)?;
            let path = dir.join(backup::file_name("pre-migration-"));
            backup::write_file(&path, &bytes)?;
            Ok(path)
        })?;
        if let format::Prepared::Migrated { from, backup } = prepared {
            tracing::info!(
                from,
                to = format::FORMAT_VERSION,
                backup = %backup.display(),
                "data migrated"
            );
        }
        Ok(store)
    })
    .await
    .context("store open task failed")??;
    let db = store.db().clone();
    Ok(Data {
        store: Arc::new(store),
        db,
    })
}

/// Opens (creating it if needed) the sled store in `data_dir`, blocking, for an operator
/// command: data in an older format is refused (the server migrates it), as is newer data.
/// A data directory in use by a running server is reported as such.
pub fn open_sled(
    data_dir: &std::path::Path,
    sync_mode: crate::store::SyncMode,
) -> anyhow::Result<SledStore> {
    let store = open_sled_unchecked(data_dir, sync_mode)?;
    format::check(store.db(), data_dir)?;
    Ok(store)
}

/// Opens the sled store in `data_dir` without looking at its format version.
pub fn open_sled_unchecked(
    data_dir: &std::path::Path,
    sync_mode: crate::store::SyncMode,
) -> anyhow::Result<SledStore> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    SledStore::open(&data_dir.join("store"), sync_mode).map_err(|e| {
        let text = e.to_string();
        if text.contains("lock") || text.contains("temporarily unavailable") {
            anyhow::anyhow!(
                "the data directory {} is in use by another process (a running server?); stop it first",
                data_dir.display()
            )
        } else {
            anyhow::anyhow!("cannot open the store in {}: {text}", data_dir.display())
        }
    })
}

/// The first secretariat account, created on first start.
pub struct FirstAccount {
    pub email: String,
    /// Set when the password was generated (to be shown once).
    pub generated_password: Option<String>,
}

/// A random password of 20 letters and digits (~119 bits).
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Creates the first secretariat account when there is no account at all.
pub async fn ensure_first_account(
    auth: &Auth,
    config: &Config,
) -> anyhow::Result<Option<FirstAccount>> {
    if auth.accounts.n_users() > 0 {
        return Ok(None);
    }
    let (password, generated) = match &config.admin_password {
        Some(password) => (password.0.clone(), false),
        None => (generate_password(), true),
    };
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || auth::password::hash_blocking(&password))
            .await
            .context("hashing task failed")?
    };
    let email = auth::accounts::normalise_email(&config.admin_email);
    let user = auth
        .accounts
        .create_user(auth::accounts::NewUser {
            email: email.clone(),
            name: "Secretariat".into(),
            organisation: None,
            country: None,
            role: Role::Secretariat,
            password_hash: hash,
        })
        .context("cannot create the first secretariat account")?;
    auth.record(
        Actor::server(),
        "user.created",
        Some(format!("user:{}", user.id)),
        serde_json::json!({ "email": email, "role": "secretariat", "first_account": true }),
    );
    Ok(Some(FirstAccount {
        email,
        generated_password: generated.then_some(password),
    }))
}

/// Serves `listener` over `data` (whose store tests may wrap to inject faults) until
/// `shutdown`.
pub async fn run_with_store(
    listener: TcpListener,
    config: Config,
    data: Data,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate_all().context("invalid configuration")?;
    let Data { store, db } = data;
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let metrics = Arc::new(metrics::Metrics::default());
    // Document writes wait while a backup copies the database (see `backup`).
    let gate = Arc::new(backup::WriteGate::default());
    let store: Arc<dyn Store> = Arc::new(backup::GatedStore::new(store, gate.clone()));
    let backups = Arc::new(backup::Backups::new(db.clone(), gate, metrics.clone()));
    let flusher = Flusher::start(store.clone(), &tracker, metrics.clone());
    let auth = Arc::new(Auth {
        accounts: Accounts::open(&db).context("cannot open the account records")?,
        audit: AuditLog::open(&db).context("cannot open the audit log")?,
        hasher: PasswordHasher::new(config.password_hash_concurrency, config.password_hash_queue),
        limits: RateLimits::default(),
        live: Default::default(),
        settings: AuthSettings {
            session_idle: Duration::from_secs(config.session_idle_hours * 3600),
            session_absolute: Duration::from_secs(config.session_days * 86_400),
            invitation_ttl: Duration::from_secs(config.invitation_days * 86_400),
        },
        admin_lock: tokio::sync::Mutex::new(()),
    });
    let base_url = config.public_origin().unwrap_or_else(|| {
        format!(
            "http://{}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        )
    });
    if let Some(first) = ensure_first_account(&auth, &config).await? {
        flusher
            .flush()
            .await
            .context("cannot store the first account")?;
        // Printed on standard output, once: this is how the operator learns how to log in.
        // Written without `println!`, which panics when nobody reads standard output.
        let message = match first.generated_password {
            Some(password) => format!(
                "First secretariat account created. Log in at {base_url}/ as {} with the password {password} (shown only this once; change it after logging in).",
                first.email
            ),
            None => format!(
                "First secretariat account created. Log in at {base_url}/ as {} with the password from MANIFESTO_ADMIN_PASSWORD.",
                first.email
            ),
        };
        print_line(&message);
    }
    let documents = Arc::new(Documents::open(&db).context("cannot open the document records")?);
    let rooms = Rooms::with_flusher(
        RoomsConfig {
            outbound_queue_frames: config.outbound_queue_frames,
            room_idle: config.room_idle(),
            relay_pace_per_member: Duration::from_micros(config.relay_pace_per_member_us),
            compact_after_updates: config.compact_after_updates,
            compact_after_bytes: config.compact_after_bytes,
        },
        store.clone(),
        flusher.clone(),
        Some(documents.hooks()),
        metrics.clone(),
        tracker.clone(),
        token.clone(),
    );
    documents.attach_rooms(rooms.clone());
    if config.demo {
        let owner = auth
            .accounts
            .users()
            .context("cannot read the accounts")?
            .into_iter()
            .find(|user| user.role == Role::Secretariat)
            .map(|user| user.id);
        if let Some(owner) = owner {
            let seeded = demo::seed(&documents, owner)
                .await
                .context("cannot create the demonstration documents")?;
            if !seeded.is_empty() {
                flusher
                    .flush()
                    .await
                    .context("cannot store the demonstration documents")?;
                print_line(&format!(
                    "Demonstration Manifesto created: {} (open {base_url}/).",
                    seeded.join(", ")
                ));
            }
        }
    }
    let sockets = Arc::new(SocketContext {
        rooms,
        limits: config.frame_limits(),
        ping_interval: config.ping_interval(),
        idle_timeout: config.idle_timeout(),
        shutdown: token.clone(),
        n_connections: std::sync::atomic::AtomicUsize::new(0),
        metrics: metrics.clone(),
        tracker: tracker.clone(),
    });
    tracker.spawn(documents.clone().watch_deadlines(token.clone()));
    tracker.spawn(
        documents
            .clone()
            .watch_ballot_deadlines(auth.clone(), token.clone()),
    );
    let state = AppState {
        sockets: sockets.clone(),
        auth: auth.clone(),
        documents: documents.clone(),
        web: Arc::new(WebSettings {
            public_origin: config.public_origin(),
            secure_cookies: config.secure_cookies(),
            trust_forwarded_for: config.trust_forwarded_for,
            client: crate::client_app::ClientApp::new(&config.client_dir),
        }),
        flusher,
        openapi: Default::default(),
        exports: Default::default(),
        metrics,
        backups: backups.clone(),
        metrics_token: config
            .metrics_token
            .as_ref()
            .map(|token| Arc::from(token.0.as_str())),
    };
    if config.backup_every_minutes > 0 {
        tracker.spawn(backups.clone().run_schedule(
            Duration::from_secs(config.backup_every_minutes * 60),
            usize::try_from(config.backup_keep).unwrap_or(usize::MAX),
            config.backup_dir(),
            token.clone(),
        ));
    }
    #[cfg(unix)]
    let admin_socket = bind_admin_socket(&config.data_dir).map(|(listener, path)| {
        tracker.spawn(backup::serve_admin_socket(
            listener,
            backups.clone(),
            token.clone(),
        ));
        path
    });
    drop(backups);
    tracker.spawn(api::amendments::follow_ballots(
        state.clone(),
        token.clone(),
    ));
    let app = http::router(state);
    tracker.spawn(housekeeping(auth.clone(), token.clone()));
    drop(auth);

    let serve_token = token.clone();
    // Nagle's algorithm would hold a small frame back until the peer acknowledges the previous
    // one (up to its delayed-ACK time, 40 ms on Linux): a relayed edit must go out at once.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        tokio::select! {
            _ = shutdown => serve_token.cancel(),
            _ = serve_token.cancelled() => {}
        }
    });
    let served = server.await;
    token.cancel();
    // The documents hold the rooms, which hold the flusher, whose task ends when the last
    // handle is dropped.
    drop(sockets);
    drop(documents);
    tracing::info!("shutting down: closing connections and flushing the store");
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections or rooms did not finish in time");
    }
    let flush_store = store.clone();
    tokio::task::spawn_blocking(move || flush_store.flush())
        .await
        .context("final flush task failed")?
        .context("final flush failed")?;
    drop(store);
    #[cfg(unix)]
    if let Some(path) = admin_socket {
        let _ = std::fs::remove_file(path);
    }
    served.context("server failed")?;
    Ok(())
}

/// Binds the admin socket (`admin.sock` in the data directory, mode 0600), through which
/// `manifesto backup` asks the running server for a backup. The server holds the data
/// directory's lock, so a socket file already there is a stale one. `None` (with a warning)
/// when it cannot be bound: the server runs without it.
#[cfg(unix)]
fn bind_admin_socket(
    data_dir: &std::path::Path,
) -> Option<(tokio::net::UnixListener, std::path::PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    let path = data_dir.join(backup::ADMIN_SOCKET);
    let _ = std::fs::remove_file(&path);
    let bound = tokio::net::UnixListener::bind(&path).and_then(|listener| {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(listener)
    });
    match bound {
        Ok(listener) => Some((listener, path)),
        Err(e) => {
            tracing::warn!(
                path = %path.display(),
                error = %e,
                "no admin socket: `manifesto backup` cannot reach this server (use GET /api/admin/backup)"
            );
            None
        }
    }
}

/// Writes a line to standard output, ignoring a closed pipe.
fn print_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Forgets expired sessions and idle rate-limit keys now and then, until shutdown.
async fn housekeeping(auth: Arc<Auth>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        auth.limits.prune();
        let idle = auth.settings.session_idle.as_secs() as i64;
        match auth.accounts.purge_expired_sessions(idle) {
            Ok(expired) if expired.is_empty() => {}
            Ok(expired) => {
                for session in &expired {
                    auth.live.close_sessions(session.user_id, &[session.id]);
                }
                tracing::info!(n_sessions = expired.len(), "expired sessions removed");
            }
            Err(e) => tracing::warn!(error = %e, "could not remove expired sessions"),
        }
    }
}
