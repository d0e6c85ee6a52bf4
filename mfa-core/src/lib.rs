#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod clock;
pub mod config;
pub mod crypto;
pub mod engine;
pub mod error;
pub mod events;
pub mod factor;
#[cfg(feature = "http")]
pub mod http;
pub mod ids;
pub mod limiter;
pub mod oob;
pub mod policy;
pub mod recovery;
pub mod rules;
pub mod secret;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod totp;
pub mod trust;

#[cfg(feature = "dev")]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock, Timestamp};
pub use config::{Argon2Params, MfaConfig, MfaConfigBuilder, TotpParams};
pub use crypto::{KeyedHash, Keys, Sealed};
pub use engine::{
    Assurance, Attempt, AttemptTarget, Caller, CompletedBy, EnrollRequest, Enrolled, Enrollment,
    LoginContext, LoginStep, Mfa, MfaBuilder, MfaStatus, RotationReport, SessionCheck, Verified,
};
pub use error::{ConfigError, MfaError, PolicyError, StoreError};
pub use events::{EventKind, EventSink, MemorySink, SecurityEvent, Tee, TracingSink};
pub use factor::{Destination, FactorKind, FactorState, FactorSummary, Purpose};
pub use ids::{ChallengeId, DeviceId, FactorId, RecoveryId, UserId};
pub use limiter::{Gate, LockoutRules, SendDecision, SendRules};
#[cfg(feature = "dev")]
pub use oob::Outbox;
pub use oob::{CodeSender, CodeSent, DeliveryError, OutgoingCode};
pub use policy::{Audience, Cohort, Platform, Policy, Requirement, Settings};
pub use recovery::RecoveryCodes;
pub use secret::{SecretBytes, SecretString};
pub use store::{MemoryStore, MfaStore};
pub use totp::TotpEnrollment;
pub use trust::{IssuedTrust, TRUST_COOKIE, TrustToken, TrustedDevice};
