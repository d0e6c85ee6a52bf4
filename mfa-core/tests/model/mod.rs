//! The reference model and its driver, shared by `mfa-core/tests/model.rs`
//! (on `MemoryStore`) and `mfa-store-sqlx/tests/model_sql.rs` (included
//! there with `#[path]`). See `model.rs` for the invariants.
//!
//! A test case is plain data ([`Case`]: users with initial factors, a
//! policy, a list of [`Op`]s). Ops name users, sessions, factors and
//! tokens by small indices taken modulo what exists at that point, so any
//! sub-sequence of a case is again a valid case: proptest shrinks by
//! dropping and simplifying ops without preconditions.
//!
//! The model is an oracle that runs beside the engine: it keeps what the
//! engine must know (active and pending factors with their TOTP seeds and
//! destinations, recovery codes, live challenges and their codes, trust
//! tokens, revocations, an upper bound of the account's failures, sends),
//! predicts which calls must succeed (a right code for a live challenge of
//! an unlocked user, a valid trust cookie, a first enrolment...) and which
//! must fail, and checks the invariants after every op.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use mfa_core::http::{
    self, Admission, ApiError, Call, CodeTarget, ConfirmRequest, EnrollEmailRequest, EnrollSmsRequest,
    EnrollTotpRequest, HttpSettings, Reply, RequestState, SendCodeRequest, SessionChange, SessionToken,
    StepUpRequest, TrustCookie, VerifyRequest,
};
use mfa_core::*;
use proptest::prelude::*;
use sha1::Sha1;

// ---------------------------------------------------------------------------
// Test cases as data
// ---------------------------------------------------------------------------

/// Platform and a claimed "staff" group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudSpec {
    /// 0 web, 1 android, 2 ios, 3 white-label.
    pub platform: u8,
    /// Claims the `staff` group.
    pub staff: bool,
}

impl AudSpec {
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

/// Cohort or default settings; `methods` is a mask (1 TOTP, 2 SMS, 4 email).
#[derive(Clone, Debug)]
pub struct SettingsSpec {
    pub methods: u8,
    pub trust_device: bool,
    pub trust_for_days: u16,
    /// Re-login cut-off, hours from the instant the policy is set.
    pub relogin_hours: Option<i32>,
}

/// A cohort: platforms mask (1 web, 2 android, 4 ios, 8 white-label) and/or
/// the staff group, with optional overrides.
#[derive(Clone, Debug)]
pub struct CohortSpec {
    pub platforms: u8,
    pub staff: bool,
    pub enforce_days: Option<i32>,
    pub methods: Option<u8>,
    pub trust_device: Option<bool>,
    pub trust_for_days: Option<u16>,
    pub relogin_hours: Option<i32>,
}

/// A policy relative to the instant it is set: `enforce_from` days in the
/// past or future, grace days, defaults and up to three cohorts.
#[derive(Clone, Debug)]
pub struct PolicySpec {
    pub enforce_days: Option<i32>,
    pub grace_days: Option<u16>,
    pub defaults: SettingsSpec,
    pub cohorts: Vec<CohortSpec>,
}

fn kinds(mask: u8) -> Vec<FactorKind> {
    let mut v = Vec::new();
    for (bit, k) in [
        (1, FactorKind::Totp),
        (2, FactorKind::Sms),
        (4, FactorKind::Email),
    ] {
        if mask & bit != 0 {
            v.push(k);
        }
    }
    if v.is_empty() {
        v.push(FactorKind::Totp);
    }
    v
}

fn shift(now: Timestamp, secs: i64) -> Timestamp {
    if secs >= 0 {
        now + Duration::from_secs(secs as u64)
    } else {
        now - Duration::from_secs(secs.unsigned_abs())
    }
}

const DAY: i64 = 86_400;

impl PolicySpec {
    /// The policy, its instants relative to `now`.
    pub fn build(&self, now: Timestamp) -> Policy {
        let days = |d: u16| Duration::from_secs(u64::from(d.max(1)) * DAY as u64);
        let cohorts = self
            .cohorts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let all = [
                    Platform::WEB,
                    Platform::ANDROID,
                    Platform::IOS,
                    Platform::WHITE_LABEL,
                ];
                let platforms: Vec<Platform> = (0..4)
                    .filter(|b| c.platforms & (1 << b) != 0)
                    .map(|b| all[b].clone())
                    .collect();
                let staff = c.staff || platforms.is_empty();
                Cohort {
                    name: format!("c{i}"),
                    platforms,
                    groups: if staff { vec!["staff".into()] } else { vec![] },
                    enforce_from: c.enforce_days.map(|d| shift(now, i64::from(d) * DAY)),
                    methods: c.methods.map(kinds),
                    trust_device: c.trust_device,
                    trust_for: c.trust_for_days.map(days),
                    relogin_cutoff: c.relogin_hours.map(|h| shift(now, i64::from(h) * 3600)),
                }
            })
            .collect();
        Policy {
            enforce_from: self.enforce_days.map(|d| shift(now, i64::from(d) * DAY)),
            grace: self.enforce_days.and(self.grace_days).map(days),
            defaults: Settings {
                methods: kinds(self.defaults.methods),
                trust_device: self.defaults.trust_device,
                trust_for: days(self.defaults.trust_for_days),
                relogin_cutoff: self
                    .defaults
                    .relogin_hours
                    .map(|h| shift(now, i64::from(h) * 3600)),
            },
            cohorts,
        }
    }
}

/// Which trust cookie a login sends.
#[derive(Clone, Copy, Debug)]
pub enum CookieSpec {
    None,
    /// The n-th token issued to this user (valid, expired or revoked).
    Own(u8),
    /// The n-th token issued to anyone (often another user's).
    Any(u8),
    /// The n-th token issued to anyone with one character changed.
    Tampered(u8, u8),
    /// Not a token.
    Garbage,
}

/// One step of a case.
#[derive(Clone, Debug)]
pub enum Op {
    /// `http::begin_login` for `user` claiming `aud`; the same login is
    /// asked again at the same instant claiming `alt` (I4).
    Login {
        user: u8,
        aud: AudSpec,
        alt: AudSpec,
        cookie: CookieSpec,
    },
    /// `POST /send-code` through an SMS/email factor of the session's user.
    SendCode {
        sess: u8,
        factor: u8,
    },
    /// `/verify` (pending) or `/step-up` (complete) with a TOTP code.
    Totp {
        sess: u8,
        factor: u8,
        right: bool,
        trust: bool,
    },
    /// `/verify` or `/step-up` with the code of the live challenge.
    Challenge {
        sess: u8,
        right: bool,
        trust: bool,
    },
    /// `/verify` or `/step-up` with a recovery code.
    Recovery {
        sess: u8,
        right: bool,
    },
    /// `/enroll/{totp,sms,email}` (0, 1, 2).
    Enroll {
        sess: u8,
        kind: u8,
    },
    /// `/enroll/confirm` for the user's newest pending factor.
    Confirm {
        sess: u8,
        right: bool,
    },
    /// `POST /recovery-codes`.
    RecoveryCodes {
        sess: u8,
    },
    /// `DELETE /factors/{id}`.
    RemoveFactor {
        sess: u8,
        factor: u8,
    },
    /// `DELETE /devices`.
    RevokeDevices {
        sess: u8,
    },
    /// `http::password_changed`.
    PasswordChanged {
        sess: u8,
    },
    /// The browser drops its session (the token stays in the history).
    Logout {
        sess: u8,
    },
    /// An old token of any session is sent again.
    Replay {
        n: u8,
    },
    /// A session token with one character changed.
    Tamper {
        sess: u8,
        pos: u16,
        with: u8,
    },
    /// A session token whose JSON is edited to a complete second-factor
    /// login (or just re-encoded), keeping the tag.
    Reserialize {
        sess: u8,
        upgrade: bool,
    },
    /// A session sealed by another engine (other keys) for the user.
    Foreign {
        user: u8,
    },
    /// `Mfa::begin_enrollment` straight on the engine with
    /// `Caller::password_only` (the engine-level I2; the HTTP routes also
    /// refuse a pending `ChooseFactor` session).
    EngineEnroll {
        user: u8,
        kind: u8,
        aud: AudSpec,
    },
    AdminReset {
        user: u8,
    },
    AdminUnlock {
        user: u8,
    },
    SetPolicy(PolicySpec),
    /// Moves the clock by `ADVANCE[n]`.
    Advance(u8),
}

