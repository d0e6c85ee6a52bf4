//! Factors: their kinds, what a caller may see of one, and the SMS/email
//! destinations they send to (validated, normalised, masked for display).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::MfaError;
use crate::ids::FactorId;

/// A kind of second factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FactorKind {
    /// Authenticator app (TOTP, RFC 6238).
    Totp,
    /// A code sent by text message.
    Sms,
    /// A code sent by email.
    Email,
    /// A single-use recovery code.
    RecoveryCode,
}

impl FactorKind {
    /// The kinds a user can enrol (recovery codes are generated, not enrolled).
    pub const ENROLLABLE: [FactorKind; 3] = [FactorKind::Totp, FactorKind::Sms, FactorKind::Email];

    /// Stable lower-case name (`totp`, `sms`, `email`, `recovery_code`).
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Sms => "sms",
            FactorKind::Email => "email",
            FactorKind::RecoveryCode => "recovery_code",
        }
    }

    /// Parses [`as_str`](Self::as_str) back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "totp" => Some(FactorKind::Totp),
            "sms" => Some(FactorKind::Sms),
            "email" => Some(FactorKind::Email),
            "recovery_code" => Some(FactorKind::RecoveryCode),
            _ => None,
        }
    }

    /// True for SMS and email: codes are sent out of band.
    pub fn is_out_of_band(self) -> bool {
        matches!(self, FactorKind::Sms | FactorKind::Email)
    }
}

impl fmt::Display for FactorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a code was asked for. A code issued for one purpose never verifies
/// for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Purpose {
    /// The second step of a login.
    Login,
    /// Confirming a new SMS/email factor.
    Enroll,
    /// Re-confirming before a sensitive action (step-up).
    StepUp,
}

impl Purpose {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::Enroll => "enroll",
            Purpose::StepUp => "step_up",
        }
    }

    /// Parses [`as_str`](Self::as_str) back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "login" => Some(Purpose::Login),
            "enroll" => Some(Purpose::Enroll),
            "step_up" => Some(Purpose::StepUp),
            _ => None,
        }
    }
}

/// Whether a factor has been confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorState {
    /// Enrolment started, not yet confirmed by a correct code.
    Pending,
    /// Confirmed and usable.
    Active,
}

/// What a user (or a page) may see of a factor: no secret, no full
/// destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FactorSummary {
    /// The factor's id.
    pub id: FactorId,
    /// Its kind.
    pub kind: FactorKind,
    /// The label the user chose ("Work phone", "Authy").
    pub label: String,
    /// For SMS/email: the masked destination (`•••• ••• 123`).
    pub masked_destination: Option<String>,
    /// When it was confirmed.
    pub confirmed_at: Option<Timestamp>,
    /// When it last verified a code.
    pub last_used_at: Option<Timestamp>,
}

/// A validated factor label: 1 to 64 characters, no control characters.
pub(crate) fn validate_label(label: &str) -> Result<String, MfaError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        return Err(MfaError::InvalidInput("label"));
    }
    Ok(label.to_owned())
}

/// A phone number or email address, validated and normalised.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    kind: FactorKind,
    value: String,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Destination({:?}, {})", self.kind, self.masked())
    }
}

