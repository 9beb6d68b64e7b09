//! 密码哈希池: the bounded pool that checks login passwords (issues 16 and 24).
//!
//! Every login costs one Argon2id hash of `argon2_memory_kib` (19 MiB by default). Unbounded,
//! a few hundred concurrent logins took the server past 1 GiB, and glibc never gave the memory
//! back. Here:
//!
//! - At most `login_hash_threads` hashes run at once (0 = one per core), each on a tokio
//!   blocking thread (never on the async runtime's threads), each in a **preallocated** block of
//!   Argon2 memory ([`Hasher`]) that is reused from login to login: no 19 MiB allocation per
//!   login, so neither the peak nor the allocator's fragmentation grows with the load.
//! - Logins beyond those wait in a queue of at most `login_queue`, for at most
//!   `login_queue_timeout_ms`; past either the login is refused at once with
//!   `503 server_busy` and a `Retry-After` estimated from the queue and the measured time of
//!   a hash (plus jitter, so that a refused wave does not come back in step).
//! - A login for an unknown user name checks the password against a dummy hash made at start
//!   with the configured cost ([`Hasher::verify_login`]), in the same slot: the answer takes
//!   as long as a wrong password for a real account, so timing does not tell which names exist.
//!
//! The failed-login throttle ([`crate::throttle`]) is checked before a login queues (a
//! throttled attempt costs no slot) and again when it gets its slot.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

pub use crate::config::PoolLimits;

/// A worker's Argon2 memory, reused from hash to hash, and the dummy hash of unknown users.
pub struct Hasher {
    blocks: Vec<Block>,
    dummy: Arc<str>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").field("blocks", &self.blocks.len()).finish()
    }
}

fn params(memory_kib: u32, iterations: u32) -> ApiResult<Params> {
    Params::new(memory_kib, iterations, 1, None).map_err(|e| ApiError::Internal(format!("argon2 parameters: {e}")))
}

impl Hasher {
    /// A hasher with memory for `memory_kib` KiB (written once, so it is resident from the
    /// start and the idle memory figure is honest) and no dummy hash yet.
    fn with_memory(memory_kib: u32) -> Hasher {
        Hasher {
            blocks: vec![Block::new(); memory_kib.max(8) as usize],
            dummy: Arc::from(""),
        }
    }

    /// A hasher of its own memory, outside any pool (admin commands, tests).
    pub fn standalone(memory_kib: u32, iterations: u32) -> ApiResult<Hasher> {
        let mut h = Hasher::with_memory(memory_kib);
        h.dummy = Arc::from(h.dummy_hash(memory_kib, iterations)?);
        Ok(h)
    }

    fn dummy_hash(&mut self, memory_kib: u32, iterations: u32) -> ApiResult<String> {
        let mut secret = [0u8; 24];
        rand::rngs::StdRng::from_os_rng().fill(&mut secret);
        self.hash(&hex::encode(secret), memory_kib, iterations)
    }

    /// The memory, grown if a stored hash needs more than the configured cost (a hash made
    /// before the cost was lowered); the growth is kept, bounded by the pool's size.
    fn memory(&mut self, params: &Params) -> &mut [Block] {
        let n = params.block_count();
        if self.blocks.len() < n {
            self.blocks.resize(n, Block::new());
        }
        &mut self.blocks[..n]
    }

    /// Hash a password with Argon2id into a PHC string, in this hasher's memory.
    pub fn hash(&mut self, password: &str, memory_kib: u32, iterations: u32) -> ApiResult<String> {
        let params = params(memory_kib, iterations)?;
        let mut salt = [0u8; 16];
        rand::rngs::StdRng::from_os_rng().fill(&mut salt);
        let salt_string = SaltString::encode_b64(&salt).map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut out = [0u8; 32];
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        argon
            .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, self.memory(&params))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let output = Output::new(&out).map_err(|e| ApiError::Internal(e.to_string()))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: (&params)
                .try_into()
                .map_err(|e: argon2::password_hash::Error| ApiError::Internal(e.to_string()))?,
            salt: Some(salt_string.as_salt()),
            hash: Some(output),
        };
        Ok(phc.to_string())
    }

    /// Check a password against a stored PHC string (its own algorithm, version and cost);
    /// `Err` when the string is not an Argon2 hash this code can check.
    fn try_verify(&mut self, password: &str, phc: &str) -> Result<bool, argon2::password_hash::Error> {
        use argon2::password_hash::Error as E;
        let hash = PasswordHash::new(phc)?;
        let algorithm = Algorithm::try_from(hash.algorithm)?;
        let version = hash.version.map(Version::try_from).transpose()?.unwrap_or_default();
        let params = Params::try_from(&hash)?;
        let expected = hash.hash.ok_or(E::Password)?;
        let mut salt = [0u8; 64];
        let salt = hash.salt.ok_or(E::Password)?.decode_b64(&mut salt)?;
        let mut out = vec![0u8; expected.len()];
        Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            self.memory(&params),
        )?;
        // `Output`'s equality is constant-time.
        Ok(Output::new(&out)? == expected)
    }

    /// Check a password against a stored PHC string.
    pub fn verify(&mut self, password: &str, phc: &str) -> bool {
        self.try_verify(password, phc).unwrap_or(false)
    }

    /// A login's check: against the account's hash, or, for an unknown user name (`None`) or
    /// a hash that cannot be read, against the dummy hash, and then `false`: either way one
    /// hash of the configured cost is computed, so the time does not tell the cases apart.
    pub fn verify_login(&mut self, password: &str, phc: Option<&str>) -> bool {
        if let Some(Ok(ok)) = phc.map(|p| self.try_verify(password, p)) {
            return ok;
        }
        let dummy = self.dummy.clone();
        let _ = self.try_verify(password, &dummy);
        false
    }
}

