//! # mfa-contract-tests
//!
//! The black-box contract suite of `docs/http-api.md`: scenarios that drive
//! a real server over loopback with a real HTTP client and cookie jar.
//! It is generic over "a server to start" ([`ServerUnderTest`]), so every
//! adapter (and the tenant portal) runs the same scenarios:
//!
//! ```no_run
//! use mfa_contract_tests::{Running, ServerUnderTest, Setup};
//!
//! struct MyServer;
//!
//! #[async_trait::async_trait]
//! impl ServerUnderTest for MyServer {
//!     async fn start(&self, setup: Setup) -> Running {
//!         // Build an engine from `setup` (policy, config, clock, outbox),
//!         // serve the routes below on 127.0.0.1:0, and describe it
//!         // (see tests/contract/tests/servers/axum.rs).
//!         # let _ = setup;
//!         # panic!("an example: no server here")
//!     }
//! }
//! // In the adapter's `tests/contract.rs`:
//! // mfa_contract_tests::contract_suite!(MyServer);
//! ```
//!
//! `tests/contract/tests/axum.rs` is the complete example for mfa-axum.
//!
//! ## What the server under test must serve
//!
//! - The MFA routes of `docs/http-api.md` under [`Running::prefix`].
//! - An engine built from [`Setup`]: its policy and configuration, its
//!   [`ManualClock`] and its
//!   [`Outbox`] as the code sender, any store.
//! - `POST /login` `{"user": "...", "password": "..."}`: the password
//!   [`PASSWORD`] is right for every user, anything else answers `401
//!   {"error":"invalid_credentials"}`; then the adapter's one login call,
//!   answering its outcome (`200` with the status body, or `423 locked`).
//!   The platform comes from the `X-Client-Platform` header (`web` when
//!   absent). `/login`, `/logout` and `/app/pending` are reachable by
//!   pending sessions.
//! - `POST /logout`: ends the session, `204`.
//! - `GET /app/account`: requires a complete login (`RequireMfa`), answers
//!   `{"user": id}`.
//! - `GET /app/payments`: requires a fresh second factor (`RequireFreshMfa`).
//! - `GET /app/pending`: requires a pending login (`PendingMfa`).
//! - JSON refusals (not redirects) on application routes.
#![forbid(unsafe_code)]
// A test suite: failing loudly is its job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(feature = "axum")]
pub mod axum_app;
pub mod client;
mod invariants;
pub mod scenarios;
pub mod yielding;

use std::sync::Arc;

use async_trait::async_trait;
use mfa_core::{
    Argon2Params, ManualClock, Mfa, MfaConfig, MfaError, MfaStore, Outbox, Policy, PolicyError, Timestamp,
    UserId,
};

pub use client::{Client, Prepared, Resp};

/// The password the test servers' fake login accepts.
pub const PASSWORD: &str = "correct horse battery staple";

/// Where the test clock starts: 2026-06-01T00:00:00Z.
pub const START: Timestamp = Timestamp::from_unix_secs(1_780_272_000);

/// The body of the servers' fake `POST /login`.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    /// The user id.
    pub user: String,
    /// The password ([`PASSWORD`] is right).
    pub password: String,
}

/// How to build the engine of one server.
pub struct Setup {
    /// The rollout policy.
    pub policy: Policy,
    /// The engine configuration.
    pub config: MfaConfig,
    /// The engine's clock (the suite moves it).
    pub clock: Arc<ManualClock>,
    /// The code sender (the suite reads codes from it).
    pub outbox: Arc<Outbox>,
}

impl Setup {
    /// MFA required for everyone, cheap Argon2 parameters, clock at [`START`].
    pub fn required() -> Self {
        Self::with_policy(Policy::required_from(Timestamp::EPOCH))
    }

    /// The same with another policy.
    pub fn with_policy(policy: Policy) -> Self {
        let config = MfaConfig::builder("Contract Homes")
            .argon2(Argon2Params {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            })
            .build()
            .expect("test config");
        Setup {
            policy,
            config,
            clock: Arc::new(ManualClock::new(START)),
            outbox: Arc::new(Outbox::new()),
        }
    }
}

/// Staff actions the suite performs directly on the engine.
#[async_trait]
pub trait EngineControl: Send + Sync {
    /// [`Mfa::admin_reset`].
    async fn admin_reset(&self, user: &str) -> Result<(), MfaError>;
    /// [`Mfa::set_policy`].
    fn set_policy(&self, policy: Policy) -> Result<(), PolicyError>;
}

#[async_trait]
impl<S: MfaStore> EngineControl for Mfa<S> {
    async fn admin_reset(&self, user: &str) -> Result<(), MfaError> {
        Mfa::admin_reset(self, &UserId::new(user)?, "contract-suite").await
    }

    fn set_policy(&self, policy: Policy) -> Result<(), PolicyError> {
        Mfa::set_policy(self, policy)
    }
}

