//! Server configuration: one [`Config`], parsed from the command line with every field also
//! read from a `MANIFESTO_*` environment variable or a TOML file (see `config_file`),
//! validated before anything starts: [`Config::problems`] lists every mistake.
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
    /// A TOML file of settings, keyed like the environment variables without `MANIFESTO_`
    /// in lower case (`ping_interval_secs = 25`). Flags and environment variables win over it.
    #[arg(long = "config", env = "MANIFESTO_CONFIG")]
    pub config_file: Option<PathBuf>,

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

    /// Microseconds a document waits, per connected member, after relaying edits before it
    /// relays again; edits arriving meanwhile go out together in one frame. With 1,500
    /// members, 13 gives at most one relay every 19.5 ms (the wait is capped at 50 ms); a
    /// quiet document relays at once. 0: relay every batch as soon as it is stored.
    #[arg(long, env = "MANIFESTO_RELAY_PACE_PER_MEMBER_US", default_value_t = 13)]
    pub relay_pace_per_member_us: u64,

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

    /// Which logs to write: a level (`info`, `debug`) or per-module directives
    /// (`info,manifesto_server::rooms=debug`).
    #[arg(long, env = "MANIFESTO_LOG", default_value = "info")]
    pub log: String,

    /// The address people use to reach the server, e.g. https://manifesto.example.org.
    /// Browser requests and WebSocket upgrades must come from this origin; with https,
    /// cookies are `Secure` with the `__Host-` prefix. Unset: same host as the request, over
    /// plain http (for a local trial).
    #[arg(long, env = "MANIFESTO_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Email of the first secretariat account, created on first start with an empty data
    /// directory.
    #[arg(
        long,
        env = "MANIFESTO_ADMIN_EMAIL",
        default_value = "secretariat@localhost"
    )]
    pub admin_email: String,

    /// Password of that first account; when unset, one is generated and printed once.
    #[arg(long, env = "MANIFESTO_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<Secret>,

    /// Hours without any request after which a session ends.
    #[arg(long, env = "MANIFESTO_SESSION_IDLE_HOURS", default_value_t = 12)]
    pub session_idle_hours: u64,

    /// Days after login at which a session ends, used or not.
    #[arg(long, env = "MANIFESTO_SESSION_DAYS", default_value_t = 7)]
    pub session_days: u64,

    /// Days an invitation link works.
    #[arg(long, env = "MANIFESTO_INVITATION_DAYS", default_value_t = 7)]
    pub invitation_days: u64,

    /// Passwords hashed at once (each takes 19 MiB and most of a core for tens of ms).
    #[arg(long, env = "MANIFESTO_PASSWORD_HASH_CONCURRENCY", default_value_t = 2)]
    pub password_hash_concurrency: usize,

    /// Password hashes queued behind those; more get 503 with Retry-After.
    #[arg(long, env = "MANIFESTO_PASSWORD_HASH_QUEUE", default_value_t = 64)]
    pub password_hash_queue: usize,

    /// Take the client address from the last `X-Forwarded-For` entry (set this only behind
    /// a reverse proxy that sets it).
    #[arg(long, env = "MANIFESTO_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// On a data directory without any document, create the demonstration Manifesto (in
    /// English and in French) so there is something to open at once.
    #[arg(long, env = "MANIFESTO_DEMO", default_value_t = false)]
    pub demo: bool,

    /// The browser app's build (`npm run build` in `client/` writes `client/dist`).
    #[arg(long, env = "MANIFESTO_CLIENT_DIR", default_value = "client/dist")]
    pub client_dir: PathBuf,

    /// A bearer token `GET /metrics` requires (at least 16 characters). Unset: `/metrics` is
    /// open to whoever reaches the server, so keep it behind the proxy's block.
    #[arg(long, env = "MANIFESTO_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// Minutes between scheduled backups while the server runs; 0 turns them off.
    #[arg(long, env = "MANIFESTO_BACKUP_EVERY_MINUTES", default_value_t = 0)]
    pub backup_every_minutes: u64,

    /// Scheduled backups kept; older ones are deleted.
    #[arg(long, env = "MANIFESTO_BACKUP_KEEP", default_value_t = 24)]
    pub backup_keep: u64,

    /// Where scheduled backups (and the backup taken before a data migration) are written.
    /// Default: `backups/` in the data directory. Copy them to another machine too.
    #[arg(long, env = "MANIFESTO_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,
}

