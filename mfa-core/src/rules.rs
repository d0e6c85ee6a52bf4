//! The decisions every store makes, written once.
//!
//! Each function here is pure: it takes the values a store read (counts,
//! timestamps, the rules) and returns what to do. A store keeps only the
//! atomic read-modify-write around it: [`MemoryStore`](crate::MemoryStore)
//! under its mutex, the SQL stores inside their transaction, or, where a
//! rule has to live in one SQL statement to stay atomic, in SQL that a
//! property test in `mfa-store-sqlx` holds against the function here.
//!
//! | store method | rule |
//! | --- | --- |
//! | [`reserve_attempt`](crate::MfaStore::reserve_attempt) | [`reserve`], [`lockout_refusal`] |
//! | [`take_attempt`](crate::MfaStore::take_attempt) | [`attempt`] |
//! | [`replace_challenge`](crate::MfaStore::replace_challenge) | [`resend`], [`challenge_is_live`] |
//! | [`record_send`](crate::MfaStore::record_send) | [`send`], [`send_window_start`] |
//! | [`activate_factor`](crate::MfaStore::activate_factor) | [`may_activate`] |

use std::time::Duration;

use crate::clock::Timestamp;
use crate::limiter::{Gate, LockoutRules, SendDecision, SendRules};
use crate::store::ReplaceOutcome;

// ----- account lock-out ----------------------------------------------

/// Why an account attempt is refused right now, if it is: the hard stop
/// (`failures >= rules.hard_stop`: `Locked { until: None }`) first, then the
/// back-off (`now < locked_until`).
///
/// ```
/// use mfa_core::{Gate, LockoutRules, Timestamp, rules};
/// let r = LockoutRules::default();
/// let now = Timestamp::from_unix_secs(1_000);
/// assert_eq!(rules::lockout_refusal(3, None, now, &r), None);
/// assert_eq!(rules::lockout_refusal(100, None, now, &r), Some(Gate::Locked { until: None }));
/// let until = Timestamp::from_unix_secs(1_030);
/// assert_eq!(rules::lockout_refusal(5, Some(until), now, &r), Some(Gate::Locked { until: Some(until) }));
/// assert_eq!(rules::lockout_refusal(5, Some(until), until, &r), None);
/// ```
pub fn lockout_refusal(
    failures: u32,
    locked_until: Option<Timestamp>,
    now: Timestamp,
    rules: &LockoutRules,
) -> Option<Gate> {
    if rules.is_hard_stopped(failures) {
        return Some(Gate::Locked { until: None });
    }
    locked_until
        .filter(|&until| now < until)
        .map(|until| Gate::Locked { until: Some(until) })
}

/// What [`reserve`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Reservation {
    /// Refused; write nothing.
    Refused(Gate),
    /// Allowed: write these as the account's new `failures` and
    /// `locked_until` (`None`: no back-off).
    Counted {
        /// The new consecutive-failure count (this attempt included).
        failures: u32,
        /// The new back-off end.
        locked_until: Option<Timestamp>,
    },
}

impl Reservation {
    /// The gate to answer with.
    pub fn gate(self) -> Gate {
        match self {
            Reservation::Refused(gate) => gate,
            Reservation::Counted { failures, .. } => Gate::Open { failures },
        }
    }
}

/// The lock-out gate of [`MfaStore::reserve_attempt`](crate::MfaStore::reserve_attempt):
/// refuse while hard-stopped or backed off ([`lockout_refusal`]); otherwise
/// count one more failure, with `locked_until = now +
/// rules.lock_after(failures)` (none while under the free failures).
///
/// ```
/// use mfa_core::{Gate, LockoutRules, Timestamp, rules::{self, Reservation}};
/// use std::time::Duration;
/// let r = LockoutRules::default();
/// let now = Timestamp::from_unix_secs(1_000);
/// assert_eq!(rules::reserve(0, None, now, &r), Reservation::Counted { failures: 1, locked_until: None });
/// // The fifth failure starts a 30 s back-off...
/// let fifth = rules::reserve(4, None, now, &r);
/// assert_eq!(fifth, Reservation::Counted { failures: 5, locked_until: Some(now + Duration::from_secs(30)) });
/// assert_eq!(fifth.gate(), Gate::Open { failures: 5 });
/// // ...during which nothing is counted.
/// let until = now + Duration::from_secs(30);
/// assert_eq!(rules::reserve(5, Some(until), now, &r).gate(), Gate::Locked { until: Some(until) });
/// ```
pub fn reserve(
    failures: u32,
    locked_until: Option<Timestamp>,
    now: Timestamp,
    rules: &LockoutRules,
) -> Reservation {
    if let Some(gate) = lockout_refusal(failures, locked_until, now, rules) {
        return Reservation::Refused(gate);
    }
    let failures = failures.saturating_add(1);
    Reservation::Counted {
        failures,
        locked_until: rules.lock_after(failures).map(|d| now + d),
    }
}

