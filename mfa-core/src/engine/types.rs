//! The values the engine's flows take and return.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::factor::{FactorKind, FactorSummary, Purpose};
use crate::ids::{ChallengeId, DeviceId, FactorId};
use crate::oob::CodeSent;
use crate::policy::Audience;
use crate::secret::SecretString;
use crate::totp::TotpEnrollment;
use crate::trust::IssuedTrust;

/// What a login looks like to the policy: who (platform, groups) and the
/// trust cookie, if the browser sent one.
#[derive(Clone, Debug)]
pub struct LoginContext {
    /// Platform and groups.
    pub audience: Audience,
    /// The raw value of the trust cookie, if any.
    pub trust_token: Option<SecretString>,
}

impl LoginContext {
    /// A login from `audience` without a trust cookie.
    pub fn new(audience: Audience) -> Self {
        LoginContext {
            audience,
            trust_token: None,
        }
    }

    /// Adds the trust cookie's value.
    pub fn with_trust_token(mut self, value: impl Into<SecretString>) -> Self {
        self.trust_token = Some(value.into());
        self
    }
}

/// How strongly a session is authenticated. Only the engine makes one: a
/// value is returned by [`Mfa::begin_login`](crate::Mfa::begin_login) (trusted
/// device), [`Mfa::verify`](crate::Mfa::verify) and
/// [`Mfa::confirm_enrollment`](crate::Mfa::confirm_enrollment) (second
/// factor). The variants that raise assurance are `#[non_exhaustive]`, so
/// code outside mfa-core can read them but never build them (invariant I3);
/// there is no `Deserialize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Assurance {
    /// Password checked, no second factor (pending, or MFA not required).
    PasswordOnly,
    /// A trusted device skipped the second factor: weaker than a fresh
    /// factor (NIST SP 800-63B rev 4); never counts for step-up.
    #[non_exhaustive]
    TrustedDevice {
        /// When.
        at: Timestamp,
    },
    /// A second factor verified.
    #[non_exhaustive]
    SecondFactor {
        /// When.
        at: Timestamp,
        /// Which kind.
        method: FactorKind,
    },
}

impl Assurance {
    pub(crate) fn trusted_device(at: Timestamp) -> Self {
        Assurance::TrustedDevice { at }
    }

    pub(crate) fn second_factor(at: Timestamp, method: FactorKind) -> Self {
        Assurance::SecondFactor { at, method }
    }

    /// **Danger, tests only** (feature `danger-test-helpers`): a
    /// trusted-device assurance made without a device.
    #[cfg(feature = "danger-test-helpers")]
    pub fn danger_trusted_device(at: Timestamp) -> Self {
        Assurance::trusted_device(at)
    }

    /// **Danger, tests only** (feature `danger-test-helpers`): a
    /// second-factor assurance made without a verification.
    #[cfg(feature = "danger-test-helpers")]
    pub fn danger_second_factor(at: Timestamp, method: FactorKind) -> Self {
        Assurance::second_factor(at, method)
    }

    /// Whether a second factor (or a trusted device standing in for one)
    /// was shown.
    pub fn is_multi_factor(&self) -> bool {
        !matches!(self, Assurance::PasswordOnly)
    }
}

/// Who asks for a change: from where, and how strongly authenticated.
///
/// Not constructible outside mfa-core except as [`Caller::password_only`]:
/// a caller with more assurance comes from the engine (a
/// [`Verified`](crate::Verified) or [`Enrolled`](crate::Enrolled) result,
/// or a session record the engine authenticated).
///
/// ```
/// use mfa_core::{Assurance, Audience, Caller, Platform};
/// let caller = Caller::password_only(Audience::new(Platform::WEB));
/// assert_eq!(caller.assurance, Assurance::PasswordOnly);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Caller {
    /// Platform and groups (for the policy).
    pub audience: Audience,
    /// The session's assurance.
    pub assurance: Assurance,
}

