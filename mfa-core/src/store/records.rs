//! The records a store keeps. Versioned by the store's schema, not by serde:
//! none of them is `Serialize`, and secrets in them are sealed or hashed.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::crypto::{KeyedHash, Sealed};
use crate::factor::{FactorKind, FactorState, FactorSummary, Purpose};
use crate::ids::{ChallengeId, DeviceId, FactorId, RecoveryId, UserId};

/// Per-user counters and flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserState {
    /// Bumped by factor removal, password change and reset; trusted devices
    /// issued at an older epoch are invalid.
    pub epoch: u64,
    /// Consecutive failed (or still unresolved) verification attempts.
    pub failures: u32,
    /// Back-off: no attempt before this instant.
    pub locked_until: Option<Timestamp>,
    /// Set by an admin reset: the user must enrol again whatever the policy.
    pub reenroll_required: bool,
    /// Sessions issued before this instant are invalid.
    pub sessions_revoked_at: Option<Timestamp>,
}

/// An enrolled (or pending) factor.
#[derive(Clone, Debug)]
pub struct FactorRecord {
    /// Its id.
    pub id: FactorId,
    /// Its owner.
    pub user: UserId,
    /// TOTP, SMS or email.
    pub kind: FactorKind,
    /// The user's label.
    pub label: String,
    /// Pending until confirmed.
    pub state: FactorState,
    /// TOTP: the sealed seed.
    pub secret: Option<Sealed>,
    /// SMS/email: the sealed destination.
    pub destination: Option<Sealed>,
    /// SMS/email: the masked destination, for display.
    pub masked: Option<String>,
    /// SMS/email: keyed hash of the destination, for per-destination caps.
    pub destination_key: Option<KeyedHash>,
    /// TOTP: the last accepted time step.
    pub last_step: Option<u64>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Confirmation time.
    pub confirmed_at: Option<Timestamp>,
    /// Last successful use.
    pub last_used_at: Option<Timestamp>,
}

impl FactorRecord {
    /// What a user may see of it.
    pub fn summary(&self) -> FactorSummary {
        FactorSummary {
            id: self.id.clone(),
            kind: self.kind,
            label: self.label.clone(),
            masked_destination: self.masked.clone(),
            confirmed_at: self.confirmed_at,
            last_used_at: self.last_used_at,
        }
    }

    /// True once confirmed.
    pub fn is_active(&self) -> bool {
        self.state == FactorState::Active
    }
}

/// An SMS/email code challenge.
#[derive(Clone, Debug)]
pub struct ChallengeRecord {
    /// Its id.
    pub id: ChallengeId,
    /// Its owner.
    pub user: UserId,
    /// The factor the code was sent through.
    pub factor: FactorId,
    /// That factor's kind (SMS or email).
    pub kind: FactorKind,
    /// What the code is for.
    pub purpose: Purpose,
    /// Keyed hash of the code, bound to id, user and purpose.
    pub code_hash: KeyedHash,
    /// Attempts made so far (carried over on resend).
    pub attempts: u32,
    /// When it was issued (the resend cool-down counts from here).
    pub created_at: Timestamp,
    /// Valid while `now < expires_at`.
    pub expires_at: Timestamp,
    /// When it was used, once.
    pub used_at: Option<Timestamp>,
}

/// A trusted device ("Trust this device").
#[derive(Clone, Debug)]
pub struct DeviceRecord {
    /// Its id.
    pub id: DeviceId,
    /// Its owner.
    pub user: UserId,
    /// Keyed hash of the token in the cookie.
    pub token_hash: KeyedHash,
    /// A label (e.g. "Firefox on Android").
    pub label: String,
    /// The user's epoch when it was issued.
    pub epoch: u64,
    /// Issue time.
    pub created_at: Timestamp,
    /// Last time it skipped a second factor.
    pub last_used_at: Option<Timestamp>,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Revocation time.
    pub revoked_at: Option<Timestamp>,
}

/// A stored recovery code.
#[derive(Clone, Debug)]
pub struct RecoveryRecord {
    /// Its id.
    pub id: RecoveryId,
    /// Its owner.
    pub user: UserId,
    /// Keyed fingerprint of the code, to find the one candidate to verify.
    pub fingerprint: KeyedHash,
    /// Argon2id PHC string of the code.
    pub phc: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it was used, once.
    pub used_at: Option<Timestamp>,
}

/// Answer of [`MfaStore::replace_challenge`](super::MfaStore::replace_challenge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum ReplaceOutcome {
    /// Issued, with this many attempts carried over.
    Replaced {
        /// Attempts carried over from the live challenge.
        attempts: u32,
    },
    /// The live challenge is younger than the resend gap.
    TooSoon {
        /// Wait this long.
        retry_after: Duration,
    },
    /// The live challenge has used all its attempts.
    Exhausted {
        /// When it expires (and a fresh one may be issued).
        until: Timestamp,
    },
}

/// Answer of [`MfaStore::take_attempt`](super::MfaStore::take_attempt).
#[derive(Clone, Debug)]
#[must_use]
pub enum AttemptOutcome {
    /// Counted; the record carries the new attempt count.
    Counted(ChallengeRecord),
    /// No such challenge for this user.
    NotFound,
    /// Expired.
    Expired,
    /// Used, or out of attempts.
    Closed,
}
