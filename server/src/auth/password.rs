//! Passwords: the policy a new password must meet, and argon2id hashing on a bounded pool.
//!
//! Hashing costs ~19 MiB and tens of milliseconds of one core on purpose. It runs on tokio's
//! blocking threads, at most `concurrency` at a time, with at most `max_waiting` requests
//! queued behind them: a wave of logins then gets 503 with `Retry-After` instead of taking
//! every core from live editing.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (argon2 takes any length; this bounds the work per request).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    /// Shorter than [`MIN_PASSWORD_CHARS`].
    #[error("passwords have at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    /// Longer than [`MAX_PASSWORD_CHARS`].
    #[error("passwords have at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    /// One of the 1,000 most common passwords.
    #[error("this password is one of the most common ones; choose another")]
    TooCommon,
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static COMMON: OnceLock<HashSet<&'static str>> = OnceLock::new();
    COMMON.get_or_init(|| {
        include_str!("common_passwords.txt")
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .collect()
    })
}

/// Checks a new password against the policy.
pub fn check_policy(password: &str) -> Result<(), PasswordPolicyError> {
    let n_chars = password.chars().count();
    if n_chars < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort);
    }
    if n_chars > MAX_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooLong);
    }
    if common_passwords().contains(password.to_lowercase().as_str()) {
        return Err(PasswordPolicyError::TooCommon);
    }
    Ok(())
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with argon2id and a random salt, on the calling thread (slow).
pub fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 accepts any password length up to 2^32")
        .to_string()
}

/// Whether `password` matches `hash`, on the calling thread (slow). A malformed hash never
/// matches.
pub fn verify_blocking(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Every hashing slot is busy and the wait queue is full: try again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is busy")]
pub struct HasherBusy;

/// The bounded hashing pool. Cloning it is cheap.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<HasherInner>,
}

struct HasherInner {
    slots: Semaphore,
    /// Requests waiting for or holding a slot.
    in_flight: AtomicUsize,
    /// Most requests in flight: the slots plus the wait queue.
    max_in_flight: usize,
    /// A hash of a random password, verified against when an email is unknown so that the
    /// answer takes as long as for a real account.
    dummy_hash: String,
}

impl PasswordHasher {
    /// A pool hashing at most `concurrency` passwords at once with `max_waiting` more queued.
    pub fn new(concurrency: usize, max_waiting: usize) -> PasswordHasher {
        let dummy: [u8; 16] = rand::random();
        PasswordHasher {
            inner: Arc::new(HasherInner {
                slots: Semaphore::new(concurrency.max(1)),
                in_flight: AtomicUsize::new(0),
                max_in_flight: concurrency.max(1) + max_waiting,
                dummy_hash: hash_blocking(&format!("{dummy:?}")),
            }),
        }
    }

    /// Takes a place in the pool (a slot or the wait queue), or answers busy at once. Callers
    /// reserve before counting an attempt against a rate limit, so that a busy answer costs a
    /// retrying client nothing.
    pub fn reserve(&self) -> Result<Reservation, HasherBusy> {
        let inner = &self.inner;
        if inner.in_flight.fetch_add(1, Ordering::AcqRel) >= inner.max_in_flight {
            inner.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(HasherBusy);
        }
        Ok(Reservation {
            inner: inner.clone(),
        })
    }

    /// Hashes a password (which must already meet the policy).
    pub async fn hash(&self, password: String) -> Result<String, HasherBusy> {
        self.reserve()?.hash(password).await
    }

    /// Verifies `password` against `hash`, or against a dummy hash when there is no account,
    /// so that both take the same time. Returns whether it matched (never for the dummy).
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, HasherBusy> {
        self.reserve()?.verify(password, hash).await
    }
}

/// A place in the hashing pool, released when dropped.
pub struct Reservation {
    inner: Arc<HasherInner>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Reservation {
    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HasherBusy> {
        let _slot = self.inner.slots.acquire().await.map_err(|_| HasherBusy)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| HasherBusy)
    }

    /// Hashes a password (which must already meet the policy).
    pub async fn hash(self, password: String) -> Result<String, HasherBusy> {
        self.run(move || hash_blocking(&password)).await
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is no
    /// account. Returns whether it matched (never for the dummy).
    pub async fn verify(self, password: String, hash: Option<String>) -> Result<bool, HasherBusy> {
        let (hash, real) = match hash {
            Some(hash) => (hash, true),
            None => (self.inner.dummy_hash.clone(), false),
        };
        self.run(move || verify_blocking(&password, &hash) && real)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(check_policy("short"), Err(PasswordPolicyError::TooShort));
        assert_eq!(
            check_policy("1234567890"),
            Err(PasswordPolicyError::TooCommon)
        );
        assert_eq!(
            check_policy("QwertyUiop"),
            Err(PasswordPolicyError::TooCommon)
        );
        assert_eq!(
            check_policy(&"x".repeat(MAX_PASSWORD_CHARS + 1)),
            Err(PasswordPolicyError::TooLong)
        );
        assert_eq!(check_policy("solidarité économique"), Ok(()));
        // Length counts characters, not bytes.
        assert_eq!(
            check_policy("ééééééééé"),
            Err(PasswordPolicyError::TooShort)
        );
        assert_eq!(common_passwords().len(), 1000);
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hash = hash_blocking("a sovereign future");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_blocking("a sovereign future", &hash));
        assert!(!verify_blocking("a sovereign futur", &hash));
        assert!(!verify_blocking("a sovereign future", "not a hash"));
    }

    #[tokio::test]
    async fn a_full_pool_answers_busy() {
        let hasher = PasswordHasher::new(1, 1);
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(format!("password number {i}")).await })
            })
            .collect();
        let mut n_busy = 0;
        for task in tasks {
            if task.await.expect("task").is_err() {
                n_busy += 1;
            }
        }
        assert!(n_busy >= 1, "six requests on one slot and one queue place");
        assert!(hasher.verify("x".into(), None).await.is_ok_and(|ok| !ok));
    }
}
