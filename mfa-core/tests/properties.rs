//! Property tests (proptest): SMS/email codes are exactly N ASCII digits
//! and uniform enough; `parse_code` accepts exactly N ASCII digits (spaces
//! dropped) and nothing else; a code never verifies for another user,
//! factor or purpose, nor after use; TOTP replay is refused for every step
//! <= the last accepted; trust tokens and recovery codes normalise and
//! round-trip; policies round-trip through TOML and JSON.
//!
//! Case counts are sized to find things within a CI budget of about
//! 10-20 s per property in a debug build on 2 cores: thousands of cases
//! where a case is cheap (parsing, normalisation, tokens, policies, sent
//! codes), hundreds where a case enrols TOTP factors, whose QR images (SVG
//! and PNG) cost about 50 ms each in debug and dominate the case (Argon2
//! does not: 8 KiB instead of the fixtures' 64 KiB made no measurable
//! difference). Measured with `cargo nextest run -p mfa-core --test
//! properties` (two tests at a time) on a shared 2-core machine under a
//! load of 3-4: misuse 17-23 s, sent codes 10 s, each TOTP replay
//! property 9 s, policies 4-7 s, the rest under 2 s. `PROPTEST_CASES`
//! does not override these counts; edit them here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use mfa_core::totp::parse_code;
use mfa_core::*;
use proptest::prelude::*;

const PHONE: &str = "+447700900123";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// An engine that sends as many codes as asked, as fast as asked.
fn unlimited_sends(digits: u32) -> Fx {
    fx_with(
        config()
            .code_digits(digits)
            .resend_cooldown(Duration::ZERO)
            .sends(SendRules {
                window: SEC,
                per_account: 1_000,
                per_destination: 1_000,
            }),
        Policy::default(),
    )
}

/// `n` codes sent through one SMS factor.
async fn sample_codes(f: &Fx, n: usize) -> Vec<String> {
    let u = user("prop-sampler");
    let sms = f.enroll_sms(&u, PHONE).await;
    for _ in 0..n {
        f.advance(2 * SEC);
        let _ = f.send_login_code(&u, &sms).await.unwrap();
    }
    f.outbox
        .messages()
        .into_iter()
        .skip(1) // the enrolment code
        .map(|m| m.code.expose().to_owned())
        .collect()
}

#[test]
fn oob_codes_are_uniform_per_digit_position_and_per_leading_pair() {
    const N: usize = 6_000;
    let f = unlimited_sends(6);
    let codes = rt().block_on(sample_codes(&f, N));
    assert_eq!(codes.len(), N);
    let mut per_position = [[0u32; 10]; 6];
    let mut pairs = [0u32; 100];
    for c in &codes {
        assert_eq!(c.len(), 6, "{c:?}");
        let d: Vec<usize> = c.bytes().map(|b| usize::from(b - b'0')).collect();
        assert!(d.iter().all(|&x| x < 10), "{c:?}");
        for (pos, &x) in d.iter().enumerate() {
            per_position[pos][x] += 1;
        }
        pairs[d[0] * 10 + d[1]] += 1;
    }
    // Expected 600 per cell (sd ~23): a generous band that still catches a
    // stuck or biased digit.
    let expected = (N / 10) as f64;
    let mut chi2 = 0.0;
    for (pos, counts) in per_position.iter().enumerate() {
        for (digit, &n) in counts.iter().enumerate() {
            assert!(
                (n as f64 - expected).abs() < 180.0,
                "digit {digit} at position {pos} seen {n} times of {N}"
            );
            chi2 += (n as f64 - expected).powi(2) / expected;
        }
    }
    // 54 degrees of freedom: mean 54, sd ~10.4.
    assert!(chi2 < 150.0, "chi-square {chi2} over digit positions");
    let expected = (N / 100) as f64;
    let chi2: f64 = pairs
        .iter()
        .map(|&n| (n as f64 - expected).powi(2) / expected)
        .sum();
    // 99 degrees of freedom: mean 99, sd ~14.
    assert!(chi2 < 250.0, "chi-square {chi2} over leading pairs");
    // Codes do not repeat more than chance allows (birthday bound: ~18).
    let distinct: std::collections::HashSet<_> = codes.iter().collect();
    assert!(N - distinct.len() < 80, "{} repeats", N - distinct.len());
}

/// Cases of the cheap properties (a case takes microseconds to a few ms).
const CHEAP_CASES: u32 = 4_096;

