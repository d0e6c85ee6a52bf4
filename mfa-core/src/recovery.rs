//! Recovery codes: 10 codes of 80 bits each, shown once as `xxxx-xxxx-xxxx-xxxx`,
//! stored as Argon2id hashes, single use. A keyed fingerprint finds the one
//! candidate, so verifying costs one Argon2id evaluation, not one per code.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::config::Argon2Params;
use crate::crypto::{HashDomain, KeyedHash, Keys, base32_lower, random_array};
use crate::error::MfaError;
use crate::ids::UserId;
use crate::secret::SecretString;

/// Characters in a code, without separators (16 base32 characters = 80 bits).
pub const CODE_CHARS: usize = 16;

/// A freshly generated set: show it once, then it is gone.
#[derive(Clone, Debug)]
pub struct RecoveryCodes {
    /// The codes, `xxxx-xxxx-xxxx-xxxx`.
    pub codes: Vec<SecretString>,
}

pub(crate) fn generate() -> Result<SecretString, MfaError> {
    let bytes: Zeroizing<[u8; 10]> = Zeroizing::new(random_array()?);
    let raw = Zeroizing::new(base32_lower(&*bytes));
    let groups: Vec<&str> = (0..4).filter_map(|i| raw.get(i * 4..i * 4 + 4)).collect();
    Ok(SecretString::new(groups.join("-")))
}

/// Normalises what a user typed: case, spaces and dashes are ignored, and
/// `0`/`1`/`8` (not in the alphabet) are read as `o`/`l`/`b`. `None` unless
/// exactly 16 alphabet characters remain.
///
/// ```
/// use mfa_core::recovery::normalize;
/// assert_eq!(normalize(" ABCD-efgh ijkl-mn0p ").as_deref().map(|s| s.as_str()), Some("abcdefghijklmnop"));
/// assert!(normalize("abcd-efgh").is_none());
/// assert!(normalize("abcd-efgh-ijkl-mnö!").is_none());
/// ```
pub fn normalize(input: &str) -> Option<Zeroizing<String>> {
    if input.len() > 64 {
        return None;
    }
    let mut out = Zeroizing::new(String::with_capacity(CODE_CHARS));
    for c in input.chars() {
        let c = match c.to_ascii_lowercase() {
            ' ' | '-' => continue,
            '0' => 'o',
            '1' => 'l',
            '8' => 'b',
            c @ ('a'..='z' | '2'..='7') => c,
            _ => return None,
        };
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

pub(crate) fn fingerprint(keys: &Keys, user: &UserId, normalized: &str) -> KeyedHash {
    keys.keyed_hash(
        HashDomain::RecoveryFingerprint,
        &[user.as_str().as_bytes(), normalized.as_bytes()],
    )
}

fn argon(p: &Argon2Params) -> Result<Argon2<'static>, MfaError> {
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
        .map_err(|_| MfaError::InvalidInput("argon2 parameters"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

pub(crate) fn hash(p: &Argon2Params, normalized: &str) -> Result<String, MfaError> {
    let salt: [u8; 16] = random_array()?;
    argon(p)?
        .hash_password_with_salt(normalized.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| MfaError::InvalidInput("argon2 parameters"))
}

/// One Argon2id verification (parameters come from the PHC string).
pub(crate) fn verify(p: &Argon2Params, normalized: &str, phc: &str) -> bool {
    argon(p).is_ok_and(|a| a.verify_password(normalized.as_bytes(), phc).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_80_bits_grouped_and_verify() {
        let p = Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let c = generate().unwrap();
        assert_eq!(c.expose().len(), 19);
        assert_eq!(c.expose().matches('-').count(), 3);
        let n = normalize(c.expose()).unwrap();
        let phc = hash(&p, &n).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"));
        assert!(verify(&p, &n, &phc));
        assert!(!verify(&p, "aaaaaaaaaaaaaaaa", &phc));
        assert!(!verify(&p, &n, "not a phc string"));
    }
}
