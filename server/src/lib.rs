//! The Manifesto server as a library: [`run`] serves an already-bound listener until a
//! shutdown future completes, so tests start it in-process on `127.0.0.1:0`.
//!
//! See ARCHITECTURE.md for the code map and the invariants each module keeps.

pub mod cli;
pub mod config;
mod flusher;
pub mod http;
pub mod room;
pub mod rooms;
pub mod store;
mod ws;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::http::AppState;
use crate::rooms::{Rooms, RoomsConfig};
use crate::store::{SledStore, Store};
use crate::ws::SocketContext;

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
    config.validate().context("invalid configuration")?;
    let store = open_store(&config).await?;
    run_with_store(listener, config, store, shutdown).await
}

/// Opens the sled store of `config.data_dir`, creating the directory if needed.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let store_dir = config.data_dir.join("store");
    let sync_mode = config.durability.into();
    let store = tokio::task::spawn_blocking(move || SledStore::open(&store_dir, sync_mode))
        .await
        .context("store open task failed")?
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
    Ok(Arc::new(store))
}

/// Serves `listener` over `store` (which tests may wrap to inject faults) until `shutdown`.
pub async fn run_with_store(
    listener: TcpListener,
    config: Config,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate().context("invalid configuration")?;
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let rooms = Rooms::new(
        RoomsConfig {
            outbound_queue_frames: config.outbound_queue_frames,
            room_idle: config.room_idle(),
            compact_after_updates: config.compact_after_updates,
            compact_after_bytes: config.compact_after_bytes,
        },
        store.clone(),
        tracker.clone(),
        token.clone(),
    );
    let sockets = Arc::new(SocketContext {
        rooms,
        limits: config.frame_limits(),
        ping_interval: config.ping_interval(),
        idle_timeout: config.idle_timeout(),
        shutdown: token.clone(),
        n_connections: std::sync::atomic::AtomicUsize::new(0),
    });
    let app = http::router(AppState {
        sockets: sockets.clone(),
    });

    let serve_token = token.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        tokio::select! {
            _ = shutdown => serve_token.cancel(),
            _ = serve_token.cancelled() => {}
        }
    });
    let served = server.await;
    token.cancel();
    drop(sockets);
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
    served.context("server failed")?;
    Ok(())
}
