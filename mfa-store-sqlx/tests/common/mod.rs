//! Shared by the backend test files: where the databases are (and what to
//! do when one is not configured), fresh isolated stores, and the race and
//! durability checks every backend runs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod engine;
pub mod rules_sql;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mfa_core::store::{AttemptOutcome, ReplaceOutcome};
use mfa_core::testkit::fixtures::{T0, challenge, device, factor, recovery, user};
use mfa_core::testkit::{same_challenge, same_device, same_factor, same_recovery};
use mfa_core::{FactorId, FactorKind, FactorState, Gate, KeyedHash, LockoutRules, MfaStore, Purpose};

/// Environment variable naming the PostgreSQL test database.
pub const POSTGRES_ENV: &str = "MFA_TEST_POSTGRES_URL";
/// Environment variable naming the MySQL/MariaDB test database.
pub const MYSQL_ENV: &str = "MFA_TEST_MYSQL_URL";

/// Environment variable that opts out of the database-backed tests:
/// `MFA_TEST_SKIP_DATABASES=1`.
pub const SKIP_ENV: &str = "MFA_TEST_SKIP_DATABASES";

/// The database URL in `var`.
///
/// When it is unset the test **fails** with a message naming the variable
/// to set, unless the caller explicitly opted out with
/// `MFA_TEST_SKIP_DATABASES=1` (ignored under `CI=true`): then `None`, after
/// a loud `SKIPPED` line on stderr, and the test returns without running.
/// A missing database never passes silently.
pub fn database_url(var: &str, example: &str) -> Option<String> {
    if let Ok(url) = std::env::var(var)
        && !url.trim().is_empty()
    {
        return Some(url);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let opted_out = std::env::var(SKIP_ENV).is_ok_and(|v| v.trim() == "1");
    if !opted_out || ci {
        panic!(
            "{var} is not set, so this database test cannot run. Set it (e.g. {var}={example}), \
             or set {SKIP_ENV}=1 to skip the database tests deliberately{}",
            if ci { " (never honoured under CI=true)" } else { "" }
        );
    }
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::SeqCst) {
        // Straight to stderr: libtest's capture would swallow eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED ({SKIP_ENV}=1): {var} is not set, so the tests needing it return without running.\n         \
             They are reported as passed but checked nothing. Set e.g. {var}={example} to run them.\n"
        );
    }
    None
}

/// `url` with its database (the last path segment) replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let base = match base.rfind('/') {
        Some(i) if base[..i].contains("//") && i > base.find("//").unwrap() + 1 => &base[..i],
        _ => base,
    };
    format!("{base}/{name}{query}")
}

/// A name unique to this test: `mfa_t_<unix secs>_<random>`.
pub fn unique_name() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let id = FactorId::generate().unwrap();
    format!("mfa_t_{secs}_{}", &id.as_str()[3..15])
}

/// True (once per process) for the caller that should sweep leftovers of
/// earlier runs.
pub fn first_sweep() -> bool {
    static SWEPT: AtomicBool = AtomicBool::new(false);
    !SWEPT.swap(true, Ordering::SeqCst)
}

/// Whether a `mfa_t_<secs>_…` name is older than an hour.
pub fn stale(name: &str) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    name.strip_prefix("mfa_t_")
        .and_then(|r| r.split('_').next())
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|t| t + 3600 < now)
}

// ----- races ---------------------------------------------------------

/// Racers per check.
pub const RACE_TOTAL: usize = 1000;
/// Racers in flight at once.
pub const RACE_BATCH: usize = 100;

/// Runs `f` RACE_TOTAL times, RACE_BATCH at a time concurrently, with
/// racer `i` getting store `stores[i % len]`.
pub async fn race<S, F, Fut, T>(stores: &[Arc<S>], f: F) -> Vec<T>
where
    S: MfaStore,
    F: Fn(Arc<S>) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut out = Vec::with_capacity(RACE_TOTAL);
    let mut i = 0;
    while i < RACE_TOTAL {
        let n = RACE_BATCH.min(RACE_TOTAL - i);
        let tasks: Vec<_> = (i..i + n)
            .map(|k| tokio::spawn(f(stores[k % stores.len()].clone())))
            .collect();
        for t in futures::future::join_all(tasks).await {
            out.push(t.expect("racer panicked"));
        }
        i += n;
    }
    out
}