struct Inner {
    limits: PoolLimits,
    threads: usize,
    permits: Arc<Semaphore>,
    /// Logins admitted: running plus waiting.
    admitted: AtomicUsize,
    /// The hashers not in use (one per permit).
    free: Mutex<Vec<Hasher>>,
    dummy: Arc<str>,
    /// Moving average of a slot's time, µs (for `Retry-After`).
    avg_us: AtomicU64,
}

/// The login hashing pool (in [`crate::http::AppState`]).
#[derive(Clone)]
pub struct HashPool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("limits", &self.inner.limits)
            .field("threads", &self.inner.threads)
            .finish()
    }
}

/// A place among the admitted logins; given back when dropped (also when the request is
/// abandoned while it waits).
struct Ticket(Arc<Inner>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A hasher lent to one job; handed back to the pool when dropped (also on a panic).
struct Lease {
    hasher: Option<Hasher>,
    inner: Arc<Inner>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(h) = self.hasher.take() {
            self.inner.free.lock().unwrap_or_else(|e| e.into_inner()).push(h);
        }
    }
}

impl HashPool {
    /// Allocate the pool's memory (threads × `memory_kib` KiB) and make the dummy hash.
    pub fn new(limits: PoolLimits) -> ApiResult<HashPool> {
        let threads = if limits.threads > 0 {
            limits.threads
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        };
        let mut first = Hasher::with_memory(limits.memory_kib);
        let dummy: Arc<str> = Arc::from(first.dummy_hash(limits.memory_kib, limits.iterations)?);
        first.dummy = dummy.clone();
        let mut free = vec![first];
        for _ in 1..threads {
            let mut h = Hasher::with_memory(limits.memory_kib);
            h.dummy = dummy.clone();
            free.push(h);
        }
        Ok(HashPool {
            inner: Arc::new(Inner {
                limits,
                threads,
                permits: Arc::new(Semaphore::new(threads)),
                admitted: AtomicUsize::new(0),
                free: Mutex::new(free),
                dummy,
                avg_us: AtomicU64::new(0),
            }),
        })
    }

    /// Hashes running at once.
    pub fn threads(&self) -> usize {
        self.inner.threads
    }

    /// Logins running or waiting now.
    pub fn admitted(&self) -> usize {
        self.inner.admitted.load(Ordering::SeqCst)
    }

    /// The `503 server_busy` answer: wait about as long as the queue takes to drain, plus up
    /// to as much again at random.
    fn busy(&self) -> ApiError {
        let i = &self.inner;
        let avg_us = i.avg_us.load(Ordering::Relaxed).max(1_000);
        let ahead = i.admitted.load(Ordering::SeqCst).max(1) as u64;
        let drain_secs = (ahead * avg_us / i.threads.max(1) as u64)
            .div_ceil(1_000_000)
            .clamp(1, 30);
        let jitter = rand::rngs::StdRng::from_os_rng().random_range(0..=drain_secs);
        ApiError::ServerBusy {
            retry_after_secs: drain_secs + jitter,
        }
    }