/// Initial factors of a user (mask 1 TOTP, 2 SMS, 4 email) and whether
/// recovery codes were generated.
#[derive(Clone, Debug)]
pub struct UserSpec {
    pub factors: u8,
    pub recovery: bool,
}

/// A whole test case.
#[derive(Clone, Debug)]
pub struct Case {
    pub users: Vec<UserSpec>,
    pub policy: PolicySpec,
    pub ops: Vec<Op>,
}

const ADVANCE: [u64; 10] = [
    1,
    29,
    31,
    301,
    960,
    3601,
    DAY as u64,
    7 * DAY as u64,
    30 * DAY as u64,
    100 * DAY as u64,
];

fn methods_mask() -> impl Strategy<Value = u8> {
    prop_oneof![Just(1u8), Just(2), Just(4), 1u8..8]
}

fn settings_spec() -> impl Strategy<Value = SettingsSpec> {
    (
        methods_mask(),
        prop::bool::weighted(0.7),
        prop_oneof![1u16..3, 3u16..120],
        prop::option::weighted(0.3, -48i32..48),
    )
        .prop_map(
            |(methods, trust_device, trust_for_days, relogin_hours)| SettingsSpec {
                methods,
                trust_device,
                trust_for_days,
                relogin_hours,
            },
        )
}

fn cohort_spec() -> impl Strategy<Value = CohortSpec> {
    (
        0u8..16,
        any::<bool>(),
        prop::option::of(-40i32..40),
        prop::option::of(methods_mask()),
        prop::option::of(any::<bool>()),
        prop::option::of(1u16..120),
        prop::option::weighted(0.3, -48i32..48),
    )
        .prop_map(
            |(platforms, staff, enforce_days, methods, trust_device, trust_for_days, relogin_hours)| {
                CohortSpec {
                    platforms,
                    staff,
                    enforce_days,
                    methods,
                    trust_device,
                    trust_for_days,
                    relogin_hours,
                }
            },
        )
}

pub fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    (
        prop::option::of(-40i32..40),
        prop::option::of(1u16..30),
        settings_spec(),
        prop::collection::vec(cohort_spec(), 0..3),
    )
        .prop_map(|(enforce_days, grace_days, defaults, cohorts)| PolicySpec {
            enforce_days,
            grace_days,
            defaults,
            cohorts,
        })
}

fn aud_spec() -> impl Strategy<Value = AudSpec> {
    (0u8..4, prop::bool::weighted(0.3)).prop_map(|(platform, staff)| AudSpec { platform, staff })
}

fn cookie_spec() -> impl Strategy<Value = CookieSpec> {
    prop_oneof![
        3 => Just(CookieSpec::None),
        4 => any::<u8>().prop_map(CookieSpec::Own),
        2 => any::<u8>().prop_map(CookieSpec::Any),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(n, p)| CookieSpec::Tampered(n, p)),
        1 => Just(CookieSpec::Garbage),
    ]
}

pub fn op() -> impl Strategy<Value = Op> {
    let s = any::<u8>;
    prop_oneof![
        8 => (0u8..3, aud_spec(), aud_spec(), cookie_spec())
            .prop_map(|(user, aud, alt, cookie)| Op::Login { user, aud, alt, cookie }),
        3 => (s(), s()).prop_map(|(sess, factor)| Op::SendCode { sess, factor }),
        6 => (s(), s(), prop::bool::weighted(0.8), any::<bool>())
            .prop_map(|(sess, factor, right, trust)| Op::Totp { sess, factor, right, trust }),
        4 => (s(), prop::bool::weighted(0.8), any::<bool>())
            .prop_map(|(sess, right, trust)| Op::Challenge { sess, right, trust }),
        2 => (s(), prop::bool::weighted(0.8)).prop_map(|(sess, right)| Op::Recovery { sess, right }),
        3 => (s(), 0u8..3).prop_map(|(sess, kind)| Op::Enroll { sess, kind }),
        3 => (s(), prop::bool::weighted(0.8)).prop_map(|(sess, right)| Op::Confirm { sess, right }),
        1 => s().prop_map(|sess| Op::RecoveryCodes { sess }),
        1 => (s(), s()).prop_map(|(sess, factor)| Op::RemoveFactor { sess, factor }),
        1 => s().prop_map(|sess| Op::RevokeDevices { sess }),
        1 => s().prop_map(|sess| Op::PasswordChanged { sess }),
        1 => s().prop_map(|sess| Op::Logout { sess }),
        1 => s().prop_map(|n| Op::Replay { n }),
        1 => (s(), any::<u16>(), s()).prop_map(|(sess, pos, with)| Op::Tamper { sess, pos, with }),
        1 => (s(), any::<bool>()).prop_map(|(sess, upgrade)| Op::Reserialize { sess, upgrade }),
        1 => (0u8..3).prop_map(|user| Op::Foreign { user }),
        2 => (0u8..3, 0u8..3, aud_spec()).prop_map(|(user, kind, aud)| Op::EngineEnroll { user, kind, aud }),
        1 => (0u8..3).prop_map(|user| Op::AdminReset { user }),
        1 => (0u8..3).prop_map(|user| Op::AdminUnlock { user }),
        1 => policy_spec().prop_map(Op::SetPolicy),
        4 => (0u8..ADVANCE.len() as u8).prop_map(Op::Advance),
    ]
}

/// Cases of 3 users (initial factor sets), a policy, and `len` ops.
pub fn case(len: std::ops::Range<usize>) -> impl Strategy<Value = Case> {
    let user = (
        prop_oneof![2 => Just(0u8), 1 => Just(1), 1 => Just(2), 1 => Just(4), 1 => 0u8..8],
        any::<bool>(),
    )
        .prop_map(|(factors, recovery)| UserSpec { factors, recovery });
    (
        prop::collection::vec(user, 3),
        policy_spec(),
        prop::collection::vec(op(), len),
    )
        .prop_map(|(users, policy, ops)| Case { users, policy, ops })
}

// ---------------------------------------------------------------------------
// Statistics: evidence that the predictions are not vacuous
// ---------------------------------------------------------------------------

pub static STATS: [AtomicU64; 12] = [const { AtomicU64::new(0) }; 12];
pub const STAT_NAMES: [&str; 12] = [
    "login_choose_factor",
    "login_trusted_device",
    "login_no_factor",
    "verify_ok",
    "step_up_ok",
    "enroll_begun",
    "enroll_confirmed",
    "password_only_enroll_refused",
    "forged_token_refused",
    "admitted_complete_mfa",
    "predicted_success_checked",
    "ops",
];
const LOGIN_CHOOSE: usize = 0;
const LOGIN_TRUSTED: usize = 1;
const LOGIN_NOFACTOR: usize = 2;
const VERIFY_OK: usize = 3;
const STEP_UP_OK: usize = 4;
const ENROLL_BEGUN: usize = 5;
const ENROLL_CONFIRMED: usize = 6;
const PW_ENROLL_REFUSED: usize = 7;
const FORGED_REFUSED: usize = 8;
const ADMITTED_MFA: usize = 9;
const PREDICTED: usize = 10;
const OPS: usize = 11;

fn count(i: usize) {
    STATS[i].fetch_add(1, Ordering::Relaxed);
}

