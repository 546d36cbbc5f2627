//! The user who signs in, and the throttle on failed sign-ins (rule AS-11).
//!
//! The demo has one user, from the configuration. Its password is hashed
//! with Argon2id when the server starts and the plain text is dropped; a
//! sign-in hashes the attempt the same way and compares the two digests in
//! constant time.

use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::{TryRng as _, rngs::SysRng};
use subtle::ConstantTimeEq as _;

use sha2::{Digest as _, Sha256};
use std::sync::Mutex;

use super::store::{Store, StoreError};
use crate::{authorization_server::error::StartupError, limits::Source};

// ANCHOR: password_hash
/// Argon2id with 12 MiB of memory, one pass and one lane.
///
/// OWASP's password storage cheat sheet asks for more (19 MiB and two
/// passes, or an equivalent). These lighter parameters keep one check
/// under 10 ms in a release build (about 7 ms measured on a busy 2-core
/// machine), because here the throttle, not the cost of the hash, is what
/// stops online guessing, and there is no user database that could leak.
/// A server that stores many users' hashes should raise them.
const M_COST_KIB: u32 = 12 * 1024;
const T_COST: u32 = 1;
const P_COST: u32 = 1;

/// The demo user: a name and an Argon2id digest of the password.
#[derive(Debug)]
pub struct DemoUser {
    username: String,
    salt: [u8; 16],
    digest: [u8; 32],
}

impl DemoUser {
    /// Hashes `password` with a fresh random salt.
    pub fn new(username: &str, password: &str) -> Result<Self, StartupError> {
        let mut salt = [0u8; 16];
        SysRng
            .try_fill_bytes(&mut salt)
            .map_err(|_| StartupError::Randomness)?;
        let digest =
            hash(password, &salt).map_err(|error| StartupError::PasswordHash(error.to_string()))?;
        Ok(Self {
            username: username.to_owned(),
            salt,
            digest,
        })
    }

    /// True when both the name and the password are right. The password is
    /// hashed even when the name is wrong, so an unknown user and a wrong
    /// password take the same time and look the same (rule AS-11).
    pub fn verify(&self, username: &str, password: &str) -> bool {
        let name_ok = self.username.as_bytes().ct_eq(username.as_bytes());
        let password_ok = match hash(password, &self.salt) {
            Ok(digest) => self.digest.ct_eq(&digest),
            Err(_) => 0u8.into(),
        };
        (name_ok & password_ok).into()
    }
}

fn hash(password: &str, salt: &[u8]) -> Result<[u8; 32], argon2::Error> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(32))?;
    let mut digest = [0u8; 32];
    let mut memory = WORK_MEMORY.take(params.block_count());
    let hashed = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut digest, &mut memory);
    WORK_MEMORY.give_back(memory);
    hashed.map(|()| digest)
}

/// Argon2's working memory (12 MiB a check), kept for the next check.
///
/// Allocated afresh, it lands in the malloc arena of whichever blocking
/// thread runs the check, and each arena keeps what it once held: the bench
/// saw the server grow by hundreds of MiB. Reusing at most two buffers (as
/// many as checks may run at once) keeps it at 24 MiB.
static WORK_MEMORY: WorkMemory = WorkMemory(Mutex::new(Vec::new()));

struct WorkMemory(Mutex<Vec<Vec<Block>>>);

impl WorkMemory {
    fn take(&self, blocks: usize) -> Vec<Block> {
        let reused = self.lock().pop().filter(|memory| memory.len() == blocks);
        reused.unwrap_or_else(|| vec![Block::default(); blocks])
    }

