//! The user who signs in, and the throttle on failed sign-ins (rule AS-11).
//!
//! The demo has one user, from the configuration. Its password is hashed
//! with Argon2id when the server starts and the plain text is dropped; a
//! sign-in hashes the attempt the same way and compares the two digests in
//! constant time.

use std::{
    collections::HashMap,
    hash::{BuildHasher as _, RandomState},
    sync::{Mutex, PoisonError},
};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::{TryRng as _, rngs::SysRng};
use subtle::ConstantTimeEq as _;

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
pub const MAX_FAILURES_PER_USER: u32 = 5;
/// Failed sign-ins allowed per client address (IPv6: /64) in one window.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 20;
/// The window, in seconds: after it, the count starts again.
const WINDOW_SECONDS: i64 = 15 * 60;
/// User names are counted in this many buckets, chosen by a keyed hash of
/// the name. Unknown names count like known ones (so the throttle does not
/// tell which names exist), yet a script that tries a million names cannot
/// grow memory: the buckets are all there is. The key is random at start,
/// so nobody can pick names that land in the bucket of a real user.
const USER_BUCKETS: usize = 16_384;
/// At most this many addresses are counted at once. A live window is never
/// dropped to make room: past the bound, a new address is not counted by
/// address (its names still are, per bucket), so a flood from many
/// addresses cannot lock anybody out, nor wipe a guesser's record.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// Counts sign-in attempts per user name and per address, so that guessing
/// a password online gets a few tries per quarter hour (rule AS-11,
/// AS-16).
///
/// An attempt is counted *before* its password is checked ([`Throttle::begin`])
/// and given back if it succeeds, so a burst of concurrent guesses cannot
/// all pass the "blocked?" question while the first ones are still being
/// hashed.
#[derive(Debug)]
pub struct Throttle {
    state: Mutex<ThrottleState>,
}

#[derive(Debug)]
struct ThrottleState {
    keys: RandomState,
    users: Vec<Window>,
    addresses: HashMap<Source, Window>,
}

/// A count of attempts that started at `start`.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start: i64,
    count: u32,
}

impl Window {
    fn live_count(&self, now: i64) -> u32 {
        if now - self.start < WINDOW_SECONDS {
            self.count
        } else {
            0
        }
    }

    fn add(&mut self, now: i64) {
        if now - self.start >= WINDOW_SECONDS {
            *self = Window {
                start: now,
                count: 0,
            };
        }
        self.count += 1;
    }

    fn give_back(&mut self) {
        self.count = self.count.saturating_sub(1);
    }
}

/// An attempt counted by [`Throttle::begin`]; pass it to
/// [`Throttle::succeeded`] when the password was right.
#[derive(Debug)]
#[must_use]
pub struct Attempt {
    bucket: usize,
    source: Source,
    by_address: bool,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            state: Mutex::new(ThrottleState {
                keys: RandomState::new(),
                users: vec![Window::default(); USER_BUCKETS],
                addresses: HashMap::new(),
            }),
        }
    }
}

impl Throttle {
    /// Counts an attempt for `username` from `source`, or refuses it when
    /// either has used up its failures in the current window.
    pub fn begin(&self, username: &str, source: Source, now: i64) -> Option<Attempt> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = state.bucket(username);
        let by_user = state.users[bucket].live_count(now);
        let by_address = state
            .addresses
            .get(&source)
            .map_or(0, |w| w.live_count(now));
        if by_user >= MAX_FAILURES_PER_USER || by_address >= MAX_FAILURES_PER_ADDRESS {
            return None;
        }
        state.users[bucket].add(now);
        if state.addresses.len() >= MAX_TRACKED_ADDRESSES && !state.addresses.contains_key(&source)
        {
            state
                .addresses
                .retain(|_, window| window.live_count(now) > 0);
        }
        let by_address =
            state.addresses.len() < MAX_TRACKED_ADDRESSES || state.addresses.contains_key(&source);
        if by_address {
            state.addresses.entry(source).or_default().add(now);
        }
        Some(Attempt {
            bucket,
            source,
            by_address,
        })
    }

    /// The attempt was a successful sign-in: it does not count as a failure,
    /// and the name's earlier failures are forgotten.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.users[attempt.bucket] = Window::default();
        if attempt.by_address
            && let Some(window) = state.addresses.get_mut(&attempt.source)
        {
            window.give_back();
        }
    }

    /// Drops the address windows that have ended.
    pub fn sweep(&self, now: i64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .addresses
            .retain(|_, window| window.live_count(now) > 0);
    }

    /// How many addresses are being counted.
    pub fn tracked_addresses(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.addresses.len()
    }
}

