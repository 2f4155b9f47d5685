//! Server configuration: one [`Config`], parsed from the command line with every field also
//! read from a `MANIFESTO_*` environment variable, validated before anything starts.
//!
//! Configuration is passed explicitly to what needs it; nothing reads it from global state.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use manifesto_protocol::FrameLimits;

use crate::store::SyncMode;

/// How durable a flushed update is; see ARCHITECTURE.md, "Durability".
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Durability {
    /// Survives a crash of the server process (sled's flush only).
    ProcessCrash,
    /// Survives a power loss too (sled's flush, then `fdatasync`).
    PowerLoss,
}

impl From<Durability> for SyncMode {
    fn from(d: Durability) -> SyncMode {
        match d {
            Durability::ProcessCrash => SyncMode::ProcessCrash,
            Durability::PowerLoss => SyncMode::PowerLoss,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything `manifesto serve` can be told.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "MANIFESTO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Data directory (created if missing).
    #[arg(long = "data", env = "MANIFESTO_DATA", default_value = "./data")]
    pub data_dir: PathBuf,

    /// How durable an update is before it is relayed.
    #[arg(
        long,
        env = "MANIFESTO_DURABILITY",
        value_enum,
        default_value = "power-loss"
    )]
    pub durability: Durability,

    /// Largest inbound WebSocket frame, in bytes; larger ones are closed with 1009.
    #[arg(long, env = "MANIFESTO_MAX_FRAME_BYTES", default_value_t = 1024 * 1024)]
    pub max_frame_bytes: usize,

    /// Seconds between WebSocket pings sent to each client.
    #[arg(long, env = "MANIFESTO_PING_INTERVAL_SECS", default_value_t = 25)]
    pub ping_interval_secs: u64,

    /// Seconds without any inbound frame (pongs included) after which a connection is closed.
    #[arg(long, env = "MANIFESTO_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// Outbound frames queued for one connection before it counts as too slow and is closed.
    #[arg(long, env = "MANIFESTO_OUTBOUND_QUEUE_FRAMES", default_value_t = 512)]
    pub outbound_queue_frames: usize,

    /// Seconds a document stays loaded after its last client leaves.
    #[arg(long, env = "MANIFESTO_ROOM_IDLE_SECS", default_value_t = 30)]
    pub room_idle_secs: u64,

    /// Logged updates after which a document's log is compacted into a snapshot.
    #[arg(long, env = "MANIFESTO_COMPACT_AFTER_UPDATES", default_value_t = 2000)]
    pub compact_after_updates: u64,

    /// Logged bytes after which a document's log is compacted into a snapshot.
    #[arg(long, env = "MANIFESTO_COMPACT_AFTER_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub compact_after_bytes: u64,

    /// Log format.
    #[arg(long, env = "MANIFESTO_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// A setting that cannot work, with what to do about it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A numeric setting is outside its range.
    #[error("{name} must be between {min} and {max}, got {value}")]
    OutOfRange {
        name: &'static str,
        min: u64,
        max: u64,
        value: u64,
    },
    /// The idle timeout does not leave room for a ping to be answered.
    #[error("idle timeout ({idle}s) must be longer than the ping interval ({ping}s)")]
    IdleNotAfterPing { idle: u64, ping: u64 },
}

fn check_range(name: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            name,
            min,
            max,
            value,
        })
    }
}

impl Config {
    /// The defaults, with data in `data_dir` and listening on `listen`.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Config {
        Config {
            listen,
            data_dir,
            durability: Durability::PowerLoss,
            max_frame_bytes: FrameLimits::default().max_frame_bytes,
            ping_interval_secs: 25,
            idle_timeout_secs: 60,
            outbound_queue_frames: 512,
            room_idle_secs: 30,
            compact_after_updates: 2000,
            compact_after_bytes: 8 * 1024 * 1024,
            log_format: LogFormat::Text,
        }
    }

    /// Checks every setting; the first mistake found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_range(
            "max-frame-bytes",
            self.max_frame_bytes as u64,
            1024,
            64 * 1024 * 1024,
        )?;
        check_range("ping-interval-secs", self.ping_interval_secs, 1, 3600)?;
        check_range("idle-timeout-secs", self.idle_timeout_secs, 2, 7200)?;
        check_range(
            "outbound-queue-frames",
            self.outbound_queue_frames as u64,
            8,
            1 << 20,
        )?;
        check_range("room-idle-secs", self.room_idle_secs, 0, 86_400)?;
        check_range(
            "compact-after-updates",
            self.compact_after_updates,
            1,
            u64::MAX,
        )?;
        check_range("compact-after-bytes", self.compact_after_bytes, 1, u64::MAX)?;
        if self.idle_timeout_secs <= self.ping_interval_secs {
            return Err(ConfigError::IdleNotAfterPing {
                idle: self.idle_timeout_secs,
                ping: self.ping_interval_secs,
            });
        }
        Ok(())
    }

    /// The limits applied to every inbound frame.
    pub fn frame_limits(&self) -> FrameLimits {
        FrameLimits {
            max_frame_bytes: self.max_frame_bytes,
            ..FrameLimits::default()
        }
    }

    /// [`Config::ping_interval_secs`] as a duration.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }

    /// [`Config::idle_timeout_secs`] as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// [`Config::room_idle_secs`] as a duration.
    pub fn room_idle(&self) -> Duration {
        Duration::from_secs(self.room_idle_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::new("127.0.0.1:0".parse().expect("addr"), PathBuf::from("d"))
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(config().validate(), Ok(()));
    }

    #[test]
    fn each_mistake_is_named() {
        let mut c = config();
        c.max_frame_bytes = 10;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::OutOfRange {
                name: "max-frame-bytes",
                ..
            })
        ));
        let mut c = config();
        c.idle_timeout_secs = 20;
        assert_eq!(
            c.validate(),
            Err(ConfigError::IdleNotAfterPing { idle: 20, ping: 25 })
        );
    }
}
