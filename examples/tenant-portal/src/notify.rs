//! Security notices: the resident is told by email, a channel other than
//! the one being changed, whenever their sign-in settings change (a factor
//! added, renamed or removed, recovery codes used or replaced, a device
//! trusted or trusted devices revoked, the password changed, a reset by the
//! contact team) and when sign-in to their account is paused or locked
//! after wrong codes.
//! docs/SECURITY-REVIEW.md §6-7 (ASVS 6.3.7, 7.5.1).
//!
//! Notices are derived from the engine's security events, so every path
//! that changes a setting (account page, staff console, JSON API) sends
//! one, and none can forget to. They carry no code, secret or address.

use mfa_core::{EventKind, EventSink, FactorKind, SecurityEvent};

use crate::data::Db;
use crate::mail::Mailer;

/// The subject and text of the notice for an event, if it warrants one.
pub fn notice(kind: &EventKind) -> Option<(&'static str, String)> {
    let method = |m: &FactorKind| match m {
        FactorKind::Totp => "an authenticator app",
        FactorKind::Sms => "text messages",
        FactorKind::Email => "email codes",
        _ => "a sign-in method",
    };
    let (subject, what) = match kind {
        EventKind::FactorEnrolled { method: m, .. } => (
            "A sign-in method was added to your account",
            format!("{} was added as a way to confirm it's you.", capitalise(method(m))),
        ),
        EventKind::FactorRemoved { method: m, .. } => (
            "A sign-in method was removed from your account",
            format!(
                "{} was removed from your two-step verification. Devices you had trusted must verify again.",
                capitalise(method(m))
            ),
        ),
        EventKind::FactorRenamed { .. } => (
            "A sign-in method was renamed",
            "One of your sign-in methods was given a new name.".to_owned(),
        ),
        EventKind::RecoveryCodeUsed { remaining } => (
            "A recovery code was used to sign in",
            format!("One of your recovery codes was used to sign in. {remaining} codes are left."),
        ),
        EventKind::RecoveryCodesGenerated { .. } => (
            "New recovery codes were created",
            "A new set of recovery codes was created; the old codes no longer work.".to_owned(),
        ),
        EventKind::TrustedDeviceAdded { label, .. } => (
            "A new device was trusted on your account",
            format!(
                "A device ({}) was trusted: it won't be asked for a code when it signs in to your account for a while. You can stop trusting it from the \"Account and security\" page.",
                if label.trim().is_empty() { "a browser" } else { label.trim() }
            ),
        ),
        EventKind::LockedOut { until } => (
            "Signing in to your account was paused",
            match until {
                Some(t) => format!(
                    "Someone entered the wrong code too many times while signing in to your account, so we've paused signing in until {} (UTC). Your password was right, so they may know it.",
                    crate::util::date_time(t.unix_millis())
                ),
                None => "Someone entered the wrong code too many times while signing in to your account, so we've locked it. Call us to unlock it. Your password was right, so they may know it.".to_owned(),
            },
        ),
        EventKind::TrustedDeviceRevoked { count, device } => (
            "Trusted devices were removed",
            match device {
                Some(_) => "A device you had trusted will be asked for a code again.".to_owned(),
                None => format!("All your trusted devices ({count}) will be asked for a code again."),
            },
        ),
        EventKind::PasswordChanged => (
            "Your password was changed",
            "Your password was changed, and every trusted device must verify again.".to_owned(),
        ),
        EventKind::AdminReset { .. } => (
            "Your two-step verification was reset",
            "Our contact team reset your two-step verification. You've been signed out everywhere; next time you log in you'll set it up again.".to_owned(),
        ),
        _ => return None,
    };
    Some((
        subject,
        format!(
            "{what}\n\nIf this was you, there is nothing to do. If it wasn't, call us on 0300 012 0120 straight away: someone may know your password.\n\nOrchard Homes"
        ),
    ))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Emails the notice of each event that warrants one to the account's
/// address, off the request path.
#[derive(Clone, Debug)]
pub struct Notifier {
    db: Db,
    mailer: Mailer,
}

impl Notifier {
    /// Notices from `db`'s accounts through `mailer`.
    pub fn new(db: Db, mailer: Mailer) -> Self {
        Notifier { db, mailer }
    }
}

impl EventSink for Notifier {
    fn record(&self, event: &SecurityEvent) {
        // System-wide events (no user) concern no resident.
        let Some(user) = &event.user else { return };
        let Some((subject, body)) = notice(&event.kind) else {
            return;
        };
        let (db, mailer) = (self.db.clone(), self.mailer.clone());
        let (user, at) = (user.to_string(), event.at.unix_millis());
        tokio::spawn(async move {
            match db.user(&user).await {
                Ok(Some(u)) => mailer.send_later(u.email, subject, body, at),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "security notice: account lookup failed"),
            }
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_settings_change_has_a_notice_and_routine_events_do_not() {
        let factor = mfa_core::FactorId::generate().unwrap();
        let changes = [
            EventKind::FactorEnrolled {
                factor: factor.clone(),
                method: FactorKind::Sms,
            },
            EventKind::FactorRemoved {
                factor: factor.clone(),
                method: FactorKind::Totp,
            },
            EventKind::FactorRenamed {
                factor: factor.clone(),
            },
            EventKind::RecoveryCodeUsed { remaining: 9 },
            EventKind::RecoveryCodesGenerated { count: 10 },
            EventKind::TrustedDeviceRevoked {
                device: None,
                count: 2,
            },
            EventKind::PasswordChanged,
            EventKind::AdminReset { actor: "Kim".into() },
            EventKind::TrustedDeviceAdded {
                device: mfa_core::DeviceId::generate().unwrap(),
                label: "Firefox on Linux".into(),
            },
            EventKind::LockedOut {
                until: Some(mfa_core::Timestamp::from_unix_millis(1_780_000_000_000)),
            },
            EventKind::LockedOut { until: None },
        ];
        for kind in &changes {
            let (subject, body) = notice(kind).unwrap();
            assert!(!subject.is_empty() && body.contains("0300 012 0120"));
        }
        assert!(
            notice(&EventKind::VerifySucceeded {
                method: FactorKind::Sms,
                purpose: mfa_core::Purpose::Login
            })
            .is_none()
        );
    }
}
