//! Demo-only pieces: the seeded SMS factor of the "existing user" account,
//! and the outbox page where demo messages can be read.

use mfa_axum::MfaState;
use mfa_core::{Audience, Caller, EnrollRequest, MfaError, Outbox, Platform, UserId};
use mfa_store_sqlx::SqlxStore;

/// Gives the seeded "existing user" (Sam) a confirmed SMS factor, the way a
/// user would: start enrolment, read the code, confirm.
pub async fn enrol_seeded_factors(
    mfa: &MfaState<SqlxStore>,
    outbox: Option<&Outbox>,
) -> Result<(), MfaError> {
    let Some(outbox) = outbox else { return Ok(()) };
    let user = UserId::new("u-sam")?;
    let caller = Caller::password_only(Audience::new(Platform::WEB));
    let request = EnrollRequest::Sms {
        label: "Mobile".into(),
        phone: "+44 7700 900123".into(),
    };
    let setup = mfa.mfa().begin_enrollment(&user, request, &caller).await?;
    let code = outbox.last_code_to("+447700900123").ok_or(MfaError::NotFound)?;
    mfa.mfa()
        .confirm_enrollment(&user, setup.factor(), code.expose())
        .await?;
    Ok(())
}

/// Emails that are not codes (password reset links, security notices), kept
/// in memory and shown on the demo outbox page. Demo mode only.
#[derive(Debug, Default)]
pub struct Mailbox(std::sync::Mutex<Vec<Mail>>);

/// One demo email.
#[derive(Clone, Debug)]
pub struct Mail {
    /// Recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Text.
    pub body: String,
    /// When (unix ms).
    pub at: i64,
}

impl Mailbox {
    /// "Sends" an email.
    pub fn send(&self, to: &str, subject: &str, body: &str, at: i64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(Mail {
            to: to.to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
            at,
        });
    }

    /// Everything sent, oldest first.
    pub fn all(&self) -> Vec<Mail> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
