//! The one place that touches randomness and cryptographic primitives:
//! random bytes and codes from the OS CSPRNG, keyed hashes (HMAC-SHA256) for
//! codes, tokens and fingerprints, XChaCha20-Poly1305 for secrets at rest
//! with key ids for rotation, and constant-time comparison.
//!
//! Nothing here is hand-rolled: the primitives are RustCrypto's.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::TryRng;
use rand::rngs::SysRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{ConfigError, MfaError};
use crate::secret::SecretBytes;

/// Fills an array from the operating system's CSPRNG.
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N], MfaError> {
    let mut out = [0u8; N];
    SysRng.try_fill_bytes(&mut out).map_err(|_| MfaError::Random)?;
    Ok(out)
}

/// `digits` uniformly random decimal digits (1..=9 of them), drawn by
/// rejection sampling so that no value is more likely than another.
pub(crate) fn random_digits(digits: u32) -> Result<Zeroizing<String>, MfaError> {
    debug_assert!((1..=9).contains(&digits));
    let modulus = 10u32.pow(digits.clamp(1, 9));
    // The largest multiple of `modulus` that fits in a u32: values at or
    // above it would make the low residues more likely.
    let limit = u32::MAX - (u32::MAX % modulus);
    loop {
        let v = SysRng.try_next_u32().map_err(|_| MfaError::Random)?;
        if v < limit {
            return Ok(Zeroizing::new(format!(
                "{:0width$}",
                v % modulus,
                width = digits as usize
            )));
        }
    }
}

/// Lower-case RFC 4648 base32 without padding (ids, recovery codes).
pub(crate) fn base32_lower(bytes: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648Lower { padding: false }, bytes)
}

/// Constant-time equality of two byte strings (lengths are compared first;
/// a length is not a secret here).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A 32-byte keyed hash (HMAC-SHA256). Compared only in constant time.
#[derive(Clone, Copy, Eq)]
pub struct KeyedHash(pub [u8; 32]);

impl KeyedHash {
    /// The raw bytes (for storage).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// From stored bytes; `None` unless exactly 32.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(b).ok().map(KeyedHash)
    }
}

impl PartialEq for KeyedHash {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}

impl std::hash::Hash for KeyedHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Enough to tell two apart in a test failure, not enough to matter.
        write!(f, "KeyedHash({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

/// What a keyed hash is for. Each purpose hashes under its own domain, so a
/// hash made for one can never be mistaken for another.
#[derive(Clone, Copy, Debug)]
pub(crate) enum HashDomain {
    OobCode,
    TrustToken,
    RecoveryFingerprint,
    Destination,
}

impl HashDomain {
    fn label(self) -> &'static [u8] {
        match self {
            HashDomain::OobCode => b"mfa/oob-code/v1",
            HashDomain::TrustToken => b"mfa/trust-token/v1",
            HashDomain::RecoveryFingerprint => b"mfa/recovery-fingerprint/v1",
            HashDomain::Destination => b"mfa/destination/v1",
        }
    }
}

/// A secret sealed with the key ring: `version(1) | key id (u32 BE) |
/// nonce (24) | ciphertext + tag`. Opaque to stores.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl Sealed {
    const VERSION: u8 = 1;
    const HEADER: usize = 1 + 4 + 24;

    /// The key id this value was sealed with, if the blob is well formed.
    pub fn key_id(&self) -> Option<u32> {
        if self.0.len() < Self::HEADER || self.0[0] != Self::VERSION {
            return None;
        }
        let id: [u8; 4] = self.0[1..5].try_into().ok()?;
        Some(u32::from_be_bytes(id))
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed(key {:?}, {} bytes)", self.key_id(), self.0.len())
    }
}