proptest! {
    // A case sends up to 40 codes: 1-3 ms.
    #![proptest_config(ProptestConfig { cases: CHEAP_CASES, ..ProptestConfig::default() })]

    #[test]
    fn oob_codes_are_exactly_n_ascii_digits(digits in 6u32..=8, n in 1usize..40) {
        let f = unlimited_sends(digits);
        let codes = rt().block_on(sample_codes(&f, n));
        prop_assert_eq!(codes.len(), n);
        for c in codes {
            prop_assert_eq!(c.len(), digits as usize);
            prop_assert!(c.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(parse_code(&c, digits).is_ok());
        }
    }
}

/// What `parse_code` should do: drop ASCII spaces, then exactly `n` ASCII
/// digits (inputs over 64 bytes are refused outright).
fn model_accepts(input: &str, n: u32) -> bool {
    let stripped: String = input.chars().filter(|&c| c != ' ').collect();
    input.len() <= 64 && stripped.len() == n as usize && stripped.bytes().all(|b| b.is_ascii_digit())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CHEAP_CASES, ..ProptestConfig::default() })]

    #[test]
    fn parse_code_accepts_exactly_n_ascii_digits_on_arbitrary_input(s in ".{0,80}", n in 6u32..=8) {
        let parsed = parse_code(&s, n);
        prop_assert_eq!(parsed.is_ok(), model_accepts(&s, n), "{:?}", s);
        if let Ok(code) = parsed {
            let want = s.replace(' ', "");
            prop_assert_eq!(code.as_str(), want.as_str());
        }
    }

    #[test]
    fn parse_code_accepts_digits_with_spaces(s in "[0-9 ]{0,20}", n in 6u32..=8) {
        prop_assert_eq!(parse_code(&s, n).is_ok(), model_accepts(&s, n), "{:?}", s);
    }

    #[test]
    fn parse_code_accepts_every_n_digit_code(code in "[0-9]{6}", pad in " {0,3}") {
        let typed = format!("{pad}{}{pad}{}{pad}", &code[..3], &code[3..]);
        prop_assert_eq!(&*parse_code(&typed, 6).unwrap(), code.as_str());
        prop_assert!(parse_code(&code, 7).is_err());
        prop_assert!(parse_code(&code[..5], 6).is_err());
    }

    #[test]
    fn parse_code_refuses_unicode_digits_signs_and_other_spaces(
        unicode in "[٠-٩۰-۹०-९０-９𝟎-𝟗]{6}",
        sign in "[+-][0-9]{5,6}",
        other_space in "[0-9]{3}[\t\u{a0}\u{2009}\u{3000}_.-][0-9]{3}",
    ) {
        prop_assert!(parse_code(&unicode, 6).is_err());
        prop_assert!(parse_code(&sign, 6).is_err());
        prop_assert!(parse_code(&other_space, 6).is_err());
    }

    #[test]
    fn trust_tokens_round_trip_and_nothing_else_parses(bytes in proptest::array::uniform32(any::<u8>()), junk in ".{0,60}") {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let token = TrustToken::parse(&encoded).unwrap();
        prop_assert_eq!(token.expose(), encoded.as_str());
        let ok = junk.len() == 43 && junk.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        prop_assert_eq!(TrustToken::parse(&junk).is_some(), ok);
        // Padding or standard base64 characters are not tokens.
        let padded = format!("{encoded}=");
        prop_assert!(TrustToken::parse(&padded).is_none());
        prop_assert!(TrustToken::parse(&encoded.replace('-', "+")).is_none() || !encoded.contains('-'));
    }

    #[test]
    fn recovery_codes_normalise_back_to_their_characters(
        bytes in proptest::array::uniform10(any::<u8>()),
        upper in proptest::collection::vec(any::<bool>(), 16),
        sep in prop::sample::select(vec!["-", " ", "", " - "]),
    ) {
        let raw = base32::encode(base32::Alphabet::Rfc4648Lower { padding: false }, &bytes);
        prop_assert_eq!(raw.len(), recovery::CODE_CHARS);
        let typed: String = raw
            .chars()
            .zip(&upper)
            .enumerate()
            .map(|(i, (c, &up))| {
                let c = if up { c.to_ascii_uppercase() } else { c };
                if i > 0 && i % 4 == 0 { format!("{sep}{c}") } else { c.to_string() }
            })
            .collect();
        let n = recovery::normalize(&typed).unwrap();
        prop_assert_eq!(n.as_str(), raw.as_str());
        // Normalising is idempotent.
        let again = recovery::normalize(&n).unwrap();
        prop_assert_eq!(again.as_str(), raw.as_str());
    }

    #[test]
    fn recovery_normalisation_yields_sixteen_alphabet_characters_or_nothing(s in ".{0,70}") {
        if let Some(n) = recovery::normalize(&s) {
            prop_assert_eq!(n.len(), 16);
            prop_assert!(n.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
            let again = recovery::normalize(&n).unwrap();
            prop_assert_eq!(again.as_str(), n.as_str());
        }
    }
}

