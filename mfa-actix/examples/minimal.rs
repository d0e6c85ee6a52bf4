//! The smallest actix-web app with MFA: in-memory engine and sessions, a
//! fake password login, one protected page, one page that needs a fresh
//! second factor, and a demo outbox showing the SMS/email codes "sent".
//!
//! ```text
//! cargo run -p mfa-actix --example actix-minimal
//! curl -c jar -b jar -H 'content-type: application/json' \
//!      -d '{"user":"alice","password":"demo"}' http://127.0.0.1:3001/login
//! curl -c jar -b jar http://127.0.0.1:3001/mfa/status
//! ```
//!
//! Every password is "demo". Codes sent by SMS/email appear at
//! `GET /demo/outbox` (a demo convenience: never expose codes in a real
//! app). `Secure` cookies work on `http://127.0.0.1` and `localhost`.
#![allow(clippy::expect_used)] // an example's `main` may fail loudly

use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_web::cookie::Key;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use mfa_actix::{
    MemorySessionStore, MfaSettings, MfaState, RequireFreshMfa, RequireMfa, login_response, mfa_scope,
    start_login,
};
use mfa_core::{Audience, Keys, MemoryStore, Mfa, MfaConfig, Outbox, Platform, Policy, Timestamp, UserId};
use serde_json::json;

type State = web::Data<MfaState<MemoryStore>>;

#[derive(serde::Deserialize)]
struct Credentials {
    user: String,
    password: String,
}

/// The app's own password check, then the one MFA call. The platform is
/// the app's knowledge: here a header its mobile apps send.
async fn login(req: HttpRequest, mfa: State, form: web::Json<Credentials>) -> HttpResponse {
    let user = UserId::new(form.user.clone())
        .ok()
        .filter(|_| form.password == "demo");
    let Some(user) = user else {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_credentials"}));
    };
    let header = req
        .headers()
        .get("x-client-platform")
        .and_then(|v| v.to_str().ok());
    let platform = header
        .and_then(|p| Platform::new(p).ok())
        .unwrap_or(Platform::WEB);
    // 200 with the status body, or 423 locked.
    login_response(start_login(&mfa, &req, &user, Audience::new(platform)).await)
}

async fn logout(req: HttpRequest, mfa: State) -> HttpResponse {
    mfa_actix::logout(&mfa, &req)
        .map_or_else(mfa_actix::error_response, |()| HttpResponse::NoContent().finish())
}

async fn outbox(sent: web::Data<Arc<Outbox>>) -> HttpResponse {
    let list = sent.messages();
    let texts: Vec<_> = list
        .iter()
        .map(|m| json!({"to": m.to_masked, "text": m.text.expose()}))
        .collect();
    HttpResponse::Ok().json(json!({ "messages": texts }))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let sent = Arc::new(Outbox::new());
    let keys = Keys::generate_ephemeral().expect("keys");
    let engine = Mfa::builder(
        MemoryStore::new(),
        keys,
        MfaConfig::builder("Minimal Demo").build().expect("config"),
    )
    .policy(Policy::required_from(Timestamp::EPOCH))
    .sender(sent.clone())
    .build();
    let state = MfaState::new(engine, MfaSettings::default().allow_while_pending("/logout"));
    let (sessions, key) = (MemorySessionStore::default(), Key::generate());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3001".into());
    println!("listening on http://{addr} (password: demo; codes at /demo/outbox)");
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(web::Data::new(sent.clone()))
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .route("/demo/outbox", web::get().to(outbox))
            .route(
                "/account",
                web::get().to(|m: RequireMfa| async move { format!("Hello {}\n", m.user) }),
            )
            .route(
                "/payments",
                web::get().to(|m: RequireFreshMfa| async move { format!("Pay as {}\n", m.user) }),
            )
            .service(mfa_scope(state.clone()))
            // The MFA middleware inside, the session middleware outside.
            .wrap(state.middleware())
            .wrap(SessionMiddleware::new(sessions.clone(), key.clone()))
    })
    .bind(addr)?
    .run()
    .await
}
