//! The one shared fixture of the integration tests: an engine over a
//! `MemoryStore` with a `ManualClock`, an `Outbox`, a `MemorySink` and fast
//! Argon2id, plus helpers to enrol factors and compute TOTP codes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use mfa_core::*;

/// A fixed start time (2026-05-28T20:27:00Z), on a TOTP step
/// boundary (a multiple of 30 s): `T0 + 29 s` is still the same step.
pub const T0: Timestamp = Timestamp::from_unix_secs(1_780_000_020);

/// The issuer every fixture engine uses.
pub const ISSUER: &str = "Alliance Homes";

/// Argon2id cost for tests: cheap, still Argon2id.
pub const FAST_ARGON2: Argon2Params = Argon2Params {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

/// One second, one minute, one hour, one day.
pub const SEC: Duration = Duration::from_secs(1);
pub const MIN: Duration = Duration::from_secs(60);
pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(86_400);

/// The default test configuration builder (fast Argon2id, defaults otherwise).
pub fn config() -> MfaConfigBuilder {
    MfaConfig::builder(ISSUER).argon2(FAST_ARGON2)
}

/// Fixed test keys (MAC key and encryption key 1).
pub fn keys() -> Keys {
    Keys::new(&[0x11; 32], 1, &[0x22; 32]).unwrap()
}

/// An engine and everything a test needs to drive and observe it.
pub struct Fx {
    pub mfa: Arc<Mfa<MemoryStore>>,
    pub clock: Arc<ManualClock>,
    pub outbox: Arc<Outbox>,
    pub events: Arc<MemorySink>,
    pub web: Audience,
}

/// The default fixture: default config (fast Argon2id), default policy.
pub fn fx() -> Fx {
    fx_with(config(), Policy::default())
}

/// A fixture with a policy.
pub fn fx_policy(policy: Policy) -> Fx {
    fx_with(config(), policy)
}

/// A fixture with a configuration and a policy.
pub fn fx_with(config: MfaConfigBuilder, policy: Policy) -> Fx {
    fx_full(MemoryStore::new(), keys(), config, policy)
}

/// A fixture over a given store and keys.
pub fn fx_full(store: MemoryStore, keys: Keys, config: MfaConfigBuilder, policy: Policy) -> Fx {
    let clock = Arc::new(ManualClock::new(T0));
    let outbox = Arc::new(Outbox::new());
    let events = Arc::new(MemorySink::new());
    let mfa = Mfa::builder(store, keys, config.build().unwrap())
        .clock(clock.clone())
        .sender(outbox.clone())
        .events(events.clone())
        .policy(policy)
        .build();
    Fx {
        mfa: Arc::new(mfa),
        clock,
        outbox,
        events,
        web: Audience::new(Platform::WEB),
    }
}

/// A user id.
pub fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

/// The TOTP code of `seed` at `at` with `digits` digits, SHA1, 30 s steps,
/// computed by totp-rs directly (not through the engine).
pub fn totp_code_digits(seed: &[u8], at: Timestamp, digits: u8) -> String {
    let t = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(digits)
        .with_skew(0)
        .with_step_duration(30)
        .with_secret(seed.to_vec())
        .build()
        .unwrap();
    t.generate(u64::try_from(at.unix_secs()).unwrap()).to_string()
}

/// The 6-digit TOTP code of `seed` at `at`.
pub fn totp_code(seed: &[u8], at: Timestamp) -> String {
    totp_code_digits(seed, at, 6)
}

/// Decodes an unpadded RFC 4648 base32 key.
pub fn decode_base32(s: &str) -> Vec<u8> {
    base32::decode(base32::Alphabet::Rfc4648 { padding: false }, s).unwrap()
}

/// A TOTP factor enrolled through the engine, with its seed.
pub struct TotpFactor {
    pub id: FactorId,
    pub seed: Vec<u8>,
    pub enrollment: TotpEnrollment,
}

impl Fx {
    /// Now, on the fixture's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// A caller on the web with a second factor verified right now.
    pub fn fresh(&self) -> Caller {
        Caller::danger_fresh(self.web.clone(), self.now(), FactorKind::Totp)
    }

    /// A caller on the web that only passed the password.
    pub fn password_only(&self) -> Caller {
        Caller::password_only(self.web.clone())
    }

    /// Starts a TOTP enrolment (no confirmation).
    pub async fn begin_totp(&self, user: &UserId, caller: &Caller) -> Result<TotpEnrollment, MfaError> {
        match self
            .mfa
            .begin_enrollment(
                user,
                EnrollRequest::Totp {
                    label: "Phone".into(),
                    account_name: format!("{user}@example.org"),
                },
                caller,
            )
            .await?
        {
            Enrollment::Totp(t) => Ok(t),
            other => panic!("expected a TOTP enrolment, got {other:?}"),
        }
    }

    /// Enrols and confirms a TOTP factor with the code of the current step,
    /// then moves the clock one step (30 s) on, so that the next code the
    /// test computes belongs to a step not used yet.
    pub async fn enroll_totp(&self, user: &UserId) -> TotpFactor {
        let enrollment = self.begin_totp(user, &self.fresh()).await.unwrap();
        let seed = decode_base32(enrollment.secret_base32.expose());
        let code = totp_code(&seed, self.now());
        self.mfa
            .confirm_enrollment(user, &enrollment.factor, &code)
            .await
            .unwrap();
        self.advance(Duration::from_secs(30));
        TotpFactor {
            id: enrollment.factor.clone(),
            seed,
            enrollment,
        }
    }

    /// Starts an SMS enrolment (a code is sent to `phone`).
    pub async fn begin_sms(&self, user: &UserId, phone: &str, caller: &Caller) -> Result<CodeSent, MfaError> {
        match self
            .mfa
            .begin_enrollment(
                user,
                EnrollRequest::Sms {
                    label: "Mobile".into(),
                    phone: phone.into(),
                },
                caller,
            )
            .await?
        {
            Enrollment::OutOfBand(sent) => Ok(sent),
            other => panic!("expected an SMS enrolment, got {other:?}"),
        }
    }

    /// Enrols and confirms an SMS factor with the code from the outbox.
    /// `phone` must already be normalised (`+447700900123`): the outbox
    /// is searched by it.
    pub async fn enroll_sms(&self, user: &UserId, phone: &str) -> FactorId {
        let sent = self.begin_sms(user, phone, &self.fresh()).await.unwrap();
        let code = self.last_code(phone);
        self.mfa
            .confirm_enrollment(user, &sent.factor, &code)
            .await
            .unwrap();
        sent.factor
    }

    /// Enrols and confirms an email factor with the code from the outbox.
    pub async fn enroll_email(&self, user: &UserId, address: &str) -> FactorId {
        let sent = match self
            .mfa
            .begin_enrollment(
                user,
                EnrollRequest::Email {
                    label: "Email".into(),
                    address: address.into(),
                },
                &self.fresh(),
            )
            .await
            .unwrap()
        {
            Enrollment::OutOfBand(sent) => sent,
            other => panic!("expected an email enrolment, got {other:?}"),
        };
        let code = self.last_code(address);
        self.mfa
            .confirm_enrollment(user, &sent.factor, &code)
            .await
            .unwrap();
        sent.factor
    }

    /// The newest code the outbox holds for `to`.
    pub fn last_code(&self, to: &str) -> String {
        self.outbox
            .last_code_to(to)
            .unwrap_or_else(|| panic!("no code sent to {to}"))
            .expose()
            .to_owned()
    }

    /// Sends a login code through `factor`.
    pub async fn send_login_code(&self, user: &UserId, factor: &FactorId) -> Result<CodeSent, MfaError> {
        self.mfa.send_code(user, factor, Purpose::Login).await
    }

    /// A login attempt from the web.
    pub fn attempt(&self, target: AttemptTarget, code: &str) -> Attempt {
        Attempt::login(target, code, self.web.clone())
    }

    /// Verifies a TOTP login code.
    pub async fn verify_totp(
        &self,
        user: &UserId,
        factor: &FactorId,
        code: &str,
    ) -> Result<Verified, MfaError> {
        self.mfa
            .verify(user, &self.attempt(AttemptTarget::Totp(factor.clone()), code))
            .await
    }

    /// Verifies a code for a challenge.
    pub async fn verify_challenge(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        code: &str,
    ) -> Result<Verified, MfaError> {
        self.mfa
            .verify(
                user,
                &self.attempt(AttemptTarget::Challenge(challenge.clone()), code),
            )
            .await
    }

    /// A login context from the web, with an optional trust cookie.
    pub fn login_ctx(&self, trust: Option<&str>) -> LoginContext {
        let ctx = LoginContext::new(self.web.clone());
        match trust {
            Some(t) => ctx.with_trust_token(t),
            None => ctx,
        }
    }

    /// The names of the events recorded so far.
    pub fn event_names(&self) -> Vec<&'static str> {
        self.events.names()
    }

    /// True if an event of this name was recorded.
    pub fn saw(&self, name: &str) -> bool {
        self.event_names().contains(&name)
    }

    /// The account's consecutive failures, read from the store.
    pub async fn failures(&self, user: &UserId) -> u32 {
        self.mfa.store().user_state(user).await.unwrap().failures
    }
}

/// A wrong code for `right` (same length, differs in every digit).
pub fn wrong(right: &str) -> String {
    right
        .bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 5) % 10))
        .collect()
}

/// Every string and number in a JSON value, for leak checks.
pub fn json_leaves(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Number(n) => out.push(n.to_string()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_leaves(x, out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            json_leaves(x, out);
        }),
        _ => {}
    }
}

/// The keyed hash the engine stores for codes and tokens, recomputed here
/// from the fixture's MAC key (`keys()`): HMAC-SHA256 over a domain label
/// and length-prefixed parts.
pub fn keyed_hash(domain: &str, parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&[0x11; 32]).unwrap();
    mac.update(domain.as_bytes());
    for p in parts {
        mac.update(&(p.len() as u64).to_be_bytes());
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}