/// Ways a correct code could be presented somewhere it does not belong.
#[derive(Clone, Copy, Debug)]
enum Misuse {
    OtherUser,
    OtherFactor,
    LoginCodeForStepUp,
    StepUpCodeForLogin,
    AfterUse,
    TotpOtherUser,
    TotpOtherFactor,
    TotpAfterUse,
}

fn misuse() -> impl Strategy<Value = Misuse> {
    prop_oneof![
        Just(Misuse::OtherUser),
        Just(Misuse::OtherFactor),
        Just(Misuse::LoginCodeForStepUp),
        Just(Misuse::StepUpCodeForLogin),
        Just(Misuse::AfterUse),
        Just(Misuse::TotpOtherUser),
        Just(Misuse::TotpOtherFactor),
        Just(Misuse::TotpAfterUse),
    ]
}

/// True if `code` is a TOTP code of `seed` anywhere in the window at `now`
/// (a chance collision, which the property must not count as a failure).
fn totp_window_has(seed: &[u8], now: Timestamp, code: &str) -> bool {
    [now - 30 * SEC, now, now + 30 * SEC]
        .iter()
        .any(|&t| totp_code(seed, t) == code)
}

async fn misuse_case(m: Misuse, offset: Duration) -> Result<(), TestCaseError> {
    let f = fx();
    f.advance(offset);
    let alice = user("prop-alice");
    let bob = user("prop-bob");
    let a_totp = f.enroll_totp(&alice).await;
    let a_sms = f.enroll_sms(&alice, PHONE).await;
    let b_totp = f.enroll_totp(&bob).await;
    let b_sms = f.enroll_sms(&bob, "+447700900456").await;
    f.advance(MIN);
    let login = |target: AttemptTarget, code: &str| Attempt::login(target, code, f.web.clone());

    let refused = match m {
        Misuse::OtherUser => {
            let sent = f.send_login_code(&alice, &a_sms).await.unwrap();
            let code = f.last_code(PHONE);
            let b_sent = f.send_login_code(&bob, &b_sms).await.unwrap();
            let by_id = f.verify_challenge(&bob, &sent.challenge, &code).await;
            let on_own = if f.last_code("+447700900456") == code {
                Err(MfaError::NotFound)
            } else {
                f.verify_challenge(&bob, &b_sent.challenge, &code)
                    .await
                    .map(|_| ())
            };
            by_id.is_err() && on_own.is_err()
        }
        Misuse::OtherFactor => {
            let _ = f.send_login_code(&alice, &a_sms).await.unwrap();
            let code = f.last_code(PHONE);
            totp_window_has(&a_totp.seed, f.now(), &code)
                || f.verify_totp(&alice, &a_totp.id, &code).await.is_err()
        }
        Misuse::LoginCodeForStepUp => {
            let sent = f.send_login_code(&alice, &a_sms).await.unwrap();
            let code = f.last_code(PHONE);
            f.mfa
                .verify(
                    &alice,
                    &login(AttemptTarget::Challenge(sent.challenge), &code).step_up(),
                )
                .await
                .is_err()
        }
        Misuse::StepUpCodeForLogin => {
            let sent = f.mfa.send_code(&alice, &a_sms, Purpose::StepUp).await.unwrap();
            let code = f.last_code(PHONE);
            f.verify_challenge(&alice, &sent.challenge, &code).await.is_err()
        }
        Misuse::AfterUse => {
            let sent = f.send_login_code(&alice, &a_sms).await.unwrap();
            let code = f.last_code(PHONE);
            prop_assert!(f.verify_challenge(&alice, &sent.challenge, &code).await.is_ok());
            f.advance(SEC);
            f.verify_challenge(&alice, &sent.challenge, &code).await.is_err()
        }
        Misuse::TotpOtherUser => {
            let code = totp_code(&a_totp.seed, f.now());
            let named = f.verify_totp(&bob, &a_totp.id, &code).await.is_err();
            let own = totp_window_has(&b_totp.seed, f.now(), &code)
                || f.verify_totp(&bob, &b_totp.id, &code).await.is_err();
            named && own
        }
        Misuse::TotpOtherFactor => {
            let second = f.enroll_totp(&alice).await;
            let code = totp_code(&second.seed, f.now());
            totp_window_has(&a_totp.seed, f.now(), &code)
                || f.verify_totp(&alice, &a_totp.id, &code).await.is_err()
        }
        Misuse::TotpAfterUse => {
            let code = totp_code(&a_totp.seed, f.now());
            prop_assert!(f.verify_totp(&alice, &a_totp.id, &code).await.is_ok());
            f.advance(SEC);
            f.verify_totp(&alice, &a_totp.id, &code).await.is_err()
        }
    };
    prop_assert!(refused, "{:?} verified", m);
    Ok(())
}

