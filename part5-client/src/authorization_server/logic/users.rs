//! The user who signs in, and the throttle on failed sign-ins (rule AS-11).
//!
//! The demo has one user, from the configuration. Its password is hashed
//! with Argon2id when the server starts and the plain text is dropped; a
//! sign-in hashes the attempt the same way and compares the two digests in
//! constant time.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, PoisonError},
};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::{TryRng as _, rngs::SysRng};
use subtle::ConstantTimeEq as _;

use crate::authorization_server::error::StartupError;

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
pub const MAX_FAILURES_PER_USER: u32 = 5;
/// Failed sign-ins allowed per client address in one window.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 20;
/// The window, in seconds: after it, the count starts again.
const WINDOW_SECONDS: i64 = 15 * 60;
/// At most this many names and addresses are tracked; past it the oldest
/// windows are forgotten first, after expired ones.
const MAX_TRACKED: usize = 10_000;

/// Counts failed sign-ins per user name and per address, so that guessing a
/// password online gets a few tries per quarter hour (rule AS-11).
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (i64, u32)>>,
}

impl Throttle {
    /// True when `username` or `address` has used up its failures.
    pub fn is_blocked(&self, username: &str, address: IpAddr, now: i64) -> bool {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let count = |key: &str| match failures.get(key) {
            Some((start, count)) if now - start < WINDOW_SECONDS => *count,
            _ => 0,
        };
        count(&user_key(username)) >= MAX_FAILURES_PER_USER
            || count(&address_key(address)) >= MAX_FAILURES_PER_ADDRESS
    }

    /// Counts one failure against `username` and against `address`.
    pub fn record_failure(&self, username: &str, address: IpAddr, now: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (start, _)| now - *start < WINDOW_SECONDS);
        }
        while failures.len() >= MAX_TRACKED {
            let oldest = failures
                .iter()
                .min_by_key(|(_, (start, _))| *start)
                .map(|(key, _)| key.clone());
            match oldest {
                Some(key) => failures.remove(&key),
                None => break,
            };
        }
        for key in [user_key(username), address_key(address)] {
            let entry = failures.entry(key).or_insert((now, 0));
            if now - entry.0 >= WINDOW_SECONDS {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }

    /// Forgets the failures of `username` after it signed in.
    pub fn clear_user(&self, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.remove(&user_key(username));
    }

    /// Drops the windows that have ended.
    pub fn sweep(&self, now: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.retain(|_, (start, _)| now - *start < WINDOW_SECONDS);
    }
}
// ANCHOR_END: throttle

/// User names are compared case-insensitively for throttling, so `Demo_User`
/// does not get five more tries.
fn user_key(username: &str) -> String {
    format!("user:{}", username.to_lowercase())
}

fn address_key(address: IpAddr) -> String {
    format!("addr:{address}")
}

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

    #[test]
    fn as11_throttle_blocks_per_user_and_per_address() {
        let throttle = Throttle::default();
        let here: IpAddr = [127, 0, 0, 1].into();
        let there: IpAddr = [127, 0, 0, 2].into();
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(!throttle.is_blocked("demo_user", here, 0));
            throttle.record_failure("demo_user", here, 0);
        }
        assert!(throttle.is_blocked("DEMO_USER", there, 1));
        assert!(!throttle.is_blocked("other", there, 1));
        assert!(!throttle.is_blocked("demo_user", here, WINDOW_SECONDS));
        for n in 0..MAX_FAILURES_PER_ADDRESS {
            throttle.record_failure(&format!("user{n}"), there, 0);
        }
        assert!(throttle.is_blocked("fresh", there, 1));
    }
}
