//! The session model: the record an adapter keeps for a login, sealed so
//! that only the engine can make one (invariant I3).
//!
//! A [`SessionRecord`] has no public fields and no public constructor: it
//! is made by the flows of this module's parent (login, verification,
//! enrolment, step-up, password change) and handed to the adapter as a
//! [`SessionToken`] inside a [`SessionChange`](crate::http::SessionChange).
//! The token is the record's JSON with an HMAC-SHA256 tag under the
//! engine's MAC key; [`admit`](crate::http::admit) opens it on each request
//! and refuses (ending the session) a token whose tag does not verify. So a
//! record edited in the session store, or one written by code outside
//! mfa-core, is never taken for a login.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::crypto::{HashDomain, ct_eq};
use crate::http::contract::FactorView;
use crate::{
    Assurance, Audience, Caller, CompletedBy, FactorKind, LoginStep, Mfa, MfaStore, Platform, Timestamp,
    UserId,
};

/// The session key under which adapters keep the [`SessionToken`].
pub const SESSION_KEY: &str = "mfa";

/// The longest token [`SessionRecord::open`] reads (checked before any
/// decoding or hashing).
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A sealed [`SessionRecord`], as the adapter stores it in the session (a
/// string). It holds no secret: ids, times, the platform, the assurance,
/// and a tag that only the engine's key can make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionToken(String);

impl SessionToken {
    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A token as read back from a session store (not yet authenticated:
    /// [`admit`](crate::http::admit) checks it).
    pub fn from_stored(value: String) -> Self {
        SessionToken(value)
    }
}

/// A login's MFA state in a session: whose, from where, since when, and
/// whether it is pending or complete (with the engine's [`Assurance`]).
/// Read-only outside mfa-core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    user: UserId,
    audience: Audience,
    issued_at: Timestamp,
    stage: Stage,
}

/// Where a login stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Password checked, second factor (or forced enrolment) missing.
    Pending {
        /// What is missing.
        step: PendingStep,
    },
    /// Logged in. Only the engine makes this stage.
    #[non_exhaustive]
    Complete {
        /// How strongly.
        assurance: Assurance,
        /// Why it completed.
        by: CompletedBy,
        /// Grace period: enrolment is offered (skippable) with these methods.
        offer_enroll: Option<Vec<FactorKind>>,
    },
}

/// What a pending session still has to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum PendingStep {
    /// Verify one of these factors (or a recovery code).
    ChooseFactor {
        /// The usable factors, the cohort's methods first.
        factors: Vec<FactorView>,
        /// Whether recovery codes are available.
        recovery_codes: bool,
        /// Whether "trust this device" may be offered.
        trust_allowed: bool,
    },
    /// Enrol one of these methods first.
    MustEnroll {
        /// Allowed methods.
        methods: Vec<FactorKind>,
    },
}

impl PendingStep {
    /// The pending step a login answer asks for (`None` unless it is
    /// `ChooseFactor` or `MustEnroll`).
    pub fn of(step: &LoginStep) -> Option<Self> {
        match step {
            LoginStep::ChooseFactor {
                factors,
                recovery_codes,
                trust_allowed,
            } => Some(PendingStep::ChooseFactor {
                factors: factors.iter().map(FactorView::from).collect(),
                recovery_codes: *recovery_codes,
                trust_allowed: *trust_allowed,
            }),
            LoginStep::MustEnroll { methods } => Some(PendingStep::MustEnroll {
                methods: methods.clone(),
            }),
            _ => None,
        }
    }
}

impl SessionRecord {
    /// A new record for a login the engine answered with `step` (`None` for
    /// `Locked`, which makes no session).
    pub(crate) fn for_login(
        user: &UserId,
        audience: Audience,
        issued_at: Timestamp,
        step: &LoginStep,
    ) -> Option<Self> {
        if let Some(step) = PendingStep::of(step) {
            return Some(SessionRecord {
                user: user.clone(),
                audience,
                issued_at,
                stage: Stage::Pending { step },
            });
        }
        let stage = match step {
            LoginStep::Complete { by, assurance, .. } => Stage::Complete {
                assurance: *assurance,
                by: *by,
                offer_enroll: None,
            },
            LoginStep::OfferEnroll { methods, .. } => Stage::Complete {
                assurance: Assurance::PasswordOnly,
                by: CompletedBy::NotRequired,
                offer_enroll: Some(methods.clone()),
            },
            _ => return None,
        };
        Some(SessionRecord {
            user: user.clone(),
            audience,
            issued_at,
            stage,
        })
    }

    /// The same login, now complete with an assurance the engine just
    /// granted (verification, step-up or enrolment).
    pub(crate) fn completed(mut self, assurance: Assurance, by: CompletedBy) -> Self {
        let offer_enroll = match &self.stage {
            Stage::Complete { offer_enroll, .. } if !assurance.is_multi_factor() => offer_enroll.clone(),
            _ => None,
        };
        self.stage = Stage::Complete {
            assurance,
            by,
            offer_enroll,
        };
        self
    }