proptest! {
    // A case enrols two or three TOTP factors (QR images): 100-200 ms;
    // each of the 8 misuses is drawn about 14 times.
    #![proptest_config(ProptestConfig { cases: 112, ..ProptestConfig::default() })]

    #[test]
    fn a_code_never_verifies_for_another_user_factor_or_purpose_or_after_use(
        m in misuse(),
        offset_secs in 0u64..10_000_000,
    ) {
        rt().block_on(misuse_case(m, Duration::from_secs(offset_secs)))?;
    }
}

proptest! {
    // A case enrols one TOTP factor (QR images): 50-100 ms.
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn totp_replay_is_refused_for_every_step_up_to_the_last_accepted(
        start in 0u64..1_000_000,
        accepted_skew in -1i64..=1,
        back in proptest::collection::vec(0u64..200, 1..6),
    ) {
        rt().block_on(async {
            let f = fx();
            let u = user("prop-replay");
            let t = f.enroll_totp(&u).await;
            // Move to a random later step and accept a code from the window.
            f.advance(Duration::from_secs(60 + start * 30));
            let now = f.now();
            let step_secs = |ts: Timestamp| ts.unix_secs() as u64 / 30;
            let accepted_at = if accepted_skew < 0 { now - 30 * SEC } else if accepted_skew > 0 { now + 30 * SEC } else { now };
            let accepted_step = step_secs(accepted_at);
            prop_assert!(f.verify_totp(&u, &t.id, &totp_code(&t.seed, accepted_at)).await.is_ok());

            for b in back {
                // Step accepted_step - b, presented while it is the current
                // step (the clock may be set back, as a skewed server would).
                let step = accepted_step.saturating_sub(b);
                let at = Timestamp::from_unix_secs((step * 30 + 10) as i64);
                f.clock.set(at);
                let presented_at = f.now();
                let code = totp_code(&t.seed, at);
                // The code must not also be a later step's code in the window.
                let later_match = [presented_at - 30 * SEC, presented_at, presented_at + 30 * SEC]
                    .iter()
                    .any(|&w| step_secs(w) > accepted_step && totp_code(&t.seed, w) == code);
                if later_match {
                    continue;
                }
                let r = f.verify_totp(&u, &t.id, &code).await;
                prop_assert!(
                    matches!(r, Err(MfaError::InvalidCode { .. }) | Err(MfaError::Locked { .. })),
                    "step {} (last accepted {}) gave {:?}", step, accepted_step, r
                );
                f.mfa.admin_unlock(&u, "test").await.unwrap();
                f.clock.set(now);
            }
            // The next step is still accepted.
            f.clock.set(Timestamp::from_unix_secs(((accepted_step + 1) * 30 + 5) as i64).max(now));
            let next = Timestamp::from_unix_secs(((accepted_step + 1) * 30 + 5) as i64);
            prop_assert!(f.verify_totp(&u, &t.id, &totp_code(&t.seed, next)).await.is_ok());
            Ok(())
        })?;
    }

    #[test]
    fn totp_replay_is_refused_with_the_clock_set_back_to_any_earlier_step(
        start in 0u64..1_000_000,
        back in 1u64..10_000,
    ) {
        rt().block_on(async {
            let f = fx();
            let u = user("prop-replay-back");
            let t = f.enroll_totp(&u).await;
            f.advance(Duration::from_secs(60 + start * 30));
            let accepted = f.now();
            prop_assert!(f.verify_totp(&u, &t.id, &totp_code(&t.seed, accepted)).await.is_ok());
            // A server clock set back `back` steps: the step's own code is
            // still refused, whatever it is.
            let earlier = accepted - Duration::from_secs(back * 30);
            f.clock.set(earlier);
            let code = totp_code(&t.seed, earlier);
            // Every step in the window at `earlier` is <= the accepted one,
            // so no code at all may verify there.
            let r = f.verify_totp(&u, &t.id, &code).await;
            prop_assert!(matches!(r, Err(MfaError::InvalidCode { .. })), "{:?}", r);
            let r = f.verify_totp(&u, &t.id, &totp_code(&t.seed, earlier + 30 * SEC)).await;
            prop_assert!(matches!(r, Err(MfaError::InvalidCode { .. })), "{:?}", r);
            Ok(())
        })?;
    }
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    // Whole seconds between 1970 and 2100: the text form keeps seconds.
    (0i64..4_102_444_800).prop_map(Timestamp::from_unix_secs)
}

