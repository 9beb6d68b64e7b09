//! 登录限速与锁定: failed-login throttling and lockout, per account and per source address
//! (issue 9).
//!
//! Only *failed* logins count, so that a street office where many workers log in through one
//! NAT address is not slowed by their successful logins (a request-rate limiter such as
//! `tower_governor` counts every request and cannot tell; see `docs/adr/0005-*.md`). For each
//! key (the lower-cased user name, and the source address), from the `free`-th failure on the
//! next attempt must wait `base_delay · 2^(failures − free)` (capped at the lockout), and at
//! `lock_after` failures the key is locked for `lockout`. Attempts made while waiting or
//! locked are refused with 429 (`login_throttled` / `login_locked`, `Retry-After`) *before*
//! the password is checked, so a locked account cannot be guessed at. The address limits are
//! [`Limits::address_factor`] times the account limits. A successful login clears its
//! account's failures (not its address's). State is in memory: a restart forgets it (the
//! cost of an attacker restarting the server is far higher than waiting); memory is bounded by
//! pruning keys idle for longer than the lockout.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::error::ApiError;

/// The knobs (from [`crate::Config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures allowed without delay.
    pub free: u32,
    /// Delay after the first counted failure, ms (doubles per failure).
    pub base_delay_ms: u64,
    /// Failures that lock the key.
    pub lock_after: u32,
    /// How long a lock lasts, ms.
    pub lockout_ms: u64,
    /// Address limits = account limits × this.
    pub address_factor: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    failures: u32,
    last_failure: i64,
    not_before: i64,
    locked_until: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

/// Most keys kept before idle ones are pruned.
const PRUNE_ABOVE: usize = 10_000;

/// The failed-login state of the server.
#[derive(Debug)]
pub struct LoginThrottle {
    limits: Limits,
    slots: Mutex<HashMap<Key, Slot>>,
}

/// What happened to an attempt's keys when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Nothing new.
    Counted,
    /// This failure locked the account.
    AccountLocked,
}

impl LoginThrottle {
    /// A throttle with these limits.
    pub fn new(limits: Limits) -> LoginThrottle {
        LoginThrottle {
            limits,
            slots: Mutex::default(),
        }
    }

    fn keys(username: &str, addr: Option<IpAddr>) -> Vec<(Key, u32)> {
        let mut keys = vec![(Key::Account(username.trim().to_lowercase()), 1)];
        if let Some(a) = addr {
            keys.push((Key::Address(a), 0));
        }
        keys
    }

    fn factor(&self, is_account: u32) -> u32 {
        if is_account == 1 {
            1
        } else {
            self.limits.address_factor.max(1)
        }
    }

    /// May this attempt be checked now? `Err` is the typed 429 to answer.
    pub fn check(&self, username: &str, addr: Option<IpAddr>, now_ms: i64) -> Result<(), ApiError> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait: Option<ApiError> = None;
        for (key, _) in Self::keys(username, addr) {
            let Some(s) = slots.get(&key) else { continue };
            let secs = |until: i64| ((until - now_ms).max(0) as u64).div_ceil(1000).max(1);
            if s.locked_until > now_ms {
                return Err(ApiError::LoginLocked {
                    retry_after_secs: secs(s.locked_until),
                });
            }
            if s.not_before > now_ms && wait.is_none() {
                wait = Some(ApiError::LoginThrottled {
                    retry_after_secs: secs(s.not_before),
                });
            }
        }
        wait.map_or(Ok(()), Err)
    }

    /// Count a failed attempt.
    pub fn failed(&self, username: &str, addr: Option<IpAddr>, now_ms: i64) -> AfterFailure {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() > PRUNE_ABOVE {
            let idle = self.limits.lockout_ms as i64 * self.limits.address_factor.max(1) as i64;
            slots.retain(|_, s| s.locked_until > now_ms || now_ms - s.last_failure < idle);
        }
        let mut out = AfterFailure::Counted;
        for (key, is_account) in Self::keys(username, addr) {
            let f = self.factor(is_account);
            let s = slots.entry(key).or_default();
            if s.locked_until != 0 && s.locked_until <= now_ms {
                // A lock that ended starts the count again.
                *s = Slot::default();
            }
            s.failures += 1;
            s.last_failure = now_ms;
            let free = self.limits.free.saturating_mul(f);
            if s.failures >= self.limits.lock_after.saturating_mul(f) {
                s.locked_until = now_ms + self.limits.lockout_ms as i64;
                if is_account == 1 {
                    out = AfterFailure::AccountLocked;
                }
            } else if s.failures >= free {
                let exp = (s.failures - free).min(20);
                let delay = self
                    .limits
                    .base_delay_ms
                    .saturating_mul(1 << exp)
                    .min(self.limits.lockout_ms);
                s.not_before = now_ms + delay as i64;
            }
        }
        out
    }

    /// A successful login clears its account's failures.
    pub fn succeeded(&self, username: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.remove(&Key::Account(username.trim().to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        free: 5,
        base_delay_ms: 1_000,
        lock_after: 10,
        lockout_ms: 15 * 60_000,
        address_factor: 4,
    };

    #[test]
    fn slows_then_locks_then_forgets() {
        let t = LoginThrottle::new(L);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mut now = 1_000_000;
        for _ in 0..4 {
            assert!(t.check("grid01", Some(ip), now).is_ok());
            t.failed("grid01", Some(ip), now);
        }
        assert!(t.check("grid01", Some(ip), now).is_ok(), "4 failures cost nothing");
        t.failed("Grid01", Some(ip), now);
        assert!(matches!(
            t.check("grid01", Some(ip), now),
            Err(ApiError::LoginThrottled { retry_after_secs: 1 })
        ));
        // Exponential: 1 s, 2 s, 4 s, 8 s, 16 s, then locked at the 10th failure.
        for (i, wait) in [2_000, 4_000, 8_000, 16_000].into_iter().enumerate() {
            now += 1_000 << i;
            assert!(t.check("grid01", Some(ip), now).is_ok());
            t.failed("grid01", Some(ip), now);
            assert!(matches!(
                t.check("grid01", None, now + wait - 1),
                Err(ApiError::LoginThrottled { .. })
            ));
        }
        now += 16_000;
        assert_eq!(t.failed("grid01", Some(ip), now), AfterFailure::AccountLocked);
        assert!(matches!(
            t.check("grid01", None, now + 60_000),
            Err(ApiError::LoginLocked { retry_after_secs: 840 })
        ));
        // Another account from the same address is not locked (address limits are 4×).
        assert!(t.check("grid02", Some(ip), now).is_ok());
        assert!(t.check("grid01", None, now + 15 * 60_000).is_ok(), "the lock ends");
        t.succeeded("grid01");
        assert!(t.check("grid01", None, now + 15 * 60_000).is_ok());
    }

    #[test]
    fn an_address_trying_many_accounts_is_locked() {
        let t = LoginThrottle::new(Limits { base_delay_ms: 0, ..L });
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        for i in 0..40 {
            assert!(t.check(&format!("user{i}"), Some(ip), 5).is_ok(), "{i}");
            t.failed(&format!("user{i}"), Some(ip), 5);
        }
        assert!(matches!(
            t.check("someone", Some(ip), 5),
            Err(ApiError::LoginLocked { .. })
        ));
        assert!(t.check("someone", Some("10.0.0.3".parse().unwrap()), 5).is_ok());
    }
}
