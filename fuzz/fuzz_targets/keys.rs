//! `Keys::from_base64`: the key configuration (MAC key, and `id:base64`
//! encryption keys separated by commas, current first).
//! Asserts: never panics; whatever loads has the first listed id as its
//! current key.
// Fuzz harness: assertions are the point, and libfuzzer's macro generates
// undocumented items.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use libfuzzer_sys::fuzz_target;
use mfa_core::Keys;

// The MAC key, a newline, then the encryption keys.
fuzz_target!(|text: &str| {
    let (mac, enc) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(keys) = Keys::from_base64(mac, enc) {
        let first = enc
            .split(',')
            .map(str::trim)
            .find(|e| !e.is_empty())
            .and_then(|e| e.split_once(':'))
            .and_then(|(id, _)| id.trim().parse::<u32>().ok())
            .expect("loaded keys came from a first `id:key` entry");
        assert_eq!(keys.current_key_id(), first);
        let shown = format!("{keys:?}");
        assert!(!shown.contains(mac.trim()), "Debug shows the MAC key");
    }
});
