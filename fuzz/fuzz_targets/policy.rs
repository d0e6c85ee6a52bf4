//! Policy files: `Policy::from_toml` and `Policy::from_json` on arbitrary
//! text, and the decisions of any policy that loads.
//! Asserts: never panics; whatever loads validates, writes back with
//! `to_toml` and reads back equal (`from_toml(to_toml(p)) == p`); JSON that
//! loads round-trips the same way; `requirement`, `settings_for`,
//! `must_relogin` and `cohort_name` answer for any audience and instant, and
//! the settings they give only list allowed methods.
// Fuzz harness: assertions are the point, and libfuzzer's macro generates
// undocumented items.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use libfuzzer_sys::fuzz_target;
use mfa_core::{Audience, FactorKind, Platform, Policy, Timestamp};

fn exercise(p: &Policy, platform: &str, groups: &[&str], t: i64) {
    assert!(p.validate().is_ok());
    let text = p.to_toml().expect("a valid policy serialises");
    let back = Policy::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
    assert_eq!(&back, p, "to_toml -> from_toml changed the policy:\n{text}");
    let platform = Platform::new(platform).unwrap_or(Platform::WEB);
    let audience = Audience::new(platform).with_groups(groups.iter().copied());
    let now = Timestamp::from_unix_millis(t);
    let _ = p.requirement(&audience, now);
    let _ = p.cohort_name(&audience);
    let _ = p.must_relogin(Timestamp::from_unix_millis(t / 2), &audience, now);
    let s = p.settings_for(&audience);
    assert!(!s.methods.is_empty());
    assert!(!s.methods.contains(&FactorKind::RecoveryCode));
}

// The first byte picks the format (bit 0: JSON), the audience's platform
// (bits 1-2), groups (bits 3-4) and instant (bits 5-7); the rest is the
// file (so plain TOML/JSON seeds stay meaningful).
fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let loaded = if ctl & 1 == 1 {
        Policy::from_json(text)
    } else {
        Policy::from_toml(text)
    };
    let Ok(p) = loaded else {
        return;
    };
    let platform = ["web", "android", "ios", "white-label"][usize::from((ctl >> 1) & 3)];
    let groups: &[&str] =
        [&[][..], &["staff"], &["tenants", "staff"], &["applicants"]][usize::from((ctl >> 3) & 3)];
    let t = [
        0i64,
        1_779_926_400_000, // 2026-05-28
        1_790_000_000_000,
        i64::MAX,
        i64::MIN,
        -1,
        1_000,
        4_102_444_800_000, // 2100
    ][usize::from(ctl >> 5)];
    exercise(&p, platform, groups, t);
});
