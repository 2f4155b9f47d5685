//! Accounts, sessions, API tokens and invitations, as sled records.
//!
//! Every secret handed out (session token, API token, invitation link) is stored only as its
//! SHA-256 hash, in an index tree from hash to record key; a stolen copy of the data directory
//! does not let anyone log in. Records are JSON. Calls are synchronous and fast (sled keeps
//! hot pages in memory); callers make writes durable with the store's flush.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use sled::Tree;

use super::{now, Role};

/// A failure of an account operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The record does not exist.
    #[error("not found")]
    NotFound,
    /// Another account already has this email.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The invitation was already accepted.
    #[error("this invitation has already been used")]
    InvitationUsed,
    /// The invitation was revoked by the secretariat.
    #[error("this invitation has been revoked")]
    InvitationRevoked,
    /// The invitation's link has expired.
    #[error("this invitation has expired")]
    InvitationExpired,
    /// The database failed, or a record is corrupt.
    #[error("database error: {0}")]
    Database(String),
}

fn db_error(e: impl std::fmt::Display) -> AccountError {
    AccountError::Database(e.to_string())
}

impl From<TransactionError<AccountError>> for AccountError {
    fn from(e: TransactionError<AccountError>) -> AccountError {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => db_error(e),
        }
    }
}

/// A person's account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    /// Normalised: trimmed and lower-case.
    pub email: String,
    /// The display name other people see, in the text's margins and cursors.
    pub name: String,
    pub organisation: Option<String>,
    pub country: Option<String>,
    pub role: Role,
    /// A deactivated account cannot log in, and its tokens stop working.
    pub active: bool,
    /// argon2id PHC string.
    pub password_hash: String,
    pub created_at: i64,
    /// The language the person chose for the app (`en` or `fr`); unset: the browser's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// What a new account is made of.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub organisation: Option<String>,
    pub country: Option<String>,
    pub role: Role,
    pub password_hash: String,
}

/// A logged-in browser session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    pub id: u64,
    pub user_id: u64,
    /// SHA-256 of the cookie's token: the key of its entry in the hash index.
    pub secret_hash: Vec<u8>,
    pub created_at: i64,
    /// Last request seen (updated at most once a minute).
    pub last_seen_at: i64,
    /// Absolute expiry.
    pub expires_at: i64,
    pub address: String,
    pub user_agent: String,
}

/// A personal API token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiToken {
    pub id: u64,
    pub user_id: u64,
    /// SHA-256 of the secret: the key of its entry in the hash index.
    pub secret_hash: Vec<u8>,
    /// What the owner called it.
    pub name: String,
    /// The first characters of the secret, to recognise it in a list.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
}

/// An invitation to join the forum with a role.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Invitation {
    pub id: u64,
    pub email: String,
    pub role: Role,
    pub name: Option<String>,
    pub organisation: Option<String>,
    pub country: Option<String>,
    pub created_by: u64,
    pub created_at: i64,
    pub expires_at: i64,
    pub status: InvitationStatus,
    /// When it was accepted or revoked.
    pub closed_at: Option<i64>,
    /// The account it created.
    pub user_id: Option<u64>,
    /// How many links were issued (1 + resends).
    pub n_links: u32,
}

/// What an invitation is made of.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub email: String,
    pub role: Role,
    pub name: Option<String>,
    pub organisation: Option<String>,
    pub country: Option<String>,
    pub created_by: u64,
    pub ttl_secs: i64,
}

/// A fresh secret and the SHA-256 of it, which is all that is stored.
fn new_secret(prefix: &str, n_bytes: usize) -> (String, Vec<u8>) {
    use base64::Engine as _;
    let bytes: Vec<u8> = (0..n_bytes).map(|_| rand::random::<u8>()).collect();
    let secret = format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = secret_hash(&secret);
    (secret, hash)
}

/// The stored form of a secret.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn pair_key(owner: u64, id: u64) -> [u8; 16] {
    let mut k = [0; 16];
    k[..8].copy_from_slice(&owner.to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).expect("records serialise")
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, AccountError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AccountError::Database(format!("corrupt record: {e}")))
}

fn abort(e: AccountError) -> ConflictableTransactionError<AccountError> {
    ConflictableTransactionError::Abort(e)
}

