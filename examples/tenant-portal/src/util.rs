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
}
