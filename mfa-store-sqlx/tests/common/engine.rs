//! Engine-level races on a real store: a full `Mfa` (ephemeral keys, a
//! manual clock, an in-memory outbox) over the backend under test, many
//! concurrent calls with the same code, and what every loser got.

use std::sync::Arc;
use std::time::Duration;

use mfa_core::testkit::fixtures::{T0, user};
use mfa_core::{
    Argon2Params, Attempt, AttemptTarget, Audience, Caller, EnrollRequest, Enrollment, Keys, LockoutRules,
    ManualClock, Mfa, MfaConfig, MfaError, MfaStore, Outbox, Platform, Purpose, Timestamp, UserId,
};

/// Concurrent calls per race.
pub const ENGINE_RACERS: usize = 24;

const PHONE: &str = "+447700900123";

/// An engine over `store`, with account lock-out far away so that every
/// loser's error comes from the race itself, not from the back-off.
pub struct Engine<S: MfaStore> {
    pub mfa: Arc<Mfa<S>>,
    pub clock: Arc<ManualClock>,
    pub outbox: Arc<Outbox>,
    pub web: Audience,
}

impl<S: MfaStore> Engine<S> {
    pub fn new(store: S) -> Self {
        let clock = Arc::new(ManualClock::new(T0));
        let outbox = Arc::new(Outbox::new());
        let config = MfaConfig::builder("Race Test")
            .argon2(Argon2Params {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            })
            .lockout(LockoutRules {
                // The most the configuration allows (hard stop at most 100):
                // more than the failures any race here produces.
                free_failures: 99,
                hard_stop: 100,
                ..LockoutRules::default()
            })
            .build()
            .unwrap();
        let mfa = Mfa::builder(store, Keys::generate_ephemeral().unwrap(), config)
            .clock(clock.clone())
            .sender(outbox.clone())
            .build();
        Engine {
            mfa: Arc::new(mfa),
            clock,
            outbox,
            web: Audience::new(Platform::WEB),
        }
    }

    fn now(&self) -> Timestamp {
        mfa_core::Clock::now(&*self.clock)
    }

    fn password_only(&self) -> Caller {
        Caller::password_only(self.web.clone())
    }

    fn fresh(&self) -> Caller {
        Caller::danger_fresh(self.web.clone(), self.now(), mfa_core::FactorKind::Totp)
    }

    /// Starts a TOTP enrolment: the factor and its seed.
    async fn begin_totp(&self, u: &UserId, caller: &Caller) -> (mfa_core::FactorId, Vec<u8>) {
        let e = match self
            .mfa
            .begin_enrollment(
                u,
                EnrollRequest::Totp {
                    label: "Phone".into(),
                    account_name: "u@example.org".into(),
                },
                caller,
            )
            .await
            .unwrap()
        {
            Enrollment::Totp(t) => t,
            other => panic!("{other:?}"),
        };
        let seed = base32::decode(
            base32::Alphabet::Rfc4648 { padding: false },
            e.secret_base32.expose(),
        )
        .unwrap();
        (e.factor, seed)
    }

    fn last_code(&self) -> String {
        self.outbox.last_code_to(PHONE).unwrap().expose().to_owned()
    }
}

/// The 6-digit TOTP code (RFC 6238, SHA-1, 30 s) of `seed` at `at`.
pub fn totp_code(seed: &[u8], at: Timestamp) -> String {
    let t = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(0)
        .with_step_duration(30)
        .with_secret(seed.to_vec())
        .build()
        .unwrap();
    t.generate(u64::try_from(at.unix_secs()).unwrap()).to_string()
}

async fn all<T: Send + 'static>(futs: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    futures::future::join_all(futs)
        .await
        .into_iter()
        .map(|r| r.expect("racer panicked"))
        .collect()
}

