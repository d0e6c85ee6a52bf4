//! Criterion benches of the engine on `MemoryStore`, each figure next to a
//! baseline measured in the same run: `cargo bench -p mfa-benches`
//! (`-- totp` to run one group). `docs/PERFORMANCE.md` holds the results.
//!
//! Futures are driven by [`mfa_benches::block_on`] (one poll with a no-op
//! waker: the in-memory store never waits), events go to the default
//! `TracingSink` with no subscriber installed, the clock is a
//! `ManualClock` moved between verifications so replay refusal never
//! triggers on a right code. Setup (enrolment, sending codes, generating
//! recovery codes) happens outside the timed sections (`iter_custom`).

// Bench harness code: a failed setup step must stop the run loudly (unwrap,
// expect, panic), and criterion's macros generate undocumented items.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::cell::Cell;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use async_trait::async_trait;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use mfa_benches::block_on;
use mfa_core::oob::{CodeSender, DeliveryError, OutgoingCode};
use mfa_core::*;
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;
type HmacSha256 = Hmac<Sha256>;

const STEP: Duration = Duration::from_secs(30);
const START_SECS: i64 = 1_700_000_010;
const MAC_KEY: [u8; 32] = [7; 32];
const ENC_KEY: [u8; 32] = [9; 32];

// ----------------------------------------------------------------- setup

/// Keeps the last code sent (the `Outbox` keeps every message).
#[derive(Default)]
struct LastCode(Mutex<Option<String>>);

impl LastCode {
    fn take(&self) -> String {
        self.0.lock().unwrap().take().expect("a code was sent")
    }
}

#[async_trait]
impl CodeSender for LastCode {
    async fn send(&self, m: &OutgoingCode) -> Result<(), DeliveryError> {
        *self.0.lock().unwrap() = Some(m.code.expose().to_owned());
        Ok(())
    }
}

struct Env {
    mfa: Mfa<MemoryStore>,
    clock: Arc<ManualClock>,
    sender: Arc<LastCode>,
    web: Audience,
}

impl Env {
    /// Default configuration except: no resend cool-down and wide send caps
    /// (the SMS benches send thousands of codes), and 98 free failures (the
    /// wrong-code benches clear the count, untimed, every 64 failures; the
    /// back-off arithmetic is the same either way).
    fn new() -> Self {
        let config = MfaConfig::builder("Bench")
            .lockout(mfa_benches::late_lockout())
            .resend_cooldown(Duration::ZERO)
            .sends(SendRules {
                window: Duration::from_secs(1),
                per_account: 1_000_000,
                per_destination: 1_000_000,
            })
            .build()
            .unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_secs(START_SECS)));
        let sender = Arc::new(LastCode::default());
        let mfa = Mfa::builder(
            MemoryStore::new(),
            Keys::new(&MAC_KEY, 1, &ENC_KEY).unwrap(),
            config,
        )
        .clock(clock.clone())
        .sender(sender.clone())
        .policy(Policy::required_from(Timestamp::EPOCH))
        .build();
        Env {
            mfa,
            clock,
            sender,
            web: Audience::new(Platform::WEB),
        }
    }

    fn step(&self) -> u64 {
        self.clock.now().unix_secs() as u64 / STEP.as_secs()
    }

    fn password_only(&self) -> Caller {
        Caller::password_only(self.web.clone())
    }

    fn fresh(&self) -> Caller {
        Caller::danger_fresh(self.web.clone(), self.mfa.now(), FactorKind::Totp)
    }

    /// Enrols an authenticator app; returns its id and the seed's HMAC key
    /// state.
    fn enrol_totp(&self, user: &UserId) -> (FactorId, HmacSha1, Vec<u8>) {
        let request = EnrollRequest::Totp {
            label: "Phone".into(),
            account_name: "bench@example.org".into(),
        };
        let Enrollment::Totp(t) =
            block_on(self.mfa.begin_enrollment(user, request, &self.password_only())).unwrap()
        else {
            panic!("not a TOTP enrolment");
        };
        let seed = base32::decode(
            base32::Alphabet::Rfc4648 { padding: false },
            t.secret_base32.expose(),
        )
        .unwrap();
        let mac = HmacSha1::new_from_slice(&seed).unwrap();
        let code = six(hotp(&mac, self.step()));
        block_on(self.mfa.confirm_enrollment(user, &t.factor, &code)).unwrap();
        (t.factor, mac, seed)
    }

    /// Enrols an SMS factor; returns its id.
    fn enrol_sms(&self, user: &UserId, i: usize) -> FactorId {
        let request = EnrollRequest::Sms {
            label: "Mobile".into(),
            phone: format!("+447700{i:06}"),
        };
        let Enrollment::OutOfBand(sent) =
            block_on(self.mfa.begin_enrollment(user, request, &self.password_only())).unwrap()
        else {
            panic!("not an SMS enrolment");
        };
        let code = self.sender.take();
        block_on(self.mfa.confirm_enrollment(user, &sent.factor, &code)).unwrap();
        sent.factor
    }

    fn clear_failures(&self, user: &UserId) {
        block_on(self.mfa.store().clear_failures(user)).unwrap();
    }
}