/// The counters so far, as `name=value` pairs.
pub fn stats() -> Vec<(&'static str, u64)> {
    STAT_NAMES
        .iter()
        .zip(&STATS)
        .map(|(n, v)| (*n, v.load(Ordering::Relaxed)))
        .collect()
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

const FREE_FAILURES: u32 = 4;
const CODE_TTL: Duration = Duration::from_secs(300);
const COOLDOWN: Duration = Duration::from_secs(30);
const PENDING_TTL: Duration = Duration::from_secs(900);
const SENDS_PER_HOUR: usize = 5;
const MAX_FACTORS: usize = 10;
/// Every op takes this long (real requests are never at the same instant).
const TICK: Duration = Duration::from_millis(10);

#[derive(Clone)]
struct MFactor {
    id: FactorId,
    kind: FactorKind,
    key: Option<Hmac<Sha1>>,
    dest: String,
    active: bool,
    created_at: Timestamp,
    confirmed_at: Option<Timestamp>,
    last_step: Option<u64>,
}

#[derive(Clone)]
struct MChallenge {
    id: ChallengeId,
    factor: FactorId,
    code: String,
    created_at: Timestamp,
    used: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum P {
    Login = 0,
    StepUp = 1,
    Enroll = 2,
}

struct MUser {
    id: UserId,
    n: usize,
    factors: Vec<MFactor>,
    /// An upper bound of the account's counted failures (0 after success).
    fails: u32,
    reenroll: bool,
    revoked_at: Option<Timestamp>,
    recovery: Vec<String>,
    sends: Vec<Timestamp>,
    live: [Option<MChallenge>; 3],
    /// A failed attempt on a challenge of this purpose since its last success
    /// (its attempt count carries over to a resend).
    dirty: [bool; 3],
    dests: u32,
    /// Begun enrolments the model does not track (their send failed).
    phantoms: usize,
}

impl MUser {
    fn active(&self) -> impl Iterator<Item = &MFactor> {
        self.factors.iter().filter(|f| f.active)
    }
    fn has_active(&self) -> bool {
        self.active().next().is_some()
    }
    fn unlocked(&self) -> bool {
        self.fails < FREE_FAILURES
    }
}

struct MToken {
    owner: usize,
    value: String,
    created_at: Timestamp,
    expires_at: Timestamp,
    revoked: bool,
}

#[derive(Clone)]
struct MSession {
    user: usize,
    token: SessionToken,
    aud: Audience,
    issued_at: Timestamp,
    /// Complete with the password alone (MFA not required when it began):
    /// it ends once the user has an active factor.
    pw_complete: bool,
}

fn hotp(key: &Hmac<Sha1>, counter: u64) -> String {
    let mut mac = key.clone();
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let v = (u32::from_be_bytes([h[off], h[off + 1], h[off + 2], h[off + 3]]) & 0x7fff_ffff) % 1_000_000;
    format!("{v:06}")
}

fn wrong_totp(key: &Hmac<Sha1>, step: u64) -> String {
    let window: HashSet<String> = (step - 2..=step + 2).map(|s| hotp(key, s)).collect();
    let mut v: u32 = hotp(key, step).parse::<u32>().unwrap() + 500_000;
    loop {
        let c = format!("{:06}", v % 1_000_000);
        if !window.contains(&c) {
            return c;
        }
        v += 1;
    }
}

fn wrong_code(code: &str) -> String {
    let v: u32 = code.parse().unwrap();
    format!("{:06}", (v + 1) % 1_000_000)
}

/// The step a right TOTP code is given for: the earliest in the window
/// (one back, now, one ahead) after the last accepted one.
fn right_step(last: Option<u64>, now_step: u64) -> Option<u64> {
    [now_step - 1, now_step, now_step + 1]
        .into_iter()
        .find(|s| last.is_none_or(|l| l < *s))
}

fn class(step: &LoginStep) -> &'static str {
    match step {
        LoginStep::ChooseFactor { .. } => "choose_factor",
        LoginStep::Complete {
            by: CompletedBy::TrustedDevice,
            ..
        } => "trusted_device",
        LoginStep::Complete {
            by: CompletedBy::SecondFactor,
            ..
        } => "second_factor",
        LoginStep::Complete {
            by: CompletedBy::NotRequired,
            ..
        } => "not_required",
        LoginStep::MustEnroll { .. } => "must_enroll",
        LoginStep::OfferEnroll { .. } => "offer_enroll",
        LoginStep::Locked { .. } => "locked",
        _ => "other",
    }
}

/// The engine, the model, and a trace of what happened (printed on failure).
pub struct World<S: MfaStore> {
    mfa: Mfa<S>,
    foreign: Mfa<MemoryStore>,
    clock: Arc<ManualClock>,
    outbox: Arc<Outbox>,
    users: Vec<MUser>,
    tokens: Vec<MToken>,
    sessions: Vec<MSession>,
    history: Vec<MSession>,
    cookie: TrustCookie,
    trace: Vec<String>,
}

/// A start instant on a TOTP step boundary (2026-05-28T20:27:00Z).
pub const T0: Timestamp = Timestamp::from_unix_secs(1_780_000_020);

fn config() -> MfaConfig {
    MfaConfig::builder("Model")
        .argon2(Argon2Params {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        })
        .recovery_codes(3)
        .build()
        .unwrap()
}

/// Runs one case on `store` (users are named `{prefix}u0`..`u2`, so that
/// cases can share a database).
pub async fn run_case<S: MfaStore>(store: S, case: &Case, prefix: &str) {
    let mut w = World::new(store, case, prefix).await;
    for (i, op) in case.ops.iter().enumerate() {
        w.clock.advance(TICK);
        w.trace.push(format!("#{i} {op:?}"));
        count(OPS);
        w.apply(op).await;
        w.check_all(i).await;
    }
}

macro_rules! fail {
    ($w:expr, $($arg:tt)*) => {{
        let msg = format!($($arg)*);
        panic!("{msg}\n  trace (last 12):\n    {}", $w.trace.iter().rev().take(12).rev().cloned().collect::<Vec<_>>().join("\n    "))
    }};
}

impl<S: MfaStore> World<S> {
    async fn new(store: S, case: &Case, prefix: &str) -> Self {
        let clock = Arc::new(ManualClock::new(T0));
        let outbox = Arc::new(Outbox::new());
        let mfa = Mfa::builder(store, Keys::generate_ephemeral().unwrap(), config())
            .clock(clock.clone())
            .sender(outbox.clone())
            .policy(Policy::default())
            .build();
        let foreign = Mfa::builder(MemoryStore::new(), Keys::generate_ephemeral().unwrap(), config())
            .clock(clock.clone())
            .sender(outbox.clone())
            .policy(Policy::default())
            .build();
        let users = (0..case.users.len().min(3))
            .map(|n| MUser {
                id: UserId::new(format!("{prefix}u{n}")).unwrap(),
                n,
                factors: Vec::new(),
                fails: 0,
                reenroll: false,
                revoked_at: None,
                recovery: Vec::new(),
                sends: Vec::new(),
                live: [None, None, None],
                dirty: [false; 3],
                dests: 0,
                phantoms: 0,
            })
            .collect();
        let mut w = World {
            mfa,
            foreign,
            clock,
            outbox,
            users,
            tokens: Vec::new(),
            sessions: Vec::new(),
            history: Vec::new(),
            cookie: HttpSettings::default().trust_cookie(),
            trace: Vec::new(),
        };
        // Initial factors, through the engine under the default policy
        // (all methods allowed, MFA not required).
        let web = Audience::new(Platform::WEB);
        for (u, spec) in case.users.iter().enumerate().take(3) {
            let mut caller = Caller::password_only(web.clone());
            let mut any = false;
            for (bit, kind) in [(1u8, 0u8), (2, 1), (4, 2)] {
                if spec.factors & bit == 0 {
                    continue;
                }
                let request = w.request(u, kind);
                let now = w.now();
                let enrollment = w
                    .mfa
                    .begin_enrollment(&w.users[u].id, request, &caller)
                    .await
                    .unwrap();
                let f = w.pending_from(u, kind, &enrollment, now);
                let code = match &enrollment {
                    Enrollment::Totp(_) => {
                        let s = w.step();
                        hotp(f.key.as_ref().unwrap(), s)
                    }
                    Enrollment::OutOfBand(_) => w.outbox.messages().last().unwrap().code.expose().to_owned(),
                };
                w.users[u].sends.extend((kind != 0).then_some(now));
                let enrolled = w
                    .mfa
                    .confirm_enrollment(&w.users[u].id, &f.id, &code)
                    .await
                    .unwrap();
                let mut f = f;
                f.active = true;
                f.confirmed_at = Some(now);
                if kind == 0 {
                    f.last_step = Some(w.step());
                }
                w.users[u].factors.push(f);
                caller = enrolled.caller(web.clone());
                any = true;
            }
            if any && spec.recovery {
                let codes = w
                    .mfa
                    .generate_recovery_codes(&w.users[u].id, &caller)
                    .await
                    .unwrap();
                w.users[u].recovery = codes.codes.iter().map(|c| c.expose().to_owned()).collect();
            }
        }
        w.clock.advance(Duration::from_secs(1));
        let policy = case.policy.build(w.now());
        w.mfa.set_policy(policy).unwrap();
        w
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn step(&self) -> u64 {
        self.now().unix_secs() as u64 / 30
    }

    fn request(&mut self, u: usize, kind: u8) -> EnrollRequest {
        let user = &mut self.users[u];
        user.dests += 1;
        match kind {
            0 => EnrollRequest::Totp {
                label: "App".into(),
                account_name: format!("u{u}"),
            },
            1 => EnrollRequest::Sms {
                label: "Phone".into(),
                phone: format!("+4477009{u}{:04}", user.dests),
            },
            _ => EnrollRequest::Email {
                label: "Mail".into(),
                address: format!("u{u}.{}@example.com", user.dests),
            },
        }
    }

    fn pending_from(&mut self, u: usize, kind: u8, e: &Enrollment, now: Timestamp) -> MFactor {
        let (key, dest) = match e {
            Enrollment::Totp(t) => {
                let seed = base32::decode(
                    base32::Alphabet::Rfc4648 { padding: false },
                    t.secret_base32.expose(),
                )
                .unwrap();
                (Some(Hmac::<Sha1>::new_from_slice(&seed).unwrap()), String::new())
            }
            Enrollment::OutOfBand(_) => {
                let m = self.outbox.messages().last().cloned().unwrap();
                assert_eq!(
                    &m.user, &self.users[u].id,
                    "an enrolment code went to another user"
                );
                (None, m.to.clone())
            }
        };
        if let Enrollment::OutOfBand(sent) = e {
            let code = self.outbox.messages().last().unwrap().code.expose().to_owned();
            self.users[u].live[P::Enroll as usize] = Some(MChallenge {
                id: sent.challenge.clone(),
                factor: sent.factor.clone(),
                code,
                created_at: now,
                used: false,
            });
        }
        MFactor {
            id: e.factor().clone(),
            kind: [FactorKind::Totp, FactorKind::Sms, FactorKind::Email][usize::from(kind)],
            key,
            dest,
            active: false,
            created_at: now,
            confirmed_at: None,
            last_step: None,
        }
    }

    /// Whether a send for `purpose` must be accepted now (lock, caps,
    /// cool-down, an exhausted challenge).
    fn send_ok(&self, u: usize, p: P) -> bool {
        let user = &self.users[u];
        let now = self.now();
        let recent = user
            .sends
            .iter()
            .filter(|&&t| t > now - Duration::from_secs(3600))
            .count();
        let cooling = user.live[p as usize]
            .as_ref()
            .is_some_and(|c| !c.used && now < c.created_at + CODE_TTL && now < c.created_at + COOLDOWN);
        user.unlocked() && recent < SENDS_PER_HOUR - 1 && !cooling && !user.dirty[p as usize]
    }

    fn revoke_tokens(&mut self, u: usize) {
        for t in self.tokens.iter_mut().filter(|t| t.owner == u) {
            t.revoked = true;
        }
    }

    fn session(&self, n: u8) -> Option<usize> {
        (!self.sessions.is_empty()).then(|| usize::from(n) % self.sessions.len())
    }

    /// The model's view of a genuine token: may it go on now?
    fn session_valid(&self, s: &MSession) -> bool {
        let user = &self.users[s.user];
        let revoked = user.revoked_at.is_some_and(|r| s.issued_at <= r);
        let outlived = s.pw_complete && user.has_active();
        !revoked && !outlived && !self.mfa.must_relogin(s.issued_at, &s.aud)
    }

    /// Admits session `i` (pending allowed), checking the engine agrees
    /// with the model on whether it may go on; a refused session is dropped.
    async fn admit(&mut self, i: usize) -> Option<RequestState> {
        let s = self.sessions[i].clone();
        let valid = self.session_valid(&s);
        match http::admit(&self.mfa, Some(s.token.clone()), true).await {
            Admission::Proceed(state) => {
                if !valid {
                    fail!(
                        self,
                        "a revoked or cut-off session was admitted (user {})",
                        s.user
                    );
                }
                let r = state
                    .record()
                    .unwrap_or_else(|| fail!(self, "a token admitted as anonymous"));
                assert_eq!(r.user(), &self.users[s.user].id);
                Some(state)
            }
            Admission::Refuse { refused, end_session } => {
                if valid {
                    fail!(self, "a valid session was refused: {:?}", refused.error);
                }
                assert!(end_session, "a revoked session was not ended");
                self.history.push(self.sessions.remove(i));
                None
            }
        }
    }

    /// Applies a session change to session `i`.
    async fn renew(&mut self, i: usize, change: &SessionChange) {
        match change {
            SessionChange::Renew(token) => {
                let old = self.sessions[i].clone();
                let state = match http::admit(&self.mfa, Some(token.clone()), true).await {
                    Admission::Proceed(state) => state,
                    Admission::Refuse { refused, .. } => {
                        fail!(
                            self,
                            "a session just renewed by the engine is refused: {:?}",
                            refused.error
                        )
                    }
                };
                let issued_at = state.record().unwrap().issued_at();
                let pw_complete = state.complete().is_ok_and(|c| !c.assurance.is_multi_factor());
                self.sessions[i] = MSession {
                    token: token.clone(),
                    issued_at,
                    pw_complete,
                    ..old.clone()
                };
                self.history.push(old);
            }
            SessionChange::End => {
                self.history.push(self.sessions.remove(i));
            }
            _ => {}
        }
    }

    async fn handle(&self, state: RequestState, call: Call) -> Result<Reply, ApiError> {
        http::handle(&self.mfa, self.cookie, state, call).await
    }

    fn token_value(&self, u: usize, c: CookieSpec) -> (Option<String>, Option<usize>) {
        let nth = |it: Vec<usize>, n: u8| (!it.is_empty()).then(|| it[usize::from(n) % it.len()]);
        match c {
            CookieSpec::None => (None, None),
            CookieSpec::Own(n) => {
                let mine = (0..self.tokens.len())
                    .filter(|&t| self.tokens[t].owner == u)
                    .collect();
                match nth(mine, n) {
                    Some(t) => (Some(self.tokens[t].value.clone()), Some(t)),
                    None => (None, None),
                }
            }
            CookieSpec::Any(n) => match nth((0..self.tokens.len()).collect(), n) {
                Some(t) => (Some(self.tokens[t].value.clone()), Some(t)),
                None => (None, None),
            },
            CookieSpec::Tampered(n, p) => match nth((0..self.tokens.len()).collect(), n) {
                Some(t) => {
                    let mut b = self.tokens[t].value.clone().into_bytes();
                    let i = usize::from(p) % b.len();
                    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
                    (Some(String::from_utf8(b).unwrap()), None)
                }
                None => (Some("garbage".into()), None),
            },
            CookieSpec::Garbage => (Some("not-a-token".into()), None),
        }
    }

    /// Whether trust token `t` must complete a login of `u` claiming `aud`.
    fn trust_valid(&self, t: Option<usize>, u: usize, aud: &Audience) -> bool {
        let Some(t) = t else { return false };
        let t = &self.tokens[t];
        let s = self.mfa.policy().settings_for(aud);
        t.owner == u
            && !t.revoked
            && s.trust_device
            && self.now() < t.expires_at.min(t.created_at + s.trust_for)
    }

    /// I1 and the model's prediction for one login answer.
    fn check_login(&self, u: usize, aud: &Audience, step: &LoginStep, token: Option<usize>, what: &str) {
        let user = &self.users[u];
        let valid_trust = self.trust_valid(token, u, aud);
        if let LoginStep::Complete {
            by: CompletedBy::TrustedDevice,
            assurance,
            ..
        } = step
        {
            if !valid_trust || !user.has_active() {
                fail!(
                    self,
                    "{what}: a trust token completed a login it must not (token {token:?})"
                );
            }
            assert!(
                matches!(assurance, Assurance::TrustedDevice { .. }),
                "{what}: {assurance:?}"
            );
        }
        if user.has_active() {
            // I1: only a factor, a recovery code or a trusted device.
            let ok = matches!(
                step,
                LoginStep::ChooseFactor { .. }
                    | LoginStep::Locked { .. }
                    | LoginStep::Complete {
                        by: CompletedBy::TrustedDevice,
                        ..
                    }
            );
            if !ok {
                fail!(
                    self,
                    "I1: {what}: user {u} has an active factor but the login answered {step:?}"
                );
            }
            if let LoginStep::ChooseFactor {
                factors,
                recovery_codes,
                ..
            } = step
            {
                let got: BTreeSet<String> = factors.iter().map(|f| f.id.to_string()).collect();
                let want: BTreeSet<String> = user.active().map(|f| f.id.to_string()).collect();
                if got != want {
                    fail!(self, "{what}: ChooseFactor lists {got:?}, the user has {want:?}");
                }
                assert_eq!(
                    *recovery_codes,
                    !user.recovery.is_empty(),
                    "{what}: recovery_codes flag"
                );
            }
            if user.unlocked() {
                count(PREDICTED);
                let want = if valid_trust {
                    "trusted_device"
                } else {
                    "choose_factor"
                };
                if class(step) != want {
                    fail!(self, "{what}: expected {want}, the engine answered {step:?}");
                }
            }
        } else if user.unlocked() {
            count(PREDICTED);
            let want = if user.reenroll {
                "must_enroll"
            } else {
                match self.mfa.policy().requirement(aud, self.now()) {
                    Requirement::Required => "must_enroll",
                    Requirement::Offered => "offer_enroll",
                    Requirement::NotRequired => "not_required",
                }
            };
            if class(step) != want {
                fail!(
                    self,
                    "{what}: user {u} has no factor: expected {want}, got {step:?}"
                );
            }
        }
    }

    async fn apply(&mut self, op: &Op) {
        match *op {
            Op::Login {
                user,
                aud,
                alt,
                cookie,
            } => self.login(usize::from(user % 3), aud, alt, cookie).await,
            Op::SendCode { sess, factor } => self.send_code(sess, factor).await,
            Op::Totp {
                sess,
                factor,
                right,
                trust,
            } => self.code(sess, Some(factor), Kind::Totp, right, trust).await,
            Op::Challenge { sess, right, trust } => {
                self.code(sess, None, Kind::Challenge, right, trust).await
            }
            Op::Recovery { sess, right } => self.code(sess, None, Kind::Recovery, right, false).await,
            Op::Enroll { sess, kind } => self.enroll(sess, kind % 3).await,
            Op::Confirm { sess, right } => self.confirm(sess, right).await,
            Op::RecoveryCodes { sess } => self.recovery_codes(sess).await,
            Op::RemoveFactor { sess, factor } => self.remove_factor(sess, factor).await,
            Op::RevokeDevices { sess } => {
                let Some(i) = self.session(sess) else { return };
                let Some(state) = self.admit(i).await else { return };
                let complete = state.complete().is_ok();
                let u = self.sessions[i].user;
                let r = self.handle(state, Call::RevokeAllDevices).await;
                match r {
                    Ok(reply) => {
                        assert!(complete, "a pending session revoked devices");
                        assert!(reply.set_cookie.is_some(), "the trust cookie was not cleared");
                        self.revoke_tokens(u);
                    }
                    Err(e) => assert!(!complete, "revoking devices failed: {e:?}"),
                }
            }
            Op::PasswordChanged { sess } => {
                let Some(i) = self.session(sess) else { return };
                let Some(state) = self.admit(i).await else { return };
                let complete = state.complete().is_ok();
                let u = self.sessions[i].user;
                match http::password_changed(&self.mfa, &state).await {
                    Ok(change) => {
                        assert!(complete, "a pending session changed the password");
                        self.users[u].revoked_at = Some(self.now());
                        self.revoke_tokens(u);
                        self.renew(i, &change).await;
                    }
                    Err(e) => assert!(!complete, "password change failed: {e:?}"),
                }
            }
            Op::Logout { sess } => {
                if let Some(i) = self.session(sess) {
                    self.history.push(self.sessions.remove(i));
                }
            }
            Op::Replay { n } => {
                // Old tokens are checked by check_all; here one comes back
                // as the browser's live session.
                if !self.history.is_empty() {
                    let i = usize::from(n) % self.history.len();
                    let s = self.history[i].clone();
                    self.sessions.push(s);
                }
            }
            Op::Tamper { sess, pos, with } => {
                let Some(i) = self.session(sess) else { return };
                let mut b = self.sessions[i].token.as_str().as_bytes().to_vec();
                let p = usize::from(pos) % b.len();
                let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
                let mut c = alphabet[usize::from(with) % alphabet.len()];
                if c == b[p] {
                    c = if b[p] == b'A' { b'B' } else { b'A' };
                }
                b[p] = c;
                let forged = SessionToken::from_stored(String::from_utf8(b).unwrap());
                self.expect_refused(forged, "a tampered session token").await;
            }
            Op::Reserialize { sess, upgrade } => {
                let Some(i) = self.session(sess) else { return };
                let token = self.sessions[i].token.as_str().to_owned();
                let (body, tag) = token.split_once('.').unwrap();
                let mut json: serde_json::Value = serde_json::from_slice(&B64.decode(body).unwrap()).unwrap();
                if upgrade {
                    let at = json["issued_at"].clone();
                    json["stage"] = serde_json::json!({
                        "stage": "complete",
                        "assurance": {"by": "second_factor", "at": at, "method": "totp"},
                        "by": "second_factor",
                    });
                } else {
                    // Pretty-printed: the same record, other bytes.
                    let pretty = serde_json::to_vec_pretty(&json).unwrap();
                    let forged = SessionToken::from_stored(format!("{}.{tag}", B64.encode(&pretty)));
                    self.expect_refused(forged, "a re-serialized session token").await;
                    return;
                }
                let bytes = serde_json::to_vec(&json).unwrap();
                let forged = SessionToken::from_stored(format!("{}.{tag}", B64.encode(&bytes)));
                self.expect_refused(forged, "an edited session token").await;
            }
            Op::Foreign { user } => {
                let id = self.users[usize::from(user % 3)].id.clone();
                let (_, change) = http::begin_login(&self.foreign, &id, Audience::new(Platform::WEB), None)
                    .await
                    .unwrap();
                if let SessionChange::Renew(token) = change {
                    self.expect_refused(token, "a session sealed by another engine")
                        .await;
                }
            }
            Op::AdminReset { user } => {
                let u = usize::from(user % 3);
                self.mfa.admin_reset(&self.users[u].id, "model").await.unwrap();
                let now = self.now();
                let m = &mut self.users[u];
                m.factors.clear();
                m.recovery.clear();
                m.fails = 0;
                m.reenroll = true;
                m.revoked_at = Some(now);
                m.live = [None, None, None];
                m.dirty = [false; 3];
                m.phantoms = 0;
                self.revoke_tokens(u);
            }
            Op::EngineEnroll { user, kind, aud } => {
                self.engine_enroll(usize::from(user % 3), kind % 3, aud).await
            }
            Op::AdminUnlock { user } => {
                let u = usize::from(user % 3);
                self.mfa.admin_unlock(&self.users[u].id, "model").await.unwrap();
                self.users[u].fails = 0;
            }
            Op::SetPolicy(ref spec) => {
                let p = spec.build(self.now());
                if let Err(e) = self.mfa.set_policy(p.clone()) {
                    fail!(self, "a valid policy was refused: {e}: {p:?}");
                }
            }
            Op::Advance(n) => self
                .clock
                .advance(Duration::from_secs(ADVANCE[usize::from(n) % ADVANCE.len()])),
        }
    }

    async fn expect_refused(&mut self, token: SessionToken, what: &str) {
        match http::admit(&self.mfa, Some(token), true).await {
            Admission::Proceed(state) => {
                fail!(self, "I3: {what} was admitted: {:?}", state.record())
            }
            Admission::Refuse { refused, end_session } => {
                assert_eq!(refused.error.status, 401, "{what}: {:?}", refused.error);
                assert!(end_session, "{what}: the session was not ended");
                count(FORGED_REFUSED);
            }
        }
    }

    async fn login(&mut self, u: usize, aud: AudSpec, alt: AudSpec, cookie: CookieSpec) {
        let aud_a = aud.audience();
        let mut alt = alt;
        if alt == aud {
            alt.platform = (alt.platform + 1) % 4;
        }
        let aud_b = alt.audience();
        let (value, token) = self.token_value(u, cookie);
        let id = self.users[u].id.clone();
        let (step, change) = http::begin_login(&self.mfa, &id, aud_a.clone(), value.as_deref())
            .await
            .unwrap_or_else(|e| fail!(self, "begin_login failed: {e:?}"));
        self.check_login(u, &aud_a, &step, token, "login");
        match class(&step) {
            "choose_factor" => count(LOGIN_CHOOSE),
            "trusted_device" => count(LOGIN_TRUSTED),
            "locked" => {}
            _ => count(LOGIN_NOFACTOR),
        }
        // I4: the same login at the same instant, claiming another platform/groups.
        let mut ctx = LoginContext::new(aud_b.clone());
        if let Some(v) = &value {
            ctx = ctx.with_trust_token(v.clone());
        }
        let other = self.mfa.begin_login(&id, &ctx).await.unwrap();
        self.check_login(u, &aud_b, &other, token, "login (other claims)");
        if self.users[u].has_active() {
            let policy = self.mfa.policy();
            let (sa, sb) = (policy.settings_for(&aud_a), policy.settings_for(&aud_b));
            let same_trust = sa.trust_device == sb.trust_device && sa.trust_for == sb.trust_for;
            let (ca, cb) = (class(&step), class(&other));
            let asked = |c: &str| c == "choose_factor";
            if (ca == "locked") != (cb == "locked")
                || (same_trust && ca != cb)
                || (!same_trust
                    && asked(ca) != asked(cb)
                    && !(ca == "trusted_device" || cb == "trusted_device"))
            {
                fail!(
                    self,
                    "I4: user {u} claiming {aud:?} got {ca}, claiming {alt:?} got {cb} (trust settings equal: {same_trust})"
                );
            }
        }
        match change {
            SessionChange::Renew(token) => {
                let now = self.now();
                self.sessions.push(MSession {
                    user: u,
                    token,
                    aud: aud_a,
                    issued_at: now,
                    pw_complete: matches!(class(&step), "not_required" | "offer_enroll"),
                });
                if self.sessions.len() > 6 {
                    let old = self.sessions.remove(0);
                    self.history.push(old);
                }
            }
            SessionChange::End => assert_eq!(class(&step), "locked", "a login ended its session"),
            _ => fail!(self, "a login kept the old session id"),
        }
    }

    async fn send_code(&mut self, sess: u8, factor: u8) {
        let Some(i) = self.session(sess) else { return };
        let u = self.sessions[i].user;
        let oob: Vec<MFactor> = self.users[u]
            .active()
            .filter(|f| f.kind != FactorKind::Totp)
            .cloned()
            .collect();
        if oob.is_empty() {
            return;
        }
        let f = oob[usize::from(factor) % oob.len()].clone();
        let Some(state) = self.admit(i).await else { return };
        let p = if state.record().unwrap().is_pending() {
            P::Login
        } else {
            P::StepUp
        };
        let predicted = self.send_ok(u, p);
        let now = self.now();
        let sent_before = self.outbox.messages().len();
        let r = self
            .handle(
                state,
                Call::SendCode(SendCodeRequest {
                    factor_id: f.id.to_string(),
                }),
            )
            .await;
        self.users[u].sends.push(now);
        match r {
            Ok(reply) => {
                let body = reply.body.unwrap();
                let m = self.outbox.messages().last().cloned().unwrap();
                assert_eq!(self.outbox.messages().len(), sent_before + 1);
                assert_eq!(m.user, self.users[u].id, "a code went to another user");
                assert_eq!(m.to, f.dest, "a code went to another destination");
                let id: ChallengeId = body["challenge_id"].as_str().unwrap().parse().unwrap();
                self.users[u].live[p as usize] = Some(MChallenge {
                    id,
                    factor: f.id.clone(),
                    code: m.code.expose().to_owned(),
                    created_at: now,
                    used: false,
                });
            }
            Err(e) => {
                if predicted {
                    fail!(self, "a send the model allows was refused: {e:?}");
                }
            }
        }
        if predicted {
            count(PREDICTED);
        }
    }

    async fn code(&mut self, sess: u8, factor: Option<u8>, kind: Kind, right: bool, trust: bool) {
        let Some(i) = self.session(sess) else { return };
        let u = self.sessions[i].user;
        let now = self.now();
        let Some(state) = self.admit(i).await else { return };
        let pending = state.record().unwrap().is_pending();
        let p = if pending { P::Login } else { P::StepUp };
        let unlocked = self.users[u].unlocked();
        // (target, code, must succeed, may succeed)
        let (target, code, must, may, step_used) = match kind {
            Kind::Totp => {
                let totps: Vec<MFactor> = self.users[u]
                    .active()
                    .filter(|f| f.kind == FactorKind::Totp)
                    .cloned()
                    .collect();
                if totps.is_empty() {
                    return;
                }
                let f = &totps[usize::from(factor.unwrap_or(0)) % totps.len()];
                let key = f.key.as_ref().unwrap();
                let s = self.step();
                let target = CodeTarget::Totp {
                    factor_id: f.id.to_string(),
                };
                match right_step(f.last_step, s).filter(|_| right) {
                    Some(st) => (target, hotp(key, st), unlocked, true, Some((f.id.clone(), st))),
                    None if right => (target, hotp(key, s), false, false, None),
                    None => (target, wrong_totp(key, s), false, false, None),
                }
            }
            Kind::Challenge => {
                let Some(c) = self.users[u].live[p as usize].clone() else {
                    return;
                };
                let live = !c.used && now < c.created_at + CODE_TTL;
                let target = CodeTarget::Challenge {
                    challenge_id: c.id.to_string(),
                };
                if right {
                    let must = live && unlocked && !self.users[u].dirty[p as usize];
                    (target, c.code.clone(), must, live, None)
                } else {
                    (target, wrong_code(&c.code), false, false, None)
                }
            }
            Kind::Recovery => {
                let codes = &self.users[u].recovery;
                match codes.first() {
                    Some(c) if right => (CodeTarget::RecoveryCode {}, c.clone(), unlocked, true, None),
                    _ => (
                        CodeTarget::RecoveryCode {},
                        "aaaa-bbbb-cccc-dddd".into(),
                        false,
                        false,
                        None,
                    ),
                }
            }
        };
        let call = if pending {
            Call::Verify(
                VerifyRequest {
                    target,
                    code: code.clone(),
                    trust_device: trust,
                    device_label: Some("model".into()),
                },
                None,
            )
        } else {
            Call::StepUp(StepUpRequest {
                target,
                code: code.clone(),
            })
        };
        let aud = self.sessions[i].aud.clone();
        let was_complete_by = state.complete().ok().map(|c| c.completed_by);
        let r = self.handle(state, call).await;
        if must {
            count(PREDICTED);
        }
        match r {
            Ok(reply) => {
                if !may {
                    fail!(
                        self,
                        "a wrong, replayed or dead code was accepted ({kind:?}, {code})"
                    );
                }
                count(if pending { VERIFY_OK } else { STEP_UP_OK });
                let user = &mut self.users[u];
                user.fails = 0;
                match kind {
                    Kind::Totp => {
                        let (id, st) = step_used.unwrap();
                        let f = user.factors.iter_mut().find(|f| f.id == id).unwrap();
                        f.last_step = Some(st);
                    }
                    Kind::Challenge => {
                        user.live[p as usize].as_mut().unwrap().used = true;
                        user.dirty[p as usize] = false;
                    }
                    Kind::Recovery => {
                        user.recovery.remove(0);
                    }
                }
                let allowed = self.mfa.policy().settings_for(&aud).trust_device;
                if pending && trust && allowed {
                    let cookie = reply
                        .set_cookie
                        .clone()
                        .unwrap_or_else(|| fail!(self, "trust was asked and allowed, no cookie"));
                    let value = cookie
                        .split_once('=')
                        .unwrap()
                        .1
                        .split(';')
                        .next()
                        .unwrap()
                        .to_owned();
                    let trust_for = self.mfa.policy().settings_for(&aud).trust_for;
                    self.tokens.push(MToken {
                        owner: u,
                        value,
                        created_at: now,
                        expires_at: now + trust_for,
                        revoked: false,
                    });
                } else if reply.set_cookie.is_some() {
                    fail!(self, "a trust cookie was set though not asked or not allowed");
                }
                self.renew(i, &reply.session).await;
                // The session is now complete by a factor (step-up keeps a
                // trusted-device login's `by`).
                if let Some(s) = self.sessions.get(i) {
                    let tok = s.token.clone();
                    if let Admission::Proceed(st) = http::admit(&self.mfa, Some(tok), true).await {
                        let c = st
                            .complete()
                            .unwrap_or_else(|_| fail!(self, "verified but not complete"));
                        assert!(matches!(c.assurance, Assurance::SecondFactor { .. }));
                        assert!(st.is_fresh());
                        let want = match was_complete_by {
                            Some(CompletedBy::TrustedDevice) => CompletedBy::TrustedDevice,
                            _ => CompletedBy::SecondFactor,
                        };
                        assert_eq!(c.completed_by, want);
                    }
                }
            }
            Err(e) => {
                if must {
                    fail!(
                        self,
                        "a right code the model predicts must succeed was refused ({kind:?}): {e:?}"
                    );
                }
                let user = &mut self.users[u];
                user.fails += 1;
                if kind == Kind::Challenge {
                    user.dirty[p as usize] = true;
                }
            }
        }
    }

    async fn enroll(&mut self, sess: u8, kind: u8) {
        let Some(i) = self.session(sess) else { return };
        let u = self.sessions[i].user;
        let Some(state) = self.admit(i).await else { return };
        let now = self.now();
        let record = state.record().unwrap().clone();
        let password_only = !record.assurance().is_multi_factor();
        let route_ok = match record.stage() {
            http::Stage::Pending { step } => matches!(step, http::PendingStep::MustEnroll { .. }),
            _ => true,
        };
        let fk = [FactorKind::Totp, FactorKind::Sms, FactorKind::Email][usize::from(kind)];
        let allowed = self
            .mfa
            .policy()
            .settings_for(record.audience())
            .methods
            .contains(&fk);
        let had_active = self.users[u].has_active();
        self.users[u]
            .factors
            .retain(|f| f.active || f.created_at >= now - PENDING_TTL);
        let count_ok = self.users[u].factors.len() + self.users[u].phantoms + 1 < MAX_FACTORS;
        let send_ok = kind == 0 || self.send_ok(u, P::Enroll);
        let must = route_ok && allowed && (!had_active || state.is_fresh()) && count_ok && send_ok;
        let request = self.request(u, kind);
        let call = match request {
            EnrollRequest::Totp { label, .. } => Call::EnrollTotp(EnrollTotpRequest {
                label,
                account_name: None,
            }),
            EnrollRequest::Sms { label, phone } => Call::EnrollSms(EnrollSmsRequest { label, phone }),
            EnrollRequest::Email { label, address } => {
                Call::EnrollEmail(EnrollEmailRequest { label, address })
            }
        };
        let before = self.outbox.messages().len();
        let r = self.handle(state, call).await;
        if kind != 0 && route_ok && allowed && (!had_active || !password_only) {
            self.users[u].sends.push(now);
        }
        if must {
            count(PREDICTED);
        }
        match r {
            Ok(reply) => {
                // I2, at the start of an enrolment.
                if password_only && had_active {
                    fail!(
                        self,
                        "I2: a password-only session began enrolling a factor while the user has one"
                    );
                }
                if !route_ok || !allowed {
                    fail!(
                        self,
                        "an enrolment was begun that the route or the cohort forbids"
                    );
                }
                count(ENROLL_BEGUN);
                let body = reply.body.unwrap();
                let id: FactorId = body["factor_id"].as_str().unwrap().parse().unwrap();
                let (key, dest) = if kind == 0 {
                    let seed = base32::decode(
                        base32::Alphabet::Rfc4648 { padding: false },
                        body["secret"].as_str().unwrap(),
                    )
                    .unwrap();
                    (Some(Hmac::<Sha1>::new_from_slice(&seed).unwrap()), String::new())
                } else {
                    assert_eq!(self.outbox.messages().len(), before + 1);
                    let m = self.outbox.messages().last().cloned().unwrap();
                    assert_eq!(m.user, self.users[u].id);
                    let challenge: ChallengeId = body["challenge_id"].as_str().unwrap().parse().unwrap();
                    self.users[u].live[P::Enroll as usize] = Some(MChallenge {
                        id: challenge,
                        factor: id.clone(),
                        code: m.code.expose().to_owned(),
                        created_at: now,
                        used: false,
                    });
                    (None, m.to.clone())
                };
                self.users[u].factors.push(MFactor {
                    id,
                    kind: fk,
                    key,
                    dest,
                    active: false,
                    created_at: now,
                    confirmed_at: None,
                    last_step: None,
                });
            }
            Err(e) => {
                if must {
                    fail!(self, "an enrolment the model allows was refused: {e:?}");
                }
                if password_only && had_active {
                    count(PW_ENROLL_REFUSED);
                }
                if kind != 0 && e.body.error != "method_not_allowed" && e.body.error != "step_up_required" {
                    // The pending factor may have been stored before the send failed.
                    self.users[u].phantoms += 1;
                }
            }
        }
    }

    async fn engine_enroll(&mut self, u: usize, kind: u8, aud: AudSpec) {
        let aud = aud.audience();
        let now = self.now();
        let fk = [FactorKind::Totp, FactorKind::Sms, FactorKind::Email][usize::from(kind)];
        let allowed = self.mfa.policy().settings_for(&aud).methods.contains(&fk);
        let had_active = self.users[u].has_active();
        self.users[u]
            .factors
            .retain(|f| f.active || f.created_at >= now - PENDING_TTL);
        let count_ok = self.users[u].factors.len() + self.users[u].phantoms + 1 < MAX_FACTORS;
        let send_ok = kind == 0 || self.send_ok(u, P::Enroll);
        let must = allowed && !had_active && count_ok && send_ok;
        let request = self.request(u, kind);
        let id = self.users[u].id.clone();
        let r = self
            .mfa
            .begin_enrollment(&id, request, &Caller::password_only(aud))
            .await;
        if kind != 0 && allowed && !had_active {
            self.users[u].sends.push(now);
        }
        if must {
            count(PREDICTED);
        }
        match r {
            Ok(e) => {
                if had_active {
                    fail!(
                        self,
                        "I2: the engine began an enrolment for a password-only caller of a user with a factor"
                    );
                }
                assert!(allowed, "an enrolment of a method the cohort forbids");
                count(ENROLL_BEGUN);
                let f = self.pending_from(u, kind, &e, now);
                self.users[u].factors.push(f);
            }
            Err(e) => {
                if must {
                    fail!(self, "an enrolment the model allows was refused: {e:?}");
                }
                if had_active {
                    assert!(
                        matches!(e, MfaError::StepUpRequired | MfaError::MethodNotAllowed(_)),
                        "{e:?}"
                    );
                    count(PW_ENROLL_REFUSED);
                }
                if kind != 0 && !had_active && allowed {
                    self.users[u].phantoms += 1;
                }
            }
        }
    }

    async fn confirm(&mut self, sess: u8, right: bool) {
        let Some(i) = self.session(sess) else { return };
        let u = self.sessions[i].user;
        let now = self.now();
        let Some(f) = self.users[u].factors.iter().rev().find(|f| !f.active).cloned() else {
            return;
        };
        let Some(state) = self.admit(i).await else { return };
        let record = state.record().unwrap().clone();
        let password_only = !record.assurance().is_multi_factor();
        let route_ok = match record.stage() {
            http::Stage::Pending { step } => matches!(step, http::PendingStep::MustEnroll { .. }),
            _ => true,
        };
        let user = &self.users[u];
        let fresh_pending = f.created_at >= now - PENDING_TTL;
        let overtaken = user
            .active()
            .any(|g| g.confirmed_at.is_some_and(|c| c > f.created_at));
        let first = !user.has_active();
        let (code, code_ok, step_used) = match &f.key {
            Some(key) => match right_step(f.last_step, self.step()).filter(|_| right) {
                Some(st) => (hotp(key, st), true, Some(st)),
                None => (wrong_totp(key, self.step()), false, None),
            },
            None => match &user.live[P::Enroll as usize] {
                Some(c) if c.factor == f.id => {
                    let live = !c.used && now < c.created_at + CODE_TTL && !user.dirty[P::Enroll as usize];
                    if right {
                        (c.code.clone(), live, None)
                    } else {
                        (wrong_code(&c.code), false, None)
                    }
                }
                _ => ("123456".into(), false, None),
            },
        };
        let must = route_ok && fresh_pending && !overtaken && code_ok && user.unlocked();
        let may = right && route_ok;
        let r = self
            .handle(
                state,
                Call::EnrollConfirm(ConfirmRequest {
                    factor_id: f.id.to_string(),
                    code,
                }),
            )
            .await;
        if must {
            count(PREDICTED);
        }
        match r {
            Ok(reply) => {
                if !may {
                    fail!(
                        self,
                        "an enrolment was confirmed with a wrong code or from a ChooseFactor session"
                    );
                }
                // I2, at the end of an enrolment.
                if password_only && !first {
                    fail!(
                        self,
                        "I2: a password-only session confirmed a factor while the user has one"
                    );
                }
                count(ENROLL_CONFIRMED);
                let user = &mut self.users[u];
                user.fails = 0;
                user.reenroll = false;
                if f.key.is_none() {
                    user.live[P::Enroll as usize].as_mut().unwrap().used = true;
                    user.dirty[P::Enroll as usize] = false;
                }
                let m = user.factors.iter_mut().find(|g| g.id == f.id).unwrap();
                m.active = true;
                m.confirmed_at = Some(now);
                if let Some(st) = step_used {
                    m.last_step = Some(st);
                }
                self.renew(i, &reply.session).await;
            }
            Err(e) => {
                if must {
                    fail!(
                        self,
                        "a confirmation the model predicts must succeed was refused: {e:?}"
                    );
                }
                if route_ok {
                    self.users[u].fails += 1;
                    if f.key.is_none() {
                        self.users[u].dirty[P::Enroll as usize] = true;
                    }
                }
            }
        }
    }

    async fn recovery_codes(&mut self, sess: u8) {
        let Some(i) = self.session(sess) else { return };
        let u = self.sessions[i].user;
        let Some(state) = self.admit(i).await else { return };
        let must = state.complete().is_ok() && state.is_fresh() && self.users[u].has_active();
        let r = self.handle(state, Call::RecoveryCodes).await;
        match r {
            Ok(reply) => {
                assert!(
                    must,
                    "recovery codes generated without a fresh factor or an active factor"
                );
                let codes = reply.body.unwrap()["codes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect();
                self.users[u].recovery = codes;
            }
            Err(e) => {
                if must {
                    fail!(self, "recovery codes refused: {e:?}");
                }
            }
        }
    }

    async fn remove_factor(&mut self, sess: u8, factor: u8) {
        let Some(i) = self.session(sess) else { return };
        let u = self.sessions[i].user;
        let active: Vec<FactorId> = self.users[u].active().map(|f| f.id.clone()).collect();
        if active.is_empty() {
            return;
        }
        let id = active[usize::from(factor) % active.len()].clone();
        let Some(state) = self.admit(i).await else { return };
        let must = state.complete().is_ok() && state.is_fresh();
        let r = self.handle(state, Call::RemoveFactor(id.to_string())).await;
        match r {
            Ok(_) => {
                assert!(must, "a factor was removed without a fresh second factor");
                let user = &mut self.users[u];
                user.factors.retain(|f| f.id != id);
                for c in user.live.iter_mut() {
                    if c.as_ref().is_some_and(|c| c.factor == id) {
                        *c = None;
                    }
                }
                self.revoke_tokens(u);
            }
            Err(e) => {
                if must {
                    fail!(self, "removing a factor was refused: {e:?}");
                }
            }
        }
    }

    /// After every op: the engine's factors are the model's; every token
    /// ever issued (live or old) is admitted exactly when the model says,
    /// and a complete login of a user with an active factor was completed
    /// by a factor or a trusted device (I1, I3); a login of each user
    /// claiming two different audiences agrees on asking for a factor (I4).
    async fn check_all(&mut self, _op: usize) {
        for u in 0..self.users.len() {
            let got: BTreeSet<String> = self
                .mfa
                .factors(&self.users[u].id)
                .await
                .unwrap()
                .iter()
                .map(|f| f.id.to_string())
                .collect();
            let want: BTreeSet<String> = self.users[u].active().map(|f| f.id.to_string()).collect();
            if got != want {
                fail!(
                    self,
                    "user {u}: the engine has factors {got:?}, the model {want:?}"
                );
            }
        }
        let n_hist = self.history.len();
        let tokens: Vec<MSession> = self
            .sessions
            .iter()
            .chain(self.history[n_hist.saturating_sub(12)..].iter())
            .cloned()
            .collect();
        for s in &tokens {
            let valid = self.session_valid(s);
            match http::admit(&self.mfa, Some(s.token.clone()), true).await {
                Admission::Proceed(state) => {
                    if !valid {
                        fail!(self, "a revoked or cut-off token of user {} is admitted", s.user);
                    }
                    if let Ok(c) = state.complete()
                        && self.users[s.user].has_active()
                    {
                        if !c.assurance.is_multi_factor() || c.completed_by == CompletedBy::NotRequired {
                            fail!(
                                self,
                                "I1/I3: user {} has an active factor and a session complete by {:?} ({:?})",
                                s.user,
                                c.completed_by,
                                c.assurance
                            );
                        }
                        count(ADMITTED_MFA);
                    }
                }
                Admission::Refuse { refused, .. } => {
                    if valid {
                        fail!(
                            self,
                            "a valid token of user {} is refused: {:?}",
                            s.user,
                            refused.error
                        );
                    }
                }
            }
        }
        // I4 without trust cookies: web vs. iOS staff.
        for u in 0..self.users.len() {
            if !self.users[u].has_active() {
                continue;
            }
            let id = self.users[u].id.clone();
            let a = Audience::new(Platform::WEB);
            let b = Audience::new(Platform::IOS).with_groups(["staff"]);
            let sa = self
                .mfa
                .begin_login(&id, &LoginContext::new(a.clone()))
                .await
                .unwrap();
            let sb = self
                .mfa
                .begin_login(&id, &LoginContext::new(b.clone()))
                .await
                .unwrap();
            self.check_login(u, &a, &sa, None, "check (web)");
            self.check_login(u, &b, &sb, None, "check (ios staff)");
            if class(&sa) != class(&sb) {
                fail!(
                    self,
                    "I4: user {u}: web {} vs ios staff {}",
                    class(&sa),
                    class(&sb)
                );
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Totp,
    Challenge,
    Recovery,
}
