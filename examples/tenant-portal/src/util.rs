//! Small helpers: random ids and tokens, money and date formatting.

use base64::Engine as _;
use rand::RngExt;

/// A random 128-bit id, hex.
pub fn new_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random 256-bit token, base64url (links in emails).
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `£1,234.56` (negative: `-£3.00`).
pub fn money(pence: i64) -> String {
    let sign = if pence < 0 { "-" } else { "" };
    let p = pence.unsigned_abs();
    let pounds = (p / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in pounds.chars().enumerate() {
        if i > 0 && (pounds.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}£{grouped}.{:02}", p % 100)
}

/// `Tue 2 Dec 2026` from unix milliseconds (UTC).
pub fn date(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[weekday repr:short] [day padding:none] [month repr:short] [year]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// `Tue 2 Dec 2026, 09:00` from unix milliseconds (UTC).
pub fn date_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[weekday repr:short] [day padding:none] [month repr:short] [year], [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// Where to send someone after a form, given a target they supplied
/// (`next=`): the target if it is a path on this site, otherwise `/`.
///
/// Accepted: a path starting with exactly one `/` (not `//`, which a
/// browser reads as another host), made only of visible ASCII with no
/// backslash (browsers read `\\` as `/`), and no control characters or
/// spaces (browsers strip tabs and newlines, turning `/\t/evil` into
/// `//evil`); and the same must hold once percent-decoded, however many
/// times (`/%2F%2Fevil`). A scheme (`https:`, `javascript:`) cannot occur
/// before the first `/`. The answer is always a valid `Location` value:
/// never a 500, never off-site.
pub fn same_site_path(target: Option<&str>) -> String {
    match target {
        Some(t) if is_same_site_path(t) => t.to_owned(),
        _ => "/".to_owned(),
    }
}

fn is_same_site_path(target: &str) -> bool {
    // Decoded forms may hold spaces and non-ASCII (`%20`, `%C3%A9`: they
    // stay escaped in the header); the target itself may not.
    let safe = |b: &[u8], decoded: bool| {
        b.first() == Some(&b'/')
            && !matches!(b.get(1), Some(b'/' | b'\\'))
            && b.iter()
                .all(|&c| c != b'\\' && (c.is_ascii_graphic() || (decoded && (c == b' ' || c >= 0x80))))
    };
    let mut bytes = target.as_bytes().to_vec();
    // Each round decodes one layer of escapes; a path that is still
    // changing after a few rounds is refused.
    for round in 0..4 {
        if !safe(&bytes, round > 0) {
            return false;
        }
        let decoded = percent_decode(&bytes);
        if decoded == bytes {
            return true;
        }
        bytes = decoded;
    }
    false
}

/// One round of `%XX` decoding (invalid escapes kept as they are).
fn percent_decode(b: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped_and_signed() {
        assert_eq!(money(0), "£0.00");
        assert_eq!(money(45217), "£452.17");
        assert_eq!(money(123_456_789), "£1,234,567.89");
        assert_eq!(money(-300), "-£3.00");
    }

    #[test]
    fn dates_are_readable() {
        assert_eq!(date(0), "Thu 1 Jan 1970");
        assert_eq!(date_time(1_764_666_000_000), "Tue 2 Dec 2025, 09:00");
    }

    #[test]
    fn same_site_paths_are_kept() {
        for p in [
            "/",
            "/account",
            "/rent/pay",
            "/staff/residents/u-sam",
            "/a?b=c&d=%20e",
            "/a%2Fb",
            "/caf%C3%A9",
        ] {
            assert_eq!(same_site_path(Some(p)), p);
        }
    }

    #[test]
    fn anything_else_goes_home() {
        for p in [
            "",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/%252F%252Fevil.example",
            "/%25252F%25252Fevil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/%09/evil.example",
            "/%0a/evil.example",
            " /account",
            "/account\u{7f}",
            "/caf\u{e9}",
            "https://evil.example/",
            "HTTPS://evil.example",
            "javascript:alert(1)",
            "data:text/html,x",
            "evil.example",
            "account",
        ] {
            assert_eq!(same_site_path(Some(p)), "/", "{p:?}");
        }
        assert_eq!(same_site_path(None), "/");
    }

    proptest::proptest! {
        #[test]
        fn the_answer_is_always_a_same_site_path(s in proptest::prelude::any::<String>()) {
            let p = same_site_path(Some(&s));
            proptest::prop_assert!(p.starts_with('/'));
            proptest::prop_assert!(!p.starts_with("//") && !p.starts_with("/\\"));
            proptest::prop_assert!(axum::http::HeaderValue::from_str(&p).is_ok());
            proptest::prop_assert!(p == "/" || p == s);
        }

        #[test]
        fn path_like_strings_are_judged_too(s in "/[/\\\\%25FfCc09Aa \t\n.:e]{0,12}") {
            let p = same_site_path(Some(&s));
            proptest::prop_assert!(p.starts_with('/'));
            proptest::prop_assert!(!p.starts_with("//") && !p.starts_with("/\\"));
            proptest::prop_assert!(!p.contains(['\\', '\t', '\n']));
        }
    }
}