/// RFC 4226 HOTP (6 digits) from a precomputed HMAC-SHA1 key state.
fn hotp(key: &HmacSha1, counter: u64) -> u32 {
    let mut mac = key.clone();
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let v = u32::from_be_bytes([h[off], h[off + 1], h[off + 2], h[off + 3]]) & 0x7fff_ffff;
    v % 1_000_000
}

fn six(v: u32) -> String {
    format!("{v:06}")
}

/// Strict 6-digit parse (what any verifier must do first).
fn parse6(code: &str) -> Option<u32> {
    let b = code.as_bytes();
    if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |v, d| v * 10 + u32::from(d - b'0')))
}

/// The physical bound: HOTP at the current step, then one back, one ahead,
/// from a precomputed key state, compared in constant time.
fn raw_hmac_check(key: &HmacSha1, code: &str, step: u64) -> Option<u64> {
    let want = parse6(code)?;
    [step, step - 1, step + 1]
        .into_iter()
        .find(|&s| bool::from(hotp(key, s).ct_eq(&want)))
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .without_plots()
}

/// Runs `iters` operations in batches of at most `batch`: `prepare` (untimed)
/// builds the batch's inputs, `op` is timed, `after` (untimed) tidies up.
fn batched<T>(
    iters: u64,
    batch: u64,
    mut prepare: impl FnMut(u64) -> Vec<T>,
    mut op: impl FnMut(&T),
    mut after: impl FnMut(),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(batch);
        let inputs = prepare(n);
        let t = Instant::now();
        for x in &inputs {
            op(x);
        }
        total += t.elapsed();
        drop(inputs);
        after();
        left -= n;
    }
    total
}

// ------------------------------------------------------------------ TOTP

