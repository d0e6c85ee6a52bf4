//! Authenticator apps (TOTP, RFC 6238) over totp-rs: secrets, otpauth URIs,
//! QR codes (SVG and PNG), strict code parsing and verification inside a
//! skew window. Replay refusal is the store's atomic
//! [`advance_totp_step`](crate::MfaStore::advance_totp_step).

use hmac::{Hmac, KeyInit, Mac};
use qrcode::QrCode;
use sha1::Sha1;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Totp};
use zeroize::Zeroizing;

use crate::clock::Timestamp;
use crate::config::TotpParams;
use crate::crypto::random_array;
use crate::error::MfaError;
use crate::ids::FactorId;
use crate::secret::{SecretBytes, SecretString};

/// Seed length: 160 bits (RFC 4226 §4 asks at least 128, recommends 160).
pub const SECRET_BYTES: usize = 20;

/// Parses what a user typed as a code: ASCII spaces are dropped (apps show
/// `123 456`), then exactly `digits` ASCII digits must remain. Signs,
/// Unicode digits, letters and other lengths are refused.
///
/// ```
/// use mfa_core::totp::parse_code;
/// assert_eq!(&*parse_code(" 123 456 ", 6).unwrap(), "123456");
/// for bad in ["", "1", "12345", "1234567", "+12345", "12345a", "١٢٣٤٥٦"] {
///     assert!(parse_code(bad, 6).is_err(), "{bad:?}");
/// }
/// ```
pub fn parse_code(input: &str, digits: u32) -> Result<Zeroizing<String>, MfaError> {
    parse_code_inline(input, digits).map(|c| Zeroizing::new(c.as_str().to_owned()))
}

/// A code parsed by [`parse_code`] without a heap copy (the verification
/// path): ASCII digits on the stack, wiped on drop.
pub(crate) struct ParsedCode {
    digits: Zeroizing<[u8; 16]>,
    len: usize,
}

