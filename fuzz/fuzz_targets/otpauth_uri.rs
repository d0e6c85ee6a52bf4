//! The `otpauth://` URIs of TOTP enrolment, built through the public API:
//! `MfaConfig::builder(issuer)` (with the TOTP digits and period) and
//! `Mfa::begin_enrollment` with `EnrollRequest::Totp { account_name }`,
//! then read back by two independent parsers.
//!
//! Asserts, besides never panicking:
//! - the configuration is refused (a `ConfigError`) exactly when the issuer
//!   breaks its documented rule (blank, over 64 bytes, a ':' or a control
//!   character), and the enrolment (an `MfaError::InvalidInput`) exactly
//!   when the account name does (empty, over 128 bytes, a ':' or a control
//!   character);
//! - totp-rs's `Totp::from_url` reads the URI back with the same secret
//!   (the enrolment's base32 key), issuer, account name, digits and period;
//! - the `url` crate parses it: scheme `otpauth`, host `totp`, one ':' in
//!   the path, whose label halves percent-decode to the issuer and the
//!   account name; the query has exactly one `secret` (the key) and one
//!   `issuer` (the issuer), `digits`/`period` only when not 6/30, nothing
//!   else;
//! - the key for manual entry is unpadded base32 of 20 bytes and its
//!   grouped form is the same key in groups of four;
//! - the QR codes (SVG and PNG) were rendered: the PNG is a square image;
//! - a code computed by totp-rs from the URI confirms the enrolment (the
//!   URI carries the seed the engine stored);
//! - `totp::qr_png` / `qr_svg` render any text of up to 256 bytes (the
//!   URIs of typical issuers and account names; the enrolment above renders
//!   every URI it builds, up to about 830 bytes) as a square PNG / an SVG;
//!   once per process, 2 331 bytes (the byte capacity of a version-40 QR
//!   code at level M) render and 2 332 are refused with `InvalidInput`.
//!   (Rendering is most of the cost: deflating the PNG under coverage
//!   instrumentation takes milliseconds.)
//!
//! The seed itself cannot be chosen: the engine draws it from the system
//! RNG. mfa-core has no parser of otpauth URIs or base32 keys (it only
//! writes them), so there is no reverse direction to fuzz; the only base32
//! it reads is recovery codes (`recovery_normalize`).
//!
//! Input: a first byte choosing digits (6-8) and period, then issuer,
//! account name and optional QR text separated by NUL bytes (neither an
//! issuer nor an account name may hold one). Invalid UTF-8 is replaced.
// Fuzz harness: assertions are the point, and libfuzzer's macro generates
// undocumented items.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::future::Future;
use std::sync::{Arc, Once};
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use mfa_core::totp::{qr_png, qr_svg};
use mfa_core::*;

const START: i64 = 1_750_000_000;
/// Bytes a version-40 QR code holds at error-correction level M.
const QR_CAPACITY: usize = 2331;
/// Longest arbitrary text rendered per input.
const QR_TEXT_MAX: usize = 256;

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn issuer_ok(s: &str) -> bool {
    !s.trim().is_empty() && s.len() <= 64 && !s.contains(':') && !s.chars().any(char::is_control)
}

fn account_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.contains(':') && !s.chars().any(char::is_control)
}

/// Percent-decoding written here, independent of both parsers.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("the label decodes to UTF-8")
}

/// A PNG's width and height from its IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |o: usize| u32::from_be_bytes([png[o], png[o + 1], png[o + 2], png[o + 3]]);
    (be(16), be(20))
}

fn check_qr(text: &str) {
    let png = qr_png(text).unwrap_or_else(|e| panic!("no PNG for {} bytes: {e}", text.len()));
    let (w, h) = png_size(&png);
    assert!(w == h && w > 0 && w % 8 == 0, "{w}x{h}");
    let svg = qr_svg(text).unwrap_or_else(|e| panic!("no SVG for {} bytes: {e}", text.len()));
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
}