/// Stores a record under `k` and its secret's hash in `hashes`, in one transaction.
fn insert_with_secret(
    records: &Tree,
    hashes: &Tree,
    k: &[u8],
    record: Vec<u8>,
    hash: &[u8],
) -> Result<(), AccountError> {
    (records, hashes)
        .transaction(|(records, hashes)| {
            records.insert(k, record.clone())?;
            hashes.insert(hash, k)?;
            Ok(())
        })
        .map_err(AccountError::from)
}

/// The record whose secret is `secret`, through the hash index.
fn record_by_secret<T: for<'de> Deserialize<'de>>(
    records: &Tree,
    hashes: &Tree,
    secret: &str,
) -> Result<Option<T>, AccountError> {
    let Some(k) = hashes.get(secret_hash(secret)).map_err(db_error)? else {
        return Ok(None);
    };
    match records.get(k).map_err(db_error)? {
        Some(bytes) => decode(&bytes).map(Some),
        None => Ok(None),
    }
}

/// Removes the record under `k` and its hash-index entry; returns it if it existed.
fn remove_with_secret<T: for<'de> Deserialize<'de>>(
    records: &Tree,
    hashes: &Tree,
    k: &[u8],
    hash_of: impl Fn(&T) -> &Vec<u8>,
) -> Result<Option<T>, AccountError> {
    let removed = (records, hashes)
        .transaction(|(records, hashes)| {
            let Some(bytes) = records.remove(k)? else {
                return Ok(None);
            };
            let record: T = decode(&bytes).map_err(abort)?;
            hashes.remove(hash_of(&record).as_slice())?;
            Ok(Some(record))
        })
        .map_err(AccountError::from)?;
    Ok(removed)
}

/// Normalises an email: trimmed, lower-case.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Longest email accepted.
pub const MAX_EMAIL_BYTES: usize = 254;

/// Whether a (normalised) email looks like one: `local@domain`, no spaces, at most 254 bytes.
pub fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL_BYTES
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The account records of one data directory.
#[derive(Clone)]
pub struct Accounts {
    db: sled::Db,
    users: Tree,
    emails: Tree,
    sessions: Tree,
    session_hashes: Tree,
    tokens: Tree,
    token_hashes: Tree,
    invitations: Tree,
    invitation_hashes: Tree,
}

impl Accounts {
    /// Opens the account trees of `db`.
    pub fn open(db: &sled::Db) -> Result<Accounts, AccountError> {
        let tree = |name: &str| db.open_tree(name).map_err(db_error);
        Ok(Accounts {
            db: db.clone(),
            users: tree("users")?,
            emails: tree("user_emails")?,
            sessions: tree("sessions")?,
            session_hashes: tree("session_hashes")?,
            tokens: tree("api_tokens")?,
            token_hashes: tree("api_token_hashes")?,
            invitations: tree("invitations")?,
            invitation_hashes: tree("invitation_hashes")?,
        })
    }

    fn next_id(&self) -> Result<u64, AccountError> {
        // sled's ids are unique across restarts; +1 keeps 0 free as "nobody".
        self.db.generate_id().map(|id| id + 1).map_err(db_error)
    }

    /// Makes every write so far durable (sled's flush; the server's own flusher adds the
    /// `fdatasync` of the power-loss mode).
    pub fn flush(&self) -> Result<(), AccountError> {
        self.db.flush().map(|_| ()).map_err(db_error)
    }

    // ----- users -----

    /// Number of accounts.
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    /// Creates an account; fails if its email is taken.
    pub fn create_user(&self, new: NewUser) -> Result<User, AccountError> {
        let user = User {
            id: self.next_id()?,
            email: normalise_email(&new.email),
            name: new.name,
            organisation: new.organisation,
            country: new.country,
            role: new.role,
            active: true,
            password_hash: new.password_hash,
            created_at: now(),
            language: None,
        };
        (&self.users, &self.emails)
            .transaction(|(users, emails)| {
                if emails.get(user.email.as_bytes())?.is_some() {
                    return Err(abort(AccountError::EmailTaken));
                }
                emails.insert(user.email.as_bytes(), &key(user.id))?;
                users.insert(&key(user.id), encode(&user))?;
                Ok(())
            })
            .map_err(AccountError::from)?;
        Ok(user)
    }

    /// The account `id`.
    pub fn user(&self, id: u64) -> Result<User, AccountError> {
        match self.users.get(key(id)).map_err(db_error)? {
            Some(bytes) => decode(&bytes),
            None => Err(AccountError::NotFound),
        }
    }

