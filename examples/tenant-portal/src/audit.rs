//! The security-event sink that writes the audit log (staff console, and
//! each resident's "recent security activity"). Events carry no secret.

use mfa_core::{EventKind, EventSink, SecurityEvent};

use crate::data::Db;

/// Writes every security event to `portal_audit`, off the request path.
#[derive(Clone, Debug)]
pub struct AuditSink {
    db: Db,
}

impl AuditSink {
    /// A sink over the portal database.
    pub fn new(db: Db) -> Self {
        AuditSink { db }
    }
}

impl EventSink for AuditSink {
    fn record(&self, event: &SecurityEvent) {
        let db = self.db.clone();
        let actor = match &event.kind {
            EventKind::AdminReset { actor } | EventKind::AdminUnlock { actor } => Some(actor.clone()),
            _ => None,
        };
        let detail = serde_json::to_string(&event.kind).unwrap_or_default();
        // A system-wide event (policy change, key rotation) has no user: it
        // is kept with an empty user id, so it shows in the staff log and in
        // no resident's activity.
        let user = event.user.as_ref().map(ToString::to_string).unwrap_or_default();
        let (at, name) = (event.at.unix_millis(), event.kind.name());
        // Notifications "through another channel" (ASVS 6.3.7) would be
        // queued here for e-mail; the demo shows them in the activity list.
        tokio::spawn(async move {
            if let Err(e) = db.audit(at, &user, actor.as_deref(), name, &detail).await {
                tracing::error!(error = %e, "audit log write failed");
            }
        });
    }
}