    fn give_back(&self, memory: Vec<Block>) {
        let mut pool = self.lock();
        if pool.len() < 2 {
            pool.push(memory);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
// ANCHOR_END: password_hash

// ANCHOR: throttle
/// Failed sign-ins allowed per user name in one window.
pub const MAX_FAILURES_PER_USER: i64 = 5;
/// Failed sign-ins allowed per client address (IPv6: /64) in one window.
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
/// The window, in seconds: after it, the count starts again.
const WINDOW_SECONDS: i64 = 15 * 60;
/// User names are counted in this many buckets, chosen by a hash of the
/// name. Unknown names count like known ones (so the throttle does not
/// tell which names exist), yet a script that tries a million names cannot
/// grow the table: the buckets are all there is. Part 3 keyed the hash
/// with a random key per process; the buckets now live in a database that
/// several instances share, and a name that lands in a real user's bucket
/// gives a script nothing that failing with the real name would not.
const USER_BUCKETS: u64 = 16_384;

/// Counts sign-in attempts per user name and per address in the database,
/// so that guessing a password online gets a few tries per quarter hour
/// however many instances a guesser spreads over, and a restart forgets
/// nothing (rule AS-11, AS-16).
///
/// An attempt is counted *before* its password is checked ([`Throttle::begin`])
/// and given back if it succeeds, so a burst of concurrent guesses cannot
/// all pass the "blocked?" question while the first ones are still being
/// hashed.
#[derive(Debug, Default)]
pub struct Throttle;

/// An attempt counted by [`Throttle::begin`]; pass it to
/// [`Throttle::succeeded`] when the password was right.
#[derive(Debug)]
#[must_use]
pub struct Attempt {
    user_key: String,
    source_key: String,
}

impl Throttle {
    /// Counts an attempt for `username` from `source`, or refuses it
    /// (`Ok(None)`) when either has used up its failures in the window.
    pub async fn begin(
        &self,
        store: &dyn Store,
        username: &str,
        source: Source,
        now: i64,
    ) -> Result<Option<Attempt>, StoreError> {
        let attempt = Attempt {
            user_key: user_key(username),
            source_key: format!("source:{source}"),
        };
        let keys = [
            (attempt.user_key.clone(), MAX_FAILURES_PER_USER),
            (attempt.source_key.clone(), MAX_FAILURES_PER_ADDRESS),
        ];
        let counted = store.throttle_begin(&keys, WINDOW_SECONDS, now).await?;
        Ok(counted.then_some(attempt))
    }

    /// The attempt was a successful sign-in: it does not count as a failure,
    /// and the name's earlier failures are forgotten.
    pub async fn succeeded(&self, store: &dyn Store, attempt: Attempt) -> Result<(), StoreError> {
        store
            .throttle_succeeded(&attempt.user_key, &attempt.source_key)
            .await
    }
}

/// The bucket of a user name. Names are compared case-insensitively, so
/// `Demo_User` does not get five more tries.
fn user_key(username: &str) -> String {
    let hash = Sha256::digest(username.to_lowercase().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    format!("user:{}", u64::from_be_bytes(first) % USER_BUCKETS)
}
// ANCHOR_END: throttle

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as11_only_the_right_name_and_password_pass() {
        let Ok(user) = DemoUser::new("demo_user", "demo_password") else {
            panic!("hashing failed");
        };
        assert!(user.verify("demo_user", "demo_password"));
        assert!(!user.verify("demo_user", "wrong"));
        assert!(!user.verify("someone", "demo_password"));
    }

    fn source(last: u8) -> Source {
        Source::of([127, 0, 0, last].into())
    }

    async fn store() -> std::sync::Arc<dyn Store> {
        crate::authorization_server::logic::store::open("sqlite::memory:")
            .await
            .expect("an in-memory store")
    }

    #[tokio::test]
    async fn as11_throttle_blocks_per_user_and_per_address() {
        let (throttle, store) = (Throttle, store().await);
        let begin = |name: &'static str, from: u8, now: i64| {
            let store = store.clone();
            async move {
                (Throttle.begin(&*store, name, source(from), now).await)
                    .expect("store")
                    .is_some()
            }
        };
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(begin("demo_user", 1, 0).await);
        }
        assert!(!begin("DEMO_USER", 2, 1).await);
        assert!(begin("other", 2, 1).await);
        assert!(begin("demo_user", 1, WINDOW_SECONDS).await, "a new window");
        let store = self::store().await;
        for n in 0..MAX_FAILURES_PER_ADDRESS {
            let name = format!("user{n}");
            assert!(
                throttle
                    .begin(&*store, &name, source(3), 0)
                    .await
                    .expect("store")
                    .is_some()
            );
        }
        assert!(
            throttle
                .begin(&*store, "fresh", source(3), 1)
                .await
                .expect("store")
                .is_none()
        );
        assert!(
            throttle
                .begin(&*store, "fresh", source(4), 1)
                .await
                .expect("store")
                .is_some()
        );
    }

    /// Counted before the hash: the sixth guess is refused even though none
    /// of the first five has finished.
    #[tokio::test]
    async fn as16_attempts_count_before_the_password_is_checked() {
        let (throttle, store) = (Throttle, store().await);
        for _ in 0..MAX_FAILURES_PER_USER {
            let attempt = throttle.begin(&*store, "demo_user", source(1), 0).await;
            assert!(attempt.expect("store").is_some());
        }
        let sixth = throttle.begin(&*store, "demo_user", source(1), 0).await;
        assert!(sixth.expect("store").is_none());
    }

    /// A success gives its attempt back and clears the name's failures.
    #[tokio::test]
    async fn as11_a_success_clears_the_name() {
        let (throttle, store) = (Throttle, store().await);
        for _ in 0..MAX_FAILURES_PER_USER - 1 {
            let _ = throttle.begin(&*store, "demo_user", source(1), 0).await;
        }
        let last = throttle.begin(&*store, "demo_user", source(1), 0).await;
        let last = last.expect("store").expect("allowed");
        throttle.succeeded(&*store, last).await.expect("store");
        for _ in 0..MAX_FAILURES_PER_USER {
            let attempt = throttle.begin(&*store, "demo_user", source(1), 0).await;
            assert!(attempt.expect("store").is_some());
        }
    }
}