    /// The account with `email` (normalised here).
    pub fn user_by_email(&self, email: &str) -> Result<User, AccountError> {
        let email = normalise_email(email);
        match self.emails.get(email.as_bytes()).map_err(db_error)? {
            Some(id) => {
                let id = u64::from_be_bytes(
                    id.as_ref()
                        .try_into()
                        .map_err(|_| AccountError::Database("corrupt email index".into()))?,
                );
                self.user(id)
            }
            None => Err(AccountError::NotFound),
        }
    }

    /// Every account, in creation order.
    pub fn users(&self) -> Result<Vec<User>, AccountError> {
        self.users
            .iter()
            .values()
            .map(|v| decode(&v.map_err(db_error)?))
            .collect()
    }

    /// Changes account `id` with `change` and returns the new record.
    pub fn update_user(&self, id: u64, change: impl Fn(&mut User)) -> Result<User, AccountError> {
        let updated = self
            .users
            .transaction(|users| {
                let Some(bytes) = users.get(key(id))? else {
                    return Err(abort(AccountError::NotFound));
                };
                let mut user: User = decode(&bytes).map_err(abort)?;
                change(&mut user);
                user.id = id;
                users.insert(&key(id), encode(&user))?;
                Ok(user)
            })
            .map_err(AccountError::from)?;
        Ok(updated)
    }

    // ----- sessions -----

    /// Starts a session for `user_id`; returns the secret token (for the cookie) and the record.
    pub fn create_session(
        &self,
        user_id: u64,
        absolute_ttl_secs: i64,
        address: &str,
        user_agent: &str,
    ) -> Result<(String, Session), AccountError> {
        let (secret, hash) = new_secret("", 16);
        let at = now();
        let session = Session {
            id: self.next_id()?,
            user_id,
            secret_hash: hash,
            created_at: at,
            last_seen_at: at,
            expires_at: at + absolute_ttl_secs,
            address: address.chars().take(64).collect(),
            user_agent: user_agent.chars().take(256).collect(),
        };
        insert_with_secret(
            &self.sessions,
            &self.session_hashes,
            &pair_key(user_id, session.id),
            encode(&session),
            &session.secret_hash,
        )?;
        Ok((secret, session))
    }

    /// The session whose token is `secret`, if any (expiry is the caller's to check).
    pub fn session_by_secret(&self, secret: &str) -> Result<Option<Session>, AccountError> {
        record_by_secret(&self.sessions, &self.session_hashes, secret)
    }

    /// Records that the session was used now.
    pub fn touch_session(&self, session: &Session) -> Result<(), AccountError> {
        let k = pair_key(session.user_id, session.id);
        let mut touched = session.clone();
        touched.last_seen_at = now();
        // Only if it still exists: a concurrent logout wins.
        let _ = self
            .sessions
            .compare_and_swap(k, Some(encode(session)), Some(encode(&touched)))
            .map_err(db_error)?;
        Ok(())
    }

    /// Every session of `user_id`.
    pub fn sessions_of(&self, user_id: u64) -> Result<Vec<Session>, AccountError> {
        self.sessions
            .scan_prefix(key(user_id))
            .values()
            .map(|v| decode(&v.map_err(db_error)?))
            .collect()
    }

    /// Ends session `id` of `user_id`. Returns whether it existed.
    pub fn delete_session(&self, user_id: u64, id: u64) -> Result<bool, AccountError> {
        let removed: Option<Session> = remove_with_secret(
            &self.sessions,
            &self.session_hashes,
            &pair_key(user_id, id),
            |s: &Session| &s.secret_hash,
        )?;
        Ok(removed.is_some())
    }

    /// Ends every session of `user_id` except `keep`; returns the ids ended.
    pub fn delete_sessions_of(
        &self,
        user_id: u64,
        keep: Option<u64>,
    ) -> Result<Vec<u64>, AccountError> {
        let mut ended = Vec::new();
        for session in self.sessions_of(user_id)? {
            if Some(session.id) != keep && self.delete_session(user_id, session.id)? {
                ended.push(session.id);
            }
        }
        Ok(ended)
    }

    /// Removes expired sessions; returns them, so that their connections can be closed.
    pub fn purge_expired_sessions(&self, idle_secs: i64) -> Result<Vec<Session>, AccountError> {
        let at = now();
        let mut expired = Vec::new();
        for entry in self.sessions.iter() {
            let (_, v) = entry.map_err(db_error)?;
            let session: Session = decode(&v)?;
            if (session.expires_at <= at || session.last_seen_at + idle_secs <= at)
                && self.delete_session(session.user_id, session.id)?
            {
                expired.push(session);
            }
        }
        Ok(expired)
    }

