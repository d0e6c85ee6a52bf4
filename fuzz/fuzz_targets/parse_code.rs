//! `mfa_core::totp::parse_code`: what a user typed as a TOTP/SMS code.
//! Asserts: never panics; accepts exactly "`digits` ASCII digits once ASCII
//! spaces are removed, input at most 64 bytes", and returns those digits.
// Fuzz harness: assertions are the point, and libfuzzer's macro generates
// undocumented items.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use libfuzzer_sys::fuzz_target;
use mfa_core::totp::parse_code;

fuzz_target!(|input: (u8, &str)| {
    let (d, text) = input;
    let digits = u32::from(d % 12);
    let stripped: String = text.chars().filter(|&c| c != ' ').collect();
    let valid =
        text.len() <= 64 && stripped.len() == digits as usize && stripped.bytes().all(|b| b.is_ascii_digit());
    match parse_code(text, digits) {
        Ok(code) => {
            assert!(valid, "accepted {text:?} for {digits} digits");
            assert_eq!(code.as_str(), stripped);
        }
        Err(_) => assert!(!valid, "refused {text:?} for {digits} digits"),
    }
});
