//! The storage contract. Each method is one guarantee; the atomic ones are
//! where races die (single use, replay refusal, attempt counting), so a
//! store must implement each of them as one atomic statement or one short
//! transaction. `mfa_core::testkit` checks every guarantee, including under
//! concurrency, and every store runs it.

mod memory;
mod records;

pub use memory::MemoryStore;
pub use records::{
    AttemptOutcome, ChallengeRecord, DeviceRecord, FactorRecord, RecoveryRecord, ReplaceOutcome, UserState,
};

use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::crypto::{KeyedHash, Sealed};
use crate::error::StoreError;
use crate::factor::Purpose;
use crate::ids::{ChallengeId, DeviceId, FactorId, RecoveryId, UserId};
use crate::limiter::{Gate, LockoutRules, SendDecision, SendRules};

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Where an engine keeps its state. Implemented by [`MemoryStore`] and by
/// `mfa-store-sqlx` (SQLite, PostgreSQL, MySQL).
///
/// Stores never see a plain secret: TOTP seeds and destinations arrive
/// [`Sealed`], codes and tokens as [`KeyedHash`]es. Code comparison stays in
/// the engine; the store counts and consumes.
///
/// Every method that names a user only touches that user's rows: an id
/// belonging to someone else behaves as if it did not exist.
#[async_trait]
pub trait MfaStore: Send + Sync + 'static {
    // ----- users -------------------------------------------------------

    /// The user's counters and flags; a user never seen has the default
    /// (epoch 0, no failures, nothing required).
    async fn user_state(&self, user: &UserId) -> StoreResult<UserState>;

    /// Records that sessions issued before `at` are no longer valid.
    async fn revoke_sessions(&self, user: &UserId, at: Timestamp) -> StoreResult<()>;

    /// Increments the user's factor epoch and revokes all their trusted
    /// devices, in one transaction (password change). Returns the new epoch.
    async fn bump_epoch(&self, user: &UserId, now: Timestamp) -> StoreResult<u64>;

    /// Removes every factor, recovery code, challenge and trusted device of
    /// the user, clears failures, bumps the epoch, sets `reenroll_required`
    /// and `sessions_revoked_at = now`: one transaction, all or nothing.
    async fn reset_user(&self, user: &UserId, now: Timestamp) -> StoreResult<()>;

    // ----- factors -----------------------------------------------------

    /// Inserts a new factor. An existing id is a [`StoreError::Conflict`].
    async fn insert_factor(&self, factor: &FactorRecord) -> StoreResult<()>;

    /// One factor of the user (pending or active).
    async fn factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>>;

    /// All factors of the user (pending and active), oldest first.
    async fn factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>>;

    /// Pending → active, once: true only for the call that activated it. Also
    /// clears the user's `reenroll_required`, in the same transaction.
    ///
    /// `first`: the enrolment began without step-up because the user had no
    /// active factor. Then activation also requires that the user *still*
    /// has no other active factor, checked in the same atomic step
    /// ([`rules::may_activate`](crate::rules::may_activate)): of concurrent
    /// first enrolments exactly one becomes active, and a password holder
    /// racing the real user's first enrolment cannot add a second factor
    /// without step-up. False (nothing changes) otherwise.
    async fn activate_factor(
        &self,
        user: &UserId,
        id: &FactorId,
        now: Timestamp,
        first: bool,
    ) -> StoreResult<bool>;

    /// Renames a factor; false if there is none.
    async fn rename_factor(&self, user: &UserId, id: &FactorId, label: &str) -> StoreResult<bool>;

    /// Deletes a factor and its challenges, bumps the user's epoch and
    /// revokes their trusted devices: one transaction. False if none.
    async fn delete_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<bool>;

    /// Deletes the user's pending factors created before `before`.
    async fn delete_stale_pending(&self, user: &UserId, before: Timestamp) -> StoreResult<u64>;

    /// Replaces a factor's sealed secret and destination (key rotation).
    async fn update_sealed(
        &self,
        user: &UserId,
        id: &FactorId,
        secret: Option<&Sealed>,
        destination: Option<&Sealed>,
    ) -> StoreResult<bool>;

    /// TOTP replay refusal: sets `last_step = step` and `last_used_at = now`
    /// and returns true only if the factor exists and `last_step` was unset
    /// or `< step`, atomically. Of concurrent calls with the same step,
    /// exactly one gets true.
    async fn advance_totp_step(
        &self,
        user: &UserId,
        id: &FactorId,
        step: u64,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// Sets a factor's `last_used_at`.
    async fn touch_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<()>;

    /// Users that have at least one factor, ordered by id, after `after`
    /// (paging for key rotation).
    async fn factor_users(&self, after: Option<&UserId>, limit: u32) -> StoreResult<Vec<UserId>>;

    // ----- SMS/email challenges ---------------------------------------

    /// Issues `challenge` as the user's one live challenge for its purpose,
    /// atomically:
    /// - if a live (unused, unexpired) one was created less than
    ///   `resend_gap` ago: [`ReplaceOutcome::TooSoon`], nothing changes;
    /// - if the live one has `max_attempts` attempts: `Exhausted`, nothing
    ///   changes (a resend never resets the count);
    /// - otherwise every earlier challenge of the user for that purpose is
    ///   removed and `challenge` inserted with the live one's attempt count
    ///   carried over: `Replaced { attempts }`.
    async fn replace_challenge(
        &self,
        challenge: &ChallengeRecord,
        resend_gap: Duration,
        max_attempts: u32,
    ) -> StoreResult<ReplaceOutcome>;

    /// Counts one attempt on the user's challenge and returns it (with the
    /// new count) only while it is unused, `now < expires_at` and its
    /// attempts are below `max_attempts`: one atomic step. Otherwise says
    /// why not, without counting.
    async fn take_attempt(
        &self,
        user: &UserId,
        id: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<AttemptOutcome>;

    /// Marks the challenge used: true for exactly one caller, and only while
    /// the factor it was sent through still exists (a challenge left behind
    /// by a resend racing a reset or a factor removal is never usable).
    async fn mark_challenge_used(&self, user: &UserId, id: &ChallengeId, now: Timestamp)
    -> StoreResult<bool>;

    /// The user's live (unused, unexpired) challenge for a purpose.
    async fn live_challenge(
        &self,
        user: &UserId,
        purpose: Purpose,
        now: Timestamp,
    ) -> StoreResult<Option<ChallengeRecord>>;

    // ----- limiter ---------------------------------------------------

    /// Reserves one verification attempt for the account, atomically:
    /// refuses while `failures >= rules.hard_stop` or `now < locked_until`;
    /// otherwise increments `failures` and sets `locked_until = now +
    /// rules.lock_after(failures)` (or clears it when there is none).
    async fn reserve_attempt(&self, user: &UserId, now: Timestamp, rules: &LockoutRules)
    -> StoreResult<Gate>;

    /// Clears failures and any lock (a success, or an admin unlock).
    async fn clear_failures(&self, user: &UserId) -> StoreResult<()>;

    /// Records one code sent to `destination` for `user` if fewer than the
    /// caps were sent in the window ending at `now`, atomically.
    async fn record_send(
        &self,
        user: &UserId,
        destination: &KeyedHash,
        now: Timestamp,
        rules: &SendRules,
    ) -> StoreResult<SendDecision>;

    // ----- composites (fewer round trips) ----------------------------
    //
    // The engine's hot paths call these. The defaults compose the primitives
    // above (and are as safe as they are); SQL stores override them to do
    // a verification in two round trips.

    /// [`reserve_attempt`](Self::reserve_attempt), then, if open, the factor.
    async fn reserve_and_load_factor(
        &self,
        user: &UserId,
        factor: &FactorId,
        now: Timestamp,
        rules: &LockoutRules,
    ) -> StoreResult<(Gate, Option<FactorRecord>)> {
        let gate = self.reserve_attempt(user, now, rules).await?;
        let record = match gate {
            Gate::Open { .. } => self.factor(user, factor).await?,
            Gate::Locked { .. } => None,
        };
        Ok((gate, record))
    }

    /// [`advance_totp_step`](Self::advance_totp_step); when it succeeds,
    /// [`clear_failures`](Self::clear_failures) too.
    async fn accept_totp_step(
        &self,
        user: &UserId,
        factor: &FactorId,
        step: u64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let ok = self.advance_totp_step(user, factor, step, now).await?;
        if ok {
            self.clear_failures(user).await?;
        }
        Ok(ok)
    }

    /// [`reserve_attempt`](Self::reserve_attempt), then, if open,
    /// [`take_attempt`](Self::take_attempt).
    async fn reserve_and_take_attempt(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
        rules: &LockoutRules,
    ) -> StoreResult<(Gate, Option<AttemptOutcome>)> {
        let gate = self.reserve_attempt(user, now, rules).await?;
        let outcome = match gate {
            Gate::Open { .. } => Some(self.take_attempt(user, challenge, now, max_attempts).await?),
            Gate::Locked { .. } => None,
        };
        Ok((gate, outcome))
    }

    /// [`mark_challenge_used`](Self::mark_challenge_used); when it succeeds,
    /// clears failures and touches the factor.
    async fn complete_challenge(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        factor: &FactorId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let ok = self.mark_challenge_used(user, challenge, now).await?;
        if ok {
            self.clear_failures(user).await?;
            self.touch_factor(user, factor, now).await?;
        }
        Ok(ok)
    }

    // ----- trusted devices -------------------------------------------

    /// Inserts a trusted device.
    async fn insert_device(&self, device: &DeviceRecord) -> StoreResult<()>;

    /// The device whose token hashes to `hash`, if any (any user, any state:
    /// the engine checks owner, expiry, revocation and epoch).
    async fn device_by_token(&self, hash: &KeyedHash) -> StoreResult<Option<DeviceRecord>>;

    /// Sets a device's `last_used_at`.
    async fn touch_device(&self, user: &UserId, id: &DeviceId, now: Timestamp) -> StoreResult<()>;

    /// The user's devices that are neither revoked nor expired at `now`,
    /// newest first.
    async fn devices(&self, user: &UserId, now: Timestamp) -> StoreResult<Vec<DeviceRecord>>;

    /// Revokes one device of the user; true if it was live.
    async fn revoke_device(&self, user: &UserId, id: &DeviceId, now: Timestamp) -> StoreResult<bool>;

    /// Revokes all devices of the user; returns how many were live.
    async fn revoke_all_devices(&self, user: &UserId, now: Timestamp) -> StoreResult<u64>;

    // ----- recovery codes --------------------------------------------

    /// Replaces all of the user's recovery codes: one transaction.
    async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryRecord]) -> StoreResult<()>;

    /// The user's unused recovery code with this fingerprint.
    async fn recovery_code(
        &self,
        user: &UserId,
        fingerprint: &KeyedHash,
    ) -> StoreResult<Option<RecoveryRecord>>;

    /// Marks a recovery code used: true for exactly one caller.
    async fn use_recovery_code(&self, user: &UserId, id: &RecoveryId, now: Timestamp) -> StoreResult<bool>;

    /// How many unused recovery codes the user has.
    async fn recovery_codes_remaining(&self, user: &UserId) -> StoreResult<u32>;
}
