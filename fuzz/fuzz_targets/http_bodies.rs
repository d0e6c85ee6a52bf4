//! The HTTP contract's request handling (`mfa_core::http`, feature `http`),
//! driven the way an adapter drives it: the CSRF rule (`csrf_check`,
//! `is_json`) on the request's headers, `decode_json` of the body into
//! every request type, `Call::decode` for the route, `admit`, then
//! `handle` on an engine (`MemoryStore`, `ManualClock`, `Outbox`, a policy
//! that requires MFA) whose user alice has a TOTP, an SMS factor and
//! recovery codes, bob has no factor (`must_enroll`) and carol has a TOTP
//! factor. One input is up to four requests on one session, written like
//! HTTP (format below); `SessionChange`s are applied between them. The
//! session is a sealed `SessionToken`, made only by the engine's own flows
//! (`begin_login`, `handle` of `/verify`; see `World::new`), and every
//! record the checks read is the one `admit` opened.
//!
//! Asserts, besides never panicking:
//! - `csrf_check` answers `403 cross_site` or `415 unsupported_media_type`
//!   or passes; it passes GET; a POST passes only with a JSON content type,
//!   a non-listed `Origin` only when it is `http(s)://` + the `Host`, a
//!   non-listed `Sec-Fetch-Site` only when `same-origin` or `none`;
//! - a body that does not decode is `400 invalid_json` (for every request
//!   type); a decoded body re-encodes and decodes to the same value;
//! - every error is a 4xx whose `error` is the one docs/http-api.md gives
//!   that status (never 500: nothing here can fail inside the engine, and
//!   the `Outbox` never fails a delivery); a successful reply has the
//!   route's status (200/201/204);
//! - error bodies never contain the submitted code (when it is code-like:
//!   six or more digits), a code that was sent, a TOTP secret, or a phone
//!   number or address (submitted or enrolled); no success body but the
//!   TOTP enrolment's contains a TOTP secret or a full phone number;
//! - a 400 never counts a failure against the account;
//! - an anonymous session gets `401 unauthenticated` everywhere but
//!   `/status`, a pending one `401 mfa_required` outside the routes it may
//!   use;
//! - the session changes only on `/verify`, `/step-up` and
//!   `/enroll/confirm`, and only when the submitted code is a right one (a
//!   TOTP code of one of the session user's seeds in the ±1 window, a code
//!   sent to that user, or one of that user's recovery codes); it is never
//!   handed to another user; a malformed body never changes it;
//! - the session's token with one byte changed is never admitted: `admit`
//!   answers `401 unauthenticated` and ends the session.
//!
//! Input format (seeds in `corpus/http_bodies/` are plain text):
//!
//! ```text
//! pending                                  <- session: anonymous, pending, must_enroll,
//! POST /verify                                complete, stale, trusted, bob (= must_enroll;
//!                                             any other word: pending)
//! Content-Type: application/json           <- also Origin, Host, Sec-Fetch-Site, User-Agent,
//!                                             X-Allow-Origin (listed origin), X-Advance (seconds)
//! {"method":"totp","factor_id":"$TOTP","code":"$CODE"}
//! ===                                      <- next request (at most 4)
//! GET /status
//! ```
//!
//! In the path and body, `$TOTP`/`$SMS` are alice's factor ids, `$OTHER`
//! carol's TOTP factor, `$FA`/`$CH`/`$DV` the last factor / challenge /
//! device id a reply showed, `$CODE`/`$PREV`/`$NEXT` alice's TOTP code of
//! the current / previous / next step, `$OTHERCODE` carol's current code,
//! `$NEWCODE` the current code of the last TOTP factor enrolled through the
//! API, `$SENT` the last code sent, `$RC` one of the session user's recovery
//! codes.
// Fuzz harness: assertions are the point, and libfuzzer's macro generates
// undocumented items.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use mfa_core::http::{
    Admission, ApiError, Call, ConfirmRequest, EnrollEmailRequest, EnrollSmsRequest, EnrollTotpRequest,
    FactorRef, PendingStep, RequestFacts, RequestState, Route, SendCodeRequest, SessionChange,
    SessionRecord, SessionToken, Stage, StepUpRequest, TrustCookie, VerifyRequest, admit, begin_login,
    csrf_check, decode_json, handle, is_json,
};
use mfa_core::store::FactorRecord;
use mfa_core::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha1::Sha1;