    /// Run `job` (a login, a password change) with a hasher of the pool, on a blocking thread,
    /// once a slot is free. `503 server_busy` at once when the queue is full, or when no slot
    /// came free within the queue's time limit.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Hasher) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let i = &self.inner;
        let before = i.admitted.fetch_add(1, Ordering::SeqCst);
        let ticket = Ticket(i.clone());
        if before >= i.threads + i.limits.queue {
            let e = self.busy();
            drop(ticket);
            return Err(e);
        }
        let permit = match tokio::time::timeout(i.limits.queue_timeout, i.permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => return Err(self.busy()),
        };
        let inner = i.clone();
        tokio::task::spawn_blocking(move || {
            let _ticket = ticket;
            let _permit = permit;
            let hasher = inner.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
            // A permit always finds a hasher; should one have been lost, make another.
            let hasher = match hasher {
                Some(h) => h,
                None => {
                    let mut h = Hasher::with_memory(inner.limits.memory_kib);
                    h.dummy = inner.dummy.clone();
                    h
                }
            };
            let mut lease = Lease {
                hasher: Some(hasher),
                inner: inner.clone(),
            };
            let start = Instant::now();
            let out = job(lease.hasher.as_mut().expect("leased hasher"));
            let took = start.elapsed().as_micros().min(u64::MAX as u128) as u64;
            let old = inner.avg_us.load(Ordering::Relaxed);
            let new = if old == 0 { took } else { (old * 7 + took) / 8 };
            inner.avg_us.store(new, Ordering::Relaxed);
            out
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const KIB: u32 = 64;

    fn limits(threads: usize, queue: usize, timeout_ms: u64) -> PoolLimits {
        PoolLimits {
            threads,
            queue,
            queue_timeout: Duration::from_millis(timeout_ms),
            memory_kib: KIB,
            iterations: 1,
        }
    }

    #[test]
    fn hashes_verify_with_the_argon2_crate_and_back() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut h = Hasher::standalone(KIB, 1).unwrap();
        let phc = h.hash("秘密-123", KIB, 1).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        // Our hash checks with the crate's own verifier, and the crate's hash with ours.
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password("秘密-123".as_bytes(), &parsed)
                .is_ok()
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params(128, 2).unwrap())
            .hash_password(b"another one", &salt)
            .unwrap()
            .to_string();
        assert!(
            h.verify("another one", &theirs),
            "a hash of a higher cost grows the memory"
        );
        assert!(h.blocks.len() >= 128);
        assert!(!h.verify("another two", &theirs));
        assert!(h.verify("秘密-123", &phc));
        assert!(!h.verify("秘密-124", &phc));
        assert!(!h.verify("x", "not a hash"));
        // Unknown users and unreadable hashes are never let in.
        assert!(!h.verify_login("秘密-123", None));
        assert!(!h.verify_login("秘密-123", Some("not a hash")));
        assert!(h.verify_login("秘密-123", Some(&phc)));
        assert!(!h.verify_login("wrong", Some(&phc)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_pool_answers_busy_and_frees_its_places() {
        let pool = HashPool::new(limits(1, 1, 5_000)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        // One running (held until told), one waiting: the third is refused at once.
        let held = {
            let p = pool.clone();
            let rx = rx.clone();
            tokio::spawn(async move {
                p.run(move |_| {
                    let _ = rx.lock().unwrap().recv();
                    Ok(1)
                })
                .await
            })
        };
        while pool.admitted() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let waiting = {
            let p = pool.clone();
            tokio::spawn(async move { p.run(|h| Ok(h.verify_login("x", None))).await })
        };
        while pool.admitted() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        match pool.run(|_| Ok(())).await {
            Err(ApiError::ServerBusy { retry_after_secs }) => assert!(retry_after_secs >= 1),
            other => panic!("expected server_busy, got {other:?}"),
        }
        tx.send(()).unwrap();
        assert_eq!(held.await.unwrap().unwrap(), 1);
        assert!(!waiting.await.unwrap().unwrap());
        assert_eq!(pool.admitted(), 0, "places are given back");
        assert_eq!(pool.inner.free.lock().unwrap().len(), 1, "the hasher is given back");
        // A job's error and a job's panic give the place and the hasher back too.
        assert!(
            pool.run(|_| -> ApiResult<()> { Err(ApiError::BadCredentials) })
                .await
                .is_err()
        );
        assert!(pool.run(|_| -> ApiResult<()> { panic!("job panicked") }).await.is_err());
        assert_eq!(pool.admitted(), 0);
        assert_eq!(pool.inner.free.lock().unwrap().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_login_that_waits_too_long_is_refused() {
        let pool = HashPool::new(limits(1, 10, 50)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let held = {
            let p = pool.clone();
            tokio::spawn(async move {
                p.run(move |_| {
                    let _ = rx.recv();
                    Ok(())
                })
                .await
            })
        };
        while pool.admitted() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let start = Instant::now();
        let r = pool.run(|_| Ok(())).await;
        assert!(matches!(r, Err(ApiError::ServerBusy { .. })), "{r:?}");
        assert!(start.elapsed() >= Duration::from_millis(50));
        tx.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert_eq!(pool.admitted(), 0);
    }
}
