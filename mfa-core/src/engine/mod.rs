//! The engine: `Mfa<S>`, one method per flow. Each flow reads top to bottom
//! in one function and calls into the modules that hold the rules; every
//! security decision is made here, never in an adapter.
//!
//! # Invariants
//!
//! Every combination of policy, platform claim, user state and call
//! sequence keeps these; a model-based property test (`tests/model.rs`,
//! also run on each SQL store) and the `engine` fuzz target drive
//! arbitrary sequences and check them after every step
//! (`docs/SECURITY-REVIEW.md` lists the tests per invariant).
//!
//! - **I1** A user with at least one active factor ends a login only by a
//!   verified factor, a recovery code, or a valid trusted device of theirs;
//!   never by the policy: [`Mfa::begin_login`] answers such a user only
//!   `ChooseFactor`, `Locked` or `Complete { by: TrustedDevice, .. }`, and
//!   a password-only session ends once its user has a factor
//!   ([`Mfa::check_login`]).
//! - **I2** A session that has checked only the password may enrol a first
//!   factor only when the user has no active factor (never enrolled, or
//!   after an admin reset); the check that no other factor became active is
//!   inside the store's atomic activation.
//! - **I3** Assurance is raised only by the engine (verify, enrolment
//!   confirmation, step-up, trusted device at login): the variants of
//!   [`Assurance`] that raise it, [`Caller`], [`Verified`] and [`Enrolled`]
//!   cannot be built outside mfa-core, and the HTTP session record is
//!   sealed with the engine's key and opened only by `http::admit`.
//! - **I4** What the client claims (platform, groups) may change which
//!   methods are offered first and how long trust lasts; it never changes
//!   whether an enrolled user is asked for a factor. Cohort `methods`
//!   restrict what may be *enrolled*; factors a user has stay usable.
//! - **I5** Every change that weakens or resets security emits an event:
//!   policy change, key rotation, session revocation, unlock, password
//!   change or reset, admin reset.
//!
//! - `login`: [`Mfa::begin_login`], [`Mfa::check_session`]
//! - `verify`: [`Mfa::send_code`], [`Mfa::verify`]
//! - `enroll`: [`Mfa::begin_enrollment`], [`Mfa::confirm_enrollment`]
//! - `manage`: factors, trusted devices, recovery codes, admin reset, key rotation

mod enroll;
mod login;
mod manage;
mod types;
mod verify;

pub use types::*;

use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::config::MfaConfig;
use crate::crypto::Keys;
use crate::error::{MfaError, PolicyError};
use crate::events::{EventKind, EventSink, SecurityEvent, TracingSink};
use crate::ids::{FactorId, UserId};
use crate::oob::{CodeSender, DeliveryError, OutgoingCode};
use crate::policy::Policy;
use crate::store::MfaStore;

/// The MFA engine. Build once at start-up with [`Mfa::builder`], share it
/// (`Arc<Mfa<S>>`), and call one method per flow.
///
/// ```
/// use std::sync::Arc;
/// use mfa_core::*;
/// # async fn demo() -> Result<(), MfaError> {
/// let outbox = Arc::new(Outbox::new());
/// let mfa = Mfa::builder(MemoryStore::new(), Keys::generate_ephemeral()?, MfaConfig::builder("Alliance Homes").build()?)
///     .sender(outbox.clone())
///     .policy(Policy::required_from(Timestamp::EPOCH))
///     .build();
/// let user = UserId::new("tenant-1")?;
/// let web = Audience::new(Platform::WEB);
/// // After the password check:
/// match mfa.begin_login(&user, &LoginContext::new(web.clone())).await? {
///     LoginStep::MustEnroll { .. } => {}
///     other => panic!("{other:?}"),
/// }
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
/// ```
pub struct Mfa<S> {
    store: S,
    keys: Keys,
    config: MfaConfig,
    policy: RwLock<Arc<Policy>>,
    clock: Arc<dyn Clock>,
    sender: Arc<dyn CodeSender>,
    events: Arc<dyn EventSink>,
}