/// One SMS code, 1000 concurrent `complete_challenge`: exactly one wins.
pub async fn race_sms_code<S: MfaStore>(stores: &[Arc<S>]) {
    let s = &stores[0];
    let u = user("race-sms");
    let f = factor(&u, FactorKind::Sms);
    s.insert_factor(&f).await.unwrap();
    let c = challenge(&u, &f.id, Purpose::Login, T0);
    assert!(matches!(
        s.replace_challenge(&c, Duration::ZERO, 5).await.unwrap(),
        ReplaceOutcome::Replaced { .. }
    ));
    let (cid, fid) = (c.id.clone(), f.id.clone());
    let uu = u.clone();
    let wins = race(stores, move |s| {
        let (u, cid, fid) = (uu.clone(), cid.clone(), fid.clone());
        async move { s.complete_challenge(&u, &cid, &fid, T0).await.unwrap() }
    })
    .await;
    assert_eq!(wins.len(), RACE_TOTAL);
    assert_eq!(
        wins.iter().filter(|w| **w).count(),
        1,
        "one SMS code used more than once"
    );
    assert_eq!(s.factor(&u, &f.id).await.unwrap().unwrap().last_used_at, Some(T0));
}

/// One TOTP step, 1000 concurrent `accept_totp_step`: exactly one wins.
pub async fn race_totp_step<S: MfaStore>(stores: &[Arc<S>]) {
    let s = &stores[0];
    let u = user("race-totp");
    let mut f = factor(&u, FactorKind::Totp);
    f.state = FactorState::Active;
    s.insert_factor(&f).await.unwrap();
    let _ = s.reserve_attempt(&u, T0, &LockoutRules::default()).await.unwrap();
    let (fid, uu) = (f.id.clone(), u.clone());
    let wins = race(stores, move |s| {
        let (u, fid) = (uu.clone(), fid.clone());
        async move { s.accept_totp_step(&u, &fid, 58_333_333, T0).await.unwrap() }
    })
    .await;
    assert_eq!(
        wins.iter().filter(|w| **w).count(),
        1,
        "one TOTP step accepted more than once"
    );
    assert_eq!(
        s.factor(&u, &f.id).await.unwrap().unwrap().last_step,
        Some(58_333_333)
    );
    assert_eq!(s.user_state(&u).await.unwrap().failures, 0);
}

/// One recovery code, 1000 concurrent uses: exactly one wins.
pub async fn race_recovery_code<S: MfaStore>(stores: &[Arc<S>]) {
    let s = &stores[0];
    let u = user("race-rc");
    let codes: Vec<_> = (0..10).map(|_| recovery(&u)).collect();
    s.replace_recovery_codes(&u, &codes).await.unwrap();
    let (rid, uu) = (codes[4].id.clone(), u.clone());
    let wins = race(stores, move |s| {
        let (u, rid) = (uu.clone(), rid.clone());
        async move { s.use_recovery_code(&u, &rid, T0).await.unwrap() }
    })
    .await;
    assert_eq!(
        wins.iter().filter(|w| **w).count(),
        1,
        "one recovery code used more than once"
    );
    assert_eq!(s.recovery_codes_remaining(&u).await.unwrap(), 9);
}

