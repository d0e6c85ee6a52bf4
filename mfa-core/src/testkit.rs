//! The store conformance suite: every guarantee of [`MfaStore`], including
//! under concurrency, written once and run by every store (MemoryStore
//! here, SQLite/PostgreSQL/MySQL in `mfa-store-sqlx`).
//!
//! Use it with [`store_conformance_tests!`](crate::store_conformance_tests),
//! giving an async function that makes a fresh, empty store:
//!
//! ```ignore
//! async fn fresh() -> mfa_core::MemoryStore { mfa_core::MemoryStore::new() }
//! mfa_core::store_conformance_tests!(fresh);
//! ```
//!
//! Each check panics with a message naming the broken guarantee.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::crypto::{KeyedHash, Sealed, ct_eq};
use crate::factor::{FactorKind, FactorState, Purpose};
use crate::ids::{ChallengeId, DeviceId, FactorId, RecoveryId, UserId};
use crate::limiter::{Gate, LockoutRules, SendDecision, SendRules};
use crate::store::*;

/// How many tasks race in the concurrency checks.
pub const RACERS: usize = 64;

/// Fixtures: records with sensible defaults.
pub mod fixtures {
    use super::*;

    /// A fixed "now" for the checks.
    pub const T0: Timestamp = Timestamp::from_unix_millis(1_750_000_000_000);

    /// A user id unique to this process run.
    pub fn user(name: &str) -> UserId {
        UserId::new(format!("{name}-{}", FactorId::generate().unwrap().as_str())).unwrap()
    }

    /// A pending factor of `kind`.
    pub fn factor(user: &UserId, kind: FactorKind) -> FactorRecord {
        FactorRecord {
            id: FactorId::generate().unwrap(),
            user: user.clone(),
            kind,
            label: "label".into(),
            state: FactorState::Pending,
            secret: (kind == FactorKind::Totp).then(|| Sealed(vec![1, 0, 0, 0, 1, 9, 9, 9])),
            destination: kind.is_out_of_band().then(|| Sealed(vec![1, 0, 0, 0, 1, 8, 8])),
            masked: kind.is_out_of_band().then(|| "•••• ••• 123".to_owned()),
            destination_key: kind.is_out_of_band().then_some(KeyedHash([7; 32])),
            last_step: None,
            created_at: T0,
            confirmed_at: None,
            last_used_at: None,
        }
    }

    /// A challenge through `factor` for `purpose`, issued at `at`, valid 5 min.
    pub fn challenge(user: &UserId, factor: &FactorId, purpose: Purpose, at: Timestamp) -> ChallengeRecord {
        ChallengeRecord {
            id: ChallengeId::generate().unwrap(),
            user: user.clone(),
            factor: factor.clone(),
            kind: FactorKind::Sms,
            purpose,
            code_hash: KeyedHash(rand_bytes()),
            attempts: 0,
            created_at: at,
            expires_at: at + Duration::from_secs(300),
            used_at: None,
        }
    }

    /// A trusted device at `epoch`, issued at T0, valid 90 days.
    pub fn device(user: &UserId, epoch: u64) -> DeviceRecord {
        DeviceRecord {
            id: DeviceId::generate().unwrap(),
            user: user.clone(),
            token_hash: KeyedHash(rand_bytes()),
            label: "Firefox".into(),
            epoch,
            created_at: T0,
            last_used_at: None,
            expires_at: T0 + Duration::from_secs(90 * 86_400),
            revoked_at: None,
        }
    }

    /// A recovery code record.
    pub fn recovery(user: &UserId) -> RecoveryRecord {
        RecoveryRecord {
            id: RecoveryId::generate().unwrap(),
            user: user.clone(),
            fingerprint: KeyedHash(rand_bytes()),
            phc: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            created_at: T0,
            used_at: None,
        }
    }

    /// 32 random bytes.
    pub fn rand_bytes() -> [u8; 32] {
        crate::crypto::random_array().unwrap()
    }
}

use fixtures::*;

async fn race<S, F, Fut, T>(store: &Arc<S>, f: F) -> Vec<T>
where
    S: MfaStore,
    F: Fn(Arc<S>) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..RACERS).map(|_| tokio::spawn(f(store.clone()))).collect();
    let mut out = Vec::with_capacity(RACERS);
    for t in futures::future::join_all(tasks).await {
        out.push(t.expect("racing task panicked"));
    }
    out
}

