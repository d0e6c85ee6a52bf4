//! Delivery of everything the portal sends: codes (through the engine's
//! [`CodeSender`]), password-reset links, and security notices.
//!
//! - **SMTP** (`PORTAL_SMTP_URL`, through lettre) when configured: emails go
//!   to the account's address; text messages go through an email-to-SMS
//!   gateway when `PORTAL_SMS_EMAIL_GATEWAY` names one (most SMS providers
//!   offer one), and are refused otherwise.
//! - **Demo outbox** in demo mode without SMTP: nothing leaves the machine;
//!   `/demo/outbox` shows what a resident "received".
//! - **Nowhere** in production without SMTP: notices are dropped with a
//!   warning (no content logged) and codes fail with a delivery error, so a
//!   resident is told to try another way.

use std::sync::Arc;

use async_trait::async_trait;
use lettre::message::Mailbox as Address;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mfa_core::{CodeSender, DeliveryError, FactorKind, OutgoingCode};

use crate::demo::Mailbox;

/// Delivery failed or is not configured.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// An address lettre refuses (never shown with the address).
    #[error("invalid email address")]
    Address,
    /// Building the message failed.
    #[error("message: {0}")]
    Build(#[from] lettre::error::Error),
    /// The SMTP server refused or could not be reached.
    #[error("smtp: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// SMTP settings that cannot be used.
    #[error("PORTAL_SMTP_URL: {0}")]
    Config(String),
    /// A text message with no SMS route configured.
    #[error("no SMS route configured (set PORTAL_SMS_EMAIL_GATEWAY)")]
    NoSmsRoute,
}

/// SMTP delivery settings (`PORTAL_SMTP_URL`, `PORTAL_MAIL_FROM`,
/// `PORTAL_SMS_EMAIL_GATEWAY`). `Debug` leaves out the URL (it may hold
/// the SMTP password).
#[derive(Clone)]
pub struct SmtpSettings {
    /// lettre's URL format: `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS), `smtps://user:pass@host:465` (TLS), or plain
    /// `smtp://localhost:25`, which is accepted for a relay on this machine
    /// only (codes must not cross a network in clear).
    pub url: String,
    /// The sender, e.g. `Orchard Homes <no-reply@orchard.example>`.
    pub from: String,
    /// A domain that turns `+447700900123@domain` into a text message.
    pub sms_gateway: Option<String>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("from", &self.from)
            .field("sms_gateway", &self.sms_gateway)
            .finish_non_exhaustive()
    }
}

/// An SMTP connection pool and the sender address.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Address,
    sms_gateway: Option<String>,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the SMTP password.
        f.debug_struct("Smtp")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Smtp {
    /// A pooled transport from the settings (no connection is made yet).
    pub fn new(settings: &SmtpSettings) -> Result<Self, MailError> {
        if !encrypted_or_local(&settings.url) {
            return Err(MailError::Config(
                "plain smtp:// is only allowed to a relay on this machine; use smtps:// or ?tls=required"
                    .into(),
            ));
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|e| MailError::Config(e.to_string()))?
            .build();
        let from = settings.from.parse().map_err(|_| MailError::Address)?;
        Ok(Smtp {
            transport,
            from,
            sms_gateway: settings.sms_gateway.clone(),
        })
    }

    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let to: Address = to.parse().map_err(|_| MailError::Address)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())?;
        self.transport.send(message).await?;
        Ok(())
    }
}

/// Whether an SMTP URL uses TLS, or else talks to this machine only.
fn encrypted_or_local(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("smtp://") else {
        return url.starts_with("smtps://");
    };
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    if query.split('&').any(|pair| pair == "tls=required") {
        return true;
    }
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

/// Where the portal's messages go. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Mailer {
    /// Demo mode: kept in memory for `/demo/outbox`.
    Demo(Arc<Mailbox>),
    /// Real delivery.
    Smtp(Arc<Smtp>),
    /// Production without SMTP: nothing is sent.
    Disabled,
}

impl Mailer {
    /// Sends an email now. `at` (unix ms) dates the demo copy.
    pub async fn send(&self, to: &str, subject: &str, body: &str, at: i64) -> Result<(), MailError> {
        match self {
            Mailer::Demo(mailbox) => {
                mailbox.send(to, subject, body, at);
                Ok(())
            }
            Mailer::Smtp(smtp) => smtp.send(to, subject, body).await,
            Mailer::Disabled => {
                tracing::warn!(subject, "email not sent: no SMTP configured (PORTAL_SMTP_URL)");
                Ok(())
            }
        }
    }

    /// Sends an email off the request path, logging a failure (without the
    /// address or the text). For notices whose failure must not fail the
    /// page that caused them.
    pub fn send_later(&self, to: String, subject: &'static str, body: String, at: i64) {
        let mailer = self.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&to, subject, &body, at).await {
                tracing::error!(error = %e, subject, "email delivery failed");
            }
        });
    }

    /// The demo mailbox, in demo mode.
    pub fn demo_mailbox(&self) -> Option<&Mailbox> {
        match self {
            Mailer::Demo(m) => Some(m),
            _ => None,
        }
    }
}

/// The engine's code sender over SMTP: email codes to the address, text
/// messages through the email-to-SMS gateway.
#[derive(Debug, Clone)]
pub struct SmtpCodeSender(pub Arc<Smtp>);

#[async_trait]
impl CodeSender for SmtpCodeSender {
    async fn send(&self, m: &OutgoingCode) -> Result<(), DeliveryError> {
        let smtp = &self.0;
        match m.kind {
            FactorKind::Sms => {
                let gateway = smtp.sms_gateway.as_deref().ok_or(MailError::NoSmsRoute)?;
                let to = format!("{}@{gateway}", m.to);
                // The gateway sends the body as the text; no subject.
                smtp.send(&to, "", m.text.expose()).await?;
            }
            _ => smtp.send(&m.to, &m.subject, m.text.expose()).await?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::encrypted_or_local;

    #[test]
    fn codes_never_cross_a_network_in_clear() {
        assert!(encrypted_or_local("smtps://u:p@mail.example:465"));
        assert!(encrypted_or_local("smtp://u:p@mail.example:587?tls=required"));
        assert!(encrypted_or_local("smtp://localhost:25"));
        assert!(encrypted_or_local("smtp://127.0.0.1:2525"));
        assert!(encrypted_or_local("smtp://[::1]:25"));
        assert!(!encrypted_or_local("smtp://mail.example:25"));
        assert!(!encrypted_or_local(
            "smtp://u:p@mail.example:587?tls=opportunistic"
        ));
        assert!(!encrypted_or_local("smtp://localhost.evil.example:25"));
        assert!(!encrypted_or_local("smtp://127.0.0.1@mail.example:25"));
        assert!(!encrypted_or_local("http://localhost"));
        assert!(!encrypted_or_local("smtp://mail.example:25?x=tls=required"));
    }
}

/// The engine's code sender in production without SMTP: every code fails
/// to send (the resident is asked to try another way).
#[derive(Debug, Clone, Copy)]
pub struct NoDelivery;

#[async_trait]
impl CodeSender for NoDelivery {
    async fn send(&self, _: &OutgoingCode) -> Result<(), DeliveryError> {
        Err(Box::new(MailError::Config(
            "not set: codes cannot be delivered".into(),
        )))
    }
}