impl ThrottleState {
    /// User names are compared case-insensitively, so `Demo_User` does not
    /// get five more tries.
    fn bucket(&self, username: &str) -> usize {
        let hash = self.keys.hash_one(username.to_lowercase());
        usize::try_from(hash % USER_BUCKETS as u64).unwrap_or(0)
    }
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

    /// The parameters are the ones documented: Argon2id, 12 MiB, one pass,
    /// one lane, 32 bytes, computed here by the argon2 crate directly.
    #[test]
    fn as11_the_password_hash_is_argon2id_with_12_mib() {
        let salt = [7u8; 16];
        let params = Params::new(12 * 1024, 1, 1, Some(32)).expect("parameters");
        let mut expected = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(b"demo_password", &salt, &mut expected)
            .expect("a hash");
        assert_eq!(hash("demo_password", &salt).ok(), Some(expected));
    }

    /// The working memory is reused when it has the right size, and at
    /// most two buffers are kept.
    #[test]
    fn as16_at_most_two_work_buffers_are_kept() {
        let pool = WorkMemory(Mutex::new(Vec::new()));
        for _ in 0..3 {
            pool.give_back(vec![Block::default(); 4]);
        }
        assert_eq!(pool.lock().len(), 2);
        assert_eq!(pool.take(4).len(), 4);
        assert_eq!(pool.lock().len(), 1);
        // A buffer of another size is not used: a new one is made.
        assert_eq!(pool.take(8).len(), 8);
        assert_eq!(pool.lock().len(), 0);
    }

    fn source(last: u8) -> Source {
        Source::of([127, 0, 0, last].into())
    }

