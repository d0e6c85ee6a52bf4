//! A store that yields: [`YieldingStore`] wraps any [`MfaStore`] (the
//! suite's servers wrap `MemoryStore`) and, around every delegated call,
//! calls `tokio::task::yield_now()` and waits [`ROUND_TRIP`] (1 ms), as a
//! database round trip would.
//!
//! Why: `MemoryStore` never awaits anything, so an engine call made on it
//! runs from start to finish without giving its thread back; two requests
//! then interleave between the store calls of one verification (reserve an
//! attempt, load, compare, consume) only if two threads happen to be in it
//! at the same instant. A SQL store awaits the database at each of those
//! points, for long enough that concurrent requests do interleave there.
//! The wrapper puts such a suspension point at each of them, so the race
//! scenarios see the interleavings a real store allows. A yield alone was
//! not enough: requests released together still reach the engine some
//! microseconds apart, and a check-then-act replay bug planted in the
//! engine went unnoticed until each call also took a millisecond.
//!
//! [`Interleavings`] records how many delegated calls were in flight at
//! once: more than one means calls of different requests overlapped, which
//! is what a race scenario needs to have happened to prove anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::store::{
    AttemptOutcome, ChallengeRecord, DeviceRecord, FactorRecord, RecoveryRecord, ReplaceOutcome, StoreResult,
    UserState,
};
use mfa_core::{
    ChallengeId, DeviceId, FactorId, Gate, KeyedHash, LockoutRules, MfaStore, Purpose, RecoveryId, Sealed,
    SendDecision, SendRules, Timestamp, UserId,
};

/// How many store calls were in flight together (see the module docs).
#[derive(Debug, Default)]
pub struct Interleavings {
    in_flight: AtomicUsize,
    most: AtomicUsize,
    calls: AtomicUsize,
}

