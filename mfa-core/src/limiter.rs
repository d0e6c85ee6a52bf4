//! Attempt limits: per challenge (5 wrong codes), per account (growing
//! back-off, then a hard stop), and send caps against SMS pumping.
//!
//! The rules are pure functions of counts; the counts live in the store and
//! change atomically there (see [`MfaStore::reserve_attempt`](crate::MfaStore::reserve_attempt)).

use std::time::Duration;

use crate::clock::Timestamp;

/// Per-account back-off and hard stop.
///
/// Every verification *reserves* an attempt before the code is checked
/// (counted as a failure until proven otherwise), so parallel guesses can
/// never overrun the count; a success clears it.
///
/// ```
/// use mfa_core::LockoutRules;
/// use std::time::Duration;
/// let r = LockoutRules::default();
/// assert_eq!(r.lock_after(4), None);
/// assert_eq!(r.lock_after(5), Some(Duration::from_secs(30)));
/// assert_eq!(r.lock_after(6), Some(Duration::from_secs(60)));
/// assert_eq!(r.lock_after(40), Some(Duration::from_secs(3600)));
/// assert!(r.is_hard_stopped(100));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutRules {
    /// Consecutive failures allowed before any back-off (default 4: the
    /// fifth failure starts it).
    pub free_failures: u32,
    /// The first back-off (default 30 s); it doubles with each further failure.
    pub base: Duration,
    /// The longest back-off (default 1 h).
    pub max: Duration,
    /// Consecutive failures after which only an administrator can unlock
    /// (default 100, NIST SP 800-63B §5.2.2).
    pub hard_stop: u32,
}

impl Default for LockoutRules {
    fn default() -> Self {
        LockoutRules {
            free_failures: 4,
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            hard_stop: 100,
        }
    }
}

impl LockoutRules {
    /// The back-off that starts after `failures` consecutive failures:
    /// `min(base * 2^(failures - free_failures - 1), max)`, none while
    /// `failures <= free_failures`. (The exponent is capped at 30; stores
    /// implement exactly this formula in their atomic update.)
    pub fn lock_after(&self, failures: u32) -> Option<Duration> {
        if failures <= self.free_failures {
            return None;
        }
        let shift = (failures - self.free_failures - 1).min(30);
        let ms = (self.base.as_millis() as u64).saturating_mul(1u64 << shift);
        Some(Duration::from_millis(ms).min(self.max))
    }

    /// True once `failures` reached the hard stop.
    pub fn is_hard_stopped(&self, failures: u32) -> bool {
        failures >= self.hard_stop
    }
}

/// The answer of [`MfaStore::reserve_attempt`](crate::MfaStore::reserve_attempt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Gate {
    /// The attempt is allowed and counted; `failures` includes it.
    Open {
        /// Consecutive failures including this attempt.
        failures: u32,
    },
    /// The account is locked: until a time, or (`None`) until an admin unlocks.
    Locked {
        /// End of the back-off; `None` for the hard stop.
        until: Option<Timestamp>,
    },
}

/// Caps on codes sent, per account and per destination, in a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendRules {
    /// The sliding window (default 1 h).
    pub window: Duration,
    /// Codes per account per window (default 5).
    pub per_account: u32,
    /// Codes per destination (phone number, address) per window (default 5).
    pub per_destination: u32,
}

impl Default for SendRules {
    fn default() -> Self {
        SendRules {
            window: Duration::from_secs(3600),
            per_account: 5,
            per_destination: 5,
        }
    }
}

/// The answer of [`MfaStore::record_send`](crate::MfaStore::record_send).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum SendDecision {
    /// Under both caps; the send is recorded.
    Allowed,
    /// A cap is reached; nothing recorded. Try again after `retry_after`.
    Refused {
        /// When the oldest counted send leaves the window.
        retry_after: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_from_30s_to_one_hour() {
        let r = LockoutRules::default();
        let secs: Vec<u64> = (5..=13).map(|n| r.lock_after(n).unwrap().as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(r.lock_after(u32::MAX), Some(Duration::from_secs(3600)));
        assert!(!r.is_hard_stopped(99));
    }
}