    #[test]
    fn as11_throttle_blocks_per_user_and_per_address() {
        let throttle = Throttle::default();
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(throttle.begin("demo_user", source(1), 0).is_some());
        }
        assert!(throttle.begin("DEMO_USER", source(2), 1).is_none());
        assert!(throttle.begin("other", source(2), 1).is_some());
        assert!(
            throttle
                .begin("demo_user", source(1), WINDOW_SECONDS)
                .is_some()
        );
        let throttle = Throttle::default();
        for n in 0..MAX_FAILURES_PER_ADDRESS {
            assert!(throttle.begin(&format!("user{n}"), source(3), 0).is_some());
        }
        assert!(throttle.begin("fresh", source(3), 1).is_none());
        assert!(throttle.begin("fresh", source(4), 1).is_some());
    }

    /// A window lasts fifteen minutes from its first failure: refused at
    /// 14:59, counted afresh from 15:00, and the new window refuses again
    /// once it is used up.
    #[test]
    fn as11_a_window_lasts_fifteen_minutes() {
        const FIFTEEN_MINUTES: i64 = 15 * 60;
        let throttle = Throttle::default();
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(throttle.begin("demo_user", source(1), 0).is_some());
        }
        assert!(
            throttle
                .begin("demo_user", source(1), FIFTEEN_MINUTES - 1)
                .is_none()
        );
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(
                throttle
                    .begin("demo_user", source(1), FIFTEEN_MINUTES)
                    .is_some()
            );
        }
        assert!(
            throttle
                .begin("demo_user", source(1), FIFTEEN_MINUTES + 1)
                .is_none()
        );
    }

    /// Counted before the hash: the sixth of six concurrent guesses is
    /// refused even though none of the first five has finished.
    #[test]
    fn as16_attempts_count_before_the_password_is_checked() {
        let throttle = Throttle::default();
        let started: Vec<_> = (0..MAX_FAILURES_PER_USER)
            .map(|_| throttle.begin("demo_user", source(1), 0))
            .collect();
        assert!(started.iter().all(Option::is_some));
        assert!(throttle.begin("demo_user", source(1), 0).is_none());
    }

    /// A success gives its attempt back and clears the name's failures.
    #[test]
    fn as11_a_success_clears_the_name() {
        let throttle = Throttle::default();
        for _ in 0..MAX_FAILURES_PER_USER - 1 {
            let _ = throttle.begin("demo_user", source(1), 0);
        }
        let last = throttle.begin("demo_user", source(1), 0).expect("allowed");
        throttle.succeeded(last);
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(throttle.begin("demo_user", source(1), 0).is_some());
        }
    }

    /// A success gives back its address's attempt too: nineteen failures
    /// and a success from one address leave room for one more failure.
    #[test]
    fn as11_a_success_gives_its_address_attempt_back() {
        let throttle = Throttle::default();
        for n in 0..MAX_FAILURES_PER_ADDRESS - 1 {
            assert!(throttle.begin(&format!("user{n}"), source(5), 0).is_some());
        }
        let success = throttle.begin("demo_user", source(5), 0).expect("allowed");
        throttle.succeeded(success);
        assert!(throttle.begin("one-more", source(5), 0).is_some());
        assert!(throttle.begin("too-many", source(5), 0).is_none());
    }

    /// A full table of addresses makes room only from windows that have
    /// ended, and only for a new address: a known one sweeps nothing.
    #[test]
    fn as16_a_full_address_table_makes_room_from_ended_windows() {
        let throttle = Throttle::default();
        let address = |n: u32| Source::of(std::net::Ipv4Addr::from(0x0a00_0000 + n).into());
        let _ = throttle.begin("first", address(0), 0);
        let _ = throttle.begin("second", address(1), 0);
        // Both windows have ended; a known address comes back: no sweep.
        let _ = throttle.begin("first", address(0), WINDOW_SECONDS);
        assert_eq!(throttle.tracked_addresses(), 2);
        // Not full: a new address sweeps nothing either.
        let _ = throttle.begin("third", address(2), WINDOW_SECONDS);
        assert_eq!(throttle.tracked_addresses(), 3);

        let throttle = Throttle::default();
        // Until full: a name whose bucket is used up is refused before its
        // address is counted.
        let mut n = 0;
        while throttle.tracked_addresses() < MAX_TRACKED_ADDRESSES {
            let _ = throttle.begin(&format!("name{n}"), address(n), 0);
            n += 1;
        }
        // Full, and every window has ended: a new address is counted, and
        // is refused once it has used its failures.
        let later = WINDOW_SECONDS;
        let newcomer = source(7);
        for n in 0..MAX_FAILURES_PER_ADDRESS {
            assert!(
                throttle
                    .begin(&format!("guess{n}"), newcomer, later)
                    .is_some()
            );
        }
        assert!(throttle.begin("one-too-many", newcomer, later).is_none());
        assert!(throttle.tracked_addresses() < MAX_TRACKED_ADDRESSES);
    }

    /// The minute's sweep drops the address windows that have ended, and
    /// only those.
    #[test]
    fn as16_the_sweep_drops_ended_windows() {
        let throttle = Throttle::default();
        let start = 1_800_000_000;
        let _ = throttle.begin("first", source(1), start);
        let _ = throttle.begin("second", source(2), start + 10);
        throttle.sweep(start + WINDOW_SECONDS - 1);
        assert_eq!(throttle.tracked_addresses(), 2);
        throttle.sweep(start + WINDOW_SECONDS);
        assert_eq!(throttle.tracked_addresses(), 1);
        throttle.sweep(start + WINDOW_SECONDS + 10);
        assert_eq!(throttle.tracked_addresses(), 0);
    }

    /// A flood of unknown names from many addresses neither grows memory
    /// past its bound nor evicts the live window of a guesser.
    #[test]
    fn as16_unknown_names_and_addresses_cannot_grow_it_or_evict_a_live_window() {
        let throttle = Throttle::default();
        for n in 0..MAX_FAILURES_PER_ADDRESS {
            assert!(throttle.begin(&format!("guess{n}"), source(9), 0).is_some());
        }
        for n in 0..(MAX_TRACKED_ADDRESSES as u32 + 5_000) {
            let address = Source::of(std::net::Ipv4Addr::from(0x0a00_0000 + n).into());
            let _ = throttle.begin(&format!("name{n}"), address, 1);
        }
        assert!(throttle.tracked_addresses() <= MAX_TRACKED_ADDRESSES);
        assert!(
            throttle.begin("another", source(9), 2).is_none(),
            "the guesser's window survived the flood"
        );
    }
}