impl Interleavings {
    /// The most delegated calls that were in flight at one time.
    pub fn most_in_flight(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    /// How many delegated calls were made.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Panics unless store calls of different requests overlapped at least
    /// once: a race scenario that passes without that proved nothing.
    #[track_caller]
    pub fn assert_interleaved(&self) {
        assert!(
            self.most_in_flight() >= 2,
            "the race did not interleave: of {} store calls, never two in flight at once",
            self.calls()
        );
    }

    fn enter(self: &Arc<Self>) -> InFlight {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// One delegated call in flight; leaves when dropped (also when the call
/// is cancelled).
struct InFlight(Arc<Interleavings>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `S`, with a `yield_now()` and a [`ROUND_TRIP`] wait before each call
/// and a `yield_now()` after it (see the module docs). Every method of [`MfaStore`] is delegated, the composite ones
/// too, so the wrapped store's own atomic composites are what is tested.
pub struct YieldingStore<S> {
    inner: S,
    seen: Arc<Interleavings>,
}

impl<S: MfaStore> YieldingStore<S> {
    /// Wraps `inner`; overlaps are recorded in `seen`.
    pub fn new(inner: S, seen: Arc<Interleavings>) -> Self {
        YieldingStore { inner, seen }
    }
}

/// The latency of every delegated call, as of a database round trip.
pub const ROUND_TRIP: Duration = Duration::from_millis(1);

macro_rules! yielding_store {
    ($( async fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        #[async_trait]
        impl<S: MfaStore> MfaStore for YieldingStore<S> {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    let _in_flight = self.seen.enter();
                    tokio::task::yield_now().await;
                    tokio::time::sleep(ROUND_TRIP).await;
                    let result = self.inner.$name($($arg),*).await;
                    tokio::task::yield_now().await;
                    result
                }
            )*
        }
    };
}

yielding_store! {
    async fn user_state(&self, user: &UserId) -> StoreResult<UserState>;
    async fn revoke_sessions(&self, user: &UserId, at: Timestamp) -> StoreResult<()>;
    async fn bump_epoch(&self, user: &UserId, now: Timestamp) -> StoreResult<u64>;
    async fn reset_user(&self, user: &UserId, now: Timestamp) -> StoreResult<()>;
    async fn insert_factor(&self, factor: &FactorRecord) -> StoreResult<()>;
    async fn factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>>;
    async fn factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>>;
    async fn activate_factor(&self, user: &UserId, id: &FactorId, now: Timestamp, first: bool) -> StoreResult<bool>;
    async fn rename_factor(&self, user: &UserId, id: &FactorId, label: &str) -> StoreResult<bool>;
    async fn delete_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<bool>;
    async fn delete_stale_pending(&self, user: &UserId, before: Timestamp) -> StoreResult<u64>;
    async fn update_sealed(
        &self,
        user: &UserId,
        id: &FactorId,
        secret: Option<&Sealed>,
        destination: Option<&Sealed>,
    ) -> StoreResult<bool>;
    async fn advance_totp_step(
        &self,
        user: &UserId,
        id: &FactorId,
        step: u64,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn touch_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<()>;
    async fn factor_users(&self, after: Option<&UserId>, limit: u32) -> StoreResult<Vec<UserId>>;
    async fn replace_challenge(
        &self,
        challenge: &ChallengeRecord,
        resend_gap: Duration,
        max_attempts: u32,
    ) -> StoreResult<ReplaceOutcome>;
    async fn take_attempt(
        &self,
        user: &UserId,
        id: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<AttemptOutcome>;
    async fn mark_challenge_used(&self, user: &UserId, id: &ChallengeId, now: Timestamp) -> StoreResult<bool>;
    async fn live_challenge(
        &self,
        user: &UserId,
        purpose: Purpose,
        now: Timestamp,
    ) -> StoreResult<Option<ChallengeRecord>>;
    async fn reserve_attempt(&self, user: &UserId, now: Timestamp, rules: &LockoutRules) -> StoreResult<Gate>;
    async fn clear_failures(&self, user: &UserId) -> StoreResult<()>;
    async fn record_send(
        &self,
        user: &UserId,
        destination: &KeyedHash,
        now: Timestamp,
        rules: &SendRules,
    ) -> StoreResult<SendDecision>;
    async fn reserve_and_load_factor(
        &self,
        user: &UserId,
        factor: &FactorId,
        now: Timestamp,
        rules: &LockoutRules,
    ) -> StoreResult<(Gate, Option<FactorRecord>)>;
    async fn accept_totp_step(
        &self,
        user: &UserId,
        factor: &FactorId,
        step: u64,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn reserve_and_take_attempt(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
        rules: &LockoutRules,
    ) -> StoreResult<(Gate, Option<AttemptOutcome>)>;
    async fn complete_challenge(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        factor: &FactorId,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn insert_device(&self, device: &DeviceRecord) -> StoreResult<()>;
    async fn device_by_token(&self, hash: &KeyedHash) -> StoreResult<Option<DeviceRecord>>;
    async fn touch_device(&self, user: &UserId, id: &DeviceId, now: Timestamp) -> StoreResult<()>;
    async fn devices(&self, user: &UserId, now: Timestamp) -> StoreResult<Vec<DeviceRecord>>;
    async fn revoke_device(&self, user: &UserId, id: &DeviceId, now: Timestamp) -> StoreResult<bool>;
    async fn revoke_all_devices(&self, user: &UserId, now: Timestamp) -> StoreResult<u64>;
    async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryRecord]) -> StoreResult<()>;
    async fn recovery_code(
        &self,
        user: &UserId,
        fingerprint: &KeyedHash,
    ) -> StoreResult<Option<RecoveryRecord>>;
    async fn use_recovery_code(&self, user: &UserId, id: &RecoveryId, now: Timestamp) -> StoreResult<bool>;
    async fn recovery_codes_remaining(&self, user: &UserId) -> StoreResult<u32>;
}
