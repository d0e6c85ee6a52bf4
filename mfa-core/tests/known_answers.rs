//! Known answers (docs/SECURITY-REVIEW.md §1): RFC 4226 App. D HOTP values and the
//! RFC 6238 App. B TOTP table for SHA1, SHA256 and SHA512, bit for bit,
//! through totp-rs as the engine configures it, through an independent
//! HMAC computation, and through the engine end to end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use common::*;
use hmac::{Hmac, Mac};
use mfa_core::store::FactorRecord;
use mfa_core::*;
use totp_rs::{Algorithm, Builder};

const RFC4226_KEY: &[u8] = b"12345678901234567890";
const RFC4226_HOTP: [&str; 10] = [
    "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489",
];

const SHA256_KEY: &[u8] = b"12345678901234567890123456789012";

fn sha512_key() -> Vec<u8> {
    b"1234567890".iter().copied().cycle().take(64).collect()
}

/// RFC 6238 App. B: (time, SHA1, SHA256, SHA512).
const RFC6238: [(u64, &str, &str, &str); 6] = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
];

fn totp(alg: Algorithm, key: &[u8], digits: u8, step: u64) -> totp_rs::Totp {
    Builder::new()
        .with_algorithm(alg)
        .with_digits(digits)
        .with_skew(0)
        .with_step_duration(step)
        .with_secret(key.to_vec())
        .build()
        .unwrap()
}

