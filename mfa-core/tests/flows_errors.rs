//! Store failures (every `MfaError` variant the engine can return has a
//! test; this file produces `MfaError::Store`): when the store fails, every
//! flow answers `MfaError::Store`, reported as `internal`, never panics,
//! and nothing is accepted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use mfa_core::crypto::{KeyedHash, Sealed};
use mfa_core::limiter::{Gate, LockoutRules, SendDecision, SendRules};
use mfa_core::store::{
    AttemptOutcome, ChallengeRecord, DeviceRecord, FactorRecord, RecoveryRecord, ReplaceOutcome, StoreResult,
    UserState,
};
use mfa_core::*;

/// A `MemoryStore` that fails every call while `fail` is set, as a
/// database that went away would.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    fail: AtomicBool,
}

impl FlakyStore {
    fn check(&self) -> StoreResult<()> {
        if self.fail.load(Ordering::SeqCst) {
            Err(StoreError::Backend("connection refused".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl MfaStore for FlakyStore {
    async fn user_state(&self, user: &UserId) -> StoreResult<UserState> {
        self.check()?;
        self.inner.user_state(user).await
    }

    async fn revoke_sessions(&self, user: &UserId, at: Timestamp) -> StoreResult<()> {
        self.check()?;
        self.inner.revoke_sessions(user, at).await
    }

    async fn bump_epoch(&self, user: &UserId, now: Timestamp) -> StoreResult<u64> {
        self.check()?;
        self.inner.bump_epoch(user, now).await
    }

    async fn reset_user(&self, user: &UserId, now: Timestamp) -> StoreResult<()> {
        self.check()?;
        self.inner.reset_user(user, now).await
    }

    async fn insert_factor(&self, factor: &FactorRecord) -> StoreResult<()> {
        self.check()?;
        self.inner.insert_factor(factor).await
    }

    async fn factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>> {
        self.check()?;
        self.inner.factor(user, id).await
    }

    async fn factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>> {
        self.check()?;
        self.inner.factors(user).await
    }

    async fn activate_factor(
        &self,
        user: &UserId,
        id: &FactorId,
        now: Timestamp,
        first: bool,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner.activate_factor(user, id, now, first).await
    }

    async fn rename_factor(&self, user: &UserId, id: &FactorId, label: &str) -> StoreResult<bool> {
        self.check()?;
        self.inner.rename_factor(user, id, label).await
    }

    async fn delete_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<bool> {
        self.check()?;
        self.inner.delete_factor(user, id, now).await
    }

    async fn delete_stale_pending(&self, user: &UserId, before: Timestamp) -> StoreResult<u64> {
        self.check()?;
        self.inner.delete_stale_pending(user, before).await
    }

    async fn update_sealed(
        &self,
        user: &UserId,
        id: &FactorId,
        secret: Option<&Sealed>,
        destination: Option<&Sealed>,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner.update_sealed(user, id, secret, destination).await
    }

    async fn advance_totp_step(
        &self,
        user: &UserId,
        id: &FactorId,
        step: u64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner.advance_totp_step(user, id, step, now).await
    }

    async fn touch_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<()> {
        self.check()?;
        self.inner.touch_factor(user, id, now).await
    }

    async fn factor_users(&self, after: Option<&UserId>, limit: u32) -> StoreResult<Vec<UserId>> {
        self.check()?;
        self.inner.factor_users(after, limit).await
    }

    async fn replace_challenge(
        &self,
        challenge: &ChallengeRecord,
        resend_gap: Duration,
        max_attempts: u32,
    ) -> StoreResult<ReplaceOutcome> {
        self.check()?;
        self.inner
            .replace_challenge(challenge, resend_gap, max_attempts)
            .await
    }

    async fn take_attempt(
        &self,
        user: &UserId,
        id: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<AttemptOutcome> {
        self.check()?;
        self.inner.take_attempt(user, id, now, max_attempts).await
    }

    async fn mark_challenge_used(
        &self,
        user: &UserId,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.check()?;
        self.inner.mark_challenge_used(user, id, now).await
    }

    async fn live_challenge(
        &self,
        user: &UserId,
        purpose: Purpose,
        now: Timestamp,
    ) -> StoreResult<Option<ChallengeRecord>> {
        self.check()?;
        self.inner.live_challenge(user, purpose, now).await
    }

    async fn reserve_attempt(
        &self,
        user: &UserId,
        now: Timestamp,
        rules: &LockoutRules,
    ) -> StoreResult<Gate> {
        self.check()?;
        self.inner.reserve_attempt(user, now, rules).await
    }

    async fn clear_failures(&self, user: &UserId) -> StoreResult<()> {
        self.check()?;
        self.inner.clear_failures(user).await
    }

    async fn record_send(
        &self,
        user: &UserId,
        destination: &KeyedHash,
        now: Timestamp,
        rules: &SendRules,
    ) -> StoreResult<SendDecision> {
        self.check()?;
        self.inner.record_send(user, destination, now, rules).await
    }

    async fn insert_device(&self, device: &DeviceRecord) -> StoreResult<()> {
        self.check()?;
        self.inner.insert_device(device).await
    }

    async fn device_by_token(&self, hash: &KeyedHash) -> StoreResult<Option<DeviceRecord>> {
        self.check()?;
        self.inner.device_by_token(hash).await
    }

    async fn touch_device(&self, user: &UserId, id: &DeviceId, now: Timestamp) -> StoreResult<()> {
        self.check()?;
        self.inner.touch_device(user, id, now).await
    }

    async fn devices(&self, user: &UserId, now: Timestamp) -> StoreResult<Vec<DeviceRecord>> {
        self.check()?;
        self.inner.devices(user, now).await
    }

    async fn revoke_device(&self, user: &UserId, id: &DeviceId, now: Timestamp) -> StoreResult<bool> {
        self.check()?;
        self.inner.revoke_device(user, id, now).await
    }

    async fn revoke_all_devices(&self, user: &UserId, now: Timestamp) -> StoreResult<u64> {
        self.check()?;
        self.inner.revoke_all_devices(user, now).await
    }

    async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryRecord]) -> StoreResult<()> {
        self.check()?;
        self.inner.replace_recovery_codes(user, codes).await
    }

    async fn recovery_code(
        &self,
        user: &UserId,
        fingerprint: &KeyedHash,
    ) -> StoreResult<Option<RecoveryRecord>> {
        self.check()?;
        self.inner.recovery_code(user, fingerprint).await
    }

    async fn use_recovery_code(&self, user: &UserId, id: &RecoveryId, now: Timestamp) -> StoreResult<bool> {
        self.check()?;
        self.inner.use_recovery_code(user, id, now).await
    }

    async fn recovery_codes_remaining(&self, user: &UserId) -> StoreResult<u32> {
        self.check()?;
        self.inner.recovery_codes_remaining(user).await
    }
}

struct Flaky {
    mfa: Arc<Mfa<FlakyStore>>,
    clock: Arc<ManualClock>,
    outbox: Arc<Outbox>,
}

fn flaky() -> Flaky {
    let clock = Arc::new(ManualClock::new(T0));
    let outbox = Arc::new(Outbox::new());
    let mfa = Mfa::builder(FlakyStore::default(), keys(), config().build().unwrap())
        .clock(clock.clone())
        .sender(outbox.clone())
        .events(MemorySink::new())
        .build();
    Flaky {
        mfa: Arc::new(mfa),
        clock,
        outbox,
    }
}

fn fail(f: &Flaky, on: bool) {
    f.mfa.store().fail.store(on, Ordering::SeqCst);
}

fn is_store_error<T: std::fmt::Debug>(r: Result<T, MfaError>) -> bool {
    match r {
        Err(e @ MfaError::Store(_)) => {
            assert_eq!(e.code(), "internal");
            assert!(e.is_internal());
            assert!(!e.to_string().is_empty());
            true
        }
        other => panic!("expected a store error, got {other:?}"),
    }
}

#[tokio::test]
async fn every_flow_reports_a_failing_store_as_a_store_error() {
    let f = flaky();
    let u = user("flaky-user");
    let web = Audience::new(Platform::WEB);
    let fresh = Caller::danger_fresh(web.clone(), T0, FactorKind::Totp);
    // Enrol TOTP and SMS while the store works.
    let e = match f
        .mfa
        .begin_enrollment(
            &u,
            EnrollRequest::Totp {
                label: "Phone".into(),
                account_name: "u@example.org".into(),
            },
            &fresh,
        )
        .await
        .unwrap()
    {
        Enrollment::Totp(t) => t,
        other => panic!("{other:?}"),
    };
    let seed = decode_base32(e.secret_base32.expose());
    let _ = f
        .mfa
        .confirm_enrollment(&u, &e.factor, &totp_code(&seed, f.clock.now()))
        .await
        .unwrap();
    let sms = f
        .mfa
        .begin_enrollment(
            &u,
            EnrollRequest::Sms {
                label: "Mobile".into(),
                phone: "+447700900123".into(),
            },
            &fresh,
        )
        .await
        .unwrap();
    let code = f.outbox.last_code_to("+447700900123").unwrap();
    let _ = f
        .mfa
        .confirm_enrollment(&u, sms.factor(), code.expose())
        .await
        .unwrap();
    f.clock.advance(Duration::from_secs(60));
    let sent = f.mfa.send_code(&u, sms.factor(), Purpose::Login).await.unwrap();
    let sms_code = f.outbox.last_code_to("+447700900123").unwrap();

    fail(&f, true);
    let now = f.clock.now();
    let totp = totp_code(&seed, now);
    assert!(is_store_error(
        f.mfa
            .verify(
                &u,
                &Attempt::login(AttemptTarget::Totp(e.factor.clone()), totp.as_str(), web.clone())
            )
            .await
    ));
    assert!(is_store_error(
        f.mfa
            .verify(
                &u,
                &Attempt::login(
                    AttemptTarget::Challenge(sent.challenge.clone()),
                    sms_code.clone(),
                    web.clone()
                )
            )
            .await
    ));
    assert!(is_store_error(
        f.mfa
            .verify(
                &u,
                &Attempt::login(AttemptTarget::RecoveryCode, "aaaa-bbbb-cccc-dddd", web.clone())
            )
            .await
    ));
    assert!(is_store_error(
        f.mfa.begin_login(&u, &LoginContext::new(web.clone())).await
    ));
    assert!(is_store_error(f.mfa.check_session(&u, T0, &web).await));
    assert!(is_store_error(
        f.mfa.send_code(&u, sms.factor(), Purpose::Login).await
    ));
    assert!(is_store_error(f.mfa.status(&u).await));
    assert!(is_store_error(f.mfa.factors(&u).await));
    assert!(is_store_error(f.mfa.trusted_devices(&u).await));
    assert!(is_store_error(f.mfa.remove_factor(&u, &e.factor, &fresh).await));
    assert!(is_store_error(
        f.mfa.rename_factor(&u, &e.factor, "x", &fresh).await
    ));
    assert!(is_store_error(f.mfa.generate_recovery_codes(&u, &fresh).await));
    assert!(is_store_error(f.mfa.revoke_all_devices(&u).await));
    assert!(is_store_error(f.mfa.password_changed(&u).await));
    assert!(is_store_error(f.mfa.revoke_sessions(&u).await));
    assert!(is_store_error(f.mfa.admin_reset(&u, "staff").await));
    assert!(is_store_error(f.mfa.admin_unlock(&u, "staff").await));
    assert!(is_store_error(f.mfa.rotate_secrets().await));
    assert!(is_store_error(
        f.mfa
            .begin_enrollment(
                &u,
                EnrollRequest::Totp {
                    label: "Phone".into(),
                    account_name: "u@example.org".into(),
                },
                &fresh,
            )
            .await
    ));

    // Back up: nothing was consumed by the outage.
    fail(&f, false);
    let _ = f
        .mfa
        .verify(
            &u,
            &Attempt::login(AttemptTarget::Totp(e.factor.clone()), totp, web.clone()),
        )
        .await
        .unwrap();
    let _ = f
        .mfa
        .verify(
            &u,
            &Attempt::login(AttemptTarget::Challenge(sent.challenge), sms_code, web),
        )
        .await
        .unwrap();
}
