//! # mfa-axum
//!
//! The axum adapter of [`mfa_core`]: the JSON routes of the HTTP contract
//! (`docs/http-api.md`) under a configurable prefix, a layer that confines
//! pending sessions to them and ends sessions the engine says are over, and
//! extractors for application routes ([`RequireMfa`], [`RequireFreshMfa`],
//! [`PendingMfa`]).
//!
//! The adapter only translates HTTP to engine calls: every security
//! decision (freshness, lock-out, policy, trust) is the engine's.
//!
//! ```
//! use axum::{Router, routing::get};
//! use mfa_axum::{MfaSettings, MfaState, RequireMfa, RequireFreshMfa, mfa_routes};
//! use mfa_core::*;
//! # fn demo() -> Result<(), MfaError> {
//! let mfa = Mfa::builder(MemoryStore::new(), Keys::generate_ephemeral()?, MfaConfig::builder("Demo").build()?)
//!     .policy(Policy::required_from(Timestamp::EPOCH))
//!     .build();
//! let state = MfaState::new(mfa, MfaSettings::default().allow_while_pending("/logout"));
//! let app: Router = Router::new()
//!     .route("/account", get(|m: RequireMfa| async move { format!("hello {}", m.user) }))
//!     .route("/payments", get(|m: RequireFreshMfa| async move { format!("pay, {}", m.user) }))
//!     .merge(mfa_routes(state.clone()));
//! // The MFA layer inside, the session layer outside.
//! let app = state
//!     .protect(app)
//!     .layer(tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default()));
//! # Ok(()) }
//! # demo().unwrap();
//! ```
//!
//! The application's login handler calls [`start_login`] after checking the
//! password; see there.
#![forbid(unsafe_code)]

pub mod contract;
mod http;
mod layer;
mod login;
mod routes;
mod session;
mod state;

pub use http::error_response;
pub use layer::{MfaRejection, MfaRequest, PendingMfa, RequireFreshMfa, RequireMfa, guard};
pub use login::{login_response, logout, start_login};
pub use mfa_core::http::openapi;
pub use routes::mfa_routes;
pub use session::{MfaSession, SessionError, SessionSource, TowerSessions};
pub use state::{DEV_TRUST_COOKIE, MfaSettings, MfaState, Refusal};

/// Re-exported so that applications use the same versions.
pub use axum;
/// Re-exported so that applications use the same versions.
pub use axum_extra;
/// Re-exported so that applications use the same versions.
pub use tower_sessions;
