//! # mfa-actix
//!
//! The actix-web adapter of [`mfa_core`]: the JSON routes of the HTTP
//! contract (`docs/http-api.md`) as a [`Scope`](actix_web::Scope) under a
//! configurable prefix ([`mfa_scope`]), a middleware that confines pending
//! sessions to them and ends sessions the engine says are over
//! ([`MfaState::middleware`]), and extractors for application routes
//! ([`RequireMfa`], [`RequireFreshMfa`], [`PendingMfa`]).
//!
//! It serves exactly what mfa-axum serves: both only translate the
//! framework-free contract and flows of [`mfa_core::http`]; every security
//! decision is the engine's.
//!
//! ```
//! use actix_web::{App, HttpRequest, HttpServer, web, cookie::Key};
//! use actix_session::SessionMiddleware;
//! use mfa_actix::*;
//! use mfa_core::*;
//!
//! async fn login(req: HttpRequest, st: web::Data<MfaState<MemoryStore>>) -> actix_web::HttpResponse {
//!     // ... the application checks the password first ...
//!     let user = UserId::new("alice").unwrap();
//!     login_response(start_login(&st, &req, &user, Audience::new(Platform::WEB)).await)
//! }
//!
//! # fn demo() -> Result<(), MfaError> {
//! let mfa = Mfa::builder(MemoryStore::new(), Keys::generate_ephemeral()?, MfaConfig::builder("Demo").build()?)
//!     .policy(Policy::required_from(Timestamp::EPOCH))
//!     .build();
//! let state = MfaState::new(mfa, MfaSettings::default().allow_while_pending("/login"));
//! let (sessions, key) = (MemorySessionStore::default(), Key::generate());
//! let _server = HttpServer::new(move || {
//!     App::new()
//!         .app_data(web::Data::new(state.clone()))
//!         .route("/login", web::post().to(login))
//!         .route("/account", web::get().to(|m: RequireMfa| async move { format!("hello {}", m.user) }))
//!         .route("/payments", web::get().to(|m: RequireFreshMfa| async move { format!("pay, {}", m.user) }))
//!         .service(mfa_scope(state.clone()))
//!         .wrap(state.middleware()) // the MFA middleware inside,
//!         .wrap(SessionMiddleware::new(sessions.clone(), key.clone())) // the sessions outside
//! });
//! # Ok(()) }
//! # demo().unwrap();
//! ```
#![forbid(unsafe_code)]

mod http;
mod login;
mod middleware;
mod routes;
mod session;
mod state;

pub use http::error_response;
pub use login::{login_response, logout, password_changed, run, start_login};
pub use mfa_core::http as contract;
pub use mfa_core::http::{DEV_TRUST_COOKIE, Refusal, SessionError, openapi};
pub use middleware::{MfaGuard, MfaMiddleware, MfaRejection, PendingMfa, RequireFreshMfa, RequireMfa};
pub use routes::mfa_scope;
pub use session::{ActixSessions, MemorySessionStore, MfaSession, SessionSource};
pub use state::{MfaSettings, MfaState};

/// Re-exported so that applications use the same versions.
pub use actix_session;
/// Re-exported so that applications use the same versions.
pub use actix_web;
