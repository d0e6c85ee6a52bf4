//! Identifiers: the application's [`UserId`] and the random ids the engine
//! gives factors, challenges, trusted devices and recovery codes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::error::MfaError;

/// The application's identifier for a user (a database key, a UUID, an
/// email...). At most 255 bytes, not empty, no control characters.
///
/// ```
/// use mfa_core::UserId;
/// assert!(UserId::new("tenant-42").is_ok());
/// assert!(UserId::new("").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// Longest accepted id, in bytes.
    pub const MAX_LEN: usize = 255;

    /// Validates and wraps an id.
    pub fn new(id: impl Into<String>) -> Result<Self, MfaError> {
        let id = id.into();
        if id.is_empty() || id.len() > Self::MAX_LEN || id.chars().any(char::is_control) {
            return Err(MfaError::InvalidInput("user id"));
        }
        Ok(UserId(id))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = MfaError;
    fn try_from(s: String) -> Result<Self, MfaError> {
        UserId::new(s)
    }
}

impl From<UserId> for String {
    fn from(u: UserId) -> String {
        u.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        ///
        /// Random (128 bits), printable, and safe to show in URLs and logs: an
        /// id names a record, it never proves anything.
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A fresh random id.
            pub fn generate() -> Result<Self, MfaError> {
                let bytes: [u8; 16] = crypto::random_array()?;
                Ok($name(format!("{}{}", $prefix, crypto::base32_lower(&bytes))))
            }

            /// Parses an id that came from outside (a URL, a form, a row).
            pub fn parse(s: &str) -> Result<Self, MfaError> {
                let body = s.strip_prefix($prefix).ok_or(MfaError::InvalidInput(stringify!($name)))?;
                if body.len() != 26 || !body.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)) {
                    return Err(MfaError::InvalidInput(stringify!($name)));
                }
                Ok($name(s.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = MfaError;
            fn try_from(s: String) -> Result<Self, MfaError> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = MfaError;
            fn from_str(s: &str) -> Result<Self, MfaError> {
                $name::parse(s)
            }
        }
    };
}

random_id!(
    /// Names one enrolled (or pending) factor of a user.
    FactorId,
    "fa_"
);
random_id!(
    /// Names one SMS/email code challenge.
    ChallengeId,
    "ch_"
);
random_id!(
    /// Names one trusted device ("Trust this device").
    DeviceId,
    "dv_"
);
random_id!(
    /// Names one stored recovery code.
    RecoveryId,
    "rc_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_bad_ones_do_not() {
        let id = FactorId::generate().unwrap();
        assert_eq!(FactorId::parse(id.as_str()).unwrap(), id);
        assert!(FactorId::parse("fa_").is_err());
        assert!(ChallengeId::parse(id.as_str()).is_err(), "prefix binds the kind");
        assert!(FactorId::parse("fa_AAAAAAAAAAAAAAAAAAAAAAAAAA").is_err());
        assert!(FactorId::parse("fa_aaaaaaaaaaaaaaaaaaaaaaaaa١").is_err());
    }

    #[test]
    fn user_ids_are_bounded() {
        assert!(UserId::new("a".repeat(255)).is_ok());
        assert!(UserId::new("a".repeat(256)).is_err());
        assert!(UserId::new("a\nb").is_err());
    }
}