const ENC_KEY: [u8; 32] = [2; 32];
/// When each input's requests begin is `START + 60` (TOTP step
/// `START / 30 + 2`); the sessions are made before it (see [`World::new`]).
const START: i64 = 1_750_000_000;
const DAY: i64 = 86_400;
const PHONE: &str = "+447700900123";
const BODY_LIMIT: usize = 16 * 1024;

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn hotp(seed: &[u8], counter: u64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(seed).unwrap();
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let v = (u32::from_be_bytes([h[off], h[off + 1], h[off + 2], h[off + 3]]) & 0x7fff_ffff) % 1_000_000;
    format!("{v:06}")
}

fn base32_decode(s: &str) -> Vec<u8> {
    totp_rs::Secret::try_from_base32(s).unwrap().to_vec()
}

fn config() -> MfaConfig {
    // Cheap recovery-code hashes: the setup makes a set per input.
    MfaConfig::builder("Fuzz")
        .argon2(Argon2Params {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        })
        .build()
        .unwrap()
}

fn engine(clock: Arc<ManualClock>, outbox: Arc<Outbox>) -> Mfa<MemoryStore> {
    Mfa::builder(
        MemoryStore::new(),
        Keys::new(&[1; 32], 1, &ENC_KEY).unwrap(),
        config(),
    )
    .clock(clock)
    .sender(outbox)
    .policy(Policy::required_from(Timestamp::EPOCH))
    .build()
}

fn web() -> Audience {
    Audience::new(Platform::WEB)
}

/// Factor records made once through the engine (a TOTP enrolment renders
/// QR codes, too slow per input) and copied into each input's store: the
/// same keys open them. They are made two days before `START`, so that
/// the TOTP steps they used (replay refusal) are behind every step the
/// sessions' verifications use, the stale one's included.
struct Template {
    records: Vec<FactorRecord>,
    alice_seed: Vec<u8>,
    alice_secret: String,
    carol_seed: Vec<u8>,
    alice_totp: FactorId,
    alice_sms: FactorId,
    carol_totp: FactorId,
}

/// A first factor (the user has none, so a password-only caller may enrol
/// it), and the caller its confirmation makes (a fresh second factor).
fn enrol_totp(mfa: &Mfa<MemoryStore>, user: &UserId) -> (FactorId, Vec<u8>, String, Caller) {
    let now = mfa.now();
    let request = EnrollRequest::Totp {
        label: "Phone".into(),
        account_name: user.to_string(),
    };
    let caller = Caller::password_only(web());
    let Enrollment::Totp(t) = block_on(mfa.begin_enrollment(user, request, &caller)).unwrap() else {
        panic!("not a TOTP enrolment");
    };
    let secret = t.secret_base32.expose().to_owned();
    let seed = base32_decode(&secret);
    let code = hotp(&seed, now.unix_secs() as u64 / 30);
    let enrolled = block_on(mfa.confirm_enrollment(user, &t.factor, &code)).unwrap();
    (t.factor, seed, secret, enrolled.caller(web()))
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_secs(START - 2 * DAY)));
        let outbox = Arc::new(Outbox::new());
        let mfa = engine(clock.clone(), outbox.clone());
        let alice = UserId::new("alice").unwrap();
        let carol = UserId::new("carol").unwrap();
        let (alice_totp, alice_seed, alice_secret, alice_caller) = enrol_totp(&mfa, &alice);
        let (carol_totp, carol_seed, _, _) = enrol_totp(&mfa, &carol);
        let request = EnrollRequest::Sms {
            label: "Mobile".into(),
            phone: PHONE.into(),
        };
        let Enrollment::OutOfBand(sent) =
            block_on(mfa.begin_enrollment(&alice, request, &alice_caller)).unwrap()
        else {
            panic!("not an SMS enrolment");
        };
        let code = outbox.last_code_to(PHONE).unwrap();
        block_on(mfa.confirm_enrollment(&alice, &sent.factor, code.expose())).unwrap();
        let mut records = block_on(mfa.store().factors(&alice)).unwrap();
        records.extend(block_on(mfa.store().factors(&carol)).unwrap());
        assert_eq!(records.len(), 3);
        Template {
            records,
            alice_seed,
            alice_secret,
            carol_seed,
            alice_totp,
            alice_sms: sent.factor,
            carol_totp,
        }
    })
}

