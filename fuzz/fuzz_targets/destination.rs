//! `Destination::phone` / `Destination::email` (and `Destination::parse`):
//! phone numbers and addresses from enrolment forms.
//! Asserts: never panics; normalising is idempotent (a normalised value
//! parses back to itself); phones are an optional '+' and 7-15 digits;
//! emails have one '@', a dotted lower-case domain and at most 254 bytes;
//! the masked form never shows a phone's leading digits or an email's
//! local part beyond its first character.
// Fuzz harness: assertions are the point, and libfuzzer's macro generates
// undocumented items.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use libfuzzer_sys::fuzz_target;
use mfa_core::{Destination, FactorKind};

fuzz_target!(|text: &str| {
    assert!(Destination::parse(FactorKind::Totp, text).is_err());
    if let Ok(d) = Destination::phone(text) {
        assert_eq!(d.kind(), FactorKind::Sms);
        let v = d.as_str();
        let digits = v.strip_prefix('+').unwrap_or(v);
        assert!((7..=15).contains(&digits.len()), "{v:?}");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{v:?}");
        assert_eq!(Destination::phone(v).unwrap().as_str(), v, "idempotent");
        assert_eq!(Destination::parse(FactorKind::Sms, text).unwrap().as_str(), v);
        // Only the last three digits show.
        let shown: String = d.masked().chars().filter(char::is_ascii_digit).collect();
        assert_eq!(shown, digits[digits.len() - 3..], "{v:?}");
    }
    if let Ok(d) = Destination::email(text) {
        assert_eq!(d.kind(), FactorKind::Email);
        let v = d.as_str();
        assert!(v.len() <= 254, "{v:?}");
        let (local, domain) = v.split_once('@').unwrap();
        assert!(!local.is_empty() && !domain.contains('@') && domain.contains('.'));
        assert_eq!(domain, domain.to_lowercase());
        let again = Destination::email(v).unwrap();
        assert_eq!(again.as_str(), v, "idempotent");
        assert_eq!(Destination::parse(FactorKind::Email, text).unwrap().as_str(), v);
        // Only the first character of the local part shows.
        let first: String = local.chars().take(1).collect();
        assert_eq!(d.masked(), format!("{first}•••@{domain}"));
    }
});
