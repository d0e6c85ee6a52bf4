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
//! - under a policy that requires MFA, a login never completes without a
//!   factor or a trusted device; failures never pass the hard stop.
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
const TRUST_FOR: Duration = Duration::from_secs(90 * 86_400);

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
    },
    Login {
        who: Who,
        token: Option<u8>,
    },
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
    expires_at: Timestamp,
    revoked: bool,
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
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn step(&self) -> u64 {
        self.now().unix_secs() as u64 / 30
    }

    fn fresh(&self) -> Caller {
        Caller {
            audience: self.web.clone(),
            assurance: Assurance::SecondFactor {
                at: self.now(),
                method: FactorKind::Totp,
            },
        }
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
            match block_on(self.mfa.confirm_enrollment(&user, &id, &code)) {
                Ok(_) => {
                    let step = self.step();
                    self.accept_step(fi, step);
                    self.factors[fi].active = true;
                }
                Err(MfaError::SecretUnavailable) => panic!("the engine cannot open the seed"),
                Err(_) => {}
            }
        }
    }

    fn enrol_sms(&mut self, who: usize, phone: u8, confirm: bool) {
        let user = self.users[who].clone();
        let request = EnrollRequest::Sms {
            label: "Mobile".into(),
            phone: format!("+4477009001{:02}", phone % 4),
        };
        let begun = block_on(self.mfa.begin_enrollment(&user, request, &self.fresh()));
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
            let r = block_on(self.mfa.confirm_enrollment(&user, &sent.factor, &code));
            if r.is_ok() {
                let ci = self.challenges.len() - 1;
                self.challenge_succeeded(ci, who, &code, Purpose::Enroll);
                self.factors.last_mut().unwrap().active = true;
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
        match block_on(self.mfa.verify(&user, &attempt)) {
            Ok(v) => {
                assert_eq!(v.purpose, purpose);
                self.challenge_succeeded(ci, who, &text, purpose);
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

    fn verify_totp(&mut self, who: usize, factor: u8, code: TotpCode, trust: bool, step_up: bool) {
        let Some(fi) = self.nth_factor(who, factor) else {
            return;
        };
        let text = self.totp_code(fi, code);
        let mut attempt = Attempt::login(
            AttemptTarget::Totp(self.factors[fi].id.clone()),
            text.clone(),
            self.web.clone(),
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
        match block_on(self.mfa.verify(&user, &attempt)) {
            Ok(v) => {
                let f = &self.factors[fi];
                assert!(f.active && !f.removed, "an inactive factor verified");
                let step = self
                    .matching_step(fi, &text)
                    .expect("a TOTP code outside the window succeeded");
                self.accept_step(fi, step);
                count(TOTP_OK);
                assert_eq!(v.trust.is_some(), trust && !step_up);
                if let Some(t) = v.trust {
                    self.tokens.push(Token {
                        owner: who,
                        value: t.token.expose().to_owned(),
                        expires_at: self.now() + TRUST_FOR,
                        revoked: false,
                    });
                }
            }
            Err(_) => {}
        }
    }

    fn login(&mut self, who: usize, token: Option<u8>) {
        let user = self.users[who].clone();
        let mut ctx = LoginContext::new(self.web.clone());
        let mut used = None;
        if let Some(n) = token
            && !self.tokens.is_empty()
        {
            let ti = usize::from(n) % self.tokens.len();
            ctx = ctx.with_trust_token(self.tokens[ti].value.clone());
            used = Some(ti);
        }
        match block_on(self.mfa.begin_login(&user, &ctx)) {
            Ok(LoginStep::Complete { by }) => {
                let CompletedBy::TrustedDevice { .. } = by else {
                    panic!("a login completed without MFA under a policy that requires it: {by:?}");
                };
                let ti = used.expect("trusted without a token");
                let t = &self.tokens[ti];
                assert_eq!(t.owner, who, "a trust token worked for another user");
                assert!(!t.revoked, "a revoked trust token worked");
                assert!(self.now() < t.expires_at, "an expired trust token worked");
                assert!(self.has_active_factor(who), "trusted login without a factor");
                count(TRUSTED_LOGIN);
            }
            Ok(LoginStep::ChooseFactor { factors, .. }) => {
                assert!(!factors.is_empty());
                for f in &factors {
                    let m = self.factors.iter().find(|m| m.id == f.id).expect("known factor");
                    assert!(
                        m.owner == who && m.active && !m.removed,
                        "an unusable factor offered"
                    );
                }
            }
            Ok(LoginStep::MustEnroll { .. }) => {
                assert!(!self.has_active_factor(who), "must enrol with an active factor");
            }
            Ok(other) => {
                assert!(
                    matches!(other, LoginStep::Locked { .. }),
                    "unexpected login step {other:?}"
                );
            }
            Err(e) => panic!("begin_login failed: {e}"),
        }
    }

    fn remove_factor(&mut self, who: usize, n: u8) {
        let Some(fi) = self.nth_factor(who, n) else {
            return;
        };
        let user = self.users[who].clone();
        let id = self.factors[fi].id.clone();
        if block_on(self.mfa.remove_factor(&user, &id, &self.fresh())).is_ok() {
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
            } => self.verify_totp(ix(who), factor, code, trust, step_up),
            Op::Login { who, token } => self.login(ix(who), token),
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