// ----- code challenges ------------------------------------------------

/// A challenge is live (can be answered, blocks a resend inside the gap)
/// while unused and `now < expires_at`.
///
/// ```
/// use mfa_core::{Timestamp, rules};
/// let exp = Timestamp::from_unix_secs(300);
/// assert!(rules::challenge_is_live(false, exp, Timestamp::from_unix_secs(299)));
/// assert!(!rules::challenge_is_live(false, exp, exp));
/// assert!(!rules::challenge_is_live(true, exp, Timestamp::from_unix_secs(0)));
/// ```
pub fn challenge_is_live(used: bool, expires_at: Timestamp, now: Timestamp) -> bool {
    !used && now < expires_at
}

/// What [`attempt`] decided about one challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum AttemptRule {
    /// Count the attempt (`attempts + 1`) and hand the challenge out.
    Count,
    /// Past `expires_at`: nothing counted.
    Expired,
    /// Used or out of attempts: nothing counted.
    Closed,
}

/// Attempt classification of [`MfaStore::take_attempt`](crate::MfaStore::take_attempt)
/// for a challenge that exists: `Closed` when used or when `attempts >=
/// max_attempts` (checked first), else `Expired` when `now >= expires_at`,
/// else `Count`. (No challenge at all is `AttemptOutcome::NotFound`.)
///
/// ```
/// use mfa_core::{Timestamp, rules::{self, AttemptRule}};
/// let exp = Timestamp::from_unix_secs(300);
/// let now = Timestamp::from_unix_secs(10);
/// assert_eq!(rules::attempt(false, 4, exp, now, 5), AttemptRule::Count);
/// assert_eq!(rules::attempt(false, 5, exp, now, 5), AttemptRule::Closed);
/// assert_eq!(rules::attempt(true, 0, exp, now, 5), AttemptRule::Closed);
/// assert_eq!(rules::attempt(false, 0, exp, exp, 5), AttemptRule::Expired);
/// // Out of attempts wins over expired.
/// assert_eq!(rules::attempt(false, 5, exp, exp, 5), AttemptRule::Closed);
/// ```
pub fn attempt(
    used: bool,
    attempts: u32,
    expires_at: Timestamp,
    now: Timestamp,
    max_attempts: u32,
) -> AttemptRule {
    if used || attempts >= max_attempts {
        AttemptRule::Closed
    } else if now >= expires_at {
        AttemptRule::Expired
    } else {
        AttemptRule::Count
    }
}

/// The user's live challenge for a purpose, as [`resend`] needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveChallenge {
    /// Attempts made on it.
    pub attempts: u32,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
}

