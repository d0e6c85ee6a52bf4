//! Out-of-band codes (SMS and email): the message a user receives, the
//! [`CodeSender`] that delivers it, the in-memory [`Outbox`] for demos and
//! tests, and the keyed hash that binds a code to its challenge, user and
//! purpose.

use std::fmt;
#[cfg(feature = "dev")]
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::crypto::{HashDomain, KeyedHash, Keys};
use crate::factor::{FactorKind, Purpose};
use crate::ids::{ChallengeId, FactorId, UserId};
use crate::secret::SecretString;

/// What the message template gets to build the text.
#[derive(Clone, Copy)]
pub struct MessageContext<'a> {
    /// The code (digits).
    pub code: &'a str,
    /// The issuer name from the configuration.
    pub issuer: &'a str,
    /// How long the code is valid.
    pub valid_for: Duration,
    /// What it is for.
    pub purpose: Purpose,
    /// SMS or email.
    pub kind: FactorKind,
}

impl fmt::Debug for MessageContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageContext")
            .field("issuer", &self.issuer)
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

/// The default text: names the issuer and the validity, warns against
/// sharing.
///
/// ```
/// use mfa_core::oob::{default_message, MessageContext};
/// use mfa_core::{FactorKind, Purpose};
/// let text = default_message(&MessageContext {
///     code: "123456", issuer: "Alliance Homes", valid_for: std::time::Duration::from_secs(300),
///     purpose: Purpose::Login, kind: FactorKind::Sms,
/// });
/// assert_eq!(text, "123456 is your Alliance Homes verification code. It is valid for 5 minutes. Never share it with anyone.");
/// ```
pub fn default_message(ctx: &MessageContext<'_>) -> String {
    let minutes = ctx.valid_for.as_secs().div_ceil(60);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!(
        "{} is your {} verification code. It is valid for {minutes} {unit}. Never share it with anyone.",
        ctx.code, ctx.issuer
    )
}

/// One message to deliver.
#[derive(Clone)]
pub struct OutgoingCode {
    /// Whose account.
    pub user: UserId,
    /// SMS or email.
    pub kind: FactorKind,
    /// The phone number or address (plain: the sender needs it).
    pub to: String,
    /// The same, masked, for logs.
    pub to_masked: String,
    /// The subject line (email).
    pub subject: String,
    /// The text, with the code in it.
    pub text: SecretString,
    /// The code alone (for senders that template it themselves).
    pub code: SecretString,
    /// What it is for.
    pub purpose: Purpose,
    /// Until when it is valid.
    pub expires_at: Timestamp,
}

impl fmt::Debug for OutgoingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingCode")
            .field("user", &self.user)
            .field("kind", &self.kind)
            .field("to", &self.to_masked)
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

/// Error a [`CodeSender`] reports.
pub type DeliveryError = Box<dyn std::error::Error + Send + Sync>;

/// Delivers codes: an SMS gateway, SMTP, or the [`Outbox`].
#[async_trait]
pub trait CodeSender: Send + Sync + 'static {
    /// Sends one message. An error is reported to the caller as
    /// [`MfaError::Delivery`](crate::MfaError::Delivery); the challenge
    /// stays, so the user may ask again after the cool-down.
    async fn send(&self, message: &OutgoingCode) -> Result<(), DeliveryError>;
}

#[async_trait]
impl<T: CodeSender> CodeSender for std::sync::Arc<T> {
    async fn send(&self, message: &OutgoingCode) -> Result<(), DeliveryError> {
        (**self).send(message).await
    }
}

/// Keeps sent messages in memory, newest last: for tests, and for a demo
/// page that shows what a user "received". Never use it in production.
///
/// ```
/// use mfa_core::Outbox;
/// let outbox = Outbox::new();
/// assert!(outbox.last_to("+447700900123").is_none());
/// ```
#[derive(Debug, Default)]
#[cfg(feature = "dev")]
pub struct Outbox(Mutex<Vec<OutgoingCode>>);

#[cfg(feature = "dev")]
impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message, oldest first.
    pub fn messages(&self) -> Vec<OutgoingCode> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Messages to one destination, oldest first.
    pub fn messages_to(&self, to: &str) -> Vec<OutgoingCode> {
        self.messages().into_iter().filter(|m| m.to == to).collect()
    }

    /// The newest message to one destination.
    pub fn last_to(&self, to: &str) -> Option<OutgoingCode> {
        self.messages_to(to).pop()
    }

    /// The newest code sent to one destination.
    pub fn last_code_to(&self, to: &str) -> Option<SecretString> {
        self.last_to(to).map(|m| m.code)
    }
}

#[async_trait]
#[cfg(feature = "dev")]
impl CodeSender for Outbox {
    async fn send(&self, message: &OutgoingCode) -> Result<(), DeliveryError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.clone());
        Ok(())
    }
}

/// The stored form of a code: bound to the challenge, the user and the
/// purpose, so the same digits hash differently for any other of them.
pub(crate) fn code_hash(
    keys: &Keys,
    id: &ChallengeId,
    user: &UserId,
    purpose: Purpose,
    code: &str,
) -> KeyedHash {
    keys.keyed_hash(
        HashDomain::OobCode,
        &[
            id.as_str().as_bytes(),
            user.as_str().as_bytes(),
            purpose.as_str().as_bytes(),
            code.as_bytes(),
        ],
    )
}

/// A code was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeSent {
    /// The challenge to verify against.
    pub challenge: ChallengeId,
    /// The factor it went through.
    pub factor: FactorId,
    /// SMS or email.
    pub kind: FactorKind,
    /// Where, masked.
    pub to: String,
    /// When the code stops working.
    pub expires_at: Timestamp,
    /// When a resend is allowed.
    pub resend_at: Timestamp,
    /// Attempts left on the challenge (a resend keeps the count).
    pub attempts_left: u32,
}
