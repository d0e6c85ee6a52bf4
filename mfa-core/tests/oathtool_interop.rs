//! Interop with an independent implementation (docs/SECURITY-REVIEW.md §1-2): codes
//! from Debian's `oathtool` (OATH Toolkit) for a secret enrolled through the
//! engine are accepted by `confirm_enrollment` and `verify` at the same
//! `ManualClock` times, and the otpauth URI, parsed here by hand, carries
//! the secret, issuer and label the engine meant.
//!
//! Needs `oathtool` on the PATH (`apt-get install oathtool`). Without it the
//! tests fail, unless the caller opts out explicitly with
//! `MFA_TEST_SKIP_OATHTOOL=1` (never honoured under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use mfa_core::*;

/// True if `oathtool` runs. When it does not, the test fails, unless the
/// caller opted out with `MFA_TEST_SKIP_OATHTOOL=1` (not under `CI=true`).
fn have_oathtool() -> bool {
    let ok = Command::new("oathtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let opted_out = std::env::var("MFA_TEST_SKIP_OATHTOOL").is_ok_and(|v| v == "1");
        if ci || !opted_out {
            panic!(
                "oathtool is missing: install it with `apt-get install -y oathtool` \
                 (or set MFA_TEST_SKIP_OATHTOOL=1 to skip these tests outside CI)"
            );
        }
        eprintln!("SKIPPED: oathtool is not installed and MFA_TEST_SKIP_OATHTOOL=1");
    }
    ok
}