impl ParsedCode {
    /// The digits.
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(self.digits.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

/// [`parse_code`] into a [`ParsedCode`]: the same rules, no allocation.
pub(crate) fn parse_code_inline(input: &str, digits: u32) -> Result<ParsedCode, MfaError> {
    let malformed = MfaError::MalformedCode { digits };
    // Bound the work before looking at the content.
    if input.len() > 64 {
        return Err(malformed);
    }
    let mut code = ParsedCode {
        digits: Zeroizing::new([0u8; 16]),
        len: 0,
    };
    for c in input.chars().filter(|&c| c != ' ') {
        let slot = code
            .digits
            .get_mut(code.len)
            .ok_or(MfaError::MalformedCode { digits })?;
        if !c.is_ascii_digit() {
            return Err(malformed);
        }
        *slot = c as u8;
        code.len += 1;
    }
    if code.len != digits as usize {
        return Err(malformed);
    }
    Ok(code)
}

pub(crate) fn new_secret() -> Result<SecretBytes, MfaError> {
    Ok(SecretBytes::new(random_array::<SECRET_BYTES>()?.to_vec()))
}

fn totp(secret: &[u8], params: &TotpParams, issuer: Option<&str>, account: &str) -> Result<Totp, MfaError> {
    let digits = u8::try_from(params.digits).map_err(|_| MfaError::InvalidInput("totp digits"))?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(digits)
        .with_skew(0)
        .with_step_duration(params.step_secs)
        .with_secret(secret.to_vec())
        .with_issuer(issuer)
        .with_account_name(account)
        .build()
        .map_err(|_| MfaError::InvalidInput("account name"))
}

/// The `otpauth://` URI of a seed (Google Authenticator "Key Uri Format"):
/// `otpauth://totp/Issuer:account?secret=BASE32&issuer=Issuer`, SHA1, with
/// `digits`/`period` only when not 6/30. Neither part may contain ':'.
pub(crate) fn provisioning_uri(
    secret: &[u8],
    params: &TotpParams,
    issuer: &str,
    account: &str,
) -> Result<SecretString, MfaError> {
    if account.is_empty()
        || account.len() > 128
        || account.contains(':')
        || account.chars().any(char::is_control)
    {
        return Err(MfaError::InvalidInput("account name"));
    }
    let t = totp(secret, params, Some(issuer), account)?;
    t.to_url()
        .map(SecretString::new)
        .map_err(|_| MfaError::InvalidInput("account name"))
}

/// The QR code of `data` as an SVG document (black on white, quiet zone).
pub fn qr_svg(data: &str) -> Result<String, MfaError> {
    let code = QrCode::new(data.as_bytes()).map_err(|_| MfaError::InvalidInput("QR payload"))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// The QR code of `data` as a PNG (8-bit grey, 8 px per module, 4-module
/// quiet zone).
pub fn qr_png(data: &str) -> Result<Vec<u8>, MfaError> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let code = QrCode::new(data.as_bytes()).map_err(|_| MfaError::InvalidInput("QR payload"))?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (mx, my) = (i % width + QUIET, i / width + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let side32 = u32::try_from(side).map_err(|_| MfaError::InvalidInput("QR payload"))?;
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side32, side32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc
        .write_header()
        .map_err(|_| MfaError::InvalidInput("QR payload"))?;
    writer
        .write_image_data(&pixels)
        .map_err(|_| MfaError::InvalidInput("QR payload"))?;
    writer
        .finish()
        .map_err(|_| MfaError::InvalidInput("QR payload"))?;
    Ok(out)
}

/// RFC 4226 HOTP value (dynamic truncation, `digits` digits) of `counter`
/// from a key state set up once: cloning it skips the two key-block
/// compressions a fresh HMAC pays per step.
fn hotp(key: &Hmac<Sha1>, counter: u64, modulus: u32) -> u32 {
    let mut mac = key.clone();
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let v = u32::from_be_bytes([h[offset], h[offset + 1], h[offset + 2], h[offset + 3]]) & 0x7fff_ffff;
    v % modulus
}

/// The time step `code` (already parsed) matches at `now`, if any: the
/// current step first, then one back, one ahead, and so on within the skew.
/// HOTP (HMAC-SHA1) with the key state set up once per call; each
/// candidate is compared in constant time. `tests::hotp_agrees_with_totp_rs`
/// checks it against totp-rs on the RFC vectors.
pub(crate) fn matching_step(
    secret: &[u8],
    params: &TotpParams,
    code: &str,
    now: Timestamp,
) -> Result<Option<u64>, MfaError> {
    // The same refusals totp-rs made when it built a `Totp` here: digits
    // outside u8, a secret under 128 bits.
    u8::try_from(params.digits).map_err(|_| MfaError::InvalidInput("totp digits"))?;
    if secret.len() < 16 {
        return Err(MfaError::InvalidInput("account name"));
    }
    let Some(modulus) = 10u32.checked_pow(params.digits) else {
        return Err(MfaError::InvalidInput("totp digits"));
    };
    // Exactly `digits` ASCII digits, or no match (what totp-rs's token
    // parser accepted).
    if code.len() != params.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let want = code
        .bytes()
        .fold(0u32, |v, d| v.wrapping_mul(10).wrapping_add(u32::from(d - b'0')));
    let Ok(secs) = u64::try_from(now.unix_secs()) else {
        return Ok(None);
    };
    let key = <Hmac<Sha1> as KeyInit>::new_from_slice(secret)
        .map_err(|_| MfaError::InvalidInput("account name"))?;
    let current = secs / params.step_secs;
    let mut candidates = [Some(current); 5];
    let mut n = 1;
    for d in 1..=u64::from(params.skew_back.max(params.skew_ahead)) {
        if d <= u64::from(params.skew_back) {
            candidates[n] = current.checked_sub(d);
            n += 1;
        }
        if d <= u64::from(params.skew_ahead) {
            candidates[n] = current.checked_add(d);
            n += 1;
        }
    }
    Ok(candidates[..n].iter().flatten().copied().find(|&step| {
        // totp-rs derived the counter from `step * step_secs` (saturating).
        let counter = step.saturating_mul(params.step_secs) / params.step_secs;
        bool::from(hotp(&key, counter, modulus).ct_eq(&want))
    }))
}

/// What a user needs to add an authenticator app: show the QR code, offer
/// the key as text for manual entry, then confirm with a code.
///
/// Everything here but the id reveals the seed: it is shown once and
/// never stored in clear.
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    /// The pending factor; confirm it with
    /// [`Mfa::confirm_enrollment`](crate::Mfa::confirm_enrollment).
    pub factor: FactorId,
    /// The key in base32 (no padding), for typing into an app.
    pub secret_base32: SecretString,
    /// The `otpauth://` URI the QR code carries.
    pub otpauth_uri: SecretString,
    /// The QR code as an SVG document.
    pub qr_svg: SecretString,
    /// The QR code as PNG bytes.
    pub qr_png: SecretBytes,
}

impl TotpEnrollment {
    /// The key in groups of four (`ABCD EFGH ...`), easier to type.
    pub fn secret_grouped(&self) -> SecretString {
        let s = self.secret_base32.expose();
        let grouped: Vec<&str> = s
            .as_bytes()
            .chunks(4)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        SecretString::new(grouped.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_percent_encodes_and_refuses_colons() {
        let p = TotpParams::default();
        let uri = provisioning_uri(&[0u8; 20], &p, "Alliance Homes", "jo bloggs@example.org").unwrap();
        assert!(
            uri.expose()
                .starts_with("otpauth://totp/Alliance%20Homes:jo%20bloggs%40example.org?")
        );
        assert!(uri.expose().contains("secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        assert!(uri.expose().contains("&issuer=Alliance%20Homes"));
        assert!(!uri.expose().contains("digits="));
        assert!(provisioning_uri(&[0u8; 20], &p, "X", "a:b").is_err());
    }

    #[test]
    fn qr_images_render() {
        let svg = qr_svg("otpauth://totp/X:y?secret=AAAA&issuer=X").unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
        let png = qr_png("otpauth://totp/X:y?secret=AAAA&issuer=X").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn window_checks_current_then_neighbours() {
        let secret = b"12345678901234567890";
        let p = TotpParams::default();
        let t = totp(secret, &p, None, "").unwrap();
        let now = Timestamp::from_unix_secs(59);
        for (at, want) in [(59u64, Some(1)), (29, Some(0)), (89, Some(2)), (119, None)] {
            let code = t.generate(at).to_string();
            assert_eq!(
                matching_step(secret, &p, &code, now).unwrap(),
                want,
                "code from t={at}"
            );
        }
        let strict = TotpParams {
            skew_back: 0,
            skew_ahead: 0,
            ..p
        };
        let old = t.generate(29).to_string();
        assert_eq!(matching_step(secret, &strict, &old, now).unwrap(), None);
    }

    #[test]
    fn hotp_agrees_with_totp_rs() {
        // RFC 4226 App. D: HOTP of counters 0..9.
        let secret = b"12345678901234567890";
        let key = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).unwrap();
        let rfc4226 = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in rfc4226.into_iter().enumerate() {
            assert_eq!(hotp(&key, counter as u64, 1_000_000), want);
        }
        // RFC 6238 App. B (SHA1, 8 digits) through matching_step, and the
        // same code from totp-rs, for 6, 7 and 8 digits.
        for (at, want) in [
            (59u64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            let p8 = TotpParams {
                digits: 8,
                skew_back: 0,
                skew_ahead: 0,
                ..TotpParams::default()
            };
            let now = Timestamp::from_unix_secs(at as i64);
            assert_eq!(matching_step(secret, &p8, want, now).unwrap(), Some(at / 30));
            for digits in 6..=8 {
                let p = TotpParams { digits, ..p8 };
                let ours = hotp(&key, at / 30, 10u32.pow(digits));
                let theirs = totp(secret, &p, None, "").unwrap().generate(at).to_string();
                assert_eq!(format!("{ours:0width$}", width = digits as usize), theirs);
            }
        }
        // Malformed codes never match.
        let p = TotpParams::default();
        let now = Timestamp::from_unix_secs(59);
        for bad in ["", "28708", "2870820", "+87082", "28708a"] {
            assert_eq!(matching_step(secret, &p, bad, now).unwrap(), None, "{bad:?}");
        }
        assert!(matching_step(&secret[..15], &p, "287082", now).is_err());
    }
}
