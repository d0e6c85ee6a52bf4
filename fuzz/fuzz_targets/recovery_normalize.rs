//! `mfa_core::recovery::normalize`: what a user typed as a recovery code.
//! Asserts: never panics; a result is exactly 16 characters of the
//! lower-case base32 alphabet; normalising is idempotent; inputs over 64
//! bytes are refused; case, spaces and dashes do not matter.
// Fuzz harness: assertions are the point, and libfuzzer's macro generates
// undocumented items.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use libfuzzer_sys::fuzz_target;
use mfa_core::recovery::{CODE_CHARS, normalize};

fuzz_target!(|text: &str| {
    let Some(n) = normalize(text) else {
        return;
    };
    assert!(text.len() <= 64);
    assert_eq!(n.len(), CODE_CHARS);
    assert!(
        n.bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    );
    assert_eq!(normalize(&n).as_deref().map(|s| s.as_str()), Some(n.as_str()));
    let upper = text.to_ascii_uppercase();
    assert_eq!(normalize(&upper).as_deref().map(|s| s.as_str()), Some(n.as_str()));
    let grouped: String = n
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("-");
    assert_eq!(
        normalize(&grouped).as_deref().map(|s| s.as_str()),
        Some(n.as_str())
    );
});