/// A secret setting: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"********\"")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
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
    /// The public URL is not an http(s) origin.
    #[error("public-url must look like https://host[:port] (no path), got {0:?}")]
    PublicUrl(String),
    /// The first account's email is not an email.
    #[error("admin-email is not an email address: {0:?}")]
    AdminEmail(String),
    /// The first account's password does not meet the policy.
    #[error("admin-password is refused: {0}")]
    AdminPassword(crate::auth::password::PasswordPolicyError),
    /// The metrics token is too short to be a secret.
    #[error("metrics-token must have at least {MIN_METRICS_TOKEN_CHARS} characters")]
    MetricsToken,
    /// The log filter does not parse.
    #[error("log is not a log filter (e.g. `info` or `info,manifesto_server=debug`): {0}")]
    LogFilter(String),
    /// A path setting is empty.
    #[error("{0} must not be empty")]
    EmptyPath(&'static str),
}

/// Shortest metrics token accepted.
pub const MIN_METRICS_TOKEN_CHARS: usize = 16;

/// Every mistake of a configuration, one per line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct ConfigErrors(pub Vec<ConfigError>);

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
            relay_pace_per_member_us: 13,
            room_idle_secs: 30,
            compact_after_updates: 2000,
            compact_after_bytes: 8 * 1024 * 1024,
            log_format: LogFormat::Text,
            log: "info".into(),
            public_url: None,
            admin_email: "secretariat@localhost".into(),
            admin_password: None,
            session_idle_hours: 12,
            session_days: 7,
            invitation_days: 7,
            password_hash_concurrency: 2,
            password_hash_queue: 64,
            trust_forwarded_for: false,
            demo: false,
            client_dir: PathBuf::from("client/dist"),
            config_file: None,
            metrics_token: None,
            backup_every_minutes: 0,
            backup_keep: 24,
            backup_dir: None,
        }
    }

    /// Checks every setting; the first mistake found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }

    /// Checks every setting; every mistake found is returned.
    pub fn validate_all(&self) -> Result<(), ConfigErrors> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(problems))
        }
    }

    /// Every mistake in the settings, in the order of `--help`.
    pub fn problems(&self) -> Vec<ConfigError> {
        let ranges: [(&'static str, u64, u64, u64); 15] = [
            (
                "max-frame-bytes",
                self.max_frame_bytes as u64,
                1024,
                64 * 1024 * 1024,
            ),
            ("ping-interval-secs", self.ping_interval_secs, 1, 3600),
            ("idle-timeout-secs", self.idle_timeout_secs, 2, 7200),
            (
                "outbound-queue-frames",
                self.outbound_queue_frames as u64,
                8,
                1 << 20,
            ),
            (
                "relay-pace-per-member-us",
                self.relay_pace_per_member_us,
                0,
                1_000_000,
            ),
            ("room-idle-secs", self.room_idle_secs, 0, 86_400),
            (
                "compact-after-updates",
                self.compact_after_updates,
                1,
                u64::MAX,
            ),
            ("compact-after-bytes", self.compact_after_bytes, 1, u64::MAX),
            ("session-idle-hours", self.session_idle_hours, 1, 24 * 90),
            ("session-days", self.session_days, 1, 365),
            ("invitation-days", self.invitation_days, 1, 90),
            (
                "password-hash-concurrency",
                self.password_hash_concurrency as u64,
                1,
                64,
            ),
            (
                "password-hash-queue",
                self.password_hash_queue as u64,
                0,
                100_000,
            ),
            (
                "backup-every-minutes",
                self.backup_every_minutes,
                0,
                7 * 24 * 60,
            ),
            ("backup-keep", self.backup_keep, 1, 10_000),
        ];
        let mut problems: Vec<ConfigError> = ranges
            .into_iter()
            .filter_map(|(name, value, min, max)| check_range(name, value, min, max).err())
            .collect();
        if self.data_dir.as_os_str().is_empty() {
            problems.push(ConfigError::EmptyPath("data"));
        }
        if self
            .backup_dir
            .as_ref()
            .is_some_and(|dir| dir.as_os_str().is_empty())
        {
            problems.push(ConfigError::EmptyPath("backup-dir"));
        }
        if let Some(url) = &self.public_url {
            if parse_origin(url).is_none() {
                problems.push(ConfigError::PublicUrl(url.clone()));
            }
        }
        let email = crate::auth::accounts::normalise_email(&self.admin_email);
        if !crate::auth::accounts::is_plausible_email(&email) {
            problems.push(ConfigError::AdminEmail(self.admin_email.clone()));
        }
        if let Some(password) = &self.admin_password {
            if let Err(e) = crate::auth::password::check_policy(&password.0) {
                problems.push(ConfigError::AdminPassword(e));
            }
        }
        if self
            .metrics_token
            .as_ref()
            .is_some_and(|token| token.0.chars().count() < MIN_METRICS_TOKEN_CHARS)
        {
            problems.push(ConfigError::MetricsToken);
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            problems.push(ConfigError::LogFilter(e.to_string()));
        }
        if self.idle_timeout_secs <= self.ping_interval_secs {
            problems.push(ConfigError::IdleNotAfterPing {
                idle: self.idle_timeout_secs,
                ping: self.ping_interval_secs,
            });
        }
        problems
    }

    /// Where scheduled and pre-migration backups go.
    pub fn backup_dir(&self) -> PathBuf {
        self.backup_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("backups"))
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

    /// The configured public origin (`scheme://host[:port]`, lower-case), if any.
    pub fn public_origin(&self) -> Option<String> {
        self.public_url.as_deref().and_then(parse_origin)
    }

    /// Whether the public URL is https: cookies are then `Secure` with the `__Host-` prefix.
    pub fn secure_cookies(&self) -> bool {
        self.public_origin()
            .is_some_and(|origin| origin.starts_with("https://"))
    }

    /// [`Config::room_idle_secs`] as a duration.
    pub fn room_idle(&self) -> Duration {
        Duration::from_secs(self.room_idle_secs)
    }
}