/// 1000 concurrent account attempts against hard stop 25: exactly 25 get
/// through and the counter never passes 25.
pub async fn race_account_limit<S: MfaStore>(stores: &[Arc<S>]) {
    const HARD: u32 = 25;
    let s = &stores[0];
    let u = user("race-acct");
    let rules = LockoutRules {
        free_failures: 1000,
        base: Duration::from_secs(30),
        max: Duration::from_secs(3600),
        hard_stop: HARD,
    };
    let uu = u.clone();
    let got = race(stores, move |s| {
        let u = uu.clone();
        async move { s.reserve_attempt(&u, T0, &rules).await.unwrap() }
    })
    .await;
    let mut open: Vec<u32> = got
        .iter()
        .filter_map(|g| match g {
            Gate::Open { failures } => Some(*failures),
            Gate::Locked { .. } => None,
        })
        .collect();
    open.sort_unstable();
    assert_eq!(
        open,
        (1..=HARD).collect::<Vec<_>>(),
        "each count handed out once, none past the stop"
    );
    assert!(
        got.iter()
            .all(|g| matches!(g, Gate::Open { .. } | Gate::Locked { until: None }))
    );
    assert_eq!(
        s.user_state(&u).await.unwrap().failures,
        HARD,
        "counter passed the limit"
    );
}

/// 1000 concurrent account attempts during back-off: exactly one through.
pub async fn race_backoff<S: MfaStore>(stores: &[Arc<S>]) {
    let s = &stores[0];
    let u = user("race-backoff");
    let rules = LockoutRules {
        free_failures: 0,
        ..LockoutRules::default()
    };
    let uu = u.clone();
    let got = race(stores, move |s| {
        let u = uu.clone();
        async move { s.reserve_attempt(&u, T0, &rules).await.unwrap() }
    })
    .await;
    assert_eq!(got.iter().filter(|g| matches!(g, Gate::Open { .. })).count(), 1);
    assert_eq!(s.user_state(&u).await.unwrap().failures, 1);
}