/// A started server.
pub struct Running {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The MFA routes' prefix (`/mfa`).
    pub prefix: String,
    /// The session cookie's name.
    pub session_cookie: String,
    /// The trust cookie's name (`__Host-mfa_trust`).
    pub trust_cookie: String,
    /// The engine, for staff actions.
    pub control: Arc<dyn EngineControl>,
    /// Keeps the server alive (dropped with the test).
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

/// Something the suite can start: an adapter with a fake password login.
#[async_trait]
pub trait ServerUnderTest: Send + Sync {
    /// Starts a server on `127.0.0.1:0` built from `setup`.
    async fn start(&self, setup: Setup) -> Running;
}

/// One started server plus the handles of its [`Setup`].
pub struct Env {
    /// The server.
    pub server: Running,
    /// Its clock.
    pub clock: Arc<ManualClock>,
    /// Its outbox.
    pub outbox: Arc<Outbox>,
}

impl Env {
    /// Starts `server` with `setup`.
    pub async fn start(server: &dyn ServerUnderTest, setup: Setup) -> Env {
        let clock = setup.clock.clone();
        let outbox = setup.outbox.clone();
        Env {
            server: server.start(setup).await,
            clock,
            outbox,
        }
    }

    /// A new browser (empty cookie jar).
    pub fn client(&self) -> Client {
        Client::new(&self.server.base_url, &self.server.prefix)
    }

    /// Moves the engine clock.
    pub fn advance(&self, secs: u64) {
        self.clock.advance(std::time::Duration::from_secs(secs));
    }

    /// The newest code sent to `to`.
    pub fn last_code(&self, to: &str) -> String {
        self.outbox
            .last_code_to(to)
            .map(|c| c.expose().to_owned())
            .expect("a code was sent")
    }

    /// Every code sent so far.
    pub fn all_codes(&self) -> Vec<String> {
        self.outbox
            .messages()
            .iter()
            .map(|m| m.code.expose().to_owned())
            .collect()
    }

    /// The TOTP code for `otpauth_uri` at the engine's current time.
    pub fn totp(&self, otpauth_uri: &str) -> String {
        use mfa_core::Clock as _;
        let t = totp_rs::Totp::from_url(otpauth_uri).expect("otpauth uri");
        let now = u64::try_from(self.clock.now().unix_secs()).expect("after 1970");
        t.generate(now).to_string()
    }
}

/// Generates one `#[tokio::test]` per scenario of [`scenarios`] against
/// the server `$server` (an expression implementing [`ServerUnderTest`]).
#[macro_export]
macro_rules! contract_suite {
    ($server:expr) => {
        $crate::contract_suite!(@each $server;
            anonymous_status_and_refusals,
            wrong_password_is_the_apps_refusal,
            first_login_must_enroll_totp,
            totp_login_and_replay_refused,
            sms_enrolment_and_login,
            email_enrolment_resend_replaces_code,
            pending_session_is_confined,
            adding_a_factor_while_half_logged_in_is_refused,
            session_id_changes_after_password_and_after_mfa,
            trusted_device_skips_factor_but_is_not_fresh,
            trust_cookie_tampered_foreign_or_revoked_is_ignored,
            parallel_submissions_of_one_sms_code_succeed_once,
            parallel_submissions_of_one_totp_code_succeed_once,
            resend_does_not_reset_attempts,
            brute_force_is_stopped_and_login_locked,
            sms_flooding_is_capped,
            expired_code_is_refused,
            code_from_another_user_is_refused,
            unknown_and_foreign_ids_answer_the_same,
            malformed_bodies_and_wrong_content_types_are_4xx_json,
            huge_bodies_are_413_json,
            cross_site_requests_are_refused,
            step_up_makes_a_session_fresh,
            second_factor_enrolment_needs_step_up,
            recovery_codes_generate_use_and_no_reuse,
            remove_factor_and_devices_follow,
            revoke_all_devices_clears_cookie,
            admin_reset_ends_sessions_and_devices,
            rollout_cutoff_ends_old_sessions_by_platform,
            not_required_policy_completes_without_mfa,
            verify_when_not_pending_is_409,
            logout_ends_session,
            codes_never_appear_in_responses,
            method_not_allowed_by_policy,
            login_code_does_not_verify_step_up,
            openapi_lists_every_route,
            parallel_guesses_do_not_overrun_the_counter,
            grace_period_offers_enrolment,
            trust_disabled_by_policy_sets_no_cookie,
            hard_stop_answers_locked_until_null,
            claimed_platform_never_skips_mfa_for_an_enrolled_user,
            first_enrolment_ends_password_only_sessions
        );
    };
    (@each $server:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::scenarios::$name(&$server).await;
            }
        )*
    };
}

/// The race scenarios of [`scenarios`] once more, against a server whose
/// store yields and takes a millisecond at every call
/// ([`yielding::YieldingStore`]): `$make` is a function from
/// an `Arc<`[`yielding::Interleavings`]`>` to a [`ServerUnderTest`] whose
/// store records into it. Each test also fails if no two store calls were
/// ever in flight together, i.e. if the race did not interleave.
#[macro_export]
macro_rules! race_suite {
    ($make:expr) => {
        $crate::race_suite!(@each $make;
            parallel_submissions_of_one_sms_code_succeed_once,
            parallel_submissions_of_one_totp_code_succeed_once,
            parallel_guesses_do_not_overrun_the_counter
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let seen = ::std::sync::Arc::new($crate::yielding::Interleavings::default());
                let server = ($make)(seen.clone());
                $crate::scenarios::$name(&server).await;
                eprintln!(
                    "store calls: {}, at most {} in flight at once",
                    seen.calls(),
                    seen.most_in_flight()
                );
                seen.assert_interleaved();
            }
        )*
    };
}
