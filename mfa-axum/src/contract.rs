//! The HTTP contract, framework-free: request and response bodies, the
//! session model, error → status mapping, the CSRF rule and which routes a
//! pending session may use (see `docs/http-api.md`).
//!
//! It lives in [`mfa_core::http`] (shared with mfa-actix); this module
//! re-exports it so that `mfa_axum::contract::…` paths keep working.
//!
//! ```
//! use mfa_axum::contract::ApiError;
//! use mfa_core::MfaError;
//! let e = ApiError::from_mfa(&MfaError::InvalidCode { attempts_left: 3 });
//! assert_eq!(e.status, 422);
//! ```

pub use mfa_core::http::*;