/// 1000 concurrent `take_attempt` with a limit of 5: exactly 5 counted,
/// each count once.
pub async fn race_challenge_attempts<S: MfaStore>(stores: &[Arc<S>]) {
    let s = &stores[0];
    let u = user("race-take");
    let f = factor(&u, FactorKind::Sms);
    s.insert_factor(&f).await.unwrap();
    let c = challenge(&u, &f.id, Purpose::Login, T0);
    let _ = s.replace_challenge(&c, Duration::ZERO, 5).await.unwrap();
    let (cid, uu) = (c.id.clone(), u.clone());
    let got = race(stores, move |s| {
        let (u, cid) = (uu.clone(), cid.clone());
        async move { s.take_attempt(&u, &cid, T0, 5).await.unwrap() }
    })
    .await;
    let mut counts: Vec<u32> = got
        .iter()
        .filter_map(|o| match o {
            AttemptOutcome::Counted(r) => Some(r.attempts),
            _ => None,
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![1, 2, 3, 4, 5], "attempts counted past the limit");
    assert!(
        got.iter()
            .all(|o| matches!(o, AttemptOutcome::Counted(_) | AttemptOutcome::Closed))
    );
}

/// 1000 concurrent full SMS verifications (`reserve_and_take_attempt` then
/// `complete_challenge`) of one code: one success, and the account counter
/// is back at zero.
pub async fn race_sms_verify<S: MfaStore>(stores: &[Arc<S>]) {
    let s = &stores[0];
    let u = user("race-verify");
    let f = factor(&u, FactorKind::Sms);
    s.insert_factor(&f).await.unwrap();
    let c = challenge(&u, &f.id, Purpose::Login, T0);
    let _ = s.replace_challenge(&c, Duration::ZERO, 1000).await.unwrap();
    let rules = LockoutRules {
        free_failures: 10_000,
        hard_stop: 10_000,
        ..LockoutRules::default()
    };
    let (cid, fid, uu) = (c.id.clone(), f.id.clone(), u.clone());
    let got = race(stores, move |s| {
        let (u, cid, fid) = (uu.clone(), cid.clone(), fid.clone());
        async move {
            let (gate, outcome) = s
                .reserve_and_take_attempt(&u, &cid, T0, 1000, &rules)
                .await
                .unwrap();
            match (gate, outcome) {
                (Gate::Open { .. }, Some(AttemptOutcome::Counted(_))) => {
                    s.complete_challenge(&u, &cid, &fid, T0).await.unwrap()
                }
                _ => false,
            }
        }
    })
    .await;
    assert_eq!(
        got.iter().filter(|w| **w).count(),
        1,
        "one code verified more than once"
    );
}

/// 1000 concurrent full TOTP verifications (`reserve_and_load_factor`
/// then `accept_totp_step`) of one step: one success.
pub async fn race_totp_verify<S: MfaStore>(stores: &[Arc<S>]) {
    let s = &stores[0];
    let u = user("race-totp-verify");
    let mut f = factor(&u, FactorKind::Totp);
    f.state = FactorState::Active;
    s.insert_factor(&f).await.unwrap();
    let rules = LockoutRules {
        free_failures: 10_000,
        hard_stop: 10_000,
        ..LockoutRules::default()
    };
    let (fid, uu) = (f.id.clone(), u.clone());
    let got = race(stores, move |s| {
        let (u, fid) = (uu.clone(), fid.clone());
        async move {
            match s.reserve_and_load_factor(&u, &fid, T0, &rules).await.unwrap() {
                (Gate::Open { .. }, Some(_)) => s.accept_totp_step(&u, &fid, 77, T0).await.unwrap(),
                _ => false,
            }
        }
    })
    .await;
    assert_eq!(
        got.iter().filter(|w| **w).count(),
        1,
        "one TOTP code verified more than once"
    );
}

/// Every race check.
pub async fn all_races<S: MfaStore>(stores: &[Arc<S>]) {
    let t = std::time::Instant::now();
    race_sms_code(stores).await;
    eprintln!("race_sms_code: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    race_totp_step(stores).await;
    eprintln!("race_totp_step: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    race_recovery_code(stores).await;
    eprintln!("race_recovery_code: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    race_account_limit(stores).await;
    eprintln!("race_account_limit: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    race_backoff(stores).await;
    eprintln!("race_backoff: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    race_challenge_attempts(stores).await;
    eprintln!("race_challenge_attempts: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    race_sms_verify(stores).await;
    eprintln!("race_sms_verify: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    race_totp_verify(stores).await;
    eprintln!("race_totp_verify: {:?}", t.elapsed());
}

// ----- lock-out arithmetic --------------------------------------------

/// The store's `locked_until` is exactly `now + LockoutRules::lock_after`,
/// for assorted rules.
pub async fn lockout_formula_matches<S: MfaStore>(s: &S) {
    let all = [
        LockoutRules::default(),
        LockoutRules {
            free_failures: 0,
            base: Duration::from_millis(1),
            max: Duration::from_secs(86_400 * 3650),
            hard_stop: 45,
        },
        LockoutRules {
            free_failures: 2,
            base: Duration::from_secs(7200),
            max: Duration::from_secs(3600),
            hard_stop: 8,
        },
        LockoutRules {
            free_failures: 3,
            base: Duration::ZERO,
            max: Duration::from_secs(60),
            hard_stop: 8,
        },
        LockoutRules {
            free_failures: 0,
            base: Duration::from_secs(1 << 40),
            max: Duration::MAX,
            hard_stop: 4,
        },
    ];
    for rules in all {
        let u = user("formula");
        let mut now = T0;
        for n in 1..=rules.hard_stop {
            assert_eq!(
                s.reserve_attempt(&u, now, &rules).await.unwrap(),
                Gate::Open { failures: n }
            );
            let st = s.user_state(&u).await.unwrap();
            assert_eq!(
                st.locked_until,
                rules.lock_after(n).map(|d| now + d),
                "{rules:?} after {n}"
            );
            now = st.locked_until.unwrap_or(now).max(now);
        }
        assert_eq!(
            s.reserve_attempt(&u, now, &rules).await.unwrap(),
            Gate::Locked { until: None }
        );
    }
}

// ----- all or nothing ----------------------------------------------------

/// A transaction that fails half-way changes nothing: a recovery-code set
/// with a duplicate id is a conflict and the previous set stays whole; a
/// challenge whose id is taken is a conflict and the live one stays.
pub async fn failed_transactions_change_nothing<S: MfaStore>(s: &S) {
    let u = user("atomic");
    let old: Vec<_> = (0..3).map(|_| recovery(&u)).collect();
    s.replace_recovery_codes(&u, &old).await.unwrap();
    let mut bad: Vec<_> = (0..4).map(|_| recovery(&u)).collect();
    bad[3].id = bad[1].id.clone();
    let err = s.replace_recovery_codes(&u, &bad).await.unwrap_err();
    assert!(matches!(err, mfa_core::StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        s.recovery_codes_remaining(&u).await.unwrap(),
        3,
        "half-replaced recovery codes"
    );
    assert!(s.recovery_code(&u, &old[2].fingerprint).await.unwrap().is_some());
    assert!(s.recovery_code(&u, &bad[0].fingerprint).await.unwrap().is_none());

    let f = factor(&u, FactorKind::Sms);
    s.insert_factor(&f).await.unwrap();
    let c = challenge(&u, &f.id, Purpose::Login, T0);
    let _ = s.replace_challenge(&c, Duration::ZERO, 5).await.unwrap();
    let mut dup = challenge(&u, &f.id, Purpose::StepUp, T0);
    let _ = s.replace_challenge(&dup, Duration::ZERO, 5).await.unwrap();
    dup.purpose = Purpose::Login;
    let err = s.replace_challenge(&dup, Duration::ZERO, 5).await.unwrap_err();
    assert!(matches!(err, mfa_core::StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        s.live_challenge(&u, Purpose::Login, T0)
            .await
            .unwrap()
            .map(|c| c.id),
        Some(c.id),
        "a failed resend removed the live code"
    );
}

// ----- durability ------------------------------------------------------

/// What [`write_everything`] wrote.
pub struct Written {
    pub user: mfa_core::UserId,
    pub factor: mfa_core::store::FactorRecord,
    pub device: mfa_core::store::DeviceRecord,
    pub recovery: mfa_core::store::RecoveryRecord,
    pub challenge: mfa_core::store::ChallengeRecord,
}

/// Writes one of every record, plus counters.
pub async fn write_everything<S: MfaStore>(s: &S) -> Written {
    let u = user("durable");
    let mut f = factor(&u, FactorKind::Sms);
    f.last_step = Some(u64::from(u32::MAX) + 1);
    s.insert_factor(&f).await.unwrap();
    assert!(s.activate_factor(&u, &f.id, T0, true).await.unwrap());
    let d = device(&u, 0);
    s.insert_device(&d).await.unwrap();
    let r = recovery(&u);
    s.replace_recovery_codes(&u, std::slice::from_ref(&r))
        .await
        .unwrap();
    let c = challenge(&u, &f.id, Purpose::Login, T0);
    let _ = s.replace_challenge(&c, Duration::ZERO, 5).await.unwrap();
    let _ = s.reserve_attempt(&u, T0, &LockoutRules::default()).await.unwrap();
    s.revoke_sessions(&u, T0).await.unwrap();
    assert_eq!(
        s.record_send(&u, &KeyedHash([9; 32]), T0, &mfa_core::SendRules::default())
            .await
            .unwrap(),
        mfa_core::SendDecision::Allowed
    );
    let f = s.factor(&u, &f.id).await.unwrap().unwrap();
    Written {
        user: u,
        factor: f,
        device: d,
        recovery: r,
        challenge: c,
    }
}

/// Everything [`write_everything`] wrote is still there.
pub async fn check_everything<S: MfaStore>(s: &S, w: &Written) {
    assert!(
        s.factor(&w.user, &w.factor.id)
            .await
            .unwrap()
            .is_some_and(|f| same_factor(&f, &w.factor))
    );
    assert!(
        s.device_by_token(&w.device.token_hash)
            .await
            .unwrap()
            .is_some_and(|d| same_device(&d, &w.device))
    );
    assert!(
        s.recovery_code(&w.user, &w.recovery.fingerprint)
            .await
            .unwrap()
            .is_some_and(|r| same_recovery(&r, &w.recovery))
    );
    assert!(
        s.live_challenge(&w.user, Purpose::Login, T0)
            .await
            .unwrap()
            .is_some_and(|c| same_challenge(&c, &w.challenge))
    );
    let st = s.user_state(&w.user).await.unwrap();
    assert_eq!((st.failures, st.sessions_revoked_at), (1, Some(T0)));
    let rules = mfa_core::SendRules {
        per_account: 1,
        ..mfa_core::SendRules::default()
    };
    assert!(
        matches!(
            s.record_send(&w.user, &KeyedHash([8; 32]), T0, &rules)
                .await
                .unwrap(),
            mfa_core::SendDecision::Refused { .. }
        ),
        "the recorded send was lost"
    );
}

// ----- statements per verification -------------------------------------

thread_local! {
    /// The counter of the measurement running on this thread, if any.
    static COUNTER: std::cell::RefCell<Option<Arc<std::sync::atomic::AtomicUsize>>> =
        const { std::cell::RefCell::new(None) };
}

/// Counts the statements sqlx executes (its `sqlx::query` log events) on
/// the thread that is measuring.
struct CountQueries;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountQueries {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            COUNTER.with(|c| {
                if let Some(n) = c.borrow().as_ref() {
                    n.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    }
}

/// Runs `fut` and returns how many statements it executed. Call it from a
/// current-thread runtime (plain `#[tokio::test]`), with a PostgreSQL or
/// MySQL store (SQLite runs its statements on a worker thread).
pub async fn statements<F: std::future::Future>(fut: F) -> (F::Output, usize) {
    use tracing_subscriber::layer::SubscriberExt;
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(CountQueries));
    });
    let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    COUNTER.with(|c| *c.borrow_mut() = Some(n.clone()));
    let out = fut.await;
    COUNTER.with(|c| *c.borrow_mut() = None);
    (out, n.load(Ordering::SeqCst))
}

/// Statements of a successful TOTP verification and of a successful SMS
/// verification, as the engine drives them (the composite calls), checking
/// their results on the way.
pub async fn statements_per_verify<S: MfaStore>(s: &S) -> (usize, usize) {
    let u = user("count");
    let mut f = factor(&u, FactorKind::Totp);
    f.state = FactorState::Active;
    s.insert_factor(&f).await.unwrap();
    let sms = factor(&u, FactorKind::Sms);
    s.insert_factor(&sms).await.unwrap();
    let c = challenge(&u, &sms.id, Purpose::Login, T0);
    let _ = s.replace_challenge(&c, Duration::ZERO, 5).await.unwrap();
    let rules = LockoutRules::default();

    let (ok, totp) = statements(async {
        let (gate, got) = s.reserve_and_load_factor(&u, &f.id, T0, &rules).await.unwrap();
        assert_eq!(gate, Gate::Open { failures: 1 });
        assert!(got.as_ref().is_some_and(|g| same_factor(g, &f)));
        s.accept_totp_step(&u, &f.id, 5, T0).await.unwrap()
    })
    .await;
    assert!(ok);
    assert_eq!(s.user_state(&u).await.unwrap().failures, 0);

    let (ok, sms_count) = statements(async {
        let (gate, outcome) = s
            .reserve_and_take_attempt(&u, &c.id, T0, 5, &rules)
            .await
            .unwrap();
        assert_eq!(gate, Gate::Open { failures: 1 });
        assert!(matches!(outcome, Some(AttemptOutcome::Counted(ref r)) if r.attempts == 1));
        s.complete_challenge(&u, &c.id, &sms.id, T0).await.unwrap()
    })
    .await;
    assert!(ok);
    assert_eq!(s.user_state(&u).await.unwrap().failures, 0);
    assert_eq!(
        s.factor(&u, &sms.id).await.unwrap().unwrap().last_used_at,
        Some(T0)
    );
    eprintln!("statements per verification: TOTP {totp}, SMS {sms_count}");
    (totp, sms_count)
}