/// The resend decision of [`MfaStore::replace_challenge`](crate::MfaStore::replace_challenge),
/// given the newest live challenge for the purpose (if any) and the new
/// challenge's issue time `now`:
/// - `TooSoon` while `now < live.created_at + resend_gap`;
/// - `Exhausted` when the live one has `max_attempts` attempts (a resend
///   never resets the count);
/// - otherwise `Replaced`, carrying the live one's attempts over (0 when
///   there is none): the store then removes the old challenges and inserts
///   the new one with that count.
///
/// ```
/// use mfa_core::{Timestamp, rules::{self, LiveChallenge}};
/// use mfa_core::store::ReplaceOutcome;
/// use std::time::Duration;
/// let t0 = Timestamp::from_unix_secs(1_000);
/// let gap = Duration::from_secs(30);
/// let live = LiveChallenge { attempts: 2, created_at: t0, expires_at: t0 + Duration::from_secs(300) };
/// assert_eq!(rules::resend(None, t0, gap, 5), ReplaceOutcome::Replaced { attempts: 0 });
/// assert_eq!(
///     rules::resend(Some(live), t0 + Duration::from_secs(29), gap, 5),
///     ReplaceOutcome::TooSoon { retry_after: Duration::from_secs(1) }
/// );
/// assert_eq!(rules::resend(Some(live), t0 + gap, gap, 5), ReplaceOutcome::Replaced { attempts: 2 });
/// assert_eq!(rules::resend(Some(live), t0 + gap, gap, 2), ReplaceOutcome::Exhausted { until: live.expires_at });
/// ```
pub fn resend(
    live: Option<LiveChallenge>,
    now: Timestamp,
    resend_gap: Duration,
    max_attempts: u32,
) -> ReplaceOutcome {
    let Some(live) = live else {
        return ReplaceOutcome::Replaced { attempts: 0 };
    };
    let ready_at = live.created_at + resend_gap;
    if now < ready_at {
        return ReplaceOutcome::TooSoon {
            retry_after: ready_at.saturating_since(now),
        };
    }
    if live.attempts >= max_attempts {
        return ReplaceOutcome::Exhausted {
            until: live.expires_at,
        };
    }
    ReplaceOutcome::Replaced {
        attempts: live.attempts,
    }
}

// ----- send caps --------------------------------------------------------

/// The start of the sliding send window ending at `now`: a send at `t`
/// counts while `t > send_window_start(now, rules)`.
///
/// ```
/// use mfa_core::{SendRules, Timestamp, rules};
/// let now = Timestamp::from_unix_secs(7_200);
/// assert_eq!(rules::send_window_start(now, &SendRules::default()), Timestamp::from_unix_secs(3_600));
/// ```
pub fn send_window_start(now: Timestamp, rules: &SendRules) -> Timestamp {
    now - rules.window
}

/// The sends counted in the window for one key (the account, or the
/// destination).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendCount {
    /// How many sends are in the window.
    pub count: u64,
    /// The oldest of them.
    pub oldest: Option<Timestamp>,
}

/// The send caps of [`MfaStore::record_send`](crate::MfaStore::record_send):
/// `Allowed` (the store then records one send) while both the account's and
/// the destination's counts in the window are under their caps; otherwise
/// `Refused`, retrying when the oldest counted send of every full cap has
/// left the window.
///
/// ```
/// use mfa_core::{SendDecision, SendRules, Timestamp, rules::{self, SendCount}};
/// use std::time::Duration;
/// let r = SendRules { window: Duration::from_secs(3600), per_account: 2, per_destination: 5 };
/// let now = Timestamp::from_unix_secs(10_000);
/// let one = SendCount { count: 1, oldest: Some(now) };
/// assert_eq!(rules::send(one, one, now, &r), SendDecision::Allowed);
/// let full = SendCount { count: 2, oldest: Some(now - Duration::from_secs(600)) };
/// assert_eq!(
///     rules::send(full, one, now, &r),
///     SendDecision::Refused { retry_after: Duration::from_secs(3000) }
/// );
/// ```
pub fn send(
    by_account: SendCount,
    by_destination: SendCount,
    now: Timestamp,
    rules: &SendRules,
) -> SendDecision {
    let refused_after = |c: SendCount, cap: u32| {
        (c.count >= u64::from(cap)).then(|| (c.oldest.unwrap_or(now) + rules.window).saturating_since(now))
    };
    match refused_after(by_account, rules.per_account)
        .into_iter()
        .chain(refused_after(by_destination, rules.per_destination))
        .max()
    {
        Some(retry_after) => SendDecision::Refused { retry_after },
        None => SendDecision::Allowed,
    }
}

// ----- factor activation ------------------------------------------------

/// Whether [`MfaStore::activate_factor`](crate::MfaStore::activate_factor)
/// may turn a pending factor active: always when the enrolment was
/// authorised by a fresh second factor (`first == false`); when it began
/// without step-up because the user had no active factor (`first`), only
/// while the user still has no other active factor.
///
/// ```
/// use mfa_core::rules;
/// assert!(rules::may_activate(true, false));
/// assert!(!rules::may_activate(true, true));
/// assert!(rules::may_activate(false, true));
/// ```
pub fn may_activate(first: bool, other_active: bool) -> bool {
    !(first && other_active)
}
