//! The one place that touches randomness and cryptographic primitives:
//! random bytes and codes from the OS CSPRNG, keyed hashes (HMAC-SHA256) for
//! codes, tokens and fingerprints, AES-256-GCM for secrets at rest
//! (XChaCha20-Poly1305 for the first format, still read) with key ids for
//! rotation, and constant-time comparison.
//!
//! Nothing here is hand-rolled: the primitives are RustCrypto's, and
//! ring's (BoringSSL's) AES-GCM.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::TryRng;
use rand::rngs::SysRng;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
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
#[derive(Clone, Copy)]
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

impl KeyedHash {
    /// Compares two hashes in constant time ([`ct_eq`]): the only
    /// comparison there is (no `PartialEq`, so `==` cannot creep in).
    pub fn ct_matches(&self, other: &KeyedHash) -> bool {
        ct_eq(&self.0, &other.0)
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
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    Session,
}

impl HashDomain {
    fn label(self) -> &'static [u8] {
        match self {
            HashDomain::OobCode => b"mfa/oob-code/v1",
            HashDomain::TrustToken => b"mfa/trust-token/v1",
            HashDomain::RecoveryFingerprint => b"mfa/recovery-fingerprint/v1",
            HashDomain::Destination => b"mfa/destination/v1",
            HashDomain::Session => b"mfa/session-record/v1",
        }
    }
}

/// A secret sealed with the key ring: `format (1) | key id (u32 BE) |
/// nonce | ciphertext + tag (16)`. Opaque to stores.
///
/// | format | AEAD | nonce |
/// |---|---|---|
/// | 2 (written) | AES-256-GCM (ring) | 12 random bytes |
/// | 1 (read only) | XChaCha20-Poly1305 (RustCrypto) | 24 random bytes |
///
/// Format 2 replaced format 1 because opening a seed is on the path of
/// every TOTP verification, and ring's AES-GCM (AES-NI and carry-less
/// multiply, BoringSSL's assembly) opens a seed more than ten times faster
/// than chacha20poly1305 does here (docs/PERFORMANCE.md). Random 96-bit
/// nonces are safe for far more than the seals one key ever makes (one per
/// enrolment or rotation; NIST SP 800-38D allows 2^32 per key).
/// [`Mfa::rotate_secrets`](crate::Mfa::rotate_secrets) re-seals format-1
/// values.
///
/// ```
/// use mfa_core::Sealed;
/// let blob = Sealed(vec![2, 0, 0, 0, 7]);
/// assert_eq!(blob.format(), Some(2));
/// assert_eq!(blob.key_id(), None); // too short to hold a nonce and tag
/// ```
#[derive(Clone)]
pub struct Sealed(pub Vec<u8>);

impl Sealed {
    /// The format new secrets are sealed in.
    pub const CURRENT_FORMAT: u8 = 2;
    const XCHACHA: u8 = 1;
    const TAG: usize = 16;

    /// Bytes before the ciphertext for a format: format, key id, nonce.
    fn header_len(format: u8) -> Option<usize> {
        match format {
            Self::CURRENT_FORMAT => Some(1 + 4 + 12),
            Self::XCHACHA => Some(1 + 4 + 24),
            _ => None,
        }
    }

    /// The format byte, if it names a known format.
    pub fn format(&self) -> Option<u8> {
        let format = *self.0.first()?;
        Self::header_len(format).map(|_| format)
    }

    /// The key id this value was sealed with, if the blob is well formed.
    pub fn key_id(&self) -> Option<u32> {
        let header = Self::header_len(self.format()?)?;
        if self.0.len() < header + Self::TAG {
            return None;
        }
        let id: [u8; 4] = self.0[1..5].try_into().ok()?;
        Some(u32::from_be_bytes(id))
    }

