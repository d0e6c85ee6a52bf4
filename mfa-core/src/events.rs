//! Security events: every event docs/SECURITY-REVIEW.md §8 names, for audit logs and
//! user notifications. They carry ids, kinds and masked destinations, never
//! a code, secret or token.

use std::sync::Mutex;

use serde::Serialize;

use crate::clock::Timestamp;
use crate::factor::{FactorKind, Purpose};
use crate::ids::{DeviceId, FactorId, UserId};

/// One security event: about one user, or (`user: None`) about the whole
/// system (a policy change, a key rotation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecurityEvent {
    /// When it happened.
    pub at: Timestamp,
    /// Whose account (`None` for a system-wide event).
    pub user: Option<UserId>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A factor was confirmed.
    FactorEnrolled {
        /// The factor.
        factor: FactorId,
        /// Its kind.
        method: FactorKind,
    },
    /// A factor was removed by the user.
    FactorRemoved {
        /// The factor.
        factor: FactorId,
        /// Its kind.
        method: FactorKind,
    },
    /// A factor was renamed.
    FactorRenamed {
        /// The factor.
        factor: FactorId,
    },
    /// A code was sent.
    ChallengeSent {
        /// Through which factor.
        factor: FactorId,
        /// SMS or email.
        method: FactorKind,
        /// What for.
        purpose: Purpose,
        /// The masked destination.
        to: String,
    },
    /// A code was refused by the send caps (SMS pumping guard).
    SendRefused {
        /// SMS or email.
        method: FactorKind,
    },
    /// A second factor verified.
    VerifySucceeded {
        /// Which method.
        method: FactorKind,
        /// What for.
        purpose: Purpose,
    },
    /// A second factor failed.
    VerifyFailed {
        /// Which method, when known.
        method: Option<FactorKind>,
        /// What for.
        purpose: Purpose,
        /// `invalid_code`, `expired`, `challenge_closed`, `not_found`.
        reason: &'static str,
    },
    /// A TOTP code for an already used step was refused.
    ReplayRefused {
        /// The factor.
        factor: FactorId,
    },
    /// The account entered back-off or the hard stop.
    LockedOut {
        /// Until when; `None` for the hard stop.
        until: Option<Timestamp>,
    },
    /// A device was trusted.
    TrustedDeviceAdded {
        /// The device.
        device: DeviceId,
        /// Its label.
        label: String,
    },
    /// A trusted device skipped the second factor.
    TrustedDeviceUsed {
        /// The device.
        device: DeviceId,
    },
    /// Trusted devices were revoked.
    TrustedDeviceRevoked {
        /// One device, or `None` for all.
        device: Option<DeviceId>,
        /// How many were live.
        count: u64,
    },
    /// A recovery code was used.
    RecoveryCodeUsed {
        /// Codes left.
        remaining: u32,
    },
    /// A new set of recovery codes replaced the old one.
    RecoveryCodesGenerated {
        /// How many.
        count: u32,
    },
    /// The password changed or was reset: trusted devices revoked and
    /// every session of the user ended.
    PasswordChanged,
    /// Every session of the user issued until now was ended.
    SessionsRevoked,
    /// The rollout policy was replaced (system-wide).
    PolicyChanged {
        /// How many cohorts the new policy has.
        cohorts: usize,
    },
    /// Stored secrets were re-sealed with the current key (system-wide).
    SecretsRotated {
        /// Factors re-sealed.
        resealed: u64,
        /// Factors whose secret could not be opened.
        unreadable: u64,
    },
    /// An administrator reset the user's MFA.
    AdminReset {
        /// Who did it.
        actor: String,
    },
    /// An administrator lifted a lock.
    AdminUnlock {
        /// Who did it.
        actor: String,
    },
    /// A session ended by a policy cut-off or a revocation.
    ForcedLogout {
        /// The session's platform.
        platform: String,
        /// `rollout_cutoff`, `revoked`, or `enrolled` (a password-only session
        /// whose user has enrolled a factor since).
        reason: &'static str,
    },
}

