//! "Trust this device": a 256-bit random token in a cookie, stored only as
//! a keyed hash, bound to one user and to the user's factor epoch, expiring
//! (default 90 days) and revocable.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::crypto::{HashDomain, KeyedHash, Keys, random_array};
use crate::error::MfaError;
use crate::ids::DeviceId;
use crate::secret::SecretString;
use crate::store::DeviceRecord;

/// The cookie name adapters use: the `__Host-` prefix makes browsers insist
/// on `Secure`, `Path=/` and no `Domain`.
pub const TRUST_COOKIE: &str = "__Host-mfa_trust";

/// Length of an encoded token: 32 bytes in unpadded base64url.
pub const TOKEN_LEN: usize = 43;

/// A trust token as issued (to put in the cookie) or as received.
#[derive(Clone, Debug)]
pub struct TrustToken(SecretString);

impl TrustToken {
    pub(crate) fn generate() -> Result<Self, MfaError> {
        use base64::Engine as _;
        let bytes: [u8; 32] = random_array()?;
        Ok(TrustToken(SecretString::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        )))
    }

    /// Parses a cookie value: exactly 43 base64url characters, else `None`
    /// (checked before any hashing or lookup).
    ///
    /// ```
    /// use mfa_core::TrustToken;
    /// assert!(TrustToken::parse(&"A".repeat(43)).is_some());
    /// assert!(TrustToken::parse("short").is_none());
    /// assert!(TrustToken::parse(&"=".repeat(43)).is_none());
    /// ```
    pub fn parse(value: &str) -> Option<Self> {
        let ok = value.len() == TOKEN_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| TrustToken(SecretString::new(value.to_owned())))
    }

    /// The value for the cookie.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    pub(crate) fn hash(&self, keys: &Keys) -> KeyedHash {
        keys.keyed_hash(HashDomain::TrustToken, &[self.0.expose().as_bytes()])
    }
}

/// A token just issued, with its expiry (the cookie's `Max-Age`).
#[derive(Clone, Debug)]
pub struct IssuedTrust {
    /// The token for the cookie.
    pub token: TrustToken,
    /// The device it names.
    pub device: DeviceId,
    /// When it expires.
    pub expires_at: Timestamp,
}

/// What a user sees of a trusted device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrustedDevice {
    /// Its id (to revoke it).
    pub id: DeviceId,
    /// Its label.
    pub label: String,
    /// When it was trusted.
    pub created_at: Timestamp,
    /// When it last skipped a second factor.
    pub last_used_at: Option<Timestamp>,
    /// When the trust ends.
    pub expires_at: Timestamp,
}

impl From<&DeviceRecord> for TrustedDevice {
    fn from(d: &DeviceRecord) -> Self {
        TrustedDevice {
            id: d.id.clone(),
            label: d.label.clone(),
            created_at: d.created_at,
            last_used_at: d.last_used_at,
            expires_at: d.expires_at,
        }
    }
}

/// A device label: at most 80 characters, control characters dropped;
/// "Unnamed device" if empty.
pub(crate) fn clean_label(label: &str) -> String {
    let l: String = label.chars().filter(|c| !c.is_control()).take(80).collect();
    let l = l.trim();
    if l.is_empty() {
        "Unnamed device".to_owned()
    } else {
        l.to_owned()
    }
}