    // ----- API tokens -----

    /// Creates an API token for `user_id`; the secret is returned once and never again.
    pub fn create_token(
        &self,
        user_id: u64,
        name: &str,
    ) -> Result<(String, ApiToken), AccountError> {
        let (secret, hash) = new_secret("mfst_", 32);
        let token = ApiToken {
            id: self.next_id()?,
            user_id,
            secret_hash: hash,
            name: name.to_owned(),
            prefix: secret.chars().take(9).collect(),
            created_at: now(),
            last_used_at: None,
        };
        insert_with_secret(
            &self.tokens,
            &self.token_hashes,
            &pair_key(user_id, token.id),
            encode(&token),
            &token.secret_hash,
        )?;
        Ok((secret, token))
    }

    /// The token whose secret is `secret`, if any.
    pub fn token_by_secret(&self, secret: &str) -> Result<Option<ApiToken>, AccountError> {
        record_by_secret(&self.tokens, &self.token_hashes, secret)
    }

    /// Records that the token was used now.
    pub fn touch_token(&self, token: &ApiToken) -> Result<(), AccountError> {
        let mut touched = token.clone();
        touched.last_used_at = Some(now());
        let _ = self
            .tokens
            .compare_and_swap(
                pair_key(token.user_id, token.id),
                Some(encode(token)),
                Some(encode(&touched)),
            )
            .map_err(db_error)?;
        Ok(())
    }

    /// Every token of `user_id`.
    pub fn tokens_of(&self, user_id: u64) -> Result<Vec<ApiToken>, AccountError> {
        self.tokens
            .scan_prefix(key(user_id))
            .values()
            .map(|v| decode(&v.map_err(db_error)?))
            .collect()
    }

    /// Revokes token `id` of `user_id`.
    pub fn delete_token(&self, user_id: u64, id: u64) -> Result<(), AccountError> {
        let removed: Option<ApiToken> = remove_with_secret(
            &self.tokens,
            &self.token_hashes,
            &pair_key(user_id, id),
            |t: &ApiToken| &t.secret_hash,
        )?;
        removed.map(|_| ()).ok_or(AccountError::NotFound)
    }

    // ----- invitations -----

    /// Creates an invitation; returns the link's secret and the record.
    pub fn create_invitation(
        &self,
        new: NewInvitation,
    ) -> Result<(String, Invitation), AccountError> {
        let email = normalise_email(&new.email);
        if self
            .emails
            .contains_key(email.as_bytes())
            .map_err(db_error)?
        {
            return Err(AccountError::EmailTaken);
        }
        let at = now();
        let invitation = Invitation {
            id: self.next_id()?,
            email,
            role: new.role,
            name: new.name,
            organisation: new.organisation,
            country: new.country,
            created_by: new.created_by,
            created_at: at,
            expires_at: at + new.ttl_secs,
            status: InvitationStatus::Pending,
            closed_at: None,
            user_id: None,
            n_links: 1,
        };
        let (secret, hash) = new_secret("", 24);
        (&self.invitations, &self.invitation_hashes)
            .transaction(|(invitations, hashes)| {
                invitations.insert(&key(invitation.id), encode(&invitation))?;
                hashes.insert(hash.as_slice(), &key(invitation.id))?;
                Ok(())
            })
            .map_err(AccountError::from)?;
        Ok((secret, invitation))
    }

    /// Every invitation, oldest first.
    pub fn invitations(&self) -> Result<Vec<Invitation>, AccountError> {
        self.invitations
            .iter()
            .values()
            .map(|v| decode(&v.map_err(db_error)?))
            .collect()
    }

    /// Invitation `id`.
    pub fn invitation(&self, id: u64) -> Result<Invitation, AccountError> {
        match self.invitations.get(key(id)).map_err(db_error)? {
            Some(bytes) => decode(&bytes),
            None => Err(AccountError::NotFound),
        }
    }

    /// The invitation of a link's secret, whatever its status.
    pub fn invitation_by_secret(&self, secret: &str) -> Result<Invitation, AccountError> {
        match self
            .invitation_hashes
            .get(secret_hash(secret))
            .map_err(db_error)?
        {
            Some(k) => match self.invitations.get(k).map_err(db_error)? {
                Some(bytes) => decode(&bytes),
                None => Err(AccountError::NotFound),
            },
            None => Err(AccountError::NotFound),
        }
    }