/// The capacity boundary, once per process (a version-40 code is slow).
fn check_qr_capacity() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let full = "a".repeat(QR_CAPACITY);
        let (w, _) = png_size(&qr_png(&full).unwrap());
        assert_eq!(w, (177 + 8) * 8, "version 40 is 177 modules");
        for over in [
            qr_png(&format!("{full}a")).err(),
            qr_svg(&format!("{full}a")).err(),
        ] {
            assert!(matches!(over, Some(MfaError::InvalidInput(_))), "{over:?}");
        }
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == 0);
    let issuer = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let account = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    check_qr_capacity();
    if let Some(text) = parts.next() {
        let text = String::from_utf8_lossy(text);
        let mut end = text.len().min(QR_TEXT_MAX);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        check_qr(&text[..end]);
    }
    // '0' (0x30) is 6 digits every 30 s.
    let v = sel.wrapping_sub(b'0');
    let digits = 6 + u32::from(v % 3);
    let period = [30, 15, 60, 120, 45, 90, 17, 31][usize::from(v / 3 % 8)];
    let params = TotpParams {
        digits,
        step_secs: period,
        ..TotpParams::default()
    };

    let config = match MfaConfig::builder(issuer.as_str()).totp(params).build() {
        Ok(c) => {
            assert!(issuer_ok(&issuer), "issuer {issuer:?} accepted");
            c
        }
        Err(e) => {
            assert!(matches!(e, ConfigError::OutOfRange(_)), "{e:?}");
            assert!(!issuer_ok(&issuer), "issuer {issuer:?} refused: {e}");
            return;
        }
    };
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_secs(START)));
    let mfa = Mfa::builder(
        MemoryStore::new(),
        Keys::new(&[1; 32], 1, &[2; 32]).unwrap(),
        config,
    )
    .clock(clock.clone())
    .policy(Policy::required_from(Timestamp::EPOCH))
    .build();
    let user = UserId::new("alice").unwrap();
    let caller = Caller::password_only(Audience::new(Platform::WEB));
    let request = EnrollRequest::Totp {
        label: "Phone".into(),
        account_name: account.clone(),
    };
    let t = match block_on(mfa.begin_enrollment(&user, request, &caller)) {
        Ok(Enrollment::Totp(t)) => {
            assert!(account_ok(&account), "account name {account:?} accepted");
            t
        }
        Ok(other) => panic!("a TOTP enrolment answered {other:?}"),
        Err(e) => {
            assert!(matches!(e, MfaError::InvalidInput(_)), "{e:?}");
            assert!(!account_ok(&account), "account name {account:?} refused: {e}");
            return;
        }
    };
    let uri = t.otpauth_uri.expose();
    let key = t.secret_base32.expose();

    // The manual-entry key.
    assert_eq!(key.len(), 32, "{key}");
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    let grouped = t.secret_grouped();
    assert!(grouped.expose().split(' ').all(|g| g.len() == 4));
    assert_eq!(grouped.expose().replace(' ', ""), key);
    let seed = totp_rs::Secret::try_from_base32(key).unwrap();
    assert_eq!(seed.len(), 20);

    // totp-rs reads it back.
    let parsed = totp_rs::Totp::from_url(uri).unwrap_or_else(|e| panic!("totp-rs refused {uri:?}: {e}"));
    assert_eq!(parsed.secret().as_bytes(), seed.as_bytes(), "{uri}");
    assert_eq!(parsed.issuer(), Some(issuer.as_str()), "{uri}");
    assert_eq!(parsed.account_name(), account, "{uri}");
    assert_eq!(u32::from(parsed.digits()), digits, "{uri}");
    assert_eq!(parsed.step(), period, "{uri}");

    // So does the url crate.
    let url = url::Url::parse(uri).unwrap_or_else(|e| panic!("url refused {uri:?}: {e}"));
    assert_eq!(url.scheme(), "otpauth");
    assert_eq!(url.host_str(), Some("totp"), "{uri}");
    let path = url.path().strip_prefix('/').expect("a path");
    assert_eq!(path.matches(':').count(), 1, "{uri}");
    let (label_issuer, label_account) = path.split_once(':').unwrap();
    let mut secrets = Vec::new();
    let mut issuers = Vec::new();
    for (k, v) in url.query_pairs() {
        match &*k {
            "secret" => secrets.push(v.into_owned()),
            "issuer" => issuers.push(v.into_owned()),
            "digits" => assert!(digits != 6 && v == digits.to_string(), "{uri}"),
            "period" => assert!(period != 30 && v == period.to_string(), "{uri}"),
            other => panic!("unexpected parameter {other:?} in {uri}"),
        }
    }
    assert_eq!(secrets, [key], "{uri}");
    assert_eq!(issuers, [issuer.as_str()], "{uri}");
    assert_eq!(percent_decode(label_issuer), issuer, "{uri}");
    assert_eq!(percent_decode(label_account), account, "{uri}");

    // The QR codes.
    let (w, h) = png_size(t.qr_png.expose());
    assert!(w == h && w > 0, "{w}x{h}");
    assert!(t.qr_svg.expose().contains("<svg"));

    // A code from the URI confirms the factor.
    let code = parsed.generate(START as u64).to_string();
    block_on(mfa.confirm_enrollment(&user, &t.factor, &code))
        .unwrap_or_else(|e| panic!("the URI's code {code} did not confirm: {e}"));
});