/// Many concurrent `Mfa::verify` calls with one TOTP code: exactly one
/// succeeds; every loser is refused as an invalid code (the step was
/// already used: replay refusal).
pub async fn totp_verify_race<S: MfaStore>(store: S) {
    let e = Engine::new(store);
    let u = user("engine-totp");
    let (id, seed) = e.begin_totp(&u, &e.password_only()).await;
    e.mfa
        .confirm_enrollment(&u, &id, &totp_code(&seed, e.now()))
        .await
        .unwrap();
    e.clock.advance(Duration::from_secs(60));
    let code = totp_code(&seed, e.now());
    let tasks = (0..ENGINE_RACERS)
        .map(|_| {
            let (mfa, u, attempt) = (
                e.mfa.clone(),
                u.clone(),
                Attempt::login(AttemptTarget::Totp(id.clone()), code.clone(), e.web.clone()),
            );
            tokio::spawn(async move { mfa.verify(&u, &attempt).await })
        })
        .collect();
    let got = all(tasks).await;
    assert_eq!(
        got.iter().filter(|r| r.is_ok()).count(),
        1,
        "TOTP code verified other than once"
    );
    for r in got.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(r, MfaError::InvalidCode { .. }),
            "a loser got {r:?}, not InvalidCode"
        );
    }
}

/// Many concurrent `Mfa::verify` calls with one SMS code: exactly one
/// succeeds; every loser finds the challenge closed (used by the winner,
/// lost the use to it, or out of attempts).
pub async fn sms_verify_race<S: MfaStore>(store: S) {
    let e = Engine::new(store);
    let u = user("engine-sms");
    let sent = e
        .mfa
        .begin_enrollment(
            &u,
            EnrollRequest::Sms {
                label: "Mobile".into(),
                phone: PHONE.into(),
            },
            &e.password_only(),
        )
        .await
        .unwrap();
    e.mfa
        .confirm_enrollment(&u, sent.factor(), &e.last_code())
        .await
        .unwrap();
    e.clock.advance(Duration::from_secs(60));
    let login = e.mfa.send_code(&u, sent.factor(), Purpose::Login).await.unwrap();
    let code = e.last_code();
    let tasks = (0..ENGINE_RACERS)
        .map(|_| {
            let (mfa, u, attempt) = (
                e.mfa.clone(),
                u.clone(),
                Attempt::login(
                    AttemptTarget::Challenge(login.challenge.clone()),
                    code.clone(),
                    e.web.clone(),
                ),
            );
            tokio::spawn(async move { mfa.verify(&u, &attempt).await })
        })
        .collect();
    let got = all(tasks).await;
    assert_eq!(
        got.iter().filter(|r| r.is_ok()).count(),
        1,
        "SMS code verified other than once"
    );
    for r in got.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(r, MfaError::ChallengeClosed),
            "a loser got {r:?}, not ChallengeClosed"
        );
    }
}

/// Several first enrolments (each begun with the password only) confirmed
/// at once: exactly one factor becomes active; every other confirmation is
/// refused with `StepUpRequired`. Then a step-up enrolment still works.
pub async fn first_enrolment_race<S: MfaStore>(store: S) {
    // At most five enrolments may be pending at once (older ones are dropped).
    const PENDING: usize = 5;
    let e = Engine::new(store);
    let u = user("engine-enrol");
    let mut pending = Vec::new();
    for _ in 0..PENDING {
        pending.push(e.begin_totp(&u, &e.password_only()).await);
    }
    e.clock.advance(Duration::from_secs(1));
    let now = e.now();
    let tasks = pending
        .iter()
        .map(|(id, seed)| {
            let (mfa, u, id, code) = (e.mfa.clone(), u.clone(), id.clone(), totp_code(seed, now));
            tokio::spawn(async move { mfa.confirm_enrollment(&u, &id, &code).await })
        })
        .collect();
    let got = all(tasks).await;
    assert_eq!(
        got.iter().filter(|r| r.is_ok()).count(),
        1,
        "first enrolments confirmed: {got:?}"
    );
    for r in got.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(r, MfaError::StepUpRequired),
            "a loser got {r:?}, not StepUpRequired"
        );
    }
    let active = e.mfa.factors(&u).await.unwrap().len();
    assert_eq!(active, 1, "active factors after the race");
    // With step-up, another factor is fine.
    e.clock.advance(Duration::from_secs(60));
    let (id, seed) = e.begin_totp(&u, &e.fresh()).await;
    e.clock.advance(Duration::from_secs(30));
    e.mfa
        .confirm_enrollment(&u, &id, &totp_code(&seed, e.now()))
        .await
        .unwrap();
}