    /// Checks that an invitation is neither accepted nor revoked (it may have expired: the
    /// secretariat can still resend or revoke it).
    fn check_open(invitation: &Invitation) -> Result<(), AccountError> {
        match invitation.status {
            InvitationStatus::Accepted => Err(AccountError::InvitationUsed),
            InvitationStatus::Revoked => Err(AccountError::InvitationRevoked),
            InvitationStatus::Pending => Ok(()),
        }
    }

    /// Checks that an invitation can still be accepted.
    pub fn check_usable(invitation: &Invitation) -> Result<(), AccountError> {
        Accounts::check_open(invitation)?;
        if invitation.expires_at <= now() {
            return Err(AccountError::InvitationExpired);
        }
        Ok(())
    }

    /// Issues a new link for a pending invitation (the old link stops working) and restarts
    /// its expiry.
    pub fn renew_invitation(
        &self,
        id: u64,
        ttl_secs: i64,
    ) -> Result<(String, Invitation), AccountError> {
        let (secret, hash) = new_secret("", 24);
        let invitation = (&self.invitations, &self.invitation_hashes)
            .transaction(|(invitations, hashes)| {
                let Some(bytes) = invitations.get(key(id))? else {
                    return Err(abort(AccountError::NotFound));
                };
                let mut invitation: Invitation = decode(&bytes).map_err(abort)?;
                Accounts::check_open(&invitation).map_err(abort)?;
                invitation.expires_at = now() + ttl_secs;
                invitation.n_links += 1;
                invitations.insert(&key(id), encode(&invitation))?;
                hashes.insert(hash.as_slice(), &key(id))?;
                Ok(invitation)
            })
            .map_err(AccountError::from)?;
        // Older links of this invitation stop working.
        for entry in self.invitation_hashes.iter() {
            let (h, target) = entry.map_err(db_error)?;
            if target.as_ref() == key(id) && h.as_ref() != hash.as_slice() {
                self.invitation_hashes.remove(h).map_err(db_error)?;
            }
        }
        Ok((secret, invitation))
    }

    /// Revokes a pending invitation.
    pub fn revoke_invitation(&self, id: u64) -> Result<Invitation, AccountError> {
        let invitation = self
            .invitations
            .transaction(|invitations| {
                let Some(bytes) = invitations.get(key(id))? else {
                    return Err(abort(AccountError::NotFound));
                };
                let mut invitation: Invitation = decode(&bytes).map_err(abort)?;
                Accounts::check_open(&invitation).map_err(abort)?;
                invitation.status = InvitationStatus::Revoked;
                invitation.closed_at = Some(now());
                invitations.insert(&key(id), encode(&invitation))?;
                Ok(invitation)
            })
            .map_err(AccountError::from)?;
        // The link's hash stays, so that its holder learns it was revoked.
        Ok(invitation)
    }

    /// Accepts the invitation of `secret`: creates the account with `password_hash` (and the
    /// invitee's chosen name, if the invitation had none) and closes the invitation, in one
    /// transaction, so that a link works once.
    pub fn accept_invitation(
        &self,
        secret: &str,
        name: Option<String>,
        password_hash: String,
    ) -> Result<(Invitation, User), AccountError> {
        let hash = secret_hash(secret);
        let user_id = self.next_id()?;
        let result = (
            &self.invitations,
            &self.invitation_hashes,
            &self.users,
            &self.emails,
        )
            .transaction(|(invitations, hashes, users, emails)| {
                let Some(k) = hashes.get(hash.as_slice())? else {
                    return Err(abort(AccountError::NotFound));
                };
                let Some(bytes) = invitations.get(&k)? else {
                    return Err(abort(AccountError::NotFound));
                };
                let mut invitation: Invitation = decode(&bytes).map_err(abort)?;
                Accounts::check_usable(&invitation).map_err(abort)?;
                if emails.get(invitation.email.as_bytes())?.is_some() {
                    return Err(abort(AccountError::EmailTaken));
                }
                let name = invitation
                    .name
                    .clone()
                    .or_else(|| name.clone())
                    .unwrap_or_else(|| invitation.email.clone());
                let user = User {
                    id: user_id,
                    email: invitation.email.clone(),
                    name,
                    organisation: invitation.organisation.clone(),
                    country: invitation.country.clone(),
                    role: invitation.role,
                    active: true,
                    password_hash: password_hash.clone(),
                    created_at: now(),
                    language: None,
                };
                emails.insert(user.email.as_bytes(), &key(user.id))?;
                users.insert(&key(user.id), encode(&user))?;
                invitation.status = InvitationStatus::Accepted;
                invitation.closed_at = Some(now());
                invitation.user_id = Some(user.id);
                invitations.insert(&k, encode(&invitation))?;
                // The link's hash stays, so that a second use learns it was used.
                Ok((invitation, user))
            })
            .map_err(AccountError::from)?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> (tempfile::TempDir, Accounts) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::Config::new()
            .path(dir.path())
            .temporary(true)
            .open()
            .expect("db");
        (dir, Accounts::open(&db).expect("open"))
    }