fn methods() -> impl Strategy<Value = Vec<FactorKind>> {
    Just(FactorKind::ENROLLABLE.to_vec())
        .prop_shuffle()
        .prop_flat_map(|v| (1..=v.len()).prop_map(move |n| v[..n].to_vec()))
}

fn trust_for() -> impl Strategy<Value = Duration> {
    (3600u64..=400 * 86_400).prop_map(Duration::from_secs)
}

fn platform() -> impl Strategy<Value = Platform> {
    prop_oneof![
        Just(Platform::WEB),
        Just(Platform::ANDROID),
        Just(Platform::IOS),
        Just(Platform::WHITE_LABEL),
        "[a-z0-9_-]{1,32}".prop_map(|s| Platform::new(&s).unwrap()),
    ]
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        methods(),
        any::<bool>(),
        trust_for(),
        proptest::option::of(timestamp()),
    )
        .prop_map(|(methods, trust_device, trust_for, relogin_cutoff)| Settings {
            methods,
            trust_device,
            trust_for,
            relogin_cutoff,
        })
}

fn cohort(i: usize) -> impl Strategy<Value = Cohort> {
    (
        proptest::collection::vec(platform(), 0..3),
        proptest::collection::vec("[a-z]{1,10}", 0..3),
        proptest::option::of(timestamp()),
        proptest::option::of(methods()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(trust_for()),
        proptest::option::of(timestamp()),
        "[A-Za-z0-9 _-]{0,20}",
    )
        .prop_map(
            move |(
                mut platforms,
                groups,
                enforce_from,
                methods,
                trust_device,
                trust_for,
                relogin_cutoff,
                name,
            )| {
                if platforms.is_empty() && groups.is_empty() {
                    platforms.push(Platform::WEB);
                }
                Cohort {
                    name: format!("c{i}{name}"),
                    platforms,
                    groups,
                    enforce_from,
                    methods,
                    trust_device,
                    trust_for,
                    relogin_cutoff,
                }
            },
        )
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        proptest::option::of(timestamp()),
        proptest::option::of((1u64..10_000_000).prop_map(Duration::from_secs)),
        settings(),
        (0usize..4).prop_flat_map(|n| (0..n).map(cohort).collect::<Vec<_>>()),
    )
        .prop_map(|(enforce_from, grace, defaults, cohorts)| Policy {
            enforce_from,
            grace: enforce_from.and(grace),
            defaults,
            cohorts,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CHEAP_CASES, ..ProptestConfig::default() })]

    #[test]
    fn policies_round_trip_through_toml_and_json(p in policy()) {
        p.validate().unwrap();
        let text = p.to_toml().unwrap();
        prop_assert_eq!(&Policy::from_toml(&text).unwrap(), &p, "{}", text);
        let json = serde_json::to_string(&p).unwrap();
        prop_assert_eq!(&Policy::from_json(&json).unwrap(), &p, "{}", json);
    }

    #[test]
    fn requirement_moves_only_forward_in_time(p in policy(), a in timestamp(), b in timestamp(), pf in platform()) {
        let audience = Audience::new(pf);
        let (early, late) = if a <= b { (a, b) } else { (b, a) };
        let rank = |r: Requirement| match r {
            Requirement::NotRequired => 0,
            Requirement::Offered => 1,
            Requirement::Required => 2,
        };
        prop_assert!(rank(p.requirement(&audience, early)) <= rank(p.requirement(&audience, late)));
    }
}