fn totp(c: &mut Criterion) {
    let env = Env::new();
    let alice = user("alice");
    let (factor, key, seed) = env.enrol_totp(&alice);
    let rs = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(seed.clone())
        .build()
        .unwrap();

    let mut g = c.benchmark_group("totp_verify");

    // Right code: the clock moves one step before each verification.
    g.bench_function("right/engine", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                1024,
                |n| {
                    let s = env.step();
                    (1..=n)
                        .map(|i| {
                            Attempt::login(
                                AttemptTarget::Totp(factor.clone()),
                                six(hotp(&key, s + i)),
                                env.web.clone(),
                            )
                        })
                        .collect()
                },
                |a| {
                    env.clock.advance(STEP);
                    let _ = black_box(block_on(env.mfa.verify(&alice, a)).unwrap());
                },
                || {},
            )
        })
    });
    // The baselines move their own clock the same way.
    let step = Cell::new(START_SECS as u64 / 30);
    let next_codes = |n: u64| -> Vec<(u64, String)> {
        let s = step.get();
        step.set(s + n);
        (1..=n).map(|i| (s + i, six(hotp(&key, s + i)))).collect()
    };
    g.bench_function("right/totp_rs_check", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                1024,
                next_codes,
                |(s, code)| {
                    assert!(black_box(rs.check(black_box(code), s * 30 + 10)).is_some());
                },
                || {},
            )
        })
    });
    g.bench_function("right/raw_hmac_precomputed", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                1024,
                next_codes,
                |(s, code)| {
                    assert!(black_box(raw_hmac_check(&key, black_box(code), *s)).is_some());
                },
                || {},
            )
        })
    });

    // Wrong code: a code that matches none of the three steps; the clock
    // stands still; account failures are cleared (untimed) every 64.
    let now_step = env.step();
    let window: Vec<u32> = (now_step - 1..=now_step + 1).map(|s| hotp(&key, s)).collect();
    let wrong = (0..1_000_000u32)
        .map(|v| (v * 7919 + 123_457) % 1_000_000)
        .find(|v| !window.contains(v))
        .map(six)
        .unwrap();
    let attempt = Attempt::login(
        AttemptTarget::Totp(factor.clone()),
        wrong.clone(),
        env.web.clone(),
    );
    g.bench_function("wrong/engine", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                64,
                |n| vec![(); n as usize],
                |()| {
                    let r = block_on(env.mfa.verify(&alice, &attempt));
                    assert!(matches!(black_box(r), Err(MfaError::InvalidCode { .. })));
                },
                || env.clear_failures(&alice),
            )
        })
    });
    let at = env.clock.now().unix_secs() as u64;
    g.bench_function("wrong/totp_rs_check", |b| {
        b.iter(|| assert!(black_box(rs.check(black_box(&wrong), at)).is_none()))
    });
    g.bench_function("wrong/raw_hmac_precomputed", |b| {
        b.iter(|| assert!(black_box(raw_hmac_check(&key, black_box(&wrong), now_step)).is_none()))
    });
    // A component of every TOTP verification: opening the sealed seed (20
    // bytes, the engine's associated data), as `Keys::open_with` does it.
    // Format 2 (written now): ring's AES-256-GCM, key schedule set up once
    // per key, opened in place in a stack buffer. Format 1 (still read):
    // XChaCha20-Poly1305, cipher from the key, decrypted into a new Vec.
    let aad = format!("totp-seed\0alice\0{factor}").into_bytes();
    let gcm = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &ENC_KEY).unwrap(),
    );
    let gcm_nonce = [3u8; 12];
    let mut gcm_sealed = seed.clone();
    gcm.seal_in_place_append_tag(
        ring::aead::Nonce::assume_unique_for_key(gcm_nonce),
        ring::aead::Aad::from(&aad),
        &mut gcm_sealed,
    )
    .unwrap();
    g.bench_function("component/aes256gcm_open_seed", |b| {
        b.iter(|| {
            let mut buf = [0u8; 80];
            let body = black_box(&gcm_sealed);
            let in_out = &mut buf[..body.len()];
            in_out.copy_from_slice(body);
            let plain = black_box(&gcm)
                .open_in_place(
                    ring::aead::Nonce::assume_unique_for_key(gcm_nonce),
                    ring::aead::Aad::from(&aad),
                    in_out,
                )
                .unwrap();
            black_box(plain.len())
        })
    });
    let nonce = [3u8; 24];
    let sealed = XChaCha20Poly1305::new_from_slice(&ENC_KEY)
        .unwrap()
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &seed,
                aad: &aad,
            },
        )
        .unwrap();
    g.bench_function("component/xchacha20poly1305_open_seed", |b| {
        b.iter(|| {
            let cipher = XChaCha20Poly1305::new_from_slice(black_box(&ENC_KEY)).unwrap();
            let plain = cipher
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: black_box(&sealed),
                        aad: &aad,
                    },
                )
                .unwrap();
            black_box(plain)
        })
    });
    g.finish();
}

// ------------------------------------------------------------- SMS/email

