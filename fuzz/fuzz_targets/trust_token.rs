//! `TrustToken::parse`: the value of the trust cookie.
//! Asserts: never panics; accepts exactly 43 base64url characters and
//! keeps them as given.
// Fuzz harness: assertions are the point, and libfuzzer's macro generates
// undocumented items.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use libfuzzer_sys::fuzz_target;
use mfa_core::TrustToken;
use mfa_core::trust::TOKEN_LEN;

fuzz_target!(|text: &str| {
    let valid = text.len() == TOKEN_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match TrustToken::parse(text) {
        Some(t) => {
            assert!(valid, "accepted {text:?}");
            assert_eq!(t.expose(), text);
        }
        None => assert!(!valid, "refused {text:?}"),
    }
});