/// The keys an engine runs with, all from the application's configuration:
/// one MAC key (keyed hashes of codes, tokens, recovery fingerprints) and a
/// ring of encryption keys for secrets at rest. New secrets are sealed with
/// the current key; older keys stay able to open what they sealed until
/// [`Mfa::rotate_secrets`](crate::Mfa::rotate_secrets) has re-sealed it.
///
/// Keys are 32 bytes. Nothing is generated silently: a missing key is a
/// [`ConfigError`].
///
/// ```
/// use mfa_core::Keys;
/// let mac = [7u8; 32];
/// let enc_v2 = [9u8; 32];
/// let enc_v1 = [8u8; 32];
/// let keys = Keys::new(&mac, 2, &enc_v2)?.with_old_key(1, &enc_v1)?;
/// assert_eq!(keys.current_key_id(), 2);
///
/// // Or from configuration text (standard base64):
/// let keys = Keys::from_base64(
///     "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
///     "2:CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=, 1:CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg=",
/// )?;
/// assert_eq!(keys.current_key_id(), 2);
/// # Ok::<(), mfa_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Keys {
    /// The HMAC-SHA256 state keyed with the MAC key, set up once: each keyed
    /// hash clones it instead of hashing the key blocks again (two of the
    /// few compressions a short keyed hash costs). As secret as the key;
    /// hmac's `zeroize` feature wipes it on drop.
    mac: Hmac<Sha256>,
    current: u32,
    ring: BTreeMap<u32, SecretBytes>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("current", &self.current)
            .field("key_ids", &self.ring.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn key32(what: &'static str, bytes: &[u8]) -> Result<SecretBytes, ConfigError> {
    if bytes.len() != 32 {
        return Err(ConfigError::KeyLength {
            what,
            len: bytes.len(),
        });
    }
    Ok(SecretBytes::new(bytes.to_vec()))
}

fn decode_b64(what: &'static str, s: &str) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim()))
        .map(Zeroizing::new)
        .map_err(|_| ConfigError::KeyEncoding(what))
}

impl Keys {
    /// Keys from raw bytes: the MAC key and the current encryption key with
    /// its id.
    pub fn new(mac_key: &[u8], current_id: u32, current_key: &[u8]) -> Result<Self, ConfigError> {
        let mut ring = BTreeMap::new();
        ring.insert(current_id, key32("encryption key", current_key)?);
        let mac_key = key32("MAC key", mac_key)?;
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(mac_key.expose()).map_err(|_| {
            ConfigError::KeyLength {
                what: "MAC key",
                len: mac_key.expose().len(),
            }
        })?;
        Ok(Keys {
            mac,
            current: current_id,
            ring,
        })
    }

    /// Adds an older encryption key that may still open stored secrets.
    pub fn with_old_key(mut self, id: u32, key: &[u8]) -> Result<Self, ConfigError> {
        if self.ring.contains_key(&id) {
            return Err(ConfigError::DuplicateKeyId(id));
        }
        self.ring.insert(id, key32("encryption key", key)?);
        Ok(self)
    }

    /// Keys from configuration text: the MAC key in base64, and the
    /// encryption keys as `id:base64` separated by commas, current first.
    pub fn from_base64(mac_key: &str, encryption_keys: &str) -> Result<Self, ConfigError> {
        let mac = decode_b64("MAC key", mac_key)?;
        let mut entries = encryption_keys
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let parse = |entry: &str| -> Result<(u32, Zeroizing<Vec<u8>>), ConfigError> {
            let (id, key) = entry
                .split_once(':')
                .ok_or(ConfigError::KeyEncoding("encryption key (want id:base64)"))?;
            let id = id
                .trim()
                .parse::<u32>()
                .map_err(|_| ConfigError::KeyEncoding("encryption key id"))?;
            Ok((id, decode_b64("encryption key", key)?))
        };
        let (id, key) = parse(entries.next().ok_or(ConfigError::MissingKey("encryption key"))?)?;
        let mut keys = Keys::new(&mac, id, &key)?;
        for entry in entries {
            let (id, key) = parse(entry)?;
            keys = keys.with_old_key(id, &key)?;
        }
        Ok(keys)
    }

    /// Fresh random keys that live only as long as this process: for tests
    /// and throw-away demos. Everything sealed or hashed with them is
    /// unreadable after a restart.
    pub fn generate_ephemeral() -> Result<Self, MfaError> {
        let mac: [u8; 32] = random_array()?;
        let enc: [u8; 32] = random_array()?;
        Ok(Keys::new(&mac, 1, &enc)?)
    }

    /// The id new secrets are sealed with.
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// HMAC-SHA256 of `parts` under `domain`. Each part is length-prefixed so
    /// that `("ab", "c")` and `("a", "bc")` hash differently.
    pub(crate) fn keyed_hash(&self, domain: HashDomain, parts: &[&[u8]]) -> KeyedHash {
        let mut mac = self.mac.clone();
        mac.update(domain.label());
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        KeyedHash(mac.finalize().into_bytes().into())
    }

    fn cipher(&self, id: u32) -> Option<XChaCha20Poly1305> {
        let key = self.ring.get(&id)?;
        XChaCha20Poly1305::new_from_slice(key.expose()).ok()
    }

    /// Seals `plain` with the current key, bound to `context` (who and what
    /// it belongs to): a sealed value copied to another row does not open.
    pub(crate) fn seal(&self, plain: &[u8], context: &[u8]) -> Result<Sealed, MfaError> {
        let cipher = self.cipher(self.current).ok_or(MfaError::SecretUnavailable)?;
        let nonce: [u8; 24] = random_array()?;
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .map_err(|_| MfaError::SecretUnavailable)?;
        let mut out = Vec::with_capacity(Sealed::HEADER + ct.len());
        out.push(Sealed::VERSION);
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(Sealed(out))
    }

    /// Opens a sealed value. Fails (without saying why) if the key id is not
    /// in the ring, the blob was altered, or the context differs.
    pub(crate) fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<SecretBytes, MfaError> {
        let id = sealed.key_id().ok_or(MfaError::SecretUnavailable)?;
        let cipher = self.cipher(id).ok_or(MfaError::SecretUnavailable)?;
        let nonce: [u8; 24] = sealed.0[5..Sealed::HEADER]
            .try_into()
            .map_err(|_| MfaError::SecretUnavailable)?;
        let plain = cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed.0[Sealed::HEADER..],
                    aad: context,
                },
            )
            .map_err(|_| MfaError::SecretUnavailable)?;
        Ok(SecretBytes::new(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new(&[1; 32], 1, &[2; 32]).unwrap()
    }

    #[test]
    fn sealed_secret_opens_only_with_its_context_and_key() {
        let k = keys();
        let s = k.seal(b"seed", b"user-a").unwrap();
        assert_eq!(k.open(&s, b"user-a").unwrap().expose(), b"seed");
        assert!(k.open(&s, b"user-b").is_err());
        let mut tampered = s.clone();
        let last = tampered.0.len() - 1;
        tampered.0[last] ^= 1;
        assert!(k.open(&tampered, b"user-a").is_err());
        let other = Keys::new(&[1; 32], 1, &[3; 32]).unwrap();
        assert!(other.open(&s, b"user-a").is_err());
        assert!(k.open(&Sealed(vec![1, 2, 3]), b"user-a").is_err());
    }

    #[test]
    fn old_keys_open_and_new_seals_use_the_current_key() {
        let old = keys();
        let s = old.seal(b"seed", b"ctx").unwrap();
        let rotated = Keys::new(&[1; 32], 2, &[5; 32])
            .unwrap()
            .with_old_key(1, &[2; 32])
            .unwrap();
        assert_eq!(rotated.open(&s, b"ctx").unwrap().expose(), b"seed");
        assert_eq!(rotated.seal(b"x", b"ctx").unwrap().key_id(), Some(2));
    }

    #[test]
    fn keys_must_be_32_bytes_and_decodable() {
        assert!(matches!(
            Keys::new(&[1; 16], 1, &[2; 32]),
            Err(ConfigError::KeyLength { .. })
        ));
        assert!(Keys::from_base64("not base64!", "1:AAAA").is_err());
        assert!(Keys::from_base64(&"A".repeat(43), "").is_err());
    }

    #[test]
    fn keyed_hashes_separate_domains_and_parts() {
        let k = keys();
        let a = k.keyed_hash(HashDomain::OobCode, &[b"ab", b"c"]);
        let b = k.keyed_hash(HashDomain::OobCode, &[b"a", b"bc"]);
        let c = k.keyed_hash(HashDomain::TrustToken, &[b"ab", b"c"]);
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn random_digits_have_the_right_length() {
        for d in 1..=9 {
            let c = random_digits(d).unwrap();
            assert_eq!(c.len(), d as usize);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