struct World {
    mfa: Mfa<MemoryStore>,
    clock: Arc<ManualClock>,
    outbox: Arc<Outbox>,
    t: &'static Template,
    /// TOTP seeds and their owners (alice's and carol's, then any enrolled
    /// through the API) and the secrets in base32.
    seeds: Vec<(UserId, Vec<u8>)>,
    secrets: Vec<String>,
    /// Recovery codes per user.
    recovery: Vec<(UserId, String)>,
    last_fa: Option<String>,
    last_ch: Option<String>,
    last_dv: Option<String>,
    /// Phone numbers and addresses enrolled or submitted (normalised).
    destinations: Vec<String>,
    /// Every body sent so far (a label may legitimately repeat a number).
    submitted: Vec<u8>,
}

impl World {
    /// A fresh engine with the template's factors, alice's recovery codes,
    /// and the session `kind` names, every one made by the engine's own
    /// flows (`begin_login`, then `handle` of `/verify`): nothing here can
    /// build a session record. TOTP replay refusal makes the order matter;
    /// alice's TOTP steps used, in order:
    ///
    /// - `stale`: a day before `START` (clock set back, then on);
    /// - the verification whose caller makes the recovery codes, at
    ///   `START - 30` (step `START / 30 - 1`);
    /// - `complete` and `trusted`: at the last second of step `START / 30`
    ///   (so 41 s before the requests, whose `$PREV` is the step after);
    ///
    /// and the requests begin at `START + 60` (step `START / 30 + 2`), as
    /// before, with `$PREV`, `$CODE` and `$NEXT` all unused.
    fn new(kind: &str) -> (Self, Option<SessionToken>) {
        let t = template();
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_secs(START - DAY)));
        let outbox = Arc::new(Outbox::new());
        let mfa = engine(clock.clone(), outbox.clone());
        for r in &t.records {
            block_on(mfa.store().insert_factor(r)).unwrap();
        }
        let alice = UserId::new("alice").unwrap();
        let mut world = World {
            mfa,
            clock,
            outbox,
            t,
            seeds: vec![
                (alice.clone(), t.alice_seed.clone()),
                (UserId::new("carol").unwrap(), t.carol_seed.clone()),
            ],
            secrets: vec![t.alice_secret.clone()],
            recovery: Vec::new(),
            last_fa: None,
            last_ch: None,
            last_dv: None,
            destinations: vec![PHONE.to_owned(), PHONE[1..].to_owned()],
            submitted: Vec::new(),
        };

        // A day back: a complete login that is no longer fresh.
        let stale = (kind == "stale").then(|| world.verified_login(false).0);

        // Recovery codes need a fresh second factor: verify one.
        world.clock.set(Timestamp::from_unix_secs(START - 30));
        let attempt = Attempt::login(
            AttemptTarget::Totp(t.alice_totp.clone()),
            world.alice_code(),
            web(),
        );
        let verified = block_on(world.mfa.verify(&alice, &attempt)).unwrap();
        let codes = block_on(
            world
                .mfa
                .generate_recovery_codes(&alice, &verified.caller(web())),
        )
        .unwrap();
        world.recovery = codes
            .codes
            .iter()
            .map(|c| (alice.clone(), c.expose().to_owned()))
            .collect();

        // The last second of step START / 30.
        let last_second = (START / 30 + 1) * 30 - 1;
        world.clock.set(Timestamp::from_unix_secs(last_second));
        let verified = match kind {
            "complete" => Some(world.verified_login(false)),
            "trusted" => Some(world.verified_login(true)),
            _ => None,
        };

        world.clock.set(Timestamp::from_unix_secs(START + 60));
        let token = match kind {
            "anonymous" => None,
            // "bob" was a complete login without MFA (`NotRequired`, password
            // only): the policy here requires MFA, so the engine never makes
            // one for bob; his login is `must_enroll`, as below.
            "must_enroll" | "bob" => {
                let (_, token) = world.login("bob", None);
                let state = world.admitted(&token);
                assert!(matches!(
                    state.record().unwrap().stage(),
                    Stage::Pending {
                        step: PendingStep::MustEnroll { .. }
                    }
                ));
                Some(token)
            }
            "complete" => {
                let (token, _) = verified.unwrap();
                let state = world.admitted(&token);
                let r = state.record().unwrap();
                assert!(matches!(
                    r.stage(),
                    Stage::Complete {
                        by: CompletedBy::SecondFactor,
                        ..
                    }
                ));
                assert!(matches!(
                    r.assurance(),
                    Assurance::SecondFactor {
                        method: FactorKind::Totp,
                        ..
                    }
                ));
                assert!(state.is_fresh(), "a complete login 41 s old is not fresh");
                Some(token)
            }
            "stale" => {
                let token = stale.unwrap();
                let state = world.admitted(&token);
                let r = state.record().unwrap();
                assert!(matches!(r.assurance(), Assurance::SecondFactor { .. }));
                assert!(!state.is_fresh(), "a day-old verification is fresh");
                Some(token)
            }
            "trusted" => {
                let (_, set_cookie) = verified.unwrap();
                let set_cookie = set_cookie.expect("a verification with trust_device set no cookie");
                let value = set_cookie
                    .split_once('=')
                    .and_then(|(_, rest)| rest.split(';').next())
                    .expect("a Set-Cookie without a value");
                let (step, token) = world.login("alice", Some(value));
                assert!(
                    matches!(
                        step,
                        LoginStep::Complete {
                            by: CompletedBy::TrustedDevice,
                            ..
                        }
                    ),
                    "a trusted device's login answered {step:?}"
                );
                let state = world.admitted(&token);
                let r = state.record().unwrap();
                assert!(matches!(
                    r.stage(),
                    Stage::Complete {
                        by: CompletedBy::TrustedDevice,
                        ..
                    }
                ));
                assert!(matches!(r.assurance(), Assurance::TrustedDevice { .. }));
                Some(token)
            }
            _ => {
                let (_, token) = world.login("alice", None);
                let state = world.admitted(&token);
                assert!(matches!(
                    state.record().unwrap().stage(),
                    Stage::Pending {
                        step: PendingStep::ChooseFactor { .. }
                    }
                ));
                Some(token)
            }
        };
        (world, token)
    }

    fn step(&self) -> u64 {
        self.clock.now().unix_secs() as u64 / 30
    }

    /// Alice's TOTP code of the current step.
    fn alice_code(&self) -> String {
        hotp(&self.t.alice_seed, self.step())
    }

    /// `user`'s login now (`begin_login`, as an adapter calls it after the
    /// password): the engine's answer and the session's sealed record.
    fn login(&self, user: &str, trust_cookie: Option<&str>) -> (LoginStep, SessionToken) {
        let user = UserId::new(user).unwrap();
        let (step, change) = block_on(begin_login(&self.mfa, &user, web(), trust_cookie)).unwrap();
        let SessionChange::Renew(token) = change else {
            panic!("login did not renew the session: {change:?}");
        };
        (step, token)
    }

    /// The request state `admit` gives a session the engine just made.
    fn admitted(&self, token: &SessionToken) -> RequestState {
        match block_on(admit(&self.mfa, Some(token.clone()), true)) {
            Admission::Proceed(state) => state,
            Admission::Refuse { refused, .. } => {
                panic!("a session the engine made was refused: {refused:?}")
            }
        }
    }

    /// Alice logs in (pending) and `POST /verify`s her current TOTP code
    /// through `handle`: the renewed session, and the trust cookie's
    /// `Set-Cookie` when `trust_device`.
    fn verified_login(&self, trust_device: bool) -> (SessionToken, Option<String>) {
        let (_, pending) = self.login("alice", None);
        let state = self.admitted(&pending);
        let body = serde_json::json!({
            "method": "totp",
            "factor_id": self.t.alice_totp.to_string(),
            "code": self.alice_code(),
            "trust_device": trust_device,
        });
        let body = serde_json::to_vec(&body).unwrap();
        let call = Call::decode(Route::Verify, &body, None, Some("fuzz setup")).unwrap();
        let reply = block_on(handle(&self.mfa, TrustCookie { secure: true }, state, call))
            .unwrap_or_else(|e| panic!("the setup's verification failed: {e:?}"));
        let SessionChange::Renew(token) = reply.session else {
            panic!("a verification did not renew the session: {:?}", reply.session);
        };
        (token, reply.set_cookie)
    }

    fn substitute(&self, text: &[u8]) -> Vec<u8> {
        if !text.contains(&b'$') {
            return text.to_vec();
        }
        let s = self.step();
        let t = self.t;
        let unknown_ch = "ch_aaaaaaaaaaaaaaaaaaaaaaaaaa".to_owned();
        let unknown_dv = "dv_aaaaaaaaaaaaaaaaaaaaaaaaaa".to_owned();
        let sent = self
            .outbox
            .messages()
            .last()
            .map(|m| m.code.expose().to_owned())
            .unwrap_or_else(|| "000000".into());
        let newcode = self
            .seeds
            .get(2..)
            .and_then(<[_]>::last)
            .map_or_else(|| "000000".into(), |(_, seed)| hotp(seed, s));
        let rc = self.recovery.first().map(|(_, c)| c.clone()).unwrap_or_default();
        // Longest names first: `$OTHERCODE` before `$OTHER`.
        let table: [(&str, String); 13] = [
            ("$OTHERCODE", hotp(&t.carol_seed, s)),
            ("$NEWCODE", newcode),
            ("$OTHER", t.carol_totp.to_string()),
            ("$TOTP", t.alice_totp.to_string()),
            ("$CODE", hotp(&t.alice_seed, s)),
            ("$PREV", hotp(&t.alice_seed, s - 1)),
            ("$NEXT", hotp(&t.alice_seed, s + 1)),
            ("$SENT", sent),
            ("$SMS", t.alice_sms.to_string()),
            (
                "$FA",
                self.last_fa.clone().unwrap_or_else(|| t.alice_sms.to_string()),
            ),
            ("$CH", self.last_ch.clone().unwrap_or(unknown_ch)),
            ("$DV", self.last_dv.clone().unwrap_or(unknown_dv)),
            ("$RC", rc),
        ];
        let mut out = Vec::with_capacity(text.len() + 32);
        let mut i = 0;
        'outer: while i < text.len() {
            if text[i] == b'$' {
                for (name, value) in &table {
                    if text[i..].starts_with(name.as_bytes()) {
                        out.extend_from_slice(value.as_bytes());
                        i += name.len();
                        continue 'outer;
                    }
                }
            }
            out.push(text[i]);
            i += 1;
        }
        out
    }

    /// Whether `code` is a right code for `user` now: a TOTP code of one of
    /// the user's seeds in the ±1 window, a code sent to the user, or one of
    /// the user's recovery codes.
    fn right_code(&self, user: &UserId, code: &str) -> bool {
        let digits: String = code.chars().filter(|&c| c != ' ').collect();
        let s = self.step();
        let totp = self
            .seeds
            .iter()
            .filter(|(u, _)| u == user)
            .any(|(_, seed)| [s - 1, s, s + 1].iter().any(|&st| hotp(seed, st) == digits));
        let sent = self
            .outbox
            .messages()
            .iter()
            .any(|m| &m.user == user && m.code.expose() == digits);
        let recovery = recovery::normalize(code).is_some_and(|n| {
            self.recovery
                .iter()
                .filter(|(u, _)| u == user)
                .any(|(_, c)| recovery::normalize(c).is_some_and(|m| *m == *n))
        });
        totp || sent || recovery
    }

    /// Learns ids, TOTP secrets and recovery codes from a success body.
    fn learn(&mut self, user: &UserId, route: Route, body: &serde_json::Value) {
        fn walk(v: &serde_json::Value, w: &mut World) {
            match v {
                serde_json::Value::String(s) => {
                    if s.starts_with("fa_") {
                        w.last_fa = Some(s.clone());
                    } else if s.starts_with("ch_") {
                        w.last_ch = Some(s.clone());
                    } else if s.starts_with("dv_") {
                        w.last_dv = Some(s.clone());
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, w)),
                serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, w)),
                _ => {}
            }
        }
        walk(body, self);
        if route == Route::EnrollTotp {
            let secret = body["secret"]
                .as_str()
                .expect("a TOTP enrolment shows the secret");
            self.seeds.push((user.clone(), base32_decode(secret)));
            self.secrets.push(secret.to_owned());
        }
        if route == Route::RecoveryCodes {
            self.recovery.retain(|(u, _)| u != user);
            for c in body["codes"].as_array().expect("codes") {
                self.recovery.push((user.clone(), c.as_str().unwrap().to_owned()));
            }
        }
    }
}

