//! The suite's application scaffold for axum servers (feature `axum`):
//! what [`crate`]'s "what the server under test must serve" asks for beside
//! the MFA routes. Used by mfa-axum's server under test and by the tenant
//! portal's.
//!
//! ```
//! use mfa_axum::{MfaSettings, MfaState, mfa_routes};
//! use mfa_core::{Keys, MemoryStore, Mfa, MfaConfig};
//! let engine = Mfa::builder(MemoryStore::new(), Keys::generate_ephemeral()?, MfaConfig::builder("Example").build()?)
//!     .build();
//! let state = MfaState::new(engine, MfaSettings::default());
//! let app: mfa_axum::axum::Router = mfa_contract_tests::axum_app::scaffold::<MemoryStore, _>()
//!     .merge(mfa_routes(state.clone()))
//!     .with_state(state);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use mfa_axum::{MfaState, PendingMfa, RequireFreshMfa, RequireMfa, login_response, start_login};
use mfa_axum::{axum, axum_extra, tower_sessions};
use mfa_core::{Audience, MfaStore, Platform, UserId};
use serde_json::json;
use tower_sessions::Session;

use crate::{LoginForm, PASSWORD};

fn invalid_credentials() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": "invalid_credentials"})),
    )
        .into_response()
}

async fn login<S: MfaStore>(
    State(st): State<MfaState<S>>,
    session: Session,
    jar: CookieJar,
    headers: HeaderMap,
    axum::Json(f): axum::Json<LoginForm>,
) -> Response {
    if f.password != PASSWORD {
        return invalid_credentials();
    }
    let Ok(user) = UserId::new(f.user) else {
        return invalid_credentials();
    };
    let platform = headers
        .get("x-client-platform")
        .and_then(|v| v.to_str().ok())
        .and_then(|p| Platform::new(p).ok())
        .unwrap_or(Platform::WEB);
    login_response(start_login(&st, &session, &user, Audience::new(platform), &jar).await)
}

async fn logout(session: Session) -> Response {
    match mfa_axum::logout(&session).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `POST /login`, `POST /logout`, `GET /app/account` (`RequireMfa`),
/// `GET /app/payments` (`RequireFreshMfa`) and `GET /app/pending`
/// (`PendingMfa`), for an app state `T` that holds the `MfaState<S>`.
/// Serve it behind the MFA guard and a session layer, with `/login`,
/// `/logout` and `/app/pending` allowed while pending.
pub fn scaffold<S, T>() -> Router<T>
where
    S: MfaStore,
    T: Clone + Send + Sync + 'static,
    MfaState<S>: FromRef<T>,
{
    Router::new()
        .route("/login", post(login::<S>))
        .route("/logout", post(logout))
        .route(
            "/app/account",
            get(|m: RequireMfa| async move { axum::Json(json!({"user": m.user})) }),
        )
        .route(
            "/app/payments",
            get(|m: RequireFreshMfa| async move { axum::Json(json!({"user": m.user})) }),
        )
        .route(
            "/app/pending",
            get(|m: PendingMfa| async move { axum::Json(json!({"user": m.user})) }),
        )
}
