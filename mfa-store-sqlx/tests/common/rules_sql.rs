//! Where a rule of `mfa_core::rules` lives in SQL (one statement, for
//! atomicity: the lock-out gate and attempt counting on SQLite and
//! PostgreSQL), a property test holds the store against the pure function:
//! for arbitrary stored state, the store's answer and the state it leaves
//! are exactly what the rule says.

use std::future::Future;
use std::time::Duration;

use mfa_core::rules::{self, AttemptRule, Reservation};
use mfa_core::store::AttemptOutcome;
use mfa_core::testkit::fixtures::{challenge, factor, user};
use mfa_core::{FactorKind, LockoutRules, MfaStore, Purpose, Timestamp, UserId};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Implements [`RawState`] for a store whose SQL takes `$n` placeholders
/// and `ON CONFLICT … DO UPDATE` (SQLite and PostgreSQL: the same text).
#[macro_export]
macro_rules! raw_state_with_dollar_placeholders {
    ($store:ty) => {
        impl common::rules_sql::RawState for $store {
            async fn set_account(&self, user: &mfa_core::UserId, failures: i64, locked_until: Option<i64>) {
                sqlx::query(
                    "INSERT INTO mfa_users (user_id, failures, locked_until) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id) DO UPDATE SET failures = $2, locked_until = $3",
                )
                .bind(user.as_str())
                .bind(failures)
                .bind(locked_until)
                .execute(self.pool())
                .await
                .unwrap();
            }

            async fn set_challenge(&self, id: &str, attempts: i64, used_at: Option<i64>) {
                sqlx::query("UPDATE mfa_challenges SET attempts = $1, used_at = $2 WHERE id = $3")
                    .bind(attempts)
                    .bind(used_at)
                    .bind(id)
                    .execute(self.pool())
                    .await
                    .unwrap();
            }
        }
    };
}

/// Raw writes the store API does not offer: the state to start a case from.
pub trait RawState: MfaStore {
    /// Sets the account row (created if missing).
    fn set_account(
        &self,
        user: &UserId,
        failures: i64,
        locked_until: Option<i64>,
    ) -> impl Future<Output = ()> + Send;
    /// Sets a challenge's attempt count and use.
    fn set_challenge(&self, id: &str, attempts: i64, used_at: Option<i64>)
    -> impl Future<Output = ()> + Send;
}

fn lockout_rules() -> impl Strategy<Value = LockoutRules> {
    (0u32..8, 0u64..120_000, 0u64..7_200_000, 1u32..40).prop_map(|(free, base, max, extra)| LockoutRules {
        free_failures: free,
        base: Duration::from_millis(base),
        max: Duration::from_millis(max),
        hard_stop: free + extra,
    })
}

fn run<F: Future<Output = ()>>(f: F) {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f));
}

/// `reserve_attempt` == `rules::reserve`, answer and written state, for
/// arbitrary failures, back-off, now and rules. Needs a multi-thread runtime.
pub fn reserve_matches_rule<S: RawState>(store: &S, cases: u32) {
    let mut runner = TestRunner::new(Config::with_cases(cases));
    let strategy = (
        lockout_rules(),
        0u32..60,
        proptest::option::of(-100_000i64..100_000),
        1_000_000_000_000i64..1_000_000_100_000,
    );
    runner
        .run(&strategy, |(r, failures, lock_offset, now_ms)| {
            let now = Timestamp::from_unix_millis(now_ms);
            let locked_until = lock_offset.map(|o| now_ms + o);
            let u = user("prop-reserve");
            let want = rules::reserve(failures, locked_until.map(Timestamp::from_unix_millis), now, &r);
            let mut got = None;
            run(async {
                store.set_account(&u, i64::from(failures), locked_until).await;
                let gate = store.reserve_attempt(&u, now, &r).await.unwrap();
                let st = store.user_state(&u).await.unwrap();
                got = Some((gate, st.failures, st.locked_until));
            });
            let (gate, f_after, l_after) = got.unwrap();
            prop_assert_eq!(gate, want.gate());
            match want {
                Reservation::Counted {
                    failures,
                    locked_until,
                } => {
                    prop_assert_eq!(f_after, failures);
                    prop_assert_eq!(l_after, locked_until);
                }
                Reservation::Refused(_) => {
                    prop_assert_eq!(f_after, failures);
                    prop_assert_eq!(l_after, locked_until.map(Timestamp::from_unix_millis));
                }
            }
            Ok(())
        })
        .unwrap();
}

/// `take_attempt` == `rules::attempt`, answer and written count, for
/// arbitrary attempts, use, expiry and cap. Needs a multi-thread runtime.
pub fn take_attempt_matches_rule<S: RawState>(store: &S, cases: u32) {
    let mut runner = TestRunner::new(Config::with_cases(cases));
    let strategy = (0u32..8, 0u32..8, any::<bool>(), -5_000i64..5_000);
    runner
        .run(&strategy, |(attempts, max, used, expiry_offset)| {
            let now = Timestamp::from_unix_millis(1_750_000_000_000);
            let u = user("prop-take");
            let f = factor(&u, FactorKind::Sms);
            let mut c = challenge(&u, &f.id, Purpose::Login, now - Duration::from_secs(60));
            c.expires_at = Timestamp::from_unix_millis(now.unix_millis() + expiry_offset);
            let want = rules::attempt(used, attempts, c.expires_at, now, max);
            let mut got = None;
            run(async {
                store.insert_factor(&f).await.unwrap();
                let _ = store
                    .replace_challenge(&c, Duration::ZERO, u32::MAX)
                    .await
                    .unwrap();
                store
                    .set_challenge(
                        c.id.as_str(),
                        i64::from(attempts),
                        used.then_some(now.unix_millis()),
                    )
                    .await;
                got = Some(store.take_attempt(&u, &c.id, now, max).await.unwrap());
            });
            match (want, got.unwrap()) {
                (AttemptRule::Count, AttemptOutcome::Counted(r)) => prop_assert_eq!(r.attempts, attempts + 1),
                (AttemptRule::Expired, AttemptOutcome::Expired)
                | (AttemptRule::Closed, AttemptOutcome::Closed) => {}
                (w, g) => prop_assert!(false, "rule says {:?}, store said {:?}", w, g),
            }
            Ok(())
        })
        .unwrap();
}