/// `oathtool --totp -b <secret> -N @<unix> -d <digits>`.
fn oathtool(secret_base32: &str, at: Timestamp, digits: u32) -> String {
    let out = Command::new("oathtool")
        .args([
            "--totp",
            "-b",
            secret_base32,
            "-N",
            &format!("@{}", at.unix_secs()),
            "-d",
            &digits.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oathtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(code.len(), digits as usize, "oathtool printed {code:?}");
    code
}

/// RFC 3986 percent-decoding, written here rather than borrowed from the
/// crate that encoded it.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// An otpauth URI split by hand: type, decoded label, decoded parameters.
struct Uri {
    kind: String,
    label: String,
    params: Vec<(String, String)>,
}

impl Uri {
    fn parse(uri: &str) -> Uri {
        let rest = uri.strip_prefix("otpauth://").expect("otpauth scheme");
        let (kind, rest) = rest.split_once('/').unwrap();
        let (label, query) = rest.split_once('?').unwrap();
        assert!(!query.contains('#'), "no fragment expected");
        let params = query
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Uri {
            kind: kind.to_owned(),
            label: percent_decode(label),
            params,
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        let mut found = self.params.iter().filter(|(k, _)| k == key);
        let v = found.next().map(|(_, v)| v.as_str());
        assert!(found.next().is_none(), "parameter {key} appears twice");
        v
    }
}

#[tokio::test]
async fn oathtool_codes_confirm_and_verify_at_manual_clock_times() {
    if !have_oathtool() {
        return;
    }
    let f = fx();
    let alice = user("oath-alice");
    let e = f.begin_totp(&alice, &f.fresh()).await.unwrap();
    let secret = e.secret_base32.expose().to_owned();

    // Confirm with oathtool's code for "now".
    let code = oathtool(&secret, f.now(), 6);
    f.mfa.confirm_enrollment(&alice, &e.factor, &code).await.unwrap();

    // Log in at later times, a step or more apart.
    for gap in [30u64, 61, 3600, 86_400, 30 * 86_400] {
        f.advance(Duration::from_secs(gap));
        let code = oathtool(&secret, f.now(), 6);
        let ok = f
            .verify_totp(&alice, &e.factor, &code)
            .await
            .unwrap_or_else(|err| panic!("oathtool code at +{gap}s refused: {err}"));
        assert_eq!(ok.method, FactorKind::Totp);
        // Replaying it in the same step fails.
        assert!(matches!(
            f.verify_totp(&alice, &e.factor, &code).await,
            Err(MfaError::InvalidCode { .. })
        ));
    }
}

#[tokio::test]
async fn oathtool_codes_one_step_either_side_are_accepted_two_are_not() {
    if !have_oathtool() {
        return;
    }
    let f = fx();
    let bob = user("oath-bob");
    let e = f.begin_totp(&bob, &f.fresh()).await.unwrap();
    let secret = e.secret_base32.expose().to_owned();
    let code = oathtool(&secret, f.now(), 6);
    f.mfa.confirm_enrollment(&bob, &e.factor, &code).await.unwrap();

    f.advance(Duration::from_secs(300));
    let now = f.now();
    let step = Duration::from_secs(30);
    // Two steps away either side: refused (unless the codes collide).
    for at in [now - step - step, now + step + step] {
        let c = oathtool(&secret, at, 6);
        if c != oathtool(&secret, now, 6) && c != oathtool(&secret, now + step, 6) {
            assert!(
                matches!(
                    f.verify_totp(&bob, &e.factor, &c).await,
                    Err(MfaError::InvalidCode { .. })
                ),
                "code from {at} accepted at {now}"
            );
        }
    }
    // A phone running 30 s slow: accepted.
    let behind = oathtool(&secret, now - step, 6);
    let _ = f.verify_totp(&bob, &e.factor, &behind).await.unwrap();
    // A phone running 30 s fast, a little later: accepted.
    f.advance(Duration::from_secs(30));
    let ahead = oathtool(&secret, f.now() + step, 6);
    let _ = f.verify_totp(&bob, &e.factor, &ahead).await.unwrap();
}

#[tokio::test]
async fn oathtool_eight_digit_codes_verify_with_an_eight_digit_engine() {
    if !have_oathtool() {
        return;
    }
    let f = fx_with(
        config().totp(TotpParams {
            digits: 8,
            ..TotpParams::default()
        }),
        Policy::default(),
    );
    let carol = user("oath-carol");
    let e = f.begin_totp(&carol, &f.fresh()).await.unwrap();
    let secret = e.secret_base32.expose().to_owned();
    let code = oathtool(&secret, f.now(), 8);
    f.mfa.confirm_enrollment(&carol, &e.factor, &code).await.unwrap();
    f.advance(Duration::from_secs(90));
    let code = oathtool(&secret, f.now(), 8);
    let _ = f.verify_totp(&carol, &e.factor, &code).await.unwrap();
    assert_eq!(Uri::parse(e.otpauth_uri.expose()).get("digits"), Some("8"));
}

#[tokio::test]
async fn otpauth_uri_round_trips_secret_issuer_and_label() {
    let f = fx();
    let dave = user("uri-dave");
    let e = match f
        .mfa
        .begin_enrollment(
            &dave,
            EnrollRequest::Totp {
                label: "Phone".into(),
                account_name: "dave.o'neil+mfa@example.org".into(),
            },
            &f.fresh(),
        )
        .await
        .unwrap()
    {
        Enrollment::Totp(t) => t,
        other => panic!("{other:?}"),
    };
    let raw = e.otpauth_uri.expose();
    assert!(raw.starts_with("otpauth://totp/"), "{raw}");
    assert!(!raw.contains(' '), "spaces must be percent-encoded: {raw}");
    let uri = Uri::parse(raw);
    assert_eq!(uri.kind, "totp");
    assert_eq!(uri.label, format!("{ISSUER}:dave.o'neil+mfa@example.org"));
    let secret = uri.get("secret").unwrap();
    assert_eq!(secret, e.secret_base32.expose());
    assert!(!secret.contains('='), "base32 without padding");
    assert_eq!(secret.len(), 32, "160 bits are 32 base32 characters");
    assert_eq!(decode_base32(secret).len(), 20);
    assert_eq!(uri.get("issuer"), Some(ISSUER));
    // SHA1 / 6 digits / 30 s: either absent (the defaults) or those values.
    assert!(matches!(uri.get("algorithm"), None | Some("SHA1")));
    assert!(matches!(uri.get("digits"), None | Some("6")));
    assert!(matches!(uri.get("period"), None | Some("30")));
    // The grouped form is the same key.
    assert_eq!(e.secret_grouped().expose().replace(' ', ""), secret);

    // The secret read back from the URI drives oathtool to a code the
    // engine accepts.
    if have_oathtool() {
        let code = oathtool(secret, f.now(), 6);
        f.mfa.confirm_enrollment(&dave, &e.factor, &code).await.unwrap();
    }
}

#[tokio::test]
async fn otpauth_uri_escapes_reserved_characters_in_the_issuer() {
    let f = fx_with(
        MfaConfig::builder("Smith & Jones Homes?").argon2(FAST_ARGON2),
        Policy::default(),
    );
    let erin = user("uri-erin");
    let e = f.begin_totp(&erin, &f.fresh()).await.unwrap();
    let uri = Uri::parse(e.otpauth_uri.expose());
    assert_eq!(uri.get("issuer"), Some("Smith & Jones Homes?"));
    assert_eq!(uri.label, format!("Smith & Jones Homes?:{erin}@example.org"));
    assert_eq!(uri.get("secret"), Some(e.secret_base32.expose()));
}

#[tokio::test]
async fn account_names_with_a_colon_are_refused() {
    let f = fx();
    let err = f
        .mfa
        .begin_enrollment(
            &user("uri-frank"),
            EnrollRequest::Totp {
                label: "Phone".into(),
                account_name: "frank:admin".into(),
            },
            &f.fresh(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::InvalidInput(_)), "{err:?}");
}