impl<S> std::fmt::Debug for Mfa<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mfa")
            .field("config", &self.config)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Mfa`]; see there.
pub struct MfaBuilder<S> {
    store: S,
    keys: Keys,
    config: MfaConfig,
    policy: Policy,
    clock: Arc<dyn Clock>,
    sender: Arc<dyn CodeSender>,
    events: Arc<dyn EventSink>,
}

/// The sender used when none is configured: every send fails.
struct NoSender;

#[async_trait]
impl CodeSender for NoSender {
    async fn send(&self, _: &OutgoingCode) -> Result<(), DeliveryError> {
        Err("no CodeSender configured".into())
    }
}

impl<S: MfaStore> MfaBuilder<S> {
    /// The rollout policy (default: MFA never required, offered to all).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The clock (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where SMS/email codes go (default: nowhere; sending fails).
    pub fn sender(mut self, sender: impl CodeSender) -> Self {
        self.sender = Arc::new(sender);
        self
    }

    /// Where security events go (default: [`TracingSink`]).
    pub fn events(mut self, sink: impl EventSink) -> Self {
        self.events = Arc::new(sink);
        self
    }

    /// The engine.
    pub fn build(self) -> Mfa<S> {
        Mfa {
            store: self.store,
            keys: self.keys,
            config: self.config,
            policy: RwLock::new(Arc::new(self.policy)),
            clock: self.clock,
            sender: self.sender,
            events: self.events,
        }
    }
}

impl<S: MfaStore> Mfa<S> {
    /// Starts building an engine over `store` with the application's keys
    /// and configuration.
    pub fn builder(store: S, keys: Keys, config: MfaConfig) -> MfaBuilder<S> {
        MfaBuilder {
            store,
            keys,
            config,
            policy: Policy::default(),
            clock: Arc::new(SystemClock),
            sender: Arc::new(NoSender),
            events: Arc::new(TracingSink),
        }
    }

    /// The store (for the application's own queries, and tests).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The key ring (crate-internal: sealing session records).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The configuration.
    pub fn config(&self) -> &MfaConfig {
        &self.config
    }

    /// The current rollout policy.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the rollout policy (staff console); it is validated first
    /// and takes effect for the next call. Emits
    /// [`EventKind::PolicyChanged`] (invariant I5).
    pub fn set_policy(&self, policy: Policy) -> Result<(), PolicyError> {
        policy.validate()?;
        let cohorts = policy.cohorts.len();
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
        self.emit_system(EventKind::PolicyChanged { cohorts });
        Ok(())
    }

    /// "Now", from the engine's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn emit(&self, user: &UserId, kind: EventKind) {
        self.events.record(&SecurityEvent {
            at: self.clock.now(),
            user: Some(user.clone()),
            kind,
        });
    }

    /// A system-wide event (no user).
    fn emit_system(&self, kind: EventKind) {
        self.events.record(&SecurityEvent {
            at: self.clock.now(),
            user: None,
            kind,
        });
    }

    /// Associated data binding a sealed TOTP seed to its owner and factor:
    /// `totp-seed\0{user}\0{factor}` (built without `format!`: it is on
    /// every TOTP verification).
    fn seed_context(user: &UserId, factor: &FactorId) -> Vec<u8> {
        Self::context(b"totp-seed", user, factor)
    }

    /// Associated data binding a sealed destination to its owner and factor:
    /// `destination\0{user}\0{factor}`.
    fn destination_context(user: &UserId, factor: &FactorId) -> Vec<u8> {
        Self::context(b"destination", user, factor)
    }

    fn context(label: &[u8], user: &UserId, factor: &FactorId) -> Vec<u8> {
        let (user, factor) = (user.as_str().as_bytes(), factor.as_str().as_bytes());
        let mut aad = Vec::with_capacity(label.len() + user.len() + factor.len() + 2);
        for part in [label, b"\0", user, b"\0", factor] {
            aad.extend_from_slice(part);
        }
        aad
    }

    /// True when `assurance` is a second factor verified within
    /// `step_up_max_age` (a trusted-device login is never fresh).
    pub fn is_fresh(&self, assurance: &Assurance) -> bool {
        match assurance {
            Assurance::SecondFactor { at, .. } => {
                self.now().saturating_since(*at) <= self.config.step_up_max_age
            }
            _ => false,
        }
    }

    fn require_fresh(&self, caller: &Caller) -> Result<(), MfaError> {
        if self.is_fresh(&caller.assurance) {
            Ok(())
        } else {
            Err(MfaError::StepUpRequired)
        }
    }
}