struct Request<'a> {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: &'a [u8],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn parse_request(raw: &[u8]) -> Request<'_> {
    let (head, body) = match raw.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&raw[..i], &raw[i + 2..]),
        None => (raw, &raw[raw.len()..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Request {
        method,
        path,
        headers,
        body,
    }
}

/// The route and `{id}` of a method and path.
fn route_of(method: &str, path: &str) -> Option<(Route, Option<String>)> {
    Route::ALL.into_iter().find_map(|r| {
        if r.method() != method {
            return None;
        }
        match r.path().strip_suffix("{id}") {
            Some(prefix) => path
                .strip_prefix(prefix)
                .filter(|id| !id.is_empty() && !id.contains('/'))
                .map(|id| (r, Some(id.to_owned()))),
            None => (r.path() == path).then_some((r, None)),
        }
    })
}

/// The CSRF rule's answer, checked against the properties it promises.
fn check_csrf(req: &Request<'_>) {
    let facts = RequestFacts {
        method: &req.method,
        content_type: req.header("content-type"),
        sec_fetch_site: req.header("sec-fetch-site"),
        origin: req.header("origin"),
        host: req.header("host"),
    };
    let allowed: Vec<String> = req
        .headers
        .iter()
        .filter(|(n, _)| n == "x-allow-origin")
        .map(|(_, v)| v.clone())
        .collect();
    let result = csrf_check(&facts, &allowed);
    let safe = matches!(facts.method, "GET" | "HEAD" | "OPTIONS");
    let listed = facts.origin.is_some_and(|o| allowed.iter().any(|a| a == o));
    match &result {
        Ok(()) => {
            if facts.method == "POST" {
                assert!(
                    is_json(facts.content_type),
                    "a POST without JSON passed: {facts:?}"
                );
            }
            if !safe && !listed {
                if let Some(site) = facts.sec_fetch_site {
                    let site = site.to_ascii_lowercase();
                    assert!(site == "same-origin" || site == "none", "{facts:?}");
                }
                if let Some(origin) = facts.origin {
                    let host = facts.host.expect("an Origin passed without a Host").trim();
                    let authority = origin
                        .strip_prefix("https://")
                        .or_else(|| origin.strip_prefix("http://"))
                        .unwrap_or_else(|| panic!("Origin {origin:?} passed"));
                    assert!(authority.eq_ignore_ascii_case(host), "{facts:?}");
                }
            }
        }
        Err(e) => {
            assert!(!safe, "a {} was refused", facts.method);
            let pair = (e.status, e.body.error.as_str());
            assert!(
                pair == (403, "cross_site") || pair == (415, "unsupported_media_type"),
                "csrf answered {pair:?}"
            );
        }
    }
    if facts.method == "POST" && !is_json(facts.content_type) {
        assert!(result.is_err());
    }
}

/// Decodes `body` as `T`: `400 invalid_json`, or a value that re-encodes
/// and decodes to the same JSON.
fn decode_as<T: DeserializeOwned + Serialize>(body: &[u8]) {
    match decode_json::<T>(body) {
        Ok(v) => {
            let once = serde_json::to_vec(&v).unwrap();
            let again: T = decode_json(&once).expect("a re-encoded body does not decode");
            assert_eq!(
                serde_json::to_vec(&again).unwrap(),
                once,
                "decoding is not stable"
            );
        }
        Err(e) => assert_invalid_json(&e),
    }
}

fn assert_invalid_json(e: &ApiError) {
    assert_eq!((e.status, e.body.error.as_str()), (400, "invalid_json"));
}

/// The `error` names docs/http-api.md gives each status the flows answer.
fn allowed_error(status: u16, error: &str) -> bool {
    matches!(
        (status, error),
        (400, "invalid_json" | "invalid_input" | "malformed_code")
            | (401, "unauthenticated" | "mfa_required" | "session_ended")
            | (403, "step_up_required" | "not_allowed")
            | (404, "not_found")
            | (409, "not_pending")
            | (
                422,
                "invalid_code" | "expired" | "challenge_closed" | "not_enrolled"
            )
            | (423, "locked")
            | (429, "rate_limited")
    )
}

fn success_status(route: Route) -> u16 {
    match route {
        Route::EnrollTotp | Route::EnrollSms | Route::EnrollEmail | Route::RecoveryCodes => 201,
        Route::RemoveFactor | Route::RevokeDevice => 204,
        _ => 200,
    }
}

/// The submitted code of a call, if it has one.
fn submitted_code(call: &Call) -> Option<&str> {
    match call {
        Call::Verify(v, _) => Some(&v.code),
        Call::StepUp(s) => Some(&s.code),
        Call::EnrollConfirm(c) => Some(&c.code),
        _ => None,
    }
}

/// `MFA_FUZZ_TRACE=1`: print each request's route and answer (to check
/// that seeds reach what they are meant to).
fn trace() -> bool {
    static T: OnceLock<bool> = OnceLock::new();
    *T.get_or_init(|| std::env::var_os("MFA_FUZZ_TRACE").is_some())
}

fn failures(mfa: &Mfa<MemoryStore>, user: Option<&UserId>) -> u32 {
    user.map_or(0, |u| block_on(mfa.store().user_state(u)).unwrap().failures)
}

/// `token` with one byte changed (which, and how, from `salt`): `admit`
/// must refuse it as `401 unauthenticated` and end the session, never take
/// it for a login.
fn check_tampered(mfa: &Mfa<MemoryStore>, token: &SessionToken, salt: &[u8]) {
    let mut bytes = token.as_str().as_bytes().to_vec();
    assert!(!bytes.is_empty() && bytes.is_ascii(), "token {token:?}");
    let h = salt
        .iter()
        .fold(0usize, |h, &b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
    let i = h % bytes.len();
    // 1..=127: an ASCII byte stays ASCII, and changes.
    let mask = u8::try_from(h / bytes.len() % 127).unwrap() + 1;
    bytes[i] ^= mask;
    let forged = SessionToken::from_stored(String::from_utf8(bytes).unwrap());
    match block_on(admit(mfa, Some(forged.clone()), true)) {
        Admission::Proceed(state) => panic!(
            "a token with byte {i} changed (^{mask:#x}) was admitted: {forged:?} as {:?}",
            state.record()
        ),
        Admission::Refuse { refused, end_session } => {
            assert_eq!(
                (refused.error.status, refused.error.body.error.as_str()),
                (401, "unauthenticated"),
                "{refused:?}"
            );
            assert!(end_session, "a forged token's session was kept");
        }
    }
}

fn run(world: &mut World, token: &mut Option<SessionToken>, raw: &[u8]) {
    let req = parse_request(raw);
    if let Some(secs) = req.header("x-advance").and_then(|v| v.parse::<u32>().ok()) {
        world
            .clock
            .advance(Duration::from_secs(u64::from(secs % (3 * 86_400))));
    }
    check_csrf(&req);
    if req.body.len() > BODY_LIMIT {
        return; // the adapter answers 413 before reading it
    }
    let body = world.substitute(req.body);
    world.submitted.extend_from_slice(&body);
    world.submitted.push(b'\n');
    decode_as::<SendCodeRequest>(&body);
    decode_as::<VerifyRequest>(&body);
    decode_as::<StepUpRequest>(&body);
    decode_as::<EnrollTotpRequest>(&body);
    decode_as::<EnrollSmsRequest>(&body);
    decode_as::<EnrollEmailRequest>(&body);
    decode_as::<FactorRef>(&body);
    decode_as::<ConfirmRequest>(&body);

    let path = String::from_utf8_lossy(&world.substitute(req.path.as_bytes())).into_owned();
    let Some((route, id)) = route_of(&req.method, &path) else {
        return; // 404 / 405 from the router
    };
    let call = match Call::decode(route, &body, id.as_deref(), req.header("user-agent")) {
        Ok(call) => call,
        Err(e) => {
            assert!(Call::takes_body(route), "{route:?} takes no body but refused one");
            assert_invalid_json(&e);
            return; // nothing ran: the session is kept
        }
    };
    assert_eq!(call.route(), route);

    if let Some(t) = token.as_ref() {
        check_tampered(&world.mfa, t, raw);
    }
    let state = match block_on(admit(&world.mfa, token.clone(), true)) {
        Admission::Proceed(state) => state,
        Admission::Refuse { refused, end_session } => {
            assert_eq!(refused.error.status, 401, "{refused:?}");
            if end_session {
                *token = None;
            }
            return;
        }
    };
    check_handle(world, token, state, route, call, &body);
}

fn check_handle(
    world: &mut World,
    token: &mut Option<SessionToken>,
    state: RequestState,
    route: Route,
    call: Call,
    body: &[u8],
) {
    // The session as `admit` opened it (`handle` takes the state).
    let record: Option<SessionRecord> = state.record().cloned();
    let user = record.as_ref().map(|r| r.user().clone());
    let before = failures(&world.mfa, user.as_ref());
    let code = submitted_code(&call).map(str::to_owned);
    let mut destination = None;
    match &call {
        Call::EnrollSms(b) => destination = Destination::phone(&b.phone).ok(),
        Call::EnrollEmail(b) => destination = Destination::email(&b.address).ok(),
        _ => {}
    }
    if let Some(d) = &destination {
        world.destinations.push(d.as_str().to_owned());
    }
    let was_pending = record.as_ref().is_some_and(SessionRecord::is_pending);
    let result = block_on(handle(&world.mfa, TrustCookie { secure: true }, state, call));
    if trace() {
        match &result {
            Ok(r) => eprintln!("trace: {route:?} -> {} {:?}", r.status, r.body),
            Err(e) => eprintln!("trace: {route:?} -> {} {}", e.status, e.body.error),
        }
    }

    match result {
        Err(e) => {
            let text = serde_json::to_string(&*e.body).unwrap();
            assert!(
                e.status != 500,
                "500 for {route:?}: {text} (body {:?})",
                String::from_utf8_lossy(body)
            );
            assert!(
                allowed_error(e.status, &e.body.error),
                "{route:?} answered {} {text}",
                e.status
            );
            // Never echo a secret.
            let mut needles: Vec<String> = world.secrets.clone();
            needles.extend(world.destinations.iter().cloned());
            needles.extend(world.outbox.messages().iter().map(|m| m.code.expose().to_owned()));
            if let Some(c) = &code {
                let digits: String = c.chars().filter(|&ch| ch != ' ').collect();
                if digits.len() >= 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
                    needles.push(digits);
                    needles.push(c.clone());
                }
            }
            for n in needles.iter().filter(|n| !n.is_empty()) {
                assert!(!text.contains(n.as_str()), "error body {text} shows {n:?}");
            }
            if e.status == 400 {
                assert_eq!(
                    failures(&world.mfa, user.as_ref()),
                    before,
                    "a 400 counted a failure: {text}"
                );
            }
            match record {
                None => {
                    if route != Route::Status {
                        assert_eq!(e.body.error, "unauthenticated", "anonymous {route:?}");
                    }
                }
                Some(r) => {
                    if let Stage::Pending { step } = r.stage()
                        && !route.allowed_while_pending(step)
                    {
                        assert_eq!(e.body.error, "mfa_required", "pending {route:?}");
                    }
                }
            }
        }
        Ok(reply) => {
            assert_eq!(reply.status, success_status(route), "{route:?}");
            assert!(
                record.is_some() || route == Route::Status,
                "anonymous {route:?} succeeded"
            );
            if let Some(r) = record.as_ref()
                && let Stage::Pending { step } = r.stage()
            {
                assert!(
                    route.allowed_while_pending(step),
                    "pending session used {route:?}"
                );
            }
            if let Some(b) = &reply.body {
                let text = b.to_string();
                if route != Route::EnrollTotp {
                    for s in &world.secrets {
                        assert!(!text.contains(s.as_str()), "{route:?} body shows a TOTP secret");
                    }
                }
                let echoed = String::from_utf8_lossy(&world.submitted).into_owned();
                for d in world
                    .destinations
                    .iter()
                    .filter(|d| d.starts_with('+') || d.len() > 7)
                {
                    let digits = d.trim_start_matches('+');
                    if digits.bytes().all(|b| b.is_ascii_digit()) && !echoed.contains(digits) {
                        assert!(!text.contains(digits), "{route:?} body shows a phone number");
                    }
                }
            }
            match route {
                Route::Verify | Route::StepUp | Route::EnrollConfirm => {
                    let SessionChange::Renew(new) = &reply.session else {
                        panic!("{route:?} succeeded without renewing the session");
                    };
                    // Only `admit` opens a sealed record: the renewed session
                    // must be admitted now, and be the same user's, complete.
                    let new_state = world.admitted(new);
                    let new = new_state.record().expect("a renewed session is anonymous");
                    let old = record.as_ref().unwrap();
                    assert_eq!(new.user(), old.user(), "the session changed hands");
                    assert!(!new.is_pending());
                    let code = code.unwrap();
                    assert!(
                        world.right_code(old.user(), &code),
                        "{route:?} succeeded with {code:?} (pending: {was_pending})"
                    );
                }
                _ => assert_eq!(
                    reply.session,
                    SessionChange::Keep,
                    "{route:?} changed the session"
                ),
            }
            if reply.set_cookie.is_some() {
                assert!(
                    matches!(route, Route::Verify | Route::RevokeAllDevices),
                    "{route:?} set a cookie"
                );
            }
            if let Some(b) = &reply.body {
                world.learn(
                    &user.clone().unwrap_or_else(|| UserId::new("nobody").unwrap()),
                    route,
                    b,
                );
            }
            match reply.session {
                SessionChange::Renew(new) => *token = Some(new),
                SessionChange::End => *token = None,
                _ => {}
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (first, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    let kind = String::from_utf8_lossy(first);
    let (mut world, mut token) = World::new(kind.trim());
    let mut rest = rest;
    for _ in 0..4 {
        if rest.is_empty() {
            break;
        }
        let (raw, next) = match rest.windows(5).position(|w| w == b"\n===\n") {
            Some(i) => (&rest[..i], &rest[i + 5..]),
            None => (rest, &rest[rest.len()..]),
        };
        run(&mut world, &mut token, raw);
        rest = next;
    }
});