macro_rules! checks {
    ($($(#[$doc:meta])* async fn $name:ident($s:ident) $body:block)*) => {
        /// The names of every check, in order.
        pub const CHECKS: &[&str] = &[$(stringify!($name)),*];

        $(
            $(#[$doc])*
            pub async fn $name<S: MfaStore>(store: S) {
                #[allow(unused_variables)]
                let $s = Arc::new(store);
                $body
            }
        )*

        /// Generates one `#[tokio::test]` per conformance check, each on a
        /// fresh store from `$fresh` (an async fn or closure returning one).
        ///
        /// `store_conformance_tests!(optional fresh)`: `fresh` returns an
        /// `Option` of a store, and `None` (a database the caller explicitly
        /// chose not to test, having said so loudly) makes each check
        /// return without running.
        #[macro_export]
        macro_rules! store_conformance_tests {
            (optional $fresh:expr) => {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $name() {
                        let Some(store) = ($fresh)().await else {
                            return;
                        };
                        $crate::testkit::$name(store).await;
                    }
                )*
            };
            ($fresh:expr) => {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $name() {
                        let store = ($fresh)().await;
                        $crate::testkit::$name(store).await;
                    }
                )*
            };
        }
    };
}

checks! {
    /// A user never seen has the default state.
    async fn unknown_user_has_default_state(s) {
        let st = s.user_state(&user("nobody")).await.unwrap();
        assert_eq!(st, UserState::default());
    }

    /// Factors round-trip exactly; a duplicate id is a conflict; another
    /// user cannot see them.
    async fn factors_round_trip_and_stay_with_their_user(s) {
        let u = user("a");
        let other = user("b");
        let mut totp = factor(&u, FactorKind::Totp);
        totp.last_step = Some(u64::from(u32::MAX) + 7);
        let sms = factor(&u, FactorKind::Sms);
        s.insert_factor(&totp).await.unwrap();
        s.insert_factor(&sms).await.unwrap();
        assert!(matches!(s.insert_factor(&totp).await, Err(crate::StoreError::Conflict(_))), "duplicate id accepted");
        assert!(s.factor(&u, &totp.id).await.unwrap().is_some_and(|f| same_factor(&f, &totp)));
        let all = s.factors(&u).await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().any(|f| same_factor(f, &totp)) && all.iter().any(|f| same_factor(f, &sms)));
        assert!(s.factor(&other, &totp.id).await.unwrap().is_none(), "factor visible to another user");
        assert!(s.factors(&other).await.unwrap().is_empty());
        assert!(!s.rename_factor(&other, &totp.id, "x").await.unwrap());
        assert!(!s.delete_factor(&other, &totp.id, T0).await.unwrap());
        assert!(!s.activate_factor(&other, &totp.id, T0, false).await.unwrap());
    }

    /// Activation happens once and clears `reenroll_required`.
    async fn activation_happens_once_and_satisfies_reenrolment(s) {
        let u = user("a");
        s.reset_user(&u, T0).await.unwrap();
        assert!(s.user_state(&u).await.unwrap().reenroll_required);
        let f = factor(&u, FactorKind::Totp);
        s.insert_factor(&f).await.unwrap();
        let at = T0 + Duration::from_secs(5);
        assert!(s.activate_factor(&u, &f.id, at, true).await.unwrap());
        assert!(!s.activate_factor(&u, &f.id, at, true).await.unwrap(), "activated twice");
        let got = s.factor(&u, &f.id).await.unwrap().unwrap();
        assert_eq!(got.state, FactorState::Active);
        assert_eq!(got.confirmed_at, Some(at));
        assert!(!s.user_state(&u).await.unwrap().reenroll_required);
    }

    /// Rename changes the label; delete removes the factor and its
    /// challenges, bumps the epoch and revokes devices.
    async fn deleting_a_factor_bumps_epoch_and_revokes_devices(s) {
        let u = user("a");
        let f = factor(&u, FactorKind::Sms);
        s.insert_factor(&f).await.unwrap();
        assert!(s.rename_factor(&u, &f.id, "Work phone").await.unwrap());
        assert_eq!(s.factor(&u, &f.id).await.unwrap().unwrap().label, "Work phone");
        let c = challenge(&u, &f.id, Purpose::Login, T0);
        assert!(matches!(s.replace_challenge(&c, Duration::from_secs(30), 5).await.unwrap(), ReplaceOutcome::Replaced { .. }));
        s.insert_device(&device(&u, 0)).await.unwrap();
        assert!(s.delete_factor(&u, &f.id, T0).await.unwrap());
        assert!(!s.delete_factor(&u, &f.id, T0).await.unwrap(), "deleted twice");
        assert!(s.factor(&u, &f.id).await.unwrap().is_none());
        assert_eq!(s.user_state(&u).await.unwrap().epoch, 1);
        assert!(s.devices(&u, T0).await.unwrap().is_empty(), "device survived factor removal");
        assert!(matches!(s.take_attempt(&u, &c.id, T0, 5).await.unwrap(), AttemptOutcome::NotFound), "challenge survived factor removal");
    }

    /// Only pending factors older than the cut-off are removed.
    async fn stale_pending_factors_are_removed(s) {
        let u = user("a");
        let old = factor(&u, FactorKind::Totp);
        let mut fresh = factor(&u, FactorKind::Totp);
        fresh.created_at = T0 + Duration::from_secs(600);
        let mut active = factor(&u, FactorKind::Totp);
        active.state = FactorState::Active;
        for f in [&old, &fresh, &active] {
            s.insert_factor(f).await.unwrap();
        }
        assert_eq!(s.delete_stale_pending(&u, T0 + Duration::from_secs(1)).await.unwrap(), 1);
        assert!(s.factor(&u, &old.id).await.unwrap().is_none());
        assert!(s.factor(&u, &fresh.id).await.unwrap().is_some());
        assert!(s.factor(&u, &active.id).await.unwrap().is_some());
    }

    /// Sealed values are replaced as given (key rotation).
    async fn sealed_values_can_be_replaced(s) {
        let u = user("a");
        let f = factor(&u, FactorKind::Email);
        s.insert_factor(&f).await.unwrap();
        let new = Sealed(vec![1, 0, 0, 0, 2, 42]);
        assert!(s.update_sealed(&u, &f.id, None, Some(&new)).await.unwrap());
        let got = s.factor(&u, &f.id).await.unwrap().unwrap();
        assert!(got.destination.as_ref().is_some_and(|d| ct_eq(&d.0, &new.0)));
        assert!(got.secret.is_none());
    }

    /// The TOTP step only moves forward: equal or lower steps are replays.
    async fn totp_step_only_moves_forward(s) {
        let u = user("a");
        let f = factor(&u, FactorKind::Totp);
        s.insert_factor(&f).await.unwrap();
        assert!(s.advance_totp_step(&u, &f.id, 100, T0).await.unwrap());
        assert!(!s.advance_totp_step(&u, &f.id, 100, T0).await.unwrap(), "same step accepted twice");
        assert!(!s.advance_totp_step(&u, &f.id, 99, T0).await.unwrap(), "older step accepted");
        assert!(s.advance_totp_step(&u, &f.id, 101, T0).await.unwrap());
        let got = s.factor(&u, &f.id).await.unwrap().unwrap();
        assert_eq!(got.last_step, Some(101));
        assert_eq!(got.last_used_at, Some(T0));
        assert!(!s.advance_totp_step(&user("b"), &f.id, 500, T0).await.unwrap(), "another user's factor advanced");
    }

    /// Of many concurrent submissions of one TOTP step, exactly one wins.
    async fn totp_step_race_has_one_winner(s) {
        let u = user("a");
        let f = factor(&u, FactorKind::Totp);
        s.insert_factor(&f).await.unwrap();
        let (u2, id) = (u.clone(), f.id.clone());
        let wins = race(&s, move |s| {
            let (u, id) = (u2.clone(), id.clone());
            async move { s.accept_totp_step(&u, &id, 7, T0).await.unwrap() }
        })
        .await;
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "replayed TOTP step accepted more than once");
    }

    /// A resend replaces the live challenge, kills the old one and carries
    /// its attempts over; inside the gap it is refused.
    async fn resend_replaces_and_keeps_attempts(s) {
        let u = user("a");
        let f = factor(&u, FactorKind::Sms);
        s.insert_factor(&f).await.unwrap();
        let gap = Duration::from_secs(30);
        let first = challenge(&u, &f.id, Purpose::Login, T0);
        assert_eq!(s.replace_challenge(&first, gap, 5).await.unwrap(), ReplaceOutcome::Replaced { attempts: 0 });
        for _ in 0..2 {
            assert!(matches!(s.take_attempt(&u, &first.id, T0, 5).await.unwrap(), AttemptOutcome::Counted(_)));
        }
        let early = challenge(&u, &f.id, Purpose::Login, T0 + Duration::from_secs(29));
        assert_eq!(
            s.replace_challenge(&early, gap, 5).await.unwrap(),
            ReplaceOutcome::TooSoon { retry_after: Duration::from_secs(1) }
        );
        assert!(matches!(s.take_attempt(&u, &first.id, T0, 5).await.unwrap(), AttemptOutcome::Counted(_)), "refused resend killed the live code");
        let second = challenge(&u, &f.id, Purpose::Login, T0 + gap);
        assert_eq!(s.replace_challenge(&second, gap, 5).await.unwrap(), ReplaceOutcome::Replaced { attempts: 3 });
        assert!(matches!(s.take_attempt(&u, &first.id, T0 + gap, 5).await.unwrap(), AttemptOutcome::NotFound), "old code still alive after resend");
        match s.take_attempt(&u, &second.id, T0 + gap, 5).await.unwrap() {
            AttemptOutcome::Counted(c) => assert_eq!(c.attempts, 4, "resend reset the attempt count"),
            other => panic!("{other:?}"),
        }
        // Other purposes are separate.
        let step_up = challenge(&u, &f.id, Purpose::StepUp, T0 + gap);
        assert_eq!(s.replace_challenge(&step_up, gap, 5).await.unwrap(), ReplaceOutcome::Replaced { attempts: 0 });
        assert!(s.live_challenge(&u, Purpose::Login, T0 + gap).await.unwrap().is_some());
        assert_eq!(s.live_challenge(&u, Purpose::StepUp, T0 + gap).await.unwrap().map(|c| c.id), Some(step_up.id));
    }

    /// A challenge out of attempts cannot be replaced until it expires.
    async fn exhausted_challenge_blocks_resend_until_expiry(s) {
        let u = user("a");
        let f = factor(&u, FactorKind::Sms);
        s.insert_factor(&f).await.unwrap();
        let c = challenge(&u, &f.id, Purpose::Login, T0);
        let _ = s.replace_challenge(&c, Duration::ZERO, 3).await.unwrap();
        for _ in 0..3 {
            assert!(matches!(s.take_attempt(&u, &c.id, T0, 3).await.unwrap(), AttemptOutcome::Counted(_)));
        }
        let again = challenge(&u, &f.id, Purpose::Login, T0 + Duration::from_secs(60));
        assert_eq!(s.replace_challenge(&again, Duration::ZERO, 3).await.unwrap(), ReplaceOutcome::Exhausted { until: c.expires_at });
        let later = challenge(&u, &f.id, Purpose::Login, c.expires_at);
        assert_eq!(s.replace_challenge(&later, Duration::ZERO, 3).await.unwrap(), ReplaceOutcome::Replaced { attempts: 0 });
    }

    /// Attempts are counted up to the limit; expiry is exact (`now <
    /// expires_at`); a used challenge is closed; ids are per user.
    async fn attempts_expiry_and_use_are_exact(s) {
        let u = user("a");
        let f = factor(&u, FactorKind::Sms);
        s.insert_factor(&f).await.unwrap();
        let c = challenge(&u, &f.id, Purpose::Login, T0);
        let _ = s.replace_challenge(&c, Duration::ZERO, 5).await.unwrap();
        assert!(matches!(s.take_attempt(&user("b"), &c.id, T0, 5).await.unwrap(), AttemptOutcome::NotFound), "another user's challenge");
        let last_ms = c.expires_at - Duration::from_millis(1);
        match s.take_attempt(&u, &c.id, last_ms, 5).await.unwrap() {
            AttemptOutcome::Counted(got) => {
                assert_eq!(got.attempts, 1);
                assert!(got.code_hash.ct_matches(&c.code_hash));
                assert_eq!(got.purpose, Purpose::Login);
                assert_eq!(got.factor, f.id);
            }
            other => panic!("valid until the last millisecond: {other:?}"),
        }
        assert!(matches!(s.take_attempt(&u, &c.id, c.expires_at, 5).await.unwrap(), AttemptOutcome::Expired), "valid at expires_at");
        assert!(s.mark_challenge_used(&u, &c.id, T0).await.unwrap());
        assert!(!s.mark_challenge_used(&u, &c.id, T0).await.unwrap(), "used twice");
        assert!(matches!(s.take_attempt(&u, &c.id, T0, 5).await.unwrap(), AttemptOutcome::Closed));
        assert!(s.live_challenge(&u, Purpose::Login, T0).await.unwrap().is_none(), "used challenge is live");
        let d = challenge(&u, &f.id, Purpose::Login, T0);
        let _ = s.replace_challenge(&d, Duration::ZERO, 2).await.unwrap();
        for _ in 0..2 {
            assert!(matches!(s.take_attempt(&u, &d.id, T0, 2).await.unwrap(), AttemptOutcome::Counted(_)));
        }
        assert!(matches!(s.take_attempt(&u, &d.id, T0, 2).await.unwrap(), AttemptOutcome::Closed), "attempt past the limit");
    }

    /// Concurrent attempts never pass the per-challenge limit.
    async fn parallel_attempts_never_overrun_the_challenge_limit(s) {
        let u = user("a");
        let f = factor(&u, FactorKind::Sms);
        s.insert_factor(&f).await.unwrap();
        let c = challenge(&u, &f.id, Purpose::Login, T0);
        let _ = s.replace_challenge(&c, Duration::ZERO, 5).await.unwrap();
        let (u2, id) = (u.clone(), c.id.clone());
        let got = race(&s, move |s| {
            let (u, id) = (u2.clone(), id.clone());
            async move { matches!(s.take_attempt(&u, &id, T0, 5).await.unwrap(), AttemptOutcome::Counted(_)) }
        })
        .await;
        assert_eq!(got.iter().filter(|c| **c).count(), 5, "attempts counted past the limit");
    }

    /// Of many concurrent uses of one code, exactly one succeeds.
    async fn parallel_use_of_one_code_has_one_winner(s) {
        let u = user("a");
        let f = factor(&u, FactorKind::Sms);
        s.insert_factor(&f).await.unwrap();
        let c = challenge(&u, &f.id, Purpose::Login, T0);
        let _ = s.replace_challenge(&c, Duration::ZERO, 5).await.unwrap();
        let (u2, id, fid) = (u.clone(), c.id.clone(), f.id.clone());
        let wins = race(&s, move |s| {
            let (u, id, fid) = (u2.clone(), id.clone(), fid.clone());
            async move { s.complete_challenge(&u, &id, &fid, T0).await.unwrap() }
        })
        .await;
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "one code used more than once");
        assert_eq!(s.factor(&u, &f.id).await.unwrap().unwrap().last_used_at, Some(T0));
    }

    /// Failures back off as the rules say, then hard-stop; a clear resets.
    async fn account_backoff_and_hard_stop_follow_the_rules(s) {
        let u = user("a");
        let rules = LockoutRules { free_failures: 2, base: Duration::from_secs(30), max: Duration::from_secs(3600), hard_stop: 6 };
        let mut now = T0;
        for n in 1..=2 {
            assert_eq!(s.reserve_attempt(&u, now, &rules).await.unwrap(), Gate::Open { failures: n });
        }
        assert!(s.user_state(&u).await.unwrap().locked_until.is_none());
        assert_eq!(s.reserve_attempt(&u, now, &rules).await.unwrap(), Gate::Open { failures: 3 });
        let until = now + Duration::from_secs(30);
        assert_eq!(s.user_state(&u).await.unwrap().locked_until, Some(until));
        assert_eq!(s.reserve_attempt(&u, until - Duration::from_millis(1), &rules).await.unwrap(), Gate::Locked { until: Some(until) });
        assert_eq!(s.user_state(&u).await.unwrap().failures, 3, "a refused attempt was counted");
        now = until;
        assert_eq!(s.reserve_attempt(&u, now, &rules).await.unwrap(), Gate::Open { failures: 4 });
        assert_eq!(s.user_state(&u).await.unwrap().locked_until, Some(now + Duration::from_secs(60)), "back-off did not double");
        for n in 5..=6 {
            now = s.user_state(&u).await.unwrap().locked_until.unwrap();
            assert_eq!(s.reserve_attempt(&u, now, &rules).await.unwrap(), Gate::Open { failures: n });
        }
        let far = now + Duration::from_secs(86_400 * 365);
        assert_eq!(s.reserve_attempt(&u, far, &rules).await.unwrap(), Gate::Locked { until: None }, "hard stop lifted by time");
        s.clear_failures(&u).await.unwrap();
        let st = s.user_state(&u).await.unwrap();
        assert_eq!((st.failures, st.locked_until), (0, None));
        assert_eq!(s.reserve_attempt(&u, far, &rules).await.unwrap(), Gate::Open { failures: 1 });
    }

    /// Back-off stays within `max` however many failures.
    async fn backoff_is_capped(s) {
        let u = user("a");
        let rules = LockoutRules { free_failures: 0, base: Duration::from_secs(30), max: Duration::from_secs(3600), hard_stop: 100 };
        let mut now = T0;
        for _ in 0..40 {
            let _ = s.reserve_attempt(&u, now, &rules).await.unwrap();
            let until = s.user_state(&u).await.unwrap().locked_until.unwrap();
            assert!(until.saturating_since(now) <= rules.max, "back-off above max");
            now = until;
        }
        assert_eq!(s.user_state(&u).await.unwrap().failures, 40);
    }

    /// Concurrent attempts never pass the hard stop.
    async fn parallel_guesses_never_overrun_the_account_limit(s) {
        let u = user("a");
        let rules = LockoutRules { free_failures: 50, base: Duration::from_secs(30), max: Duration::from_secs(3600), hard_stop: 10 };
        let u2 = u.clone();
        let got = race(&s, move |s| {
            let u = u2.clone();
            async move { matches!(s.reserve_attempt(&u, T0, &rules).await.unwrap(), Gate::Open { .. }) }
        })
        .await;
        assert_eq!(got.iter().filter(|g| **g).count(), 10, "guesses allowed past the hard stop");
        assert_eq!(s.user_state(&u).await.unwrap().failures, 10, "counter passed the limit");
    }

    /// Concurrent attempts during back-off: only the first gets through.
    async fn parallel_guesses_respect_the_backoff(s) {
        let u = user("a");
        let rules = LockoutRules { free_failures: 0, base: Duration::from_secs(30), max: Duration::from_secs(3600), hard_stop: 100 };
        let u2 = u.clone();
        let got = race(&s, move |s| {
            let u = u2.clone();
            async move { matches!(s.reserve_attempt(&u, T0, &rules).await.unwrap(), Gate::Open { .. }) }
        })
        .await;
        assert_eq!(got.iter().filter(|g| **g).count(), 1, "guesses passed an active back-off");
    }

    /// Send caps count per account and per destination in a sliding window.
    async fn send_caps_per_account_and_destination(s) {
        let rules = SendRules { window: Duration::from_secs(3600), per_account: 3, per_destination: 2 };
        let (a, b) = (user("a"), user("b"));
        let (d1, d2) = (KeyedHash(rand_bytes()), KeyedHash(rand_bytes()));
        assert_eq!(s.record_send(&a, &d1, T0, &rules).await.unwrap(), SendDecision::Allowed);
        let t1 = T0 + Duration::from_secs(60);
        assert_eq!(s.record_send(&a, &d1, t1, &rules).await.unwrap(), SendDecision::Allowed);
        // Destination d1 is at its cap, whoever asks (SMS pumping to one number).
        assert_eq!(
            s.record_send(&b, &d1, t1, &rules).await.unwrap(),
            SendDecision::Refused { retry_after: Duration::from_secs(3540) }
        );
        assert_eq!(s.record_send(&a, &d2, t1, &rules).await.unwrap(), SendDecision::Allowed);
        // Account a is at its cap, whatever destination.
        assert!(matches!(s.record_send(&a, &KeyedHash(rand_bytes()), t1, &rules).await.unwrap(), SendDecision::Refused { .. }));
        // The window slides: the first send leaves it after an hour.
        let later = T0 + Duration::from_secs(3600);
        assert_eq!(s.record_send(&a, &KeyedHash(rand_bytes()), later, &rules).await.unwrap(), SendDecision::Allowed);
    }

    /// Concurrent sends never pass a cap.
    async fn parallel_sends_never_overrun_the_cap(s) {
        let rules = SendRules { window: Duration::from_secs(3600), per_account: 5, per_destination: 100 };
        let u = user("a");
        let u2 = u.clone();
        let got = race(&s, move |s| {
            let u = u2.clone();
            async move { s.record_send(&u, &KeyedHash(rand_bytes()), T0, &rules).await.unwrap() == SendDecision::Allowed }
        })
        .await;
        assert_eq!(got.iter().filter(|g| **g).count(), 5, "sends passed the cap");
    }

    /// Devices: found by token hash, touched, listed while live, revoked one
    /// at a time or all at once, only by their owner.
    async fn trusted_devices_lifecycle(s) {
        let u = user("a");
        let d1 = device(&u, 0);
        let mut d2 = device(&u, 0);
        d2.created_at = T0 + Duration::from_secs(1);
        let mut expired = device(&u, 0);
        expired.expires_at = T0;
        for d in [&d1, &d2, &expired] {
            s.insert_device(d).await.unwrap();
        }
        assert!(s.device_by_token(&d1.token_hash).await.unwrap().is_some_and(|d| same_device(&d, &d1)));
        assert!(s.device_by_token(&KeyedHash(rand_bytes())).await.unwrap().is_none());
        let later = T0 + Duration::from_secs(10);
        s.touch_device(&u, &d1.id, later).await.unwrap();
        assert_eq!(s.device_by_token(&d1.token_hash).await.unwrap().unwrap().last_used_at, Some(later));
        let live: Vec<_> = s.devices(&u, T0).await.unwrap().into_iter().map(|d| d.id).collect();
        assert_eq!(live, vec![d2.id.clone(), d1.id.clone()], "live devices, newest first");
        assert!(!s.revoke_device(&user("b"), &d1.id, T0).await.unwrap(), "revoked by another user");
        assert!(s.revoke_device(&u, &d1.id, T0).await.unwrap());
        assert!(!s.revoke_device(&u, &d1.id, T0).await.unwrap());
        assert!(s.device_by_token(&d1.token_hash).await.unwrap().unwrap().revoked_at.is_some());
        assert_eq!(s.revoke_all_devices(&u, T0).await.unwrap(), 1);
        assert!(s.devices(&u, T0).await.unwrap().is_empty());
    }

    /// A password change bumps the epoch and revokes every device.
    async fn epoch_bump_revokes_devices(s) {
        let u = user("a");
        s.insert_device(&device(&u, 0)).await.unwrap();
        assert_eq!(s.bump_epoch(&u, T0).await.unwrap(), 1);
        assert_eq!(s.bump_epoch(&u, T0).await.unwrap(), 2);
        assert!(s.devices(&u, T0).await.unwrap().is_empty());
    }

    /// Recovery codes: replaced as a set, found by fingerprint while unused,
    /// used once, counted.
    async fn recovery_codes_are_single_use(s) {
        let u = user("a");
        let old = recovery(&u);
        s.replace_recovery_codes(&u, std::slice::from_ref(&old)).await.unwrap();
        let set: Vec<_> = (0..10).map(|_| recovery(&u)).collect();
        s.replace_recovery_codes(&u, &set).await.unwrap();
        assert_eq!(s.recovery_codes_remaining(&u).await.unwrap(), 10);
        assert!(s.recovery_code(&u, &old.fingerprint).await.unwrap().is_none(), "old set survived regeneration");
        assert!(s.recovery_code(&user("b"), &set[0].fingerprint).await.unwrap().is_none(), "another user's code");
        let r = s.recovery_code(&u, &set[3].fingerprint).await.unwrap().unwrap();
        assert!(same_recovery(&r, &set[3]));
        assert!(s.use_recovery_code(&u, &r.id, T0).await.unwrap());
        assert!(!s.use_recovery_code(&u, &r.id, T0).await.unwrap(), "recovery code used twice");
        assert!(s.recovery_code(&u, &set[3].fingerprint).await.unwrap().is_none());
        assert_eq!(s.recovery_codes_remaining(&u).await.unwrap(), 9);
    }

    /// Of many concurrent uses of one recovery code, exactly one succeeds.
    async fn parallel_use_of_one_recovery_code_has_one_winner(s) {
        let u = user("a");
        let r = recovery(&u);
        s.replace_recovery_codes(&u, std::slice::from_ref(&r)).await.unwrap();
        let (u2, id) = (u.clone(), r.id.clone());
        let wins = race(&s, move |s| {
            let (u, id) = (u2.clone(), id.clone());
            async move { s.use_recovery_code(&u, &id, T0).await.unwrap() }
        })
        .await;
        assert_eq!(wins.iter().filter(|w| **w).count(), 1);
    }

    /// Resends racing wrong guesses never let the user's challenges take
    /// more attempts, in all, than the cap: the count a resend carries over
    /// is the one the guesses left, never a stale one.
    async fn resend_racing_guesses_never_exceeds_the_attempt_cap(s) {
        const MAX: u32 = 5;
        let u = user("a");
        let f = factor(&u, FactorKind::Sms);
        s.insert_factor(&f).await.unwrap();
        let first = challenge(&u, &f.id, Purpose::Login, T0);
        assert_eq!(s.replace_challenge(&first, Duration::ZERO, MAX).await.unwrap(), ReplaceOutcome::Replaced { attempts: 0 });
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (u2, fid) = (u.clone(), f.id.clone());
        let got = race(&s, move |s| {
            let (u, fid) = (u2.clone(), fid.clone());
            let i = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if i.is_multiple_of(4) {
                    // A resend (gap 0: always due).
                    let c = challenge(&u, &fid, Purpose::Login, T0);
                    match s.replace_challenge(&c, Duration::ZERO, MAX).await.unwrap() {
                        ReplaceOutcome::Replaced { attempts } => assert!(attempts < MAX, "resend over an exhausted code"),
                        ReplaceOutcome::Exhausted { .. } => {}
                        other => panic!("gap 0 refused: {other:?}"),
                    }
                    None
                } else {
                    // A wrong guess at whatever code is live.
                    let live = s.live_challenge(&u, Purpose::Login, T0).await.unwrap()?;
                    match s.take_attempt(&u, &live.id, T0, MAX).await.unwrap() {
                        AttemptOutcome::Counted(c) => Some(c.attempts),
                        _ => None,
                    }
                }
            }
        })
        .await;
        let counted: Vec<u32> = got.into_iter().flatten().collect();
        assert!(
            counted.len() <= MAX as usize,
            "{} attempts counted across resends with a cap of {MAX}: {counted:?}",
            counted.len()
        );
        let mut sorted = counted.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), counted.len(), "one attempt number handed out twice: {counted:?}");
        if let Some(live) = s.live_challenge(&u, Purpose::Login, T0).await.unwrap() {
            assert!(live.attempts <= MAX);
        }
    }

    /// Many concurrent confirmations of first enrolments (each begun without
    /// step-up) leave exactly one active factor; a step-up enrolment is not
    /// held back by it.
    async fn concurrent_first_enrolments_leave_one_active_factor(s) {
        let u = user("a");
        let pending: Vec<FactorRecord> = (0..RACERS).map(|_| factor(&u, FactorKind::Totp)).collect();
        for f in &pending {
            s.insert_factor(f).await.unwrap();
        }
        let ids = Arc::new(std::sync::Mutex::new(pending.iter().map(|f| f.id.clone()).collect::<Vec<_>>()));
        let u2 = u.clone();
        let wins = race(&s, move |s| {
            let u = u2.clone();
            let id = ids.lock().unwrap().pop().unwrap();
            async move { s.activate_factor(&u, &id, T0, true).await.unwrap() }
        })
        .await;
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "first enrolments activated more than once");
        let active = s.factors(&u).await.unwrap().into_iter().filter(FactorRecord::is_active).count();
        assert_eq!(active, 1, "more than one factor active without step-up");
        // Begun with step-up: activates next to the active one.
        let more = factor(&u, FactorKind::Sms);
        s.insert_factor(&more).await.unwrap();
        assert!(!s.activate_factor(&u, &more.id, T0, true).await.unwrap(), "first enrolment over an active factor");
        assert!(s.activate_factor(&u, &more.id, T0, false).await.unwrap(), "step-up enrolment refused");
    }

    /// An admin reset racing verifications (code guesses and uses, TOTP
    /// steps, recovery codes, resends) leaves nothing usable: no factor, no
    /// challenge that can be completed, no recovery code, no live device.
    async fn reset_racing_verification_leaves_nothing_usable(s) {
        let u = user("a");
        let mut sms = factor(&u, FactorKind::Sms);
        sms.state = FactorState::Active;
        let mut totp = factor(&u, FactorKind::Totp);
        totp.state = FactorState::Active;
        s.insert_factor(&sms).await.unwrap();
        s.insert_factor(&totp).await.unwrap();
        let c = challenge(&u, &sms.id, Purpose::Login, T0);
        let _ = s.replace_challenge(&c, Duration::ZERO, 1000).await.unwrap();
        let d = device(&u, 0);
        s.insert_device(&d).await.unwrap();
        let codes: Vec<RecoveryRecord> = (0..RACERS).map(|_| recovery(&u)).collect();
        s.replace_recovery_codes(&u, &codes).await.unwrap();
        let before = s.user_state(&u).await.unwrap().epoch;
        let rules = LockoutRules { free_failures: 100_000, hard_stop: 100_000, ..LockoutRules::default() };
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let codes = Arc::new(codes);
        let (u2, sid, tid, cid, did) = (u.clone(), sms.id.clone(), totp.id.clone(), c.id.clone(), d.id.clone());
        let _ = race(&s, move |s| {
            let (u, sid, tid, cid, codes, did) =
                (u2.clone(), sid.clone(), tid.clone(), cid.clone(), codes.clone(), did.clone());
            let i = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                match i % 5 {
                    _ if i == RACERS / 2 => s.reset_user(&u, T0).await.unwrap(),
                    0 => {
                        let (gate, outcome) = s.reserve_and_take_attempt(&u, &cid, T0, 1000, &rules).await.unwrap();
                        if matches!((gate, outcome), (Gate::Open { .. }, Some(AttemptOutcome::Counted(_)))) {
                            let _ = s.complete_challenge(&u, &cid, &sid, T0).await.unwrap();
                        }
                    }
                    1 => {
                        let _ = s.accept_totp_step(&u, &tid, i as u64, T0).await.unwrap();
                    }
                    2 => {
                        let _ = s.use_recovery_code(&u, &codes[i].id, T0).await.unwrap();
                    }
                    3 => {
                        let fresh = challenge(&u, &sid, Purpose::Login, T0);
                        let _ = s.replace_challenge(&fresh, Duration::ZERO, 1000).await.unwrap();
                    }
                    _ => {
                        let _ = s.touch_device(&u, &did, T0).await;
                    }
                }
            }
        })
        .await;
        assert!(s.factors(&u).await.unwrap().is_empty(), "a factor survived the reset");
        assert!(!s.accept_totp_step(&u, &totp.id, 1 << 40, T0).await.unwrap(), "old TOTP factor usable after reset");
        if let Some(left) = s.live_challenge(&u, Purpose::Login, T0).await.unwrap() {
            assert!(!s.complete_challenge(&u, &left.id, &left.factor, T0).await.unwrap(), "a challenge is usable after reset");
        }
        assert!(!s.complete_challenge(&u, &c.id, &sms.id, T0).await.unwrap(), "old challenge usable after reset");
        assert_eq!(s.recovery_codes_remaining(&u).await.unwrap(), 0, "recovery codes survived the reset");
        assert!(s.devices(&u, T0).await.unwrap().is_empty());
        let trusted = s.device_by_token(&d.token_hash).await.unwrap();
        assert!(trusted.is_none_or(|d| d.revoked_at.is_some()), "device usable after reset");
        let st = s.user_state(&u).await.unwrap();
        assert!(st.reenroll_required);
        assert!(st.epoch > before);
    }

    /// A reset removes everything and demands re-enrolment.
    async fn reset_removes_everything(s) {
        let u = user("a");
        let bystander = user("b");
        let f = factor(&u, FactorKind::Sms);
        s.insert_factor(&f).await.unwrap();
        s.insert_factor(&factor(&bystander, FactorKind::Totp)).await.unwrap();
        let c = challenge(&u, &f.id, Purpose::Login, T0);
        let _ = s.replace_challenge(&c, Duration::ZERO, 5).await.unwrap();
        let d = device(&u, 0);
        s.insert_device(&d).await.unwrap();
        s.replace_recovery_codes(&u, &[recovery(&u)]).await.unwrap();
        let _ = s.reserve_attempt(&u, T0, &LockoutRules::default()).await.unwrap();
        s.reset_user(&u, T0).await.unwrap();
        assert!(s.factors(&u).await.unwrap().is_empty());
        assert_eq!(s.recovery_codes_remaining(&u).await.unwrap(), 0);
        assert!(s.devices(&u, T0).await.unwrap().is_empty());
        let trusted = s.device_by_token(&d.token_hash).await.unwrap();
        assert!(trusted.is_none_or(|d| d.revoked_at.is_some()), "device usable after reset");
        assert!(matches!(s.take_attempt(&u, &c.id, T0, 5).await.unwrap(), AttemptOutcome::NotFound));
        let st = s.user_state(&u).await.unwrap();
        assert_eq!(st.failures, 0);
        assert!(st.reenroll_required);
        assert_eq!(st.sessions_revoked_at, Some(T0));
        assert!(st.epoch >= 1);
        assert_eq!(s.factors(&bystander).await.unwrap().len(), 1, "reset touched another user");
    }

    /// Session revocation is recorded.
    async fn sessions_can_be_revoked(s) {
        let u = user("a");
        s.revoke_sessions(&u, T0).await.unwrap();
        assert_eq!(s.user_state(&u).await.unwrap().sessions_revoked_at, Some(T0));
    }

    /// Users with factors page in id order.
    async fn factor_users_page_in_order(s) {
        let mut users: Vec<UserId> = (0..5).map(|i| user(&format!("p{i}"))).collect();
        for u in &users {
            s.insert_factor(&factor(u, FactorKind::Totp)).await.unwrap();
        }
        users.sort();
        let mut seen = Vec::new();
        let mut after: Option<UserId> = None;
        loop {
            let page = s.factor_users(after.as_ref(), 2).await.unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 2);
            after = page.last().cloned();
            seen.extend(page);
        }
        let mine: Vec<_> = seen.into_iter().filter(|u| users.contains(u)).collect();
        assert_eq!(mine, users);
    }

    /// The composite calls behave like their parts.
    async fn composites_match_their_parts(s) {
        let u = user("a");
        let mut f = factor(&u, FactorKind::Totp);
        f.state = FactorState::Active;
        s.insert_factor(&f).await.unwrap();
        let rules = LockoutRules { free_failures: 0, ..LockoutRules::default() };
        let (gate, got) = s.reserve_and_load_factor(&u, &f.id, T0, &rules).await.unwrap();
        assert_eq!(gate, Gate::Open { failures: 1 });
        assert!(got.as_ref().is_some_and(|g| same_factor(g, &f)));
        let (gate, got) = s.reserve_and_load_factor(&u, &f.id, T0, &rules).await.unwrap();
        assert!(matches!(gate, Gate::Locked { until: Some(_) }));
        assert!(got.is_none(), "factor loaded through a closed gate");
        assert!(s.accept_totp_step(&u, &f.id, 3, T0).await.unwrap());
        assert_eq!(s.user_state(&u).await.unwrap().failures, 0, "success did not clear failures");
        assert!(!s.accept_totp_step(&u, &f.id, 3, T0).await.unwrap());

        let sms = factor(&u, FactorKind::Sms);
        s.insert_factor(&sms).await.unwrap();
        let c = challenge(&u, &sms.id, Purpose::Login, T0);
        let _ = s.replace_challenge(&c, Duration::ZERO, 5).await.unwrap();
        let (gate, outcome) = s.reserve_and_take_attempt(&u, &c.id, T0, 5, &rules).await.unwrap();
        assert_eq!(gate, Gate::Open { failures: 1 });
        assert!(matches!(outcome, Some(AttemptOutcome::Counted(ref r)) if r.attempts == 1));
        let (gate, outcome) = s.reserve_and_take_attempt(&u, &c.id, T0, 5, &rules).await.unwrap();
        assert!(matches!(gate, Gate::Locked { .. }));
        assert!(outcome.is_none(), "attempt taken through a closed gate");
        assert!(s.complete_challenge(&u, &c.id, &sms.id, T0).await.unwrap());
        assert_eq!(s.user_state(&u).await.unwrap().failures, 0);
    }
}