    /// True when this value is in the current format under key `current`:
    /// nothing for a rotation to do.
    pub fn is_current(&self, current: u32) -> bool {
        self.format() == Some(Self::CURRENT_FORMAT) && self.key_id() == Some(current)
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
    ring: BTreeMap<u32, RingKey>,
}

/// One encryption key of the ring, with the AES-256-GCM key schedule set up
/// once (every TOTP verification opens a seed). The raw key is kept
/// (zeroized on drop) for format-1 values.
#[derive(Clone)]
struct RingKey {
    raw: SecretBytes,
    gcm: LessSafeKey,
}

impl RingKey {
    fn new(what: &'static str, bytes: &[u8]) -> Result<Self, ConfigError> {
        let raw = key32(what, bytes)?;
        let gcm = UnboundKey::new(&AES_256_GCM, raw.expose())
            .map(LessSafeKey::new)
            .map_err(|_| ConfigError::KeyLength {
                what,
                len: bytes.len(),
            })?;
        Ok(RingKey { raw, gcm })
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("current", &self.current)
            .field("key_ids", &self.ring.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The longest secret [`Keys::open_with`] opens on the stack.
const SMALL_SECRET: usize = 64;

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
        ring.insert(current_id, RingKey::new("encryption key", current_key)?);
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
        self.ring.insert(id, RingKey::new("encryption key", key)?);
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
    /// unreadable after a restart. Feature `dev`.
    #[cfg(feature = "dev")]
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

    /// Seals `plain` with the current key, bound to `context` (who and what
    /// it belongs to): a sealed value copied to another row does not open.
    pub(crate) fn seal(&self, plain: &[u8], context: &[u8]) -> Result<Sealed, MfaError> {
        let key = self.ring.get(&self.current).ok_or(MfaError::SecretUnavailable)?;
        let nonce: [u8; 12] = random_array()?;
        let mut out = Vec::with_capacity(1 + 4 + nonce.len() + plain.len() + Sealed::TAG);
        out.push(Sealed::CURRENT_FORMAT);
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&nonce);
        // Plaintext until sealed in place: wiped if sealing fails.
        let mut body = Zeroizing::new(Vec::with_capacity(plain.len() + Sealed::TAG));
        body.extend_from_slice(plain);
        key.gcm
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut *body,
            )
            .map_err(|_| MfaError::SecretUnavailable)?;
        out.extend_from_slice(&body);
        Ok(Sealed(out))
    }