impl Destination {
    /// A mobile number: an optional leading `+`, then 7 to 15 digits; spaces,
    /// dots, dashes and brackets are dropped.
    ///
    /// ```
    /// use mfa_core::Destination;
    /// let d = Destination::phone("+44 7700 900123")?;
    /// assert_eq!(d.as_str(), "+447700900123");
    /// assert_eq!(d.masked(), "•••• ••• 123");
    /// assert!(Destination::phone("call me").is_err());
    /// # Ok::<(), mfa_core::MfaError>(())
    /// ```
    pub fn phone(input: &str) -> Result<Self, MfaError> {
        let input = input.trim();
        let (plus, rest) = match input.strip_prefix('+') {
            Some(r) => (true, r),
            None => (false, input),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(MfaError::InvalidInput("phone number")),
            }
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(MfaError::InvalidInput("phone number"));
        }
        let value = if plus { format!("+{digits}") } else { digits };
        Ok(Destination {
            kind: FactorKind::Sms,
            value,
        })
    }

    /// An email address: one `@`, a local part of 1 to 64 characters, a
    /// domain with a dot, at most 254 characters, no spaces. The domain is
    /// lower-cased.
    ///
    /// ```
    /// use mfa_core::Destination;
    /// let d = Destination::email(" jo.bloggs@Example.ORG ")?;
    /// assert_eq!(d.as_str(), "jo.bloggs@example.org");
    /// assert_eq!(d.masked(), "j•••@example.org");
    /// assert!(Destination::email("jo@localhost").is_err());
    /// # Ok::<(), mfa_core::MfaError>(())
    /// ```
    pub fn email(input: &str) -> Result<Self, MfaError> {
        let input = input.trim();
        let bad = MfaError::InvalidInput("email address");
        if input.len() > 254 || input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad);
        }
        let (local, domain) = input
            .split_once('@')
            .ok_or(MfaError::InvalidInput("email address"))?;
        if local.is_empty()
            || local.len() > 64
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || domain.contains(['<', '>', '(', ')', '[', ']', ',', ';', ':', '\\', '"'])
            || local.contains(['<', '>', '(', ')', '[', ']', ',', ';', ':', '\\', '"'])
        {
            return Err(bad);
        }
        // Checked again after lower-casing: that can lengthen non-ASCII
        // text (found by the `destination` fuzz target).
        let value = format!("{local}@{}", domain.to_lowercase());
        if value.len() > 254 {
            return Err(MfaError::InvalidInput("email address"));
        }
        Ok(Destination {
            kind: FactorKind::Email,
            value,
        })
    }

    /// From a kind and text (SMS: phone, email: address).
    pub fn parse(kind: FactorKind, input: &str) -> Result<Self, MfaError> {
        match kind {
            FactorKind::Sms => Destination::phone(input),
            FactorKind::Email => Destination::email(input),
            _ => Err(MfaError::InvalidInput("destination kind")),
        }
    }

    /// SMS or email.
    pub fn kind(&self) -> FactorKind {
        self.kind
    }

    /// The normalised destination.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// For display: `•••• ••• 123` or `j•••@example.org`.
    pub fn masked(&self) -> String {
        match self.kind {
            FactorKind::Email => {
                let (local, domain) = self.value.split_once('@').unwrap_or(("", &self.value));
                let first: String = local.chars().take(1).collect();
                format!("{first}•••@{domain}")
            }
            _ => {
                let n = self.value.len();
                let tail = self.value.get(n.saturating_sub(3)..).unwrap_or("");
                format!("•••• ••• {tail}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalised_and_bounded() {
        assert_eq!(
            Destination::phone("07700 900-123").unwrap().as_str(),
            "07700900123"
        );
        assert!(Destination::phone("+1 23").is_err());
        assert!(Destination::phone("+1234567890123456").is_err());
        assert!(Destination::phone("٠٧٧٠٠٩٠٠١٢٣").is_err(), "only ASCII digits");
        assert!(Destination::phone("++447700900123").is_err());
    }

    #[test]
    fn an_address_that_grows_past_254_bytes_when_lower_cased_is_refused() {
        // 'Ⱦ' (2 bytes) lower-cases to 'ⱦ' (3 bytes).
        let domain = format!("{}.org", "Ⱦ".repeat(124));
        let input = format!("a@{domain}");
        assert!(input.len() <= 254);
        assert!(Destination::email(&input).is_err());
    }

    #[test]
    fn email_addresses_are_checked() {
        for bad in [
            "",
            "@x.org",
            "a@",
            "a@b",
            "a b@c.org",
            "a@@c.org",
            "a@.org",
            "a@x..org",
            "a@x.org\nb",
            "a@x.org\u{0}",
        ] {
            assert!(Destination::email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn labels_are_bounded() {
        assert!(validate_label(" Work phone ").is_ok());
        assert!(validate_label("").is_err());
        assert!(validate_label(&"x".repeat(65)).is_err());
        assert!(validate_label("a\u{0}b").is_err());
    }
}
