//! Errors a caller can act on. They say what happened to the *request*
//! (wrong code, expired, locked, slow down), never why a secret failed, and
//! never carry a code, secret or token.

use std::time::Duration;

use thiserror::Error;

use crate::clock::Timestamp;
use crate::factor::FactorKind;

/// Everything an engine call can refuse with.
///
/// ```
/// use mfa_core::MfaError;
/// let e = MfaError::InvalidCode { attempts_left: 3 };
/// assert_eq!(e.to_string(), "the code is not correct (3 attempts left)");
/// assert_eq!(e.code(), "invalid_code");
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MfaError {
    /// The code is well formed but wrong (or was already used).
    #[error("the code is not correct ({attempts_left} attempts left)")]
    InvalidCode {
        /// Attempts left on this challenge (for TOTP: before the account
        /// back-off starts).
        attempts_left: u32,
    },
    /// The input is not a code at all (wrong length, not ASCII digits).
    #[error("a code is {digits} digits")]
    MalformedCode {
        /// How many digits a code of this kind has.
        digits: u32,
    },
    /// The challenge's code has expired: send a new one.
    #[error("the code has expired; ask for a new one")]
    Expired,
    /// The challenge has had its wrong attempts, or was used: start again.
    #[error("this code can no longer be used; ask for a new one")]
    ChallengeClosed,
    /// The account is locked after too many failures: until a time
    /// (back-off), or until an administrator resets it (`None`).
    #[error("too many failed attempts; account locked")]
    Locked {
        /// When attempts are allowed again; `None` means an administrator
        /// must unlock the account.
        until: Option<Timestamp>,
    },
    /// Too many codes sent: wait before asking again.
    #[error("too many codes sent; try again in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// The user has no (confirmed) factor of the kind needed.
    #[error("no second factor is enrolled for this")]
    NotEnrolled,
    /// No such factor, challenge or device for this user.
    #[error("not found")]
    NotFound,
    /// The rollout policy does not allow this method or action.
    #[error("not allowed by policy: {0}")]
    Policy(#[from] PolicyError),
    /// The action changes security settings and needs a fresh second factor.
    #[error("confirm with a second factor first")]
    StepUpRequired,
    /// The method is not offered for this cohort.
    #[error("method {0:?} is not allowed here")]
    MethodNotAllowed(FactorKind),
    /// An input the caller gave is not acceptable; names which.
    #[error("invalid {0}")]
    InvalidInput(&'static str),
    /// The code could not be delivered by the `CodeSender`.
    #[error("the code could not be delivered")]
    Delivery(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored secret could not be opened (key missing from the ring, or the
    /// stored value was altered). Details are deliberately withheld.
    #[error("a stored secret could not be read")]
    SecretUnavailable,
    /// The operating system's random number generator failed.
    #[error("the random number generator failed")]
    Random,
    /// The engine's configuration is invalid.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl MfaError {
    /// A stable, machine-readable name for the error (used by the HTTP
    /// adapters as the `error` field).
    pub fn code(&self) -> &'static str {
        match self {
            MfaError::InvalidCode { .. } => "invalid_code",
            MfaError::MalformedCode { .. } => "malformed_code",
            MfaError::Expired => "expired",
            MfaError::ChallengeClosed => "challenge_closed",
            MfaError::Locked { .. } => "locked",
            MfaError::RateLimited { .. } => "rate_limited",
            MfaError::NotEnrolled => "not_enrolled",
            MfaError::NotFound => "not_found",
            MfaError::Policy(_) | MfaError::MethodNotAllowed(_) => "not_allowed",
            MfaError::StepUpRequired => "step_up_required",
            MfaError::InvalidInput(_) => "invalid_input",
            MfaError::Delivery(_) => "delivery_failed",
            MfaError::SecretUnavailable | MfaError::Random | MfaError::Config(_) | MfaError::Store(_) => {
                "internal"
            }
        }
    }

    /// True for failures of the service rather than of the request.
    pub fn is_internal(&self) -> bool {
        self.code() == "internal"
    }
}

/// A store failed. Stores map their own errors into one of these.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (connection, query, I/O).
    #[error("backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored row could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A unique key was violated (an id generated twice).
    #[error("conflict: {0}")]
    Conflict(&'static str),
}

/// A rollout policy is invalid, or refuses an action.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy text could not be parsed.
    #[error("cannot parse policy: {0}")]
    Parse(String),
    /// The policy parsed but is inconsistent.
    #[error("invalid policy: {0}")]
    Invalid(String),
    /// Trusting devices is disabled for this cohort.
    #[error("trusting devices is disabled")]
    TrustDisabled,
}

/// The engine's configuration is invalid.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key has the wrong length.
    #[error("{what} must be 32 bytes, got {len}")]
    KeyLength {
        /// Which key.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A key could not be decoded.
    #[error("{0} is not valid base64")]
    KeyEncoding(&'static str),
    /// A key is missing.
    #[error("{0} is missing")]
    MissingKey(&'static str),
    /// Two keys share an id.
    #[error("key id {0} appears twice")]
    DuplicateKeyId(u32),
    /// A setting is out of its allowed range.
    #[error("{0}")]
    OutOfRange(String),
}
