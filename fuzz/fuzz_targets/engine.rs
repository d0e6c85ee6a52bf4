//! The engine as a state machine: arbitrary sequences of operations by two
//! users on one `MemoryStore` with a `ManualClock` (enrol TOTP/SMS, send
//! and resend codes, verify right, wrong, foreign, replayed and expired
//! codes for either purpose, trust a device and log in with its token,
//! advance the clock, remove factors, revoke devices, change the password,
//! admin reset and unlock), checked against a model after every step.
//!
//! Invariants asserted:
//! - a challenge succeeds at most once, only for its owner, its purpose and
//!   its own code, before it expires, while it is the live one (not
//!   replaced by a resend), and not after its factor was removed or the
//!   user reset;
//! - a challenge never answers more than 5 counted attempts, and the store
//!   never holds a challenge with more than 5;
//! - a TOTP code succeeds only for its owner's active factor, only when it
//!   is the HOTP of a step in the window, and each (factor, step) at most
//!   once, in increasing step order (replay refusal);
//! - a trust token completes a login only for its owner, unexpired, and
//!   not after revocation, password change, factor removal or reset;
//! - failures never pass the hard stop;
//! - I1: a user with an active factor gets only `ChooseFactor` (listing
//!   exactly their active factors), `Locked`, or `Complete` by a valid
//!   trusted device of theirs, never the policy's answer; a user without
//!   one gets what the policy (or an admin reset) says;
//! - I4: the same login at the same instant claiming another platform or
//!   groups asks for a factor iff the first does (a trusted-device
//!   completion may differ only where the two cohorts' trust settings do);
//! - not vacuous: the model knows when a call must succeed and asserts it
//!   (a right code for a live, clean challenge of an unlocked user; a
//!   right TOTP code for a step after the last accepted one; a valid trust
//!   cookie of an enrolled, unlocked user), so an engine that refuses
//!   everything fails.
//!
//! The policy changes mid-run (`SetPolicy`: `enforce_from` in the past or
//! future, grace, default methods and trust, one cohort by platform or by
//! the staff group with its own methods and trust), and logins and
//! verifications claim a platform (web, android, ios, white-label) and
//! optionally the staff group.
// Fuzz harness: assertions are the point, and libfuzzer's macro generates
// undocumented items.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use arbitrary::Arbitrary;
use async_trait::async_trait;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use mfa_core::oob::{CodeSender, DeliveryError, OutgoingCode};
use mfa_core::store::FactorRecord;
use mfa_core::*;
use sha1::Sha1;

const MAX_ATTEMPTS: u32 = 5;
const CODE_TTL: Duration = Duration::from_secs(300);
const ENC_KEY: [u8; 32] = [2; 32];

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[derive(Default)]
struct LastCode(Mutex<Option<String>>);

impl LastCode {
    fn take(&self) -> Option<String> {
        self.0.lock().unwrap().take()
    }
}