/// Whether two factor records are the same, field by field (secrets and
/// hashes through [`ct_eq`]: records have no `PartialEq`).
pub fn same_factor(a: &FactorRecord, b: &FactorRecord) -> bool {
    let sealed = |x: &Option<Sealed>, y: &Option<Sealed>| match (x, y) {
        (Some(x), Some(y)) => ct_eq(&x.0, &y.0),
        (None, None) => true,
        _ => false,
    };
    let key = |x: &Option<KeyedHash>, y: &Option<KeyedHash>| match (x, y) {
        (Some(x), Some(y)) => x.ct_matches(y),
        (None, None) => true,
        _ => false,
    };
    a.id == b.id
        && a.user == b.user
        && a.kind == b.kind
        && a.label == b.label
        && a.state == b.state
        && sealed(&a.secret, &b.secret)
        && sealed(&a.destination, &b.destination)
        && a.masked == b.masked
        && key(&a.destination_key, &b.destination_key)
        && a.last_step == b.last_step
        && a.created_at == b.created_at
        && a.confirmed_at == b.confirmed_at
        && a.last_used_at == b.last_used_at
}

/// Whether two device records are the same (see [`same_factor`]).
pub fn same_device(a: &DeviceRecord, b: &DeviceRecord) -> bool {
    a.id == b.id
        && a.user == b.user
        && a.token_hash.ct_matches(&b.token_hash)
        && a.label == b.label
        && a.epoch == b.epoch
        && a.created_at == b.created_at
        && a.last_used_at == b.last_used_at
        && a.expires_at == b.expires_at
        && a.revoked_at == b.revoked_at
}

/// Whether two recovery-code records are the same (see [`same_factor`]).
pub fn same_recovery(a: &RecoveryRecord, b: &RecoveryRecord) -> bool {
    a.id == b.id
        && a.user == b.user
        && a.fingerprint.ct_matches(&b.fingerprint)
        && ct_eq(a.phc.as_bytes(), b.phc.as_bytes())
        && a.created_at == b.created_at
        && a.used_at == b.used_at
}

/// Whether two challenge records are the same (see [`same_factor`]).
pub fn same_challenge(a: &ChallengeRecord, b: &ChallengeRecord) -> bool {
    a.id == b.id
        && a.user == b.user
        && a.factor == b.factor
        && a.kind == b.kind
        && a.purpose == b.purpose
        && a.code_hash.ct_matches(&b.code_hash)
        && a.attempts == b.attempts
        && a.created_at == b.created_at
        && a.expires_at == b.expires_at
        && a.used_at == b.used_at
}