/// The origin of an http(s) URL without a path (`https://Host:443/` → `https://host:443`).
pub fn parse_origin(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/').to_lowercase();
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() {
        return None;
    }
    let valid = rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    (valid && !rest.starts_with(':')).then_some(url)
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

    #[test]
    fn public_urls_and_the_first_account() {
        assert_eq!(
            parse_origin("https://Manifesto.example.org/"),
            Some("https://manifesto.example.org".into())
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8080"),
            Some("http://127.0.0.1:8080".into())
        );
        assert_eq!(parse_origin("https://example.org/path"), None);
        assert_eq!(parse_origin("ftp://example.org"), None);
        let mut c = config();
        c.public_url = Some("example.org".into());
        assert_eq!(
            c.validate(),
            Err(ConfigError::PublicUrl("example.org".into()))
        );
        let mut c = config();
        c.public_url = Some("https://example.org".into());
        assert!(c.secure_cookies());
        c.admin_password = Some(Secret("password".into()));
        assert!(matches!(c.validate(), Err(ConfigError::AdminPassword(_))));
        assert_eq!(format!("{:?}", c.admin_password), "Some(\"********\")");
        c.admin_password = None;
        c.admin_email = "not an email".into();
        assert!(matches!(c.validate(), Err(ConfigError::AdminEmail(_))));
    }

    #[test]
    fn every_mistake_is_reported_with_its_own_message() {
        let mut c = config();
        c.max_frame_bytes = 10;
        c.session_days = 0;
        c.backup_keep = 0;
        c.backup_every_minutes = 100_000;
        c.public_url = Some("manifesto.example.org".into());
        c.admin_email = "nobody".into();
        c.admin_password = Some(Secret("pw-x".into()));
        c.metrics_token = Some(Secret("tok-x".into()));
        c.log = "info,[=nonsense".into();
        c.data_dir = PathBuf::new();
        c.ping_interval_secs = 60;
        let messages: Vec<String> = c.problems().iter().map(|e| e.to_string()).collect();
        let expected = [
            "max-frame-bytes must be between 1024 and 67108864, got 10",
            "session-days must be between 1 and 365, got 0",
            "backup-every-minutes must be between 0 and 10080, got 100000",
            "backup-keep must be between 1 and 10000, got 0",
            "data must not be empty",
            "public-url must look like https://host[:port] (no path), got \"manifesto.example.org\"",
            "admin-email is not an email address: \"nobody\"",
            "admin-password is refused",
            "metrics-token must have at least 16 characters",
            "log is not a log filter",
            "idle timeout (60s) must be longer than the ping interval (60s)",
        ];
        assert_eq!(messages.len(), expected.len(), "{messages:#?}");
        for (message, expected) in messages.iter().zip(expected) {
            assert!(
                message.starts_with(expected),
                "{message:?} should start with {expected:?}"
            );
        }
        // No secret appears in any message.
        assert!(messages
            .iter()
            .all(|m| !m.contains("pw-x") && !m.contains("tok-x")));
        let all = c.validate_all().expect_err("invalid");
        assert_eq!(all.0.len(), expected.len());
    }
}