impl EventKind {
    /// A stable name (`factor_enrolled`...).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::FactorEnrolled { .. } => "factor_enrolled",
            EventKind::FactorRemoved { .. } => "factor_removed",
            EventKind::FactorRenamed { .. } => "factor_renamed",
            EventKind::ChallengeSent { .. } => "challenge_sent",
            EventKind::SendRefused { .. } => "send_refused",
            EventKind::VerifySucceeded { .. } => "verify_succeeded",
            EventKind::VerifyFailed { .. } => "verify_failed",
            EventKind::ReplayRefused { .. } => "replay_refused",
            EventKind::LockedOut { .. } => "locked_out",
            EventKind::TrustedDeviceAdded { .. } => "trusted_device_added",
            EventKind::TrustedDeviceUsed { .. } => "trusted_device_used",
            EventKind::SessionsRevoked => "sessions_revoked",
            EventKind::PolicyChanged { .. } => "policy_changed",
            EventKind::SecretsRotated { .. } => "secrets_rotated",
            EventKind::TrustedDeviceRevoked { .. } => "trusted_device_revoked",
            EventKind::RecoveryCodeUsed { .. } => "recovery_code_used",
            EventKind::RecoveryCodesGenerated { .. } => "recovery_codes_generated",
            EventKind::PasswordChanged => "password_changed",
            EventKind::AdminReset { .. } => "admin_reset",
            EventKind::AdminUnlock { .. } => "admin_unlock",
            EventKind::ForcedLogout { .. } => "forced_logout",
        }
    }

    /// True when the user should be told through another channel (factor
    /// added, changed or removed, recovery-code use, new trusted device, admin actions,
    /// lock-out): ASVS 6.3.7 / 7.5.1.
    pub fn notifies_user(&self) -> bool {
        matches!(
            self,
            EventKind::FactorEnrolled { .. }
                | EventKind::FactorRemoved { .. }
                | EventKind::FactorRenamed { .. }
                | EventKind::RecoveryCodeUsed { .. }
                | EventKind::RecoveryCodesGenerated { .. }
                | EventKind::TrustedDeviceAdded { .. }
                | EventKind::AdminReset { .. }
                | EventKind::LockedOut { .. }
                | EventKind::PasswordChanged
        )
    }
}

/// Receives security events. Called synchronously on the request path:
/// keep it fast (queue, don't send mail from here).
pub trait EventSink: Send + Sync + 'static {
    /// Records one event.
    fn record(&self, event: &SecurityEvent);
}

/// The default sink: one `tracing` event per security event, target
/// `mfa::audit`, with the event's fields (never a secret).
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingSink;

/// Formats an event's fields as JSON only when a subscriber asks for them.
struct JsonFields<'a>(&'a EventKind);

impl std::fmt::Display for JsonFields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self.0).map_err(|_| std::fmt::Error)?)
    }
}

impl EventSink for TracingSink {
    fn record(&self, e: &SecurityEvent) {
        let fields = JsonFields(&e.kind);
        let user = e.user.as_ref().map_or("-", UserId::as_str);
        match e.kind {
            EventKind::VerifyFailed { .. }
            | EventKind::ReplayRefused { .. }
            | EventKind::LockedOut { .. }
            | EventKind::SendRefused { .. } => tracing::warn!(
                target: "mfa::audit",
                event = e.kind.name(),
                user = user,
                at = %e.at,
                fields = %fields,
                "security event"
            ),
            _ => tracing::info!(
                target: "mfa::audit",
                event = e.kind.name(),
                user = user,
                at = %e.at,
                fields = %fields,
                "security event"
            ),
        }
    }
}

/// Keeps events in memory (tests, demos).
#[derive(Debug, Default)]
pub struct MemorySink(Mutex<Vec<SecurityEvent>>);

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<SecurityEvent> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The names of everything recorded so far, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.events().iter().map(|e| e.kind.name()).collect()
    }
}

impl EventSink for MemorySink {
    fn record(&self, event: &SecurityEvent) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
    }
}

impl<T: EventSink> EventSink for std::sync::Arc<T> {
    fn record(&self, event: &SecurityEvent) {
        (**self).record(event);
    }
}

/// Sends every event to two sinks (say, `tracing` and the app's audit table).
#[derive(Debug, Default)]
pub struct Tee<A, B>(pub A, pub B);

impl<A: EventSink, B: EventSink> EventSink for Tee<A, B> {
    fn record(&self, event: &SecurityEvent) {
        self.0.record(event);
        self.1.record(event);
    }
}