    fn new_user(email: &str) -> NewUser {
        NewUser {
            email: email.into(),
            name: "Ana".into(),
            organisation: None,
            country: None,
            role: Role::Delegate,
            password_hash: "h".into(),
        }
    }

    #[test]
    fn emails_are_unique_and_normalised() {
        let (_dir, accounts) = accounts();
        let user = accounts
            .create_user(new_user(" Ana@Example.org "))
            .expect("create");
        assert_eq!(user.email, "ana@example.org");
        assert_eq!(
            accounts.create_user(new_user("ana@example.org")),
            Err(AccountError::EmailTaken)
        );
        assert_eq!(accounts.user_by_email("ANA@example.org"), Ok(user));
    }

    #[test]
    fn secrets_are_stored_hashed_and_sessions_end() {
        let (_dir, accounts) = accounts();
        let user = accounts.create_user(new_user("a@b.c")).expect("create");
        let (secret, session) = accounts
            .create_session(user.id, 60, "1.2.3.4", "ua")
            .expect("session");
        assert_eq!(secret.len(), 22, "128 bits in base64url");
        assert_eq!(
            accounts.session_by_secret(&secret),
            Ok(Some(session.clone()))
        );
        for entry in accounts.db.iter().chain(accounts.session_hashes.iter()) {
            let (k, v) = entry.expect("entry");
            assert!(!k.windows(secret.len()).any(|w| w == secret.as_bytes()));
            assert!(!v.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
        assert_eq!(
            accounts.delete_sessions_of(user.id, None),
            Ok(vec![session.id])
        );
        assert_eq!(accounts.session_by_secret(&secret), Ok(None));
    }

    #[test]
    fn an_invitation_works_once() {
        let (_dir, accounts) = accounts();
        let (secret, invitation) = accounts
            .create_invitation(NewInvitation {
                email: "d@example.org".into(),
                role: Role::Observer,
                name: Some("Dee".into()),
                organisation: None,
                country: Some("CH".into()),
                created_by: 1,
                ttl_secs: 3600,
            })
            .expect("invite");
        let (accepted, user) = accounts
            .accept_invitation(&secret, None, "h".into())
            .expect("accept");
        assert_eq!(accepted.status, InvitationStatus::Accepted);
        assert_eq!((user.role, user.name.as_str()), (Role::Observer, "Dee"));
        assert_eq!(
            accounts.accept_invitation(&secret, None, "h".into()),
            Err(AccountError::InvitationUsed)
        );
        assert_eq!(
            accounts.invitation(invitation.id).map(|i| i.status),
            Ok(InvitationStatus::Accepted)
        );
    }

    #[test]
    fn a_renewed_invitation_invalidates_the_old_link() {
        let (_dir, accounts) = accounts();
        let (old, invitation) = accounts
            .create_invitation(NewInvitation {
                email: "d@example.org".into(),
                role: Role::Delegate,
                name: None,
                organisation: None,
                country: None,
                created_by: 1,
                ttl_secs: 3600,
            })
            .expect("invite");
        let (new, renewed) = accounts
            .renew_invitation(invitation.id, 3600)
            .expect("renew");
        assert_eq!(renewed.n_links, 2);
        assert_eq!(
            accounts.invitation_by_secret(&old),
            Err(AccountError::NotFound)
        );
        assert_eq!(
            accounts.invitation_by_secret(&new).map(|i| i.id),
            Ok(invitation.id)
        );
        accounts.revoke_invitation(invitation.id).expect("revoke");
        assert_eq!(
            accounts.accept_invitation(&new, None, "h".into()),
            Err(AccountError::InvitationRevoked)
        );
    }
}
