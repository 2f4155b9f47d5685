//! Accounts, roles, sessions, API tokens, invitations, rate limits and the audit log: who may
//! do what. Everything here is server-authoritative and stored in sled, never in a shared
//! document.
//!
//! HTTP handlers live in `crate::api`; this module knows nothing of axum.

pub mod accounts;
pub mod audit;
pub mod limits;
pub mod live;
pub mod password;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use accounts::{AccountError, Accounts, ApiToken, Invitation, Session, User};
pub use audit::{Actor, AuditLog};
pub use limits::{Limited, RateLimits};
pub use live::LiveConnections;
pub use password::PasswordHasher;

/// Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// What a person may do. Ordered: each role may do what the ones before it may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and follows the text live; writes nothing.
    Observer,
    /// Edits while the text is open, comments, proposes and supports amendments, votes.
    Delegate,
    /// Everything, including members and the process.
    Secretariat,
}

impl Role {
    /// Whether this role may change a document's text.
    pub fn can_edit(self) -> bool {
        self >= Role::Delegate
    }

    /// The role's name as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Observer => "observer",
            Role::Delegate => "delegate",
            Role::Secretariat => "secretariat",
        }
    }
}

/// How a request or connection proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session (cookie).
    Session(Session),
    /// A personal API token.
    Token(ApiToken),
}

/// An authenticated person.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub credential: Credential,
}

impl Principal {
    /// The session id, when authenticated by a session.
    pub fn session_id(&self) -> Option<u64> {
        match &self.credential {
            Credential::Session(session) => Some(session.id),
            Credential::Token(_) => None,
        }
    }

    /// The audit actor for this person at `address`.
    pub fn actor(&self, address: &str) -> Actor {
        Actor {
            user_id: Some(self.user.id),
            label: self.user.email.clone(),
            address: Some(address.to_owned()),
        }
    }
}

/// Why a credential was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No credential, or one that matches nothing.
    #[error("not authenticated")]
    Unauthenticated,
    /// The session has expired (idle or absolute).
    #[error("session expired")]
    SessionExpired,
    /// Too many uses of a token.
    #[error("rate limited")]
    Limited(Duration),
    /// Storage failed.
    #[error("{0}")]
    Database(String),
}

impl From<AccountError> for AuthFailure {
    fn from(e: AccountError) -> AuthFailure {
        AuthFailure::Database(e.to_string())
    }
}

/// Settings of sessions and invitations.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// A session not used for this long ends.
    pub session_idle: Duration,
    /// A session ends this long after login, used or not.
    pub session_absolute: Duration,
    /// An invitation link works for this long.
    pub invitation_ttl: Duration,
}

/// Session and token use is recorded at most this often per credential.
const TOUCH_EVERY_SECS: i64 = 60;

/// Everything that decides who someone is and what they may do.
pub struct Auth {
    pub accounts: Accounts,
    pub audit: AuditLog,
    pub hasher: PasswordHasher,
    pub limits: RateLimits,
    pub live: LiveConnections,
    pub settings: AuthSettings,
    /// Serialises changes to members' roles and activity.
    pub admin_lock: tokio::sync::Mutex<()>,
}

impl Auth {
    /// Who the session token `secret` belongs to.
    pub fn authenticate_session(&self, secret: &str) -> Result<Principal, AuthFailure> {
        let session = self
            .accounts
            .session_by_secret(secret)?
            .ok_or(AuthFailure::Unauthenticated)?;
        let at = now();
        let idle = self.settings.session_idle.as_secs() as i64;
        if session.expires_at <= at || session.last_seen_at + idle <= at {
            self.accounts.delete_session(session.user_id, session.id)?;
            self.live.close_sessions(session.user_id, &[session.id]);
            return Err(AuthFailure::SessionExpired);
        }
        let user = match self.accounts.user(session.user_id) {
            Ok(user) if user.active => user,
            Ok(_) | Err(AccountError::NotFound) => return Err(AuthFailure::Unauthenticated),
            Err(e) => return Err(e.into()),
        };
        if at - session.last_seen_at >= TOUCH_EVERY_SECS {
            self.accounts.touch_session(&session)?;
        }
        Ok(Principal {
            user,
            credential: Credential::Session(session),
        })
    }

    /// Who the API token `secret` belongs to; counts one use against the token's limit.
    pub fn authenticate_token(&self, secret: &str) -> Result<Principal, AuthFailure> {
        let token = self
            .accounts
            .token_by_secret(secret)?
            .ok_or(AuthFailure::Unauthenticated)?;
        self.limits
            .token_use
            .check(&token.id.to_string())
            .map_err(|Limited(wait)| AuthFailure::Limited(wait))?;
        let user = match self.accounts.user(token.user_id) {
            Ok(user) if user.active => user,
            Ok(_) | Err(AccountError::NotFound) => return Err(AuthFailure::Unauthenticated),
            Err(e) => return Err(e.into()),
        };
        if token
            .last_used_at
            .is_none_or(|last| now() - last >= TOUCH_EVERY_SECS)
        {
            self.accounts.touch_token(&token)?;
        }
        Ok(Principal {
            user,
            credential: Credential::Token(token),
        })
    }

    /// Records an audit entry; a failure to record is logged, never hidden from operators.
    pub fn record(
        &self,
        actor: Actor,
        action: &str,
        target: Option<String>,
        details: serde_json::Value,
    ) {
        if let Err(e) = self.audit.append(actor, action, target, details) {
            tracing::error!(error = %e, action, "could not append to the audit log");
        }
    }
}
