//! The smallest app with MFA: in-memory engine and sessions, a fake
//! password login, one protected page, one page that needs a fresh second
//! factor, and a demo outbox showing the SMS/email codes "sent".
//!
//! ```text
//! cargo run -p mfa-axum --example minimal
//! curl -c jar -b jar -H 'content-type: application/json' \
//!      -d '{"user":"alice","password":"demo"}' http://127.0.0.1:3000/login
//! curl -c jar -b jar http://127.0.0.1:3000/mfa/status
//! ```
//!
//! Every password is "demo". Codes sent by SMS/email appear at
//! `GET /demo/outbox` (a demo convenience: never expose codes in a real app).
#![allow(clippy::expect_used)] // an example's `main` may fail loudly

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;
use mfa_axum::{MfaSettings, MfaState, RequireFreshMfa, RequireMfa, mfa_routes, start_login};
use mfa_core::{Audience, Keys, MemoryStore, Mfa, MfaConfig, Outbox, Platform, Policy, Timestamp, UserId};
use serde_json::json;
use tower_sessions::Session;

#[derive(Clone)]
struct App {
    mfa: MfaState<MemoryStore>,
    outbox: Arc<Outbox>,
}

impl axum::extract::FromRef<App> for MfaState<MemoryStore> {
    fn from_ref(app: &App) -> Self {
        app.mfa.clone()
    }
}

#[derive(serde::Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

/// The app's own password check, then the one MFA call.
async fn login(
    State(app): State<App>,
    session: Session,
    jar: CookieJar,
    headers: HeaderMap,
    Json(f): Json<LoginForm>,
) -> Response {
    let user = match UserId::new(f.user) {
        Ok(u) if f.password == "demo" => u,
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_credentials"})),
            )
                .into_response();
        }
    };
    // The platform is the app's knowledge: here a header its mobile apps send.
    let platform = match headers.get("x-client-platform").and_then(|v| v.to_str().ok()) {
        Some("android") => Platform::ANDROID,
        Some("ios") => Platform::IOS,
        _ => Platform::WEB,
    };
    // 200 with the status body, or 423 locked.
    mfa_axum::login_response(start_login(&app.mfa, &session, &user, Audience::new(platform), &jar).await)
}

async fn logout(session: Session) -> Response {
    match mfa_axum::logout(&session).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => mfa_axum::error_response(e),
    }
}

async fn show_outbox(State(app): State<App>) -> Json<serde_json::Value> {
    let messages: Vec<_> = app
        .outbox
        .messages()
        .iter()
        .map(|m| json!({"to": m.to_masked, "kind": m.kind, "text": m.text.expose()}))
        .collect();
    Json(json!({ "messages": messages }))
}

#[tokio::main]
async fn main() {
    let outbox = Arc::new(Outbox::new());
    let config = MfaConfig::builder("Minimal Demo").build().expect("config");
    let mfa = Mfa::builder(
        MemoryStore::new(),
        Keys::generate_ephemeral().expect("keys"),
        config,
    )
    .policy(Policy::required_from(Timestamp::EPOCH))
    .sender(outbox.clone())
    .build();
    let state = MfaState::new(mfa, MfaSettings::default().allow_while_pending("/logout"));
    let app = App {
        mfa: state.clone(),
        outbox,
    };
    let router: Router = Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/demo/outbox", get(show_outbox))
        .route(
            "/account",
            get(|m: RequireMfa| async move { format!("Hello {}\n", m.user) }),
        )
        .route(
            "/payments",
            get(|m: RequireFreshMfa| async move { format!("Pay as {}\n", m.user) }),
        )
        .with_state(app)
        .merge(mfa_routes(state.clone()));
    let router = state
        .protect(router)
        .layer(tower_sessions::SessionManagerLayer::new(
            tower_sessions::MemoryStore::default(),
        ));
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("listening on http://{addr} (password: demo; codes at /demo/outbox)");
    axum::serve(listener, router).await.expect("serve");
}