impl Caller {
    /// A caller whose password was just checked and nothing more: it may
    /// enrol a first factor (when the user has none) and nothing that
    /// needs a second factor.
    pub fn password_only(audience: Audience) -> Self {
        Caller {
            audience,
            assurance: Assurance::PasswordOnly,
        }
    }

    pub(crate) fn new(audience: Audience, assurance: Assurance) -> Self {
        Caller { audience, assurance }
    }

    /// **Danger, tests only** (feature `danger-test-helpers`, never in a
    /// deployed build): a caller with a second factor verified at `at`,
    /// made without verifying anything. It exists so that unit tests of
    /// step-up rules need not run a verification first; nothing in the
    /// library or its adapters enables the feature.
    #[cfg(feature = "danger-test-helpers")]
    pub fn danger_fresh(audience: Audience, at: Timestamp, method: FactorKind) -> Self {
        Caller::new(audience, Assurance::second_factor(at, method))
    }

    /// **Danger, tests only** (feature `danger-test-helpers`): a caller with
    /// an assurance the engine gave elsewhere (e.g. a trusted-device login's).
    #[cfg(feature = "danger-test-helpers")]
    pub fn danger_with(audience: Audience, assurance: Assurance) -> Self {
        Caller::new(audience, assurance)
    }
}

/// How a login became complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompletedBy {
    /// A second factor was verified (or enrolled, or a recovery code used).
    SecondFactor,
    /// A valid trusted-device token of the user's.
    TrustedDevice,
    /// The policy does not require MFA (yet) and the user has **no** active
    /// factor (invariant I1: never for an enrolled user).
    NotRequired,
}

impl CompletedBy {
    /// The wire name (`second_factor`, `trusted_device`, `not_required`).
    pub fn as_str(self) -> &'static str {
        match self {
            CompletedBy::SecondFactor => "second_factor",
            CompletedBy::TrustedDevice => "trusted_device",
            CompletedBy::NotRequired => "not_required",
        }
    }
}

/// The engine's answer after the password: what the login needs next.
///
/// A user with at least one active factor only ever gets `ChooseFactor`,
/// `Locked`, or `Complete { by: TrustedDevice, .. }` (invariant I1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum LoginStep {
    /// The session may be created with this assurance.
    #[non_exhaustive]
    Complete {
        /// Why no factor was needed now.
        by: CompletedBy,
        /// The assurance to record (a trusted device, or password only).
        assurance: Assurance,
        /// The trusted device that completed it, if one did.
        device: Option<DeviceId>,
    },
    /// Ask for a second factor: one of these, or a recovery code.
    ChooseFactor {
        /// The user's active factors, those the cohort prefers first.
        factors: Vec<FactorSummary>,
        /// Whether the user has unused recovery codes.
        recovery_codes: bool,
        /// Whether "Trust this device" may be offered.
        trust_allowed: bool,
    },
    /// The user has no active factor and must enrol one of these methods
    /// before going on.
    MustEnroll {
        /// Methods allowed for this cohort.
        methods: Vec<FactorKind>,
    },
    /// Grace period: the user has no active factor; the login completes
    /// with the password, and enrolment is offered (skippable).
    OfferEnroll {
        /// Methods allowed for this cohort.
        methods: Vec<FactorKind>,
        /// When it becomes mandatory.
        enforce_from: Option<Timestamp>,
    },
    /// Too many failures.
    Locked {
        /// Until when; `None`: until an administrator unlocks.
        until: Option<Timestamp>,
    },
}

/// Which code is being entered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptTarget {
    /// A code from this authenticator app.
    Totp(FactorId),
    /// The code sent for this challenge.
    Challenge(ChallengeId),
    /// One of the user's recovery codes.
    RecoveryCode,
}

/// A code to verify.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// Which code.
    pub target: AttemptTarget,
    /// What the user typed.
    pub code: SecretString,
    /// What for (login, step-up).
    pub purpose: Purpose,
    /// Trust this device afterwards under this label (login only, where
    /// the policy allows it).
    pub trust_device: Option<String>,
    /// Platform and groups (the policy decides whether trust is allowed).
    pub audience: Audience,
}