/// RFC 4226 §5.3 dynamic truncation over an HMAC, written out here so the
/// table is checked against something other than totp-rs too.
fn truncate(mac: &[u8], digits: u32) -> String {
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes(mac[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:0width$}", bin % 10u32.pow(digits), width = digits as usize)
}

fn hotp_sha1(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(&counter.to_be_bytes());
    truncate(&mac.finalize().into_bytes(), digits)
}

fn hotp_sha256(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(&counter.to_be_bytes());
    truncate(&mac.finalize().into_bytes(), digits)
}

fn hotp_sha512(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = <Hmac<sha2::Sha512> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(&counter.to_be_bytes());
    truncate(&mac.finalize().into_bytes(), digits)
}

#[test]
fn rfc4226_hotp_values_through_totp_rs() {
    // HOTP is TOTP with the counter as the time and a one-second step.
    let t = totp(Algorithm::SHA1, RFC4226_KEY, 6, 1);
    for (counter, want) in RFC4226_HOTP.iter().enumerate() {
        assert_eq!(t.generate(counter as u64).to_string(), *want, "counter {counter}");
    }
    // And with the engine's 30 s step, counter c is time 30c.
    let t = totp(Algorithm::SHA1, RFC4226_KEY, 6, 30);
    for (counter, want) in RFC4226_HOTP.iter().enumerate() {
        assert_eq!(
            t.generate(counter as u64 * 30).to_string(),
            *want,
            "counter {counter}"
        );
        assert_eq!(t.check(want, counter as u64 * 30), Some(counter as u64));
    }
}

#[test]
fn rfc4226_hotp_values_through_an_independent_hmac() {
    for (counter, want) in RFC4226_HOTP.iter().enumerate() {
        assert_eq!(
            hotp_sha1(RFC4226_KEY, counter as u64, 6),
            *want,
            "counter {counter}"
        );
    }
}

#[test]
fn rfc6238_totp_table_through_totp_rs_for_all_three_hashes() {
    let sha1 = totp(Algorithm::SHA1, RFC4226_KEY, 8, 30);
    let sha256 = totp(Algorithm::SHA256, SHA256_KEY, 8, 30);
    let sha512 = totp(Algorithm::SHA512, &sha512_key(), 8, 30);
    for (time, w1, w256, w512) in RFC6238 {
        assert_eq!(sha1.generate(time).to_string(), w1, "SHA1 at {time}");
        assert_eq!(sha256.generate(time).to_string(), w256, "SHA256 at {time}");
        assert_eq!(sha512.generate(time).to_string(), w512, "SHA512 at {time}");
        // The check the engine relies on finds the step.
        assert_eq!(sha1.check(w1, time), Some(time / 30));
        assert_eq!(sha256.check(w256, time), Some(time / 30));
        assert_eq!(sha512.check(w512, time), Some(time / 30));
    }
}

#[test]
fn rfc6238_totp_table_through_an_independent_hmac() {
    let k512 = sha512_key();
    for (time, w1, w256, w512) in RFC6238 {
        assert_eq!(hotp_sha1(RFC4226_KEY, time / 30, 8), w1, "SHA1 at {time}");
        assert_eq!(hotp_sha256(SHA256_KEY, time / 30, 8), w256, "SHA256 at {time}");
        assert_eq!(hotp_sha512(&k512, time / 30, 8), w512, "SHA512 at {time}");
    }
}

#[test]
fn rfc_codes_parse_as_codes_including_leading_zeros() {
    for (_, w1, w256, w512) in RFC6238 {
        for code in [w1, w256, w512] {
            assert_eq!(&*mfa_core::totp::parse_code(code, 8).unwrap(), code);
            assert!(mfa_core::totp::parse_code(code, 6).is_err());
        }
    }
    for code in RFC4226_HOTP {
        assert_eq!(&*mfa_core::totp::parse_code(code, 6).unwrap(), code);
    }
}

/// Seals `plain` the way `Keys` documents its format (`version | key id |
/// nonce | XChaCha20-Poly1305 ciphertext`), bound to the TOTP seed context
/// `totp-seed\0{user}\0{factor}`, so a known seed can be put in a store.
fn seal_seed(enc_key: &[u8; 32], key_id: u32, user: &UserId, factor: &FactorId, plain: &[u8]) -> Sealed {
    let cipher = XChaCha20Poly1305::new_from_slice(enc_key).unwrap();
    let nonce = [0x5a; 24];
    let aad = format!("totp-seed\0{user}\0{factor}");
    let ct = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        .unwrap();
    let mut out = vec![1u8];
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Sealed(out)
}

fn eight_digit_config() -> MfaConfigBuilder {
    config().totp(TotpParams {
        digits: 8,
        ..TotpParams::default()
    })
}

#[tokio::test]
async fn engine_verifies_the_rfc6238_sha1_table_with_the_rfc_key() {
    let store = MemoryStore::new();
    let alice = user("rfc-alice");
    let factor = FactorId::generate().unwrap();
    let record = FactorRecord {
        id: factor.clone(),
        user: alice.clone(),
        kind: FactorKind::Totp,
        label: "RFC 6238".into(),
        state: FactorState::Active,
        secret: Some(seal_seed(&[0x22; 32], 1, &alice, &factor, RFC4226_KEY)),
        destination: None,
        masked: None,
        destination_key: None,
        last_step: None,
        created_at: Timestamp::EPOCH,
        confirmed_at: Some(Timestamp::EPOCH),
        last_used_at: None,
    };
    store.insert_factor(&record).await.unwrap();
    let f = fx_full(store, keys(), eight_digit_config(), Policy::default());

    for (time, w1, w256, _) in RFC6238 {
        f.clock.set(Timestamp::from_unix_secs(time as i64));
        // A code of another algorithm's table is not this factor's code.
        assert!(
            matches!(
                f.verify_totp(&alice, &factor, w256).await,
                Err(MfaError::InvalidCode { .. })
            ),
            "SHA256 code accepted at {time}"
        );
        let ok = f.verify_totp(&alice, &factor, w1).await.unwrap();
        assert_eq!(ok.method, FactorKind::Totp, "at {time}");
        // The same code again is a replay.
        assert!(
            matches!(
                f.verify_totp(&alice, &factor, w1).await,
                Err(MfaError::InvalidCode { .. })
            ),
            "replay accepted at {time}"
        );
    }
}

#[tokio::test]
async fn engine_with_six_digits_verifies_the_rfc4226_values_at_their_steps() {
    let store = MemoryStore::new();
    let bob = user("rfc-bob");
    let factor = FactorId::generate().unwrap();
    let record = FactorRecord {
        id: factor.clone(),
        user: bob.clone(),
        kind: FactorKind::Totp,
        label: "RFC 4226".into(),
        state: FactorState::Active,
        secret: Some(seal_seed(&[0x22; 32], 1, &bob, &factor, RFC4226_KEY)),
        destination: None,
        masked: None,
        destination_key: None,
        last_step: None,
        created_at: Timestamp::EPOCH,
        confirmed_at: Some(Timestamp::EPOCH),
        last_used_at: None,
    };
    store.insert_factor(&record).await.unwrap();
    let f = fx_full(store, keys(), config(), Policy::default());
    // Counter c is TOTP step c: time 30c. Start at c = 2 so that every
    // counter is the current step (the window reaches one step back).
    for (counter, code) in RFC4226_HOTP.iter().enumerate().skip(2).step_by(2) {
        f.clock.set(Timestamp::from_unix_secs(counter as i64 * 30 + 7));
        let ok = f
            .verify_totp(&bob, &factor, code)
            .await
            .unwrap_or_else(|e| panic!("counter {counter}: {e}"));
        assert_eq!(ok.factor.as_ref(), Some(&factor));
    }
}

#[tokio::test]
async fn engine_round_trip_with_an_enrolled_seed_at_rfc_times() {
    let f = fx_with(eight_digit_config(), Policy::default());
    let carol = user("rfc-carol");
    f.clock.set(Timestamp::from_unix_secs(59));
    let e = f.begin_totp(&carol, &f.fresh()).await.unwrap();
    let seed = decode_base32(e.secret_base32.expose());
    assert_eq!(seed.len(), 20, "160-bit seed");
    assert!(e.otpauth_uri.expose().contains("digits=8"));
    let code = totp_code_digits(&seed, f.now(), 8);
    f.mfa.confirm_enrollment(&carol, &e.factor, &code).await.unwrap();
    for (time, ..) in RFC6238.iter().skip(1) {
        let at = Timestamp::from_unix_secs(*time as i64);
        f.clock.set(at);
        let code = totp_code_digits(&seed, at, 8);
        assert_eq!(code, hotp_sha1(&seed, time / 30, 8), "totp-rs and HMAC agree");
        let ok = f
            .verify_totp(&carol, &e.factor, &code)
            .await
            .unwrap_or_else(|err| panic!("at {time}: {err}"));
        assert_eq!(ok.method, FactorKind::Totp);
    }
}