/// Users with an SMS factor each; a batch sends one login code to each
/// (untimed) and verifies them all (timed).
fn oob(c: &mut Criterion) {
    const USERS: usize = 256;
    let env = Env::new();
    let users: Vec<(UserId, FactorId)> = (0..USERS)
        .map(|i| {
            let u = user(&format!("sms-user-{i}"));
            let f = env.enrol_sms(&u, i);
            (u, f)
        })
        .collect();
    let send_all = |n: u64, wrong: bool| -> Vec<(UserId, Attempt)> {
        env.clock.advance(Duration::from_secs(2));
        users
            .iter()
            .take(n as usize)
            .map(|(u, f)| {
                let sent = block_on(env.mfa.send_code(u, f, Purpose::Login)).unwrap();
                let mut code = env.sender.take();
                if wrong {
                    code = six((code.parse::<u32>().unwrap() + 1) % 1_000_000);
                }
                let a = Attempt::login(AttemptTarget::Challenge(sent.challenge), code, env.web.clone());
                (u.clone(), a)
            })
            .collect()
    };

    let mut g = c.benchmark_group("oob_verify");
    g.bench_function("right/engine", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                USERS as u64,
                |n| send_all(n, false),
                |(u, a)| {
                    let _ = black_box(block_on(env.mfa.verify(u, a)).unwrap());
                },
                || {},
            )
        })
    });
    g.bench_function("wrong/engine", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                USERS as u64,
                |n| send_all(n, true),
                |(u, a)| {
                    let r = block_on(env.mfa.verify(u, a));
                    assert!(matches!(black_box(r), Err(MfaError::InvalidCode { .. })));
                },
                || {
                    // The wrong attempt stays counted on the live challenge
                    // (a resend carries it over): let it expire, so the next
                    // batch starts from fresh challenges.
                    env.clock.advance(Duration::from_secs(301));
                    users.iter().for_each(|(u, _)| env.clear_failures(u));
                },
            )
        })
    });
    // Baseline: the keyed hash alone (HMAC-SHA256 from the key, the same
    // length-prefixed parts) and a constant-time compare.
    let challenge = ChallengeId::generate().unwrap();
    let (u0, _) = &users[0];
    let stored = [0x5au8; 32];
    g.bench_function("raw_hmac_sha256_compare", |b| {
        b.iter(|| {
            let mut mac = HmacSha256::new_from_slice(black_box(&MAC_KEY)).unwrap();
            mac.update(b"mfa/oob-code/v1");
            for p in [
                challenge.as_str().as_bytes(),
                u0.as_str().as_bytes(),
                b"login".as_slice(),
                black_box(b"123456".as_slice()),
            ] {
                mac.update(&(p.len() as u64).to_be_bytes());
                mac.update(p);
            }
            let h: [u8; 32] = mac.finalize().into_bytes().into();
            black_box(bool::from(h.ct_eq(&stored)))
        })
    });
    g.finish();
}

// -------------------------------------------------------- recovery codes

fn recovery(c: &mut Criterion) {
    let env = Env::new();
    let bob = user("bob");
    env.enrol_totp(&bob);
    let mut pool: Vec<String> = Vec::new();

    let mut g = c.benchmark_group("recovery_verify");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("right/engine", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if pool.is_empty() {
                    let set = block_on(env.mfa.generate_recovery_codes(&bob, &env.fresh())).unwrap();
                    pool = set.codes.iter().map(|c| c.expose().to_owned()).collect();
                }
                let a = Attempt::login(AttemptTarget::RecoveryCode, pool.pop().unwrap(), env.web.clone());
                let t = Instant::now();
                let _ = black_box(block_on(env.mfa.verify(&bob, &a)).unwrap());
                total += t.elapsed();
            }
            total
        })
    });
    // Baseline: one bare Argon2id verification with the same parameters
    // (the engine's defaults: 19 MiB, 2 passes, 1 lane).
    let p = env.mfa.config().argon2();
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, None).unwrap(),
    );
    let phc = argon
        .hash_password_with_salt(b"abcdefghijklmnop", &[3u8; 16])
        .unwrap()
        .to_string();
    g.bench_function("right/bare_argon2id_verify", |b| {
        b.iter(|| {
            assert!(
                argon
                    .verify_password(black_box(b"abcdefghijklmnop"), phc.as_str())
                    .is_ok()
            )
        })
    });
    g.finish();
}

// ------------------------------------------------- login, trust, policy