    /// Opens a sealed value of either format. Fails (without saying why) if
    /// the key id is not in the ring, the blob was altered, or the context
    /// differs.
    pub(crate) fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<SecretBytes, MfaError> {
        let (key, format) = self.key_for(sealed)?;
        let blob = &sealed.0;
        if format == Sealed::CURRENT_FORMAT {
            let nonce = Self::gcm_nonce(blob)?;
            let mut body = blob[17..].to_vec();
            let len = key
                .gcm
                .open_in_place(nonce, Aad::from(context), &mut body)
                .map_err(|_| MfaError::SecretUnavailable)?
                .len();
            body.truncate(len);
            return Ok(SecretBytes::new(body));
        }
        let nonce: [u8; 24] = blob[5..29].try_into().map_err(|_| MfaError::SecretUnavailable)?;
        XChaCha20Poly1305::new_from_slice(key.raw.expose())
            .map_err(|_| MfaError::SecretUnavailable)?
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &blob[29..],
                    aad: context,
                },
            )
            .map(SecretBytes::new)
            .map_err(|_| MfaError::SecretUnavailable)
    }

    /// [`open`](Self::open), handing the plaintext to `f` from a buffer on
    /// the stack that is wiped afterwards (no heap copy of the secret): the
    /// TOTP verification path.
    pub(crate) fn open_with<R>(
        &self,
        sealed: &Sealed,
        context: &[u8],
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, MfaError> {
        let (key, format) = self.key_for(sealed)?;
        let body = sealed.0.get(17..).unwrap_or_default();
        if format != Sealed::CURRENT_FORMAT || body.len() > SMALL_SECRET + Sealed::TAG {
            return Ok(f(self.open(sealed, context)?.expose()));
        }
        let mut buf = Zeroizing::new([0u8; SMALL_SECRET + Sealed::TAG]);
        let in_out = &mut buf[..body.len()];
        in_out.copy_from_slice(body);
        let plain = key
            .gcm
            .open_in_place(Self::gcm_nonce(&sealed.0)?, Aad::from(context), in_out)
            .map_err(|_| MfaError::SecretUnavailable)?;
        Ok(f(plain))
    }

    fn key_for(&self, sealed: &Sealed) -> Result<(&RingKey, u8), MfaError> {
        let id = sealed.key_id().ok_or(MfaError::SecretUnavailable)?;
        let format = sealed.format().ok_or(MfaError::SecretUnavailable)?;
        let key = self.ring.get(&id).ok_or(MfaError::SecretUnavailable)?;
        Ok((key, format))
    }

    fn gcm_nonce(blob: &[u8]) -> Result<Nonce, MfaError> {
        let nonce: [u8; 12] = blob
            .get(5..17)
            .and_then(|n| n.try_into().ok())
            .ok_or(MfaError::SecretUnavailable)?;
        Ok(Nonce::assume_unique_for_key(nonce))
    }

    /// Seals in format 1 (XChaCha20-Poly1305): only to test that values
    /// written before format 2 still open and are re-sealed by a rotation.
    #[cfg(any(test, feature = "danger-test-helpers"))]
    #[doc(hidden)]
    pub fn seal_format1_for_tests(&self, plain: &[u8], context: &[u8]) -> Result<Sealed, MfaError> {
        let key = self.ring.get(&self.current).ok_or(MfaError::SecretUnavailable)?;
        let nonce: [u8; 24] = random_array()?;
        let ct = XChaCha20Poly1305::new_from_slice(key.raw.expose())
            .map_err(|_| MfaError::SecretUnavailable)?
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .map_err(|_| MfaError::SecretUnavailable)?;
        let mut out = vec![Sealed::XCHACHA];
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(Sealed(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new(&[1; 32], 1, &[2; 32]).unwrap()
    }

    /// Every format this code ever wrote (1: XChaCha20-Poly1305, 2:
    /// AES-256-GCM) is known and never reused: any value either opens with
    /// the key that sealed it or is refused (never a panic, never another
    /// format's plaintext), and `is_current` holds only for the current
    /// format under the current key.
    #[test]
    fn format_numbers_are_never_reused_and_only_the_current_one_is_current() {
        use proptest::prelude::*;
        let k = keys();
        let newer = Keys::new(&[1; 32], 2, &[4; 32])
            .unwrap()
            .with_old_key(1, &[2; 32])
            .unwrap();
        let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
            cases: 2048,
            ..Default::default()
        });
        runner
            .run(
                &(
                    proptest::collection::vec(any::<u8>(), 0..80),
                    proptest::collection::vec(any::<u8>(), 0..64),
                    any::<u8>(),
                    0usize..120,
                ),
                |(plain, blob, format, flip)| {
                    for sealed in [
                        k.seal(&plain, b"ctx").unwrap(),
                        k.seal_format1_for_tests(&plain, b"ctx").unwrap(),
                    ] {
                        let opened = k.open(&sealed, b"ctx").unwrap();
                        prop_assert_eq!(opened.expose(), &plain[..]);
                        let opened = newer.open(&sealed, b"ctx").unwrap();
                        prop_assert_eq!(opened.expose(), &plain[..]);
                        prop_assert_eq!(
                            sealed.is_current(1),
                            sealed.format() == Some(Sealed::CURRENT_FORMAT)
                        );
                        prop_assert!(!sealed.is_current(2));
                        // A flipped byte is refused, whatever it hits.
                        let mut bad = sealed.clone();
                        let i = flip % bad.0.len();
                        bad.0[i] ^= 0x01;
                        prop_assert!(k.open(&bad, b"ctx").is_err());
                    }
                    // Arbitrary bytes under any format byte: refused or
                    // opened, never a panic; unknown formats never current.
                    let mut any_blob = vec![format];
                    any_blob.extend_from_slice(&blob);
                    let s = Sealed(any_blob);
                    let _ = k.open(&s, b"ctx");
                    if s.is_current(1) || s.is_current(2) {
                        prop_assert_eq!(s.format(), Some(Sealed::CURRENT_FORMAT));
                    }
                    if ![1, 2].contains(&format) {
                        prop_assert_eq!(s.format(), None);
                        prop_assert!(k.open(&s, b"ctx").is_err());
                    }
                    Ok(())
                },
            )
            .unwrap();
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
        assert!(k.open(&Sealed(vec![2; 40]), b"user-a").is_err());
        assert!(k.open(&Sealed(vec![9; 80]), b"user-a").is_err());
        assert_eq!(s.format(), Some(Sealed::CURRENT_FORMAT));
        assert_eq!(s.0.len(), 1 + 4 + 12 + 4 + 16);
    }

    #[test]
    fn format_1_values_still_open_and_are_not_current() {
        let k = keys();
        let old = k.seal_format1_for_tests(b"seed", b"ctx").unwrap();
        assert_eq!(old.format(), Some(1));
        assert_eq!(old.key_id(), Some(1));
        assert!(!old.is_current(1));
        assert_eq!(k.open(&old, b"ctx").unwrap().expose(), b"seed");
        assert!(k.open(&old, b"other").is_err());
        assert!(k.seal(b"seed", b"ctx").unwrap().is_current(1));
    }

    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn format_2_is_aes_256_gcm_on_a_nist_vector() {
        // NIST CAVP gcmEncryptExtIV256.rsp, a vector with associated data:
        // our blob for it must open to the plaintext, and one flipped bit
        // of the tag or the data must not.
        let key = unhex("92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b");
        let keys = Keys::new(&[1; 32], 7, &key).unwrap();
        let mut blob = vec![2, 0, 0, 0, 7];
        blob.extend(unhex("ac93a1a6145299bde902f21a"));
        blob.extend(unhex("8995ae2e6df3dbf96fac7b7137bae67f"));
        blob.extend(unhex("eca5aa77d51d4a0a14d9c51e1da474ab"));
        let aad = unhex("1e0889016f67601c8ebea4943bc23ad6");
        let plain = unhex("2d71bcfa914e4ac045b2aa60955fad24");
        let sealed = Sealed(blob.clone());
        assert_eq!(keys.open(&sealed, &aad).unwrap().expose(), plain.as_slice());
        assert_eq!(keys.open_with(&sealed, &aad, <[u8]>::to_vec).unwrap(), plain);
        for i in [17, blob.len() - 1] {
            let mut bad = blob.clone();
            bad[i] ^= 1;
            assert!(keys.open(&Sealed(bad.clone()), &aad).is_err());
            assert!(keys.open_with(&Sealed(bad), &aad, |_| ()).is_err());
        }
    }

    #[test]
    fn open_with_handles_long_secrets_and_format_1() {
        let k = keys();
        let long = vec![5u8; 200];
        let s = k.seal(&long, b"ctx").unwrap();
        assert_eq!(k.open_with(&s, b"ctx", <[u8]>::to_vec).unwrap(), long);
        let old = k.seal_format1_for_tests(b"seed", b"ctx").unwrap();
        assert_eq!(k.open_with(&old, b"ctx", <[u8]>::to_vec).unwrap(), b"seed");
        assert!(k.open_with(&old, b"other", |_| ()).is_err());
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
        assert!(!a.ct_matches(&b));
        assert!(!a.ct_matches(&c));
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