impl Attempt {
    /// A login attempt with `code` for `target`, without trusting the device.
    pub fn login(target: AttemptTarget, code: impl Into<SecretString>, audience: Audience) -> Self {
        Attempt {
            target,
            code: code.into(),
            purpose: Purpose::Login,
            trust_device: None,
            audience,
        }
    }

    /// The same attempt for step-up.
    pub fn step_up(mut self) -> Self {
        self.purpose = Purpose::StepUp;
        self
    }

    /// Asks to trust this device on success.
    pub fn trust_device(mut self, label: impl Into<String>) -> Self {
        self.trust_device = Some(label.into());
        self
    }
}

/// A successful verification (made only by the engine).
#[derive(Clone, Debug)]
#[must_use]
#[non_exhaustive]
pub struct Verified {
    /// What it proved.
    pub method: FactorKind,
    /// The factor used (none for a recovery code).
    pub factor: Option<FactorId>,
    /// What for.
    pub purpose: Purpose,
    /// The assurance to record in the session.
    pub assurance: Assurance,
    /// A trust token, if one was asked for and the policy allows it.
    pub trust: Option<IssuedTrust>,
    /// Recovery codes left, when one was used.
    pub recovery_codes_left: Option<u32>,
}

impl Verified {
    /// The caller this verification makes, for calls that need a fresh
    /// second factor (step-up).
    pub fn caller(&self, audience: Audience) -> Caller {
        Caller::new(audience, self.assurance)
    }
}

/// A new factor to enrol.
#[derive(Clone, Debug)]
pub enum EnrollRequest {
    /// An authenticator app.
    Totp {
        /// The user's name for it ("Phone", "Authy").
        label: String,
        /// The account name the app shows under the issuer (e.g. the
        /// user's email). No ':'.
        account_name: String,
    },
    /// Codes by text message to a phone.
    Sms {
        /// The user's name for it.
        label: String,
        /// The phone number.
        phone: String,
    },
    /// Codes by email.
    Email {
        /// The user's name for it.
        label: String,
        /// The address.
        address: String,
    },
}

/// A started enrolment.
#[derive(Clone, Debug)]
pub enum Enrollment {
    /// Show the QR code and key, then confirm with a code from the app.
    Totp(TotpEnrollment),
    /// A code was sent; confirm with it.
    OutOfBand(CodeSent),
}

impl Enrollment {
    /// The pending factor's id.
    pub fn factor(&self) -> &FactorId {
        match self {
            Enrollment::Totp(t) => &t.factor,
            Enrollment::OutOfBand(c) => &c.factor,
        }
    }
}

/// A confirmed enrolment (made only by the engine).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Enrolled {
    /// The new factor.
    pub factor: FactorSummary,
    /// Confirming proved the factor: record this assurance.
    pub assurance: Assurance,
}

impl Enrolled {
    /// The caller this enrolment makes (a fresh second factor).
    pub fn caller(&self, audience: Audience) -> Caller {
        Caller::new(audience, self.assurance)
    }
}

/// A user's MFA state at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MfaStatus {
    /// Confirmed factors.
    pub factors: Vec<FactorSummary>,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
    /// Live trusted devices.
    pub trusted_devices: usize,
    /// Set after an admin reset until a factor is enrolled.
    pub reenroll_required: bool,
    /// If locked, until when (`Some(None)`: until an admin unlocks).
    pub locked: Option<Option<Timestamp>>,
}

/// Whether a session may go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum SessionCheck {
    /// It may.
    Valid,
    /// Its cohort's re-login cut-off has passed: log in again.
    RolloutCutoff,
    /// The user's sessions were revoked (admin reset, or by the app).
    Revoked,
}

/// What [`Mfa::rotate_secrets`](crate::Mfa::rotate_secrets) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Factors re-sealed with the current key.
    pub resealed: u64,
    /// Factors already on the current key.
    pub current: u64,
    /// Factors whose secret could not be opened (key missing): left as is.
    pub unreadable: u64,
}