fn login(c: &mut Criterion) {
    let env = Env::new();
    let carol = user("carol");
    let (factor, key, _) = env.enrol_totp(&carol);
    env.clock.advance(STEP);
    let trusted = Attempt::login(
        AttemptTarget::Totp(factor),
        six(hotp(&key, env.step())),
        env.web.clone(),
    )
    .trust_device("Bench browser");
    let token = block_on(env.mfa.verify(&carol, &trusted))
        .unwrap()
        .trust
        .expect("trust issued")
        .token;
    let with_cookie = LoginContext::new(env.web.clone()).with_trust_token(token.expose().to_owned());
    let without = LoginContext::new(env.web.clone());
    assert!(matches!(
        block_on(env.mfa.begin_login(&carol, &with_cookie)).unwrap(),
        LoginStep::Complete {
            by: CompletedBy::TrustedDevice,
            ..
        }
    ));
    assert!(matches!(
        block_on(env.mfa.begin_login(&carol, &without)).unwrap(),
        LoginStep::ChooseFactor { .. }
    ));
    let nobody = user("not-enrolled");
    assert!(matches!(
        block_on(env.mfa.begin_login(&nobody, &without)).unwrap(),
        LoginStep::MustEnroll { .. }
    ));

    let mut g = c.benchmark_group("login");
    g.bench_function("trusted_device/engine_begin_login", |b| {
        b.iter(|| black_box(block_on(env.mfa.begin_login(&carol, black_box(&with_cookie))).unwrap()))
    });
    g.bench_function("trusted_device/raw_hmac_sha256_of_token", |b| {
        b.iter(|| {
            let t = black_box(token.expose()).as_bytes();
            let mut mac = HmacSha256::new_from_slice(&MAC_KEY).unwrap();
            mac.update(b"mfa/trust-token/v1");
            mac.update(&(t.len() as u64).to_be_bytes());
            mac.update(t);
            black_box(mac.finalize().into_bytes())
        })
    });
    g.bench_function("choose_factor/engine_begin_login", |b| {
        b.iter(|| black_box(block_on(env.mfa.begin_login(&carol, black_box(&without))).unwrap()))
    });
    g.bench_function("must_enroll/engine_begin_login", |b| {
        b.iter(|| black_box(block_on(env.mfa.begin_login(&nobody, black_box(&without))).unwrap()))
    });
    g.bench_function("store_reads/user_state_and_factors", |b| {
        b.iter(|| {
            let s = env.mfa.store();
            black_box(block_on(s.user_state(black_box(&carol))).unwrap());
            black_box(block_on(s.factors(black_box(&carol))).unwrap());
        })
    });
    g.finish();
}

fn policy(c: &mut Criterion) {
    let policy = Policy::from_toml(
        r#"
        enforce_from = "2026-05-28T00:00:00Z"
        grace = "14d"

        [defaults]
        methods = ["totp", "sms", "email"]
        trust_for = "90d"
        relogin_cutoff = "2026-05-28T18:00:00Z"

        [[cohorts]]
        name = "staff"
        groups = ["staff"]
        methods = ["totp"]
        trust_device = false

        [[cohorts]]
        name = "android"
        platforms = ["android"]
        relogin_cutoff = "2026-08-22T00:00:00Z"

        [[cohorts]]
        name = "ios"
        platforms = ["ios", "white-label"]
        enforce_from = "2026-06-15T00:00:00Z"
        relogin_cutoff = "2026-09-01T00:00:00Z"
        "#,
    )
    .unwrap();
    let now = Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
    let ios = Audience::new(Platform::IOS).with_groups(["tenants"]);
    let web = Audience::new(Platform::WEB);

    let mut g = c.benchmark_group("policy");
    g.bench_function("requirement/last_cohort", |b| {
        b.iter(|| black_box(policy.requirement(black_box(&ios), now)))
    });
    g.bench_function("requirement/defaults", |b| {
        b.iter(|| black_box(policy.requirement(black_box(&web), now)))
    });
    g.bench_function("settings_for/last_cohort", |b| {
        b.iter(|| black_box(policy.settings_for(black_box(&ios))))
    });
    g.bench_function("settings_for/defaults", |b| {
        b.iter(|| black_box(policy.settings_for(black_box(&web))))
    });
    g.bench_function("baseline/settings_clone", |b| {
        b.iter(|| black_box(black_box(&policy.defaults).clone()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = totp, oob, recovery, login, policy
}
criterion_main!(benches);
