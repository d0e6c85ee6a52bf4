//! Identifiers from outside (URLs, forms, rows): `FactorId`, `ChallengeId`,
//! `DeviceId`, `RecoveryId` (`parse`, `FromStr`, serde) and `UserId::new`.
//! Asserts: never panics; an accepted id is its prefix plus 26 lower-case
//! base32 characters, prints back unchanged, and parses only as its own
//! kind; user ids are 1-255 bytes without control characters.
// Fuzz harness: assertions are the point, and libfuzzer's macro generates
// undocumented items.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use libfuzzer_sys::fuzz_target;
use mfa_core::{ChallengeId, DeviceId, FactorId, RecoveryId, UserId};

fn shape(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|body| {
        body.len() == 26
            && body
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    })
}

macro_rules! check {
    ($ty:ty, $prefix:literal, $text:expr) => {{
        let text: &str = $text;
        let parsed = <$ty>::parse(text);
        assert_eq!(parsed.is_ok(), shape(text, $prefix), "{text:?}");
        assert_eq!(text.parse::<$ty>().ok(), parsed.as_ref().ok().cloned());
        if let Ok(id) = parsed {
            assert_eq!(id.as_str(), text);
            assert_eq!(id.to_string(), text);
            assert_eq!(<$ty>::parse(&id.to_string()).unwrap(), id);
        }
    }};
}

fuzz_target!(|text: &str| {
    check!(FactorId, "fa_", text);
    check!(ChallengeId, "ch_", text);
    check!(DeviceId, "dv_", text);
    check!(RecoveryId, "rc_", text);
    let kinds = [
        FactorId::parse(text).is_ok(),
        ChallengeId::parse(text).is_ok(),
        DeviceId::parse(text).is_ok(),
        RecoveryId::parse(text).is_ok(),
    ];
    assert!(kinds.iter().filter(|&&k| k).count() <= 1, "one id, one kind");

    let user_ok = !text.is_empty() && text.len() <= 255 && !text.chars().any(char::is_control);
    match UserId::new(text) {
        Ok(u) => {
            assert!(user_ok);
            assert_eq!(u.as_str(), text);
        }
        Err(_) => assert!(!user_ok, "{text:?}"),
    }
});