#[async_trait]
impl CodeSender for LastCode {
    async fn send(&self, m: &OutgoingCode) -> Result<(), DeliveryError> {
        *self.0.lock().unwrap() = Some(m.code.expose().to_owned());
        Ok(())
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Who {
    A,
    B,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum TotpCode {
    Current,
    Previous,
    Next,
    TwoBack,
    TwoAhead,
    Wrong(u32),
    Malformed,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum OobCode {
    Right,
    Wrong,
    /// The code of another challenge (any user, any purpose).
    Other(u8),
    Malformed,
}

/// A claimed platform (web, android, ios, white-label) and staff group.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
struct Aud {
    platform: u8,
    staff: bool,
}

impl Aud {
    fn audience(self) -> Audience {
        let p = [
            Platform::WEB,
            Platform::ANDROID,
            Platform::IOS,
            Platform::WHITE_LABEL,
        ];
        let a = Audience::new(p[usize::from(self.platform % 4)].clone());
        if self.staff { a.with_groups(["staff"]) } else { a }
    }
}

/// A policy relative to now (days), always valid.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct PolicyOp {
    enforce_days: Option<i8>,
    grace_days: Option<u8>,
    methods: u8,
    trust: bool,
    trust_days: u8,
    /// A cohort: platforms mask (0: match the staff group instead).
    cohort: Option<u8>,
    cohort_methods: Option<u8>,
    cohort_trust: Option<bool>,
    cohort_trust_days: Option<u8>,
}

fn kinds(mask: u8) -> Vec<FactorKind> {
    let v: Vec<FactorKind> = [
        (1, FactorKind::Totp),
        (2, FactorKind::Sms),
        (4, FactorKind::Email),
    ]
    .into_iter()
    .filter(|(b, _)| mask & b != 0)
    .map(|(_, k)| k)
    .collect();
    if v.is_empty() { vec![FactorKind::Totp] } else { v }
}

impl PolicyOp {
    fn build(self, now: Timestamp) -> Policy {
        let at = |d: i8| {
            let secs = i64::from(d) * 86_400;
            if secs >= 0 {
                now + Duration::from_secs(secs as u64)
            } else {
                now - Duration::from_secs(secs.unsigned_abs())
            }
        };
        let days = |d: u8| Duration::from_secs(u64::from(d.clamp(1, 200)) * 86_400);
        let cohorts = self
            .cohort
            .map(|mask| {
                let all = [
                    Platform::WEB,
                    Platform::ANDROID,
                    Platform::IOS,
                    Platform::WHITE_LABEL,
                ];
                let platforms: Vec<Platform> = (0..4)
                    .filter(|b| mask & (1 << b) != 0)
                    .map(|b| all[b].clone())
                    .collect();
                let groups = if platforms.is_empty() {
                    vec!["staff".to_owned()]
                } else {
                    vec![]
                };
                Cohort {
                    name: "c".into(),
                    platforms,
                    groups,
                    enforce_from: None,
                    methods: self.cohort_methods.map(kinds),
                    trust_device: self.cohort_trust,
                    trust_for: self.cohort_trust_days.map(days),
                    relogin_cutoff: None,
                }
            })
            .into_iter()
            .collect();
        Policy {
            enforce_from: self.enforce_days.map(at),
            grace: self.enforce_days.and(self.grace_days).map(days),
            defaults: Settings {
                methods: kinds(self.methods),
                trust_device: self.trust,
                trust_for: days(self.trust_days),
                relogin_cutoff: None,
            },
            cohorts,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    InsertTotp(Who, u8, bool),
    EnrolSms(Who, u8, bool),
    Send {
        who: Who,
        factor: u8,
        step_up: bool,
    },
    /// A send, then a verification of the code just sent (right, wrong...).
    SendVerify {
        who: Who,
        factor: u8,
        step_up: bool,
        code: OobCode,
    },
    VerifyCode {
        who: Who,
        challenge: u8,
        code: OobCode,
        step_up: bool,
    },
    VerifyTotp {
        who: Who,
        factor: u8,
        code: TotpCode,
        trust: bool,
        step_up: bool,
        aud: Aud,
    },
    Login {
        who: Who,
        token: Option<u8>,
        aud: Aud,
        alt: Aud,
    },
    SetPolicy(PolicyOp),
    Advance(u16),
    AdvanceHours(u8),
    RemoveFactor(Who, u8),
    RevokeDevices(Who),
    PasswordChanged(Who),
    Reset(Who),
    Unlock(Who),
}

struct Factor {
    owner: usize,
    id: FactorId,
    key: Option<Hmac<Sha1>>,
    active: bool,
    removed: bool,
    last_step: Option<u64>,
}

struct Challenge {
    owner: usize,
    id: ChallengeId,
    factor: FactorId,
    code: String,
    purpose: Purpose,
    expires_at: Timestamp,
    dead: bool,
    counted: u32,
    succeeded: bool,
}

struct Token {
    owner: usize,
    value: String,
    created_at: Timestamp,
    expires_at: Timestamp,
    revoked: bool,
}

/// Failures the account may have counted before the back-off starts.
const FREE_FAILURES: u32 = 4;
const PURPOSES: [Purpose; 3] = [Purpose::Login, Purpose::StepUp, Purpose::Enroll];

fn pi(p: Purpose) -> usize {
    PURPOSES.iter().position(|&q| q == p).unwrap()
}

struct World {
    mfa: Mfa<MemoryStore>,
    clock: Arc<ManualClock>,
    sender: Arc<LastCode>,
    users: [UserId; 2],
    web: Audience,
    factors: Vec<Factor>,
    challenges: Vec<Challenge>,
    tokens: Vec<Token>,
    accepted: HashSet<(FactorId, u64)>,
    /// An upper bound of each account's counted failures (0 after a
    /// success, an unlock or a reset): below `FREE_FAILURES` it is unlocked.
    fails: [u32; 2],
    /// A failed attempt on a challenge of (user, purpose) since its last
    /// success: its count may carry over to a resend.
    dirty: [[bool; 3]; 2],
    /// Set by an admin reset until a factor is confirmed.
    reenroll: [bool; 2],
    callers: [Option<Caller>; 2],
}

fn hotp(key: &Hmac<Sha1>, counter: u64) -> u32 {
    let mut mac = key.clone();
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    (u32::from_be_bytes([h[off], h[off + 1], h[off + 2], h[off + 3]]) & 0x7fff_ffff) % 1_000_000
}

impl World {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_secs(1_750_000_000)));
        let sender = Arc::new(LastCode::default());
        let config = MfaConfig::builder("Fuzz").build().unwrap();
        assert_eq!(config.max_attempts(), MAX_ATTEMPTS);
        assert_eq!(config.code_ttl(), CODE_TTL);
        let mfa = Mfa::builder(
            MemoryStore::new(),
            Keys::new(&[1; 32], 1, &ENC_KEY).unwrap(),
            config,
        )
        .clock(clock.clone())
        .sender(sender.clone())
        .policy(Policy::required_from(Timestamp::EPOCH))
        .build();
        World {
            mfa,
            clock,
            sender,
            users: [UserId::new("alice").unwrap(), UserId::new("bob").unwrap()],
            web: Audience::new(Platform::WEB),
            factors: Vec::new(),
            challenges: Vec::new(),
            tokens: Vec::new(),
            accepted: HashSet::new(),
            fails: [0; 2],
            dirty: [[false; 3]; 2],
            reenroll: [false; 2],
            callers: [None, None],
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn step(&self) -> u64 {
        self.now().unix_secs() as u64 / 30
    }

    /// The caller of the user's last verification or enrolment (fresh for
    /// ten minutes; only the engine makes one), else a password-only one.
    fn fresh(&self, who: usize) -> Caller {
        self.callers[who]
            .clone()
            .unwrap_or_else(|| Caller::password_only(self.web.clone()))
    }

    fn nth_factor(&self, who: usize, n: u8) -> Option<usize> {
        let mine: Vec<usize> = (0..self.factors.len())
            .filter(|&i| self.factors[i].owner == who)
            .collect();
        (!mine.is_empty()).then(|| mine[usize::from(n) % mine.len()])
    }

    /// Every trust token of the user stops working.
    fn revoke_tokens(&mut self, who: usize) {
        self.tokens
            .iter_mut()
            .filter(|t| t.owner == who)
            .for_each(|t| t.revoked = true);
    }

    fn has_active_factor(&self, who: usize) -> bool {
        self.factors
            .iter()
            .any(|f| f.owner == who && f.active && !f.removed)
    }

    /// Records an accepted TOTP step; the step must be new and increasing.
    fn accept_step(&mut self, fi: usize, step: u64) {
        let f = &mut self.factors[fi];
        assert!(
            f.last_step.is_none_or(|last| last < step),
            "TOTP step {step} accepted after step {:?}",
            f.last_step
        );
        f.last_step = Some(step);
        assert!(
            self.accepted.insert((f.id.clone(), step)),
            "TOTP step accepted twice"
        );
    }

    /// The step the engine would match for `code` now: current, one back,
    /// one ahead.
    fn matching_step(&self, fi: usize, code: &str) -> Option<u64> {
        let key = self.factors[fi].key.as_ref()?;
        let s = self.step();
        [s, s - 1, s + 1]
            .into_iter()
            .find(|&st| format!("{:06}", hotp(key, st)) == code)
    }

    fn totp_code(&self, fi: usize, choice: TotpCode) -> String {
        let s = self.step();
        let Some(key) = self.factors[fi].key.as_ref() else {
            return "000000".into();
        };
        match choice {
            TotpCode::Current => format!("{:06}", hotp(key, s)),
            TotpCode::Previous => format!("{:06}", hotp(key, s - 1)),
            TotpCode::Next => format!("{:06}", hotp(key, s + 1)),
            TotpCode::TwoBack => format!("{:06}", hotp(key, s - 2)),
            TotpCode::TwoAhead => format!("{:06}", hotp(key, s + 2)),
            TotpCode::Wrong(v) => format!("{:06}", v % 1_000_000),
            TotpCode::Malformed => "12a456".into(),
        }
    }

    /// A pending TOTP factor written straight to the store (a real
    /// `begin_enrollment` renders QR codes, SVG and PNG: about a
    /// millisecond, a hundred times more under coverage instrumentation;
    /// the tests cover it), its seed sealed
    /// the way `Keys::seal` documents it (version 1, key id, 24-byte nonce,
    /// XChaCha20-Poly1305 bound to "totp-seed\0{user}\0{factor}"), then
    /// confirmed (or not) through the engine.
    fn insert_totp(&mut self, who: usize, seed_byte: u8, confirm: bool) {
        if self.factors.iter().filter(|f| f.owner == who).count() >= 8 {
            return;
        }
        let user = self.users[who].clone();
        let id = FactorId::generate().unwrap();
        let seed = [seed_byte; 20];
        let nonce = [seed_byte ^ 0x5a; 24];
        let aad = format!("totp-seed\0{user}\0{id}");
        let ct = XChaCha20Poly1305::new_from_slice(&ENC_KEY)
            .unwrap()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &seed,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap();
        let mut blob = vec![1u8];
        blob.extend_from_slice(&1u32.to_be_bytes());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        let now = self.now();
        let record = FactorRecord {
            id: id.clone(),
            user: user.clone(),
            kind: FactorKind::Totp,
            label: "Phone".into(),
            state: FactorState::Pending,
            secret: Some(Sealed(blob)),
            destination: None,
            masked: None,
            destination_key: None,
            last_step: None,
            created_at: now,
            confirmed_at: None,
            last_used_at: None,
        };
        block_on(self.mfa.store().insert_factor(&record)).unwrap();
        self.pending_totp(who, id, &seed, confirm);
    }

    fn pending_totp(&mut self, who: usize, id: FactorId, seed: &[u8], confirm: bool) {
        let user = self.users[who].clone();
        self.factors.push(Factor {
            owner: who,
            id: id.clone(),
            key: Some(Hmac::<Sha1>::new_from_slice(seed).unwrap()),
            active: false,
            removed: false,
            last_step: None,
        });
        let fi = self.factors.len() - 1;
        if confirm {
            let code = self.totp_code(fi, TotpCode::Current);
            let must = self.fails[who] < FREE_FAILURES;
            match block_on(self.mfa.confirm_enrollment(&user, &id, &code)) {
                Ok(enrolled) => {
                    self.callers[who] = Some(enrolled.caller(self.web.clone()));
                    let step = self.step();
                    self.accept_step(fi, step);
                    self.factors[fi].active = true;
                    self.fails[who] = 0;
                    self.reenroll[who] = false;
                }
                Err(MfaError::SecretUnavailable) => panic!("the engine cannot open the seed"),
                Err(e) => {
                    assert!(
                        !must,
                        "a right TOTP code confirming a new factor of an unlocked user was refused: {e}"
                    );
                    self.fails[who] += 1;
                }
            }
        }
    }

    fn enrol_sms(&mut self, who: usize, phone: u8, confirm: bool) {
        let user = self.users[who].clone();
        let request = EnrollRequest::Sms {
            label: "Mobile".into(),
            phone: format!("+4477009001{:02}", phone % 4),
        };
        let begun = block_on(self.mfa.begin_enrollment(&user, request, &self.fresh(who)));
        let code = self.sender.take();
        let Ok(Enrollment::OutOfBand(sent)) = begun else {
            return;
        };
        // Enrolment codes replace an earlier live enrolment code.
        self.kill_live(who, Purpose::Enroll);
        self.factors.push(Factor {
            owner: who,
            id: sent.factor.clone(),
            key: None,
            active: false,
            removed: false,
            last_step: None,
        });
        let code = code.expect("an enrolment code was sent");
        self.challenges.push(Challenge {
            owner: who,
            id: sent.challenge.clone(),
            factor: sent.factor.clone(),
            code: code.clone(),
            purpose: Purpose::Enroll,
            expires_at: self.now() + CODE_TTL,
            dead: false,
            counted: 0,
            succeeded: false,
        });
        if confirm {
            let must = self.fails[who] < FREE_FAILURES;
            match block_on(self.mfa.confirm_enrollment(&user, &sent.factor, &code)) {
                Ok(enrolled) => {
                    self.callers[who] = Some(enrolled.caller(self.web.clone()));
                    let ci = self.challenges.len() - 1;
                    self.challenge_succeeded(ci, who, &code, Purpose::Enroll);
                    self.factors.last_mut().unwrap().active = true;
                    self.fails[who] = 0;
                    self.reenroll[who] = false;
                    self.dirty[who][pi(Purpose::Enroll)] = false;
                }
                Err(e) => {
                    assert!(
                        !must,
                        "the code just sent, confirming a new factor of an unlocked user, was refused: {e}"
                    );
                    self.fails[who] += 1;
                    self.dirty[who][pi(Purpose::Enroll)] = true;
                }
            }
        }
    }

    fn kill_live(&mut self, who: usize, purpose: Purpose) {
        for c in self
            .challenges
            .iter_mut()
            .filter(|c| c.owner == who && c.purpose == purpose)
        {
            c.dead = true;
        }
    }

    fn challenge_succeeded(&mut self, ci: usize, who: usize, code: &str, purpose: Purpose) {
        let now = self.now();
        let c = &mut self.challenges[ci];
        assert_eq!(c.owner, who, "a challenge succeeded for another user");
        assert!(!c.succeeded, "a challenge succeeded twice");
        assert_eq!(c.code, code, "a wrong code succeeded");
        assert_eq!(c.purpose, purpose, "a code succeeded for another purpose");
        assert!(now < c.expires_at, "an expired code succeeded");
        assert!(!c.dead, "a replaced or revoked challenge succeeded");
        assert!(c.counted < MAX_ATTEMPTS, "success after {} attempts", c.counted);
        c.succeeded = true;
        c.counted += 1;
    }

    fn send(&mut self, who: usize, factor: u8, step_up: bool) {
        let Some(fi) = self.nth_factor(who, factor) else {
            return;
        };
        let purpose = if step_up { Purpose::StepUp } else { Purpose::Login };
        let user = self.users[who].clone();
        let id = self.factors[fi].id.clone();
        let r = block_on(self.mfa.send_code(&user, &id, purpose));
        let code = self.sender.take();
        let Ok(sent) = r else {
            return;
        };
        let f = &self.factors[fi];
        assert!(
            f.active && !f.removed && f.key.is_none(),
            "code sent through an unusable factor"
        );
        self.kill_live(who, purpose);
        self.challenges.push(Challenge {
            owner: who,
            id: sent.challenge,
            factor: id,
            code: code.expect("a code was sent"),
            purpose,
            expires_at: self.now() + CODE_TTL,
            dead: false,
            counted: 0,
            succeeded: false,
        });
    }

    fn verify_code(&mut self, who: usize, challenge: u8, code: OobCode, step_up: bool) {
        if self.challenges.is_empty() {
            return;
        }
        let ci = usize::from(challenge) % self.challenges.len();
        let text = match code {
            OobCode::Right => self.challenges[ci].code.clone(),
            OobCode::Wrong => {
                let v: u32 = self.challenges[ci].code.parse().unwrap();
                format!("{:06}", (v + 1) % 1_000_000)
            }
            OobCode::Other(n) => self.challenges[usize::from(n) % self.challenges.len()]
                .code
                .clone(),
            OobCode::Malformed => "1234".into(),
        };
        let purpose = if step_up { Purpose::StepUp } else { Purpose::Login };
        let mut attempt = Attempt::login(
            AttemptTarget::Challenge(self.challenges[ci].id.clone()),
            text.clone(),
            self.web.clone(),
        );
        if step_up {
            attempt = attempt.step_up();
        }
        let user = self.users[who].clone();
        let c = &self.challenges[ci];
        // A right code for a live, clean challenge of an unlocked user of
        // the right purpose must be accepted.
        let must = matches!(code, OobCode::Right)
            && c.owner == who
            && c.purpose == purpose
            && !c.dead
            && !c.succeeded
            && self.now() < c.expires_at
            && !self.dirty[who][pi(purpose)]
            && self.fails[who] < FREE_FAILURES;
        let r = block_on(self.mfa.verify(&user, &attempt));
        if r.is_err() {
            assert!(
                !must,
                "a right code for a live challenge of an unlocked user was refused: {:?}",
                r.as_ref().err()
            );
            self.fails[who] += 1;
            if self.challenges[ci].owner == who {
                let cp = self.challenges[ci].purpose;
                self.dirty[who][pi(cp)] = true;
            }
        }
        match r {
            Ok(v) => {
                assert_eq!(v.purpose, purpose);
                self.challenge_succeeded(ci, who, &text, purpose);
                self.fails[who] = 0;
                self.dirty[who][pi(purpose)] = false;
                self.callers[who] = Some(v.caller(self.web.clone()));
                count(CODE_OK);
            }
            Err(MfaError::InvalidCode { .. }) => {
                count(REFUSED);
                let c = &mut self.challenges[ci];
                assert_eq!(c.owner, who, "another user's challenge counted an attempt");
                assert!(!c.succeeded, "a used challenge counted an attempt");
                assert!(
                    c.counted < MAX_ATTEMPTS,
                    "more than {MAX_ATTEMPTS} attempts on a challenge"
                );
                c.counted += 1;
            }
            Err(_) => {}
        }
    }

    fn verify_totp(&mut self, who: usize, factor: u8, code: TotpCode, trust: bool, step_up: bool, aud: Aud) {
        let Some(fi) = self.nth_factor(who, factor) else {
            return;
        };
        let text = self.totp_code(fi, code);
        let audience = aud.audience();
        let mut attempt = Attempt::login(
            AttemptTarget::Totp(self.factors[fi].id.clone()),
            text.clone(),
            audience.clone(),
        );
        if trust {
            attempt = attempt.trust_device("Fuzz browser");
        }
        if step_up {
            attempt = attempt.step_up();
        }
        let user = self.users[who].clone();
        // Also try the factor as the other user: it must never work.
        let other = self.users[1 - who].clone();
        assert!(
            block_on(self.mfa.verify(&other, &attempt)).is_err(),
            "a TOTP factor verified for another user"
        );
        // That attempt counted against the other account.
        self.fails[1 - who] += 1;
        let f = &self.factors[fi];
        let fresh_step = self
            .matching_step(fi, &text)
            .is_some_and(|st| f.last_step.is_none_or(|last| last < st));
        let must = matches!(code, TotpCode::Current | TotpCode::Previous | TotpCode::Next)
            && f.active
            && !f.removed
            && fresh_step
            && self.fails[who] < FREE_FAILURES;
        let r = block_on(self.mfa.verify(&user, &attempt));
        if let Err(e) = &r {
            assert!(
                !must,
                "a right TOTP code of an active factor of an unlocked user was refused: {e}"
            );
            self.fails[who] += 1;
        }
        match r {
            Ok(v) => {
                self.fails[who] = 0;
                self.callers[who] = Some(v.caller(self.web.clone()));
                let f = &self.factors[fi];
                assert!(f.active && !f.removed, "an inactive factor verified");
                let step = self
                    .matching_step(fi, &text)
                    .expect("a TOTP code outside the window succeeded");
                self.accept_step(fi, step);
                count(TOTP_OK);
                let settings = self.mfa.policy().settings_for(&audience);
                assert_eq!(v.trust.is_some(), trust && !step_up && settings.trust_device);
                if let Some(t) = v.trust {
                    assert_eq!(t.expires_at, self.now() + settings.trust_for);
                    self.tokens.push(Token {
                        owner: who,
                        value: t.token.expose().to_owned(),
                        created_at: self.now(),
                        expires_at: self.now() + settings.trust_for,
                        revoked: false,
                    });
                }
            }
            Err(_) => {}
        }
    }

    /// Whether token `ti` must complete a login of `who` claiming `aud`.
    fn trust_valid(&self, ti: Option<usize>, who: usize, aud: &Audience) -> bool {
        let Some(ti) = ti else { return false };
        let t = &self.tokens[ti];
        let s = self.mfa.policy().settings_for(aud);
        t.owner == who
            && !t.revoked
            && s.trust_device
            && self.now() < t.expires_at.min(t.created_at + s.trust_for)
    }

    /// I1, and the answer the model predicts, for one login.
    fn check_login(&self, who: usize, aud: &Audience, step: &LoginStep, used: Option<usize>) {
        let enrolled = self.has_active_factor(who);
        let unlocked = self.fails[who] < FREE_FAILURES;
        let valid = self.trust_valid(used, who, aud);
        match step {
            LoginStep::Complete {
                by: CompletedBy::TrustedDevice,
                ..
            } => {
                assert!(valid, "a trust token completed a login it must not ({used:?})");
                assert!(enrolled, "trusted login without a factor");
                count(TRUSTED_LOGIN);
            }
            LoginStep::Complete { by, .. } => {
                assert!(!enrolled, "I1: an enrolled user's login completed by {by:?}");
            }
            LoginStep::ChooseFactor { factors, .. } => {
                assert!(enrolled, "ChooseFactor for a user without an active factor");
                let listed: HashSet<&FactorId> = factors.iter().map(|f| &f.id).collect();
                let active: HashSet<&FactorId> = self
                    .factors
                    .iter()
                    .filter(|f| f.owner == who && f.active && !f.removed)
                    .map(|f| &f.id)
                    .collect();
                assert_eq!(
                    listed, active,
                    "ChooseFactor must list exactly the active factors"
                );
            }
            LoginStep::MustEnroll { .. } | LoginStep::OfferEnroll { .. } => {
                assert!(
                    !enrolled,
                    "I1: the policy answered an enrolled user's login: {step:?}"
                );
            }
            LoginStep::Locked { .. } => {}
            other => panic!("unexpected login step {other:?}"),
        }
        if unlocked {
            let want = if enrolled {
                if valid { "trusted" } else { "choose" }
            } else if self.reenroll[who] {
                "must_enroll"
            } else {
                match self.mfa.policy().requirement(aud, self.now()) {
                    Requirement::Required => "must_enroll",
                    Requirement::Offered => "offer_enroll",
                    Requirement::NotRequired => "not_required",
                }
            };
            assert_eq!(class(step), want, "an unlocked user's login: {step:?}");
        }
    }

    fn login(&mut self, who: usize, token: Option<u8>, aud: Aud, alt: Aud) {
        let user = self.users[who].clone();
        let a = aud.audience();
        let mut alt = alt;
        if alt == aud {
            alt.platform = alt.platform.wrapping_add(1);
        }
        let b = alt.audience();
        let mut used = None;
        let mut value = None;
        if let Some(n) = token
            && !self.tokens.is_empty()
        {
            let ti = usize::from(n) % self.tokens.len();
            value = Some(self.tokens[ti].value.clone());
            used = Some(ti);
        }
        let ctx = |aud: &Audience| {
            let c = LoginContext::new(aud.clone());
            match &value {
                Some(v) => c.with_trust_token(v.clone()),
                None => c,
            }
        };
        let sa = block_on(self.mfa.begin_login(&user, &ctx(&a))).unwrap();
        self.check_login(who, &a, &sa, used);
        // I4: the same login, same instant, other claims.
        let sb = block_on(self.mfa.begin_login(&user, &ctx(&b))).unwrap();
        self.check_login(who, &b, &sb, used);
        if self.has_active_factor(who) {
            let p = self.mfa.policy();
            let (x, y) = (p.settings_for(&a), p.settings_for(&b));
            let same_trust = x.trust_device == y.trust_device && x.trust_for == y.trust_for;
            let (ca, cb) = (class(&sa), class(&sb));
            assert!(
                (ca == "locked") == (cb == "locked")
                    && (!same_trust || ca == cb)
                    && (ca == cb || ca == "trusted" || cb == "trusted"),
                "I4: claiming {aud:?} gave {ca}, claiming {alt:?} gave {cb} (same trust settings: {same_trust})"
            );
        }
    }

    fn remove_factor(&mut self, who: usize, n: u8) {
        let Some(fi) = self.nth_factor(who, n) else {
            return;
        };
        let user = self.users[who].clone();
        let id = self.factors[fi].id.clone();
        if block_on(self.mfa.remove_factor(&user, &id, &self.fresh(who))).is_ok() {
            assert!(!self.factors[fi].removed, "a factor removed twice");
            self.factors[fi].removed = true;
            for c in self.challenges.iter_mut().filter(|c| c.factor == id) {
                c.dead = true;
            }
            self.revoke_tokens(who);
        }
    }

    fn reset(&mut self, who: usize) {
        let user = self.users[who].clone();
        block_on(self.mfa.admin_reset(&user, "fuzz")).unwrap();
        for f in self.factors.iter_mut().filter(|f| f.owner == who) {
            f.removed = true;
        }
        for c in self.challenges.iter_mut().filter(|c| c.owner == who) {
            c.dead = true;
        }
        self.revoke_tokens(who);
        self.fails[who] = 0;
        self.dirty[who] = [false; 3];
        self.reenroll[who] = true;
        self.callers[who] = None;
    }

    fn apply(&mut self, op: Op) {
        let ix = |w: Who| match w {
            Who::A => 0,
            Who::B => 1,
        };
        match op {
            Op::InsertTotp(w, seed, confirm) => self.insert_totp(ix(w), seed, confirm),
            Op::EnrolSms(w, phone, confirm) => self.enrol_sms(ix(w), phone, confirm),
            Op::Send { who, factor, step_up } => self.send(ix(who), factor, step_up),
            Op::SendVerify {
                who,
                factor,
                step_up,
                code,
            } => {
                let before = self.challenges.len();
                self.send(ix(who), factor, step_up);
                // At most 96 operations: the new challenge's index fits a u8.
                if self.challenges.len() > before
                    && let Ok(last) = u8::try_from(before)
                {
                    self.verify_code(ix(who), last, code, step_up);
                }
            }
            Op::VerifyCode {
                who,
                challenge,
                code,
                step_up,
            } => self.verify_code(ix(who), challenge, code, step_up),
            Op::VerifyTotp {
                who,
                factor,
                code,
                trust,
                step_up,
                aud,
            } => self.verify_totp(ix(who), factor, code, trust, step_up, aud),
            Op::Login { who, token, aud, alt } => self.login(ix(who), token, aud, alt),
            Op::SetPolicy(p) => {
                let policy = p.build(self.now());
                self.mfa.set_policy(policy).expect("a valid policy");
            }
            Op::Advance(s) => self.clock.advance(Duration::from_secs(u64::from(s % 900))),
            Op::AdvanceHours(h) => self.clock.advance(Duration::from_secs(3600 * u64::from(h))),
            Op::RemoveFactor(w, n) => self.remove_factor(ix(w), n),
            Op::RevokeDevices(w) => {
                let user = self.users[ix(w)].clone();
                block_on(self.mfa.revoke_all_devices(&user)).unwrap();
                self.revoke_tokens(ix(w));
            }
            Op::PasswordChanged(w) => {
                let user = self.users[ix(w)].clone();
                block_on(self.mfa.password_changed(&user)).unwrap();
                self.revoke_tokens(ix(w));
            }
            Op::Reset(w) => self.reset(ix(w)),
            Op::Unlock(w) => {
                let user = self.users[ix(w)].clone();
                block_on(self.mfa.admin_unlock(&user, "fuzz")).unwrap();
                self.fails[ix(w)] = 0;
            }
        }
    }

    /// What the store must never hold, whatever happened.
    fn check_store(&self) {
        let now = self.now();
        let store = self.mfa.store();
        for user in &self.users {
            let state = block_on(store.user_state(user)).unwrap();
            assert!(state.failures <= 100, "failures past the hard stop");
            for purpose in [Purpose::Login, Purpose::StepUp, Purpose::Enroll] {
                if let Some(c) = block_on(store.live_challenge(user, purpose, now)).unwrap() {
                    assert!(
                        c.attempts <= MAX_ATTEMPTS,
                        "a challenge holds {} attempts",
                        c.attempts
                    );
                    assert_eq!(&c.user, user);
                }
            }
        }
    }
}

/// Outcomes seen so far (successes of each kind), printed per input when
/// `MFA_FUZZ_STATS` is set: a quick check that the invariants above are
/// exercised, not vacuous (`MFA_FUZZ_STATS=1 cargo fuzz run ... -runs=0`).
static STATS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
const CODE_OK: usize = 0;
const TOTP_OK: usize = 1;
const TRUSTED_LOGIN: usize = 2;
const REFUSED: usize = 3;

fn class(step: &LoginStep) -> &'static str {
    match step {
        LoginStep::ChooseFactor { .. } => "choose",
        LoginStep::Complete {
            by: CompletedBy::TrustedDevice,
            ..
        } => "trusted",
        LoginStep::Complete {
            by: CompletedBy::NotRequired,
            ..
        } => "not_required",
        LoginStep::Complete { .. } => "complete",
        LoginStep::MustEnroll { .. } => "must_enroll",
        LoginStep::OfferEnroll { .. } => "offer_enroll",
        LoginStep::Locked { .. } => "locked",
        _ => "other",
    }
}

fn count(what: usize) {
    STATS[what].fetch_add(1, Ordering::Relaxed);
}

fuzz_target!(|ops: Vec<Op>| {
    let mut world = World::new();
    for op in ops.into_iter().take(96) {
        world.apply(op);
        world.check_store();
    }
    if std::env::var_os("MFA_FUZZ_STATS").is_some() {
        let [a, b, c, d] = &STATS;
        eprintln!(
            "stats: code_ok={} totp_ok={} trusted_login={} refused={}",
            a.load(Ordering::Relaxed),
            b.load(Ordering::Relaxed),
            c.load(Ordering::Relaxed),
            d.load(Ordering::Relaxed)
        );
    }
});
