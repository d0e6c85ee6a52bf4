//! mfa-axum as a server under test.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;
use mfa_axum::{
    MfaSettings, MfaState, PendingMfa, RequireFreshMfa, RequireMfa, login_response, mfa_routes, start_login,
};
use mfa_axum::{axum, axum_extra, tower_sessions};
use mfa_contract_tests::{PASSWORD, Running, ServerUnderTest, Setup};
use mfa_core::{Audience, MemoryStore, Platform, UserId};
use serde_json::json;
use tower_sessions::Session;

type St = MfaState<MemoryStore>;

use super::LoginForm;

async fn login(
    State(st): State<St>,
    session: Session,
    jar: CookieJar,
    headers: HeaderMap,
    Json(f): Json<LoginForm>,
) -> Response {
    if f.password != PASSWORD {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_credentials"})),
        )
            .into_response();
    }
    let Ok(user) = UserId::new(f.user) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_credentials"})),
        )
            .into_response();
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

/// mfa-axum with its routes under `prefix`.
pub struct AxumServer {
    /// The MFA routes' prefix.
    pub prefix: &'static str,
}

#[async_trait::async_trait]
impl ServerUnderTest for AxumServer {
    async fn start(&self, setup: Setup) -> Running {
        let mfa = super::engine(setup);
        let settings = MfaSettings::from(super::settings(self.prefix));
        let state = MfaState::from_arc(mfa.clone(), settings);
        let app: Router = Router::new()
            .route("/login", post(login))
            .route("/logout", post(logout))
            .route(
                "/app/account",
                get(|m: RequireMfa| async move { Json(json!({"user": m.user})) }),
            )
            .route(
                "/app/payments",
                get(|m: RequireFreshMfa| async move { Json(json!({"user": m.user})) }),
            )
            .route(
                "/app/pending",
                get(|m: PendingMfa| async move { Json(json!({"user": m.user})) }),
            )
            .with_state(state.clone())
            .merge(mfa_routes(state.clone()));
        let app = state.protect(app).layer(
            tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
                .with_name("sid")
                .with_same_site(tower_sessions::cookie::SameSite::Lax),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        super::running(addr, self.prefix, mfa, Box::new(task.abort_handle()))
    }
}