    /// The same complete login, no longer offering enrolment.
    pub(crate) fn without_offer(mut self) -> Self {
        if let Stage::Complete { offer_enroll, .. } = &mut self.stage {
            *offer_enroll = None;
        }
        self
    }

    /// The same login re-issued after `revoked_at` (the user's sessions were
    /// ended by this very request: a first enrolment or a password change),
    /// so that it outlives the revocation.
    pub(crate) fn reissued_after(mut self, revoked_at: Timestamp) -> Self {
        self.issued_at = revoked_at + std::time::Duration::from_millis(1);
        self
    }

    /// The user whose password was checked.
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The platform and groups the application reported at login.
    pub fn audience(&self) -> &Audience {
        &self.audience
    }

    /// When the password was checked (for forced re-login and revocation).
    pub fn issued_at(&self) -> Timestamp {
        self.issued_at
    }

    /// Pending or complete.
    pub fn stage(&self) -> &Stage {
        &self.stage
    }

    /// True while the second factor is missing.
    pub fn is_pending(&self) -> bool {
        matches!(self.stage, Stage::Pending { .. })
    }

    /// The session's assurance (password only while pending).
    pub fn assurance(&self) -> Assurance {
        match &self.stage {
            Stage::Complete { assurance, .. } => *assurance,
            Stage::Pending { .. } => Assurance::PasswordOnly,
        }
    }

    /// The caller this session is, for engine calls.
    pub fn caller(&self) -> Caller {
        Caller::new(self.audience.clone(), self.assurance())
    }

    /// Seals the record for the session store.
    pub(crate) fn seal<S: MfaStore>(&self, mfa: &Mfa<S>) -> SessionToken {
        let wire = Wire::from(self);
        // Encoding plain data cannot fail; an empty body would never open.
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        let tag = mfa.keys().keyed_hash(HashDomain::Session, &[&json]);
        SessionToken(format!("{}.{}", B64.encode(&json), B64.encode(tag.as_bytes())))
    }

    /// Opens a stored token: `None` unless its tag verifies under the
    /// engine's key (constant-time) and its content is a record.
    pub(crate) fn open<S: MfaStore>(mfa: &Mfa<S>, token: &SessionToken) -> Option<Self> {
        let text = token.as_str();
        if text.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (body, tag) = text.split_once('.')?;
        let json = B64.decode(body).ok()?;
        let tag = B64.decode(tag).ok()?;
        let expected = mfa.keys().keyed_hash(HashDomain::Session, &[&json]);
        if !ct_eq(expected.as_bytes(), &tag) {
            return None;
        }
        let wire: Wire = serde_json::from_slice(&json).ok()?;
        wire.into_record()
    }
}

// ---------------------------------------------------------------------------
// The sealed form (private: nothing outside this module reads or writes it)
// ---------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct Wire {
    v: u8,
    user: UserId,
    platform: String,
    #[serde(default)]
    groups: Vec<String>,
    issued_at: Timestamp,
    stage: StageWire,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
enum StageWire {
    Pending {
        step: PendingStep,
    },
    Complete {
        assurance: AssuranceWire,
        by: CompletedBy,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offer_enroll: Option<Vec<FactorKind>>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
enum AssuranceWire {
    PasswordOnly,
    TrustedDevice { at: Timestamp },
    SecondFactor { at: Timestamp, method: FactorKind },
}

impl From<&SessionRecord> for Wire {
    fn from(r: &SessionRecord) -> Self {
        let stage = match &r.stage {
            Stage::Pending { step } => StageWire::Pending { step: step.clone() },
            Stage::Complete {
                assurance,
                by,
                offer_enroll,
            } => StageWire::Complete {
                assurance: match *assurance {
                    Assurance::PasswordOnly => AssuranceWire::PasswordOnly,
                    Assurance::TrustedDevice { at, .. } => AssuranceWire::TrustedDevice { at },
                    Assurance::SecondFactor { at, method, .. } => AssuranceWire::SecondFactor { at, method },
                },
                by: *by,
                offer_enroll: offer_enroll.clone(),
            },
        };
        Wire {
            v: 1,
            user: r.user.clone(),
            platform: r.audience.platform.to_string(),
            groups: r.audience.groups.clone(),
            issued_at: r.issued_at,
            stage,
        }
    }
}

impl Wire {
    fn into_record(self) -> Option<SessionRecord> {
        if self.v != 1 {
            return None;
        }
        let platform = Platform::new(&self.platform).ok()?;
        let stage = match self.stage {
            StageWire::Pending { step } => Stage::Pending { step },
            StageWire::Complete {
                assurance,
                by,
                offer_enroll,
            } => Stage::Complete {
                assurance: match assurance {
                    AssuranceWire::PasswordOnly => Assurance::PasswordOnly,
                    AssuranceWire::TrustedDevice { at } => Assurance::trusted_device(at),
                    AssuranceWire::SecondFactor { at, method } => Assurance::second_factor(at, method),
                },
                by,
                offer_enroll,
            },
        };
        Some(SessionRecord {
            user: self.user,
            audience: Audience::new(platform).with_groups(self.groups),
            issued_at: self.issued_at,
            stage,
        })
    }
}
