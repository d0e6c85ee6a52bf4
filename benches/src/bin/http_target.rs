//! `http-target`: the server the HTTP load test (`benches/http/run.sh`)
//! drives. `http-target axum|actix PORT` serves on `127.0.0.1:PORT`:
//!
//! - `POST /bare`: the framework's minimal JSON handler (parses the JSON
//!   body, answers `{"ok":true}`), no session layer: the baseline;
//! - `POST /bare-session`: the same handler behind the session layer the MFA
//!   routes use, reading the session (so the store lookup happens): what
//!   the session layer costs;
//! - the MFA routes under `/mfa` (`mfa_axum::mfa_routes` /
//!   `mfa_actix::mfa_scope`) with the session layer and the MFA guard, as
//!   the contract test servers build them;
//! - `POST /login` (`{"user", "password"}`), a fake password check that
//!   calls the adapter's `start_login`: used only at setup.
//!
//! Before it prints `ready` on stdout it enrols [`USERS`] users
//! (`bench-user-00` …) with a confirmed TOTP factor each, so the load
//! generator can log each one in (password [`PASSWORD`]) and get a pending
//! session.
//!
//! The engine runs on `MemoryStore` with the policy requiring MFA. Lock-out
//! must not trigger during a run of wrong codes; the configuration builder
//! caps `hard_stop` at 100 (NIST), so the engine is built with
//! `free_failures: 98, hard_stop: 100` and a side thread clears every
//! user's failure count every [`RESET_EVERY`] (a bench-only arrangement,
//! like the criterion benches', which clear the count every 64 failures).
//! Both frameworks get one worker thread (pin the process to one core with
//! `taskset`).

// Bench harness: a failed setup step must stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use mfa_benches::block_on;
use mfa_core::{
    Audience, Caller, EnrollRequest, Enrollment, Keys, MemoryStore, Mfa, MfaConfig, MfaStore, Platform,
    Policy, Timestamp, UserId,
};
use serde_json::json;
use sha1::Sha1;

/// How many users are enrolled (the load generator rotates over them).
const USERS: usize = 64;

/// The fake login's password.
const PASSWORD: &str = "bench-password";

/// How often the side thread clears every user's failure count.
const RESET_EVERY: Duration = Duration::from_millis(50);

/// The engine every server shares.
type Engine = Arc<Mfa<MemoryStore>>;

/// The fake login's body.
#[derive(serde::Deserialize)]
struct LoginForm {
    /// The user id.
    user: String,
    /// The password ([`PASSWORD`] is right).
    password: String,
}

/// The name of user `i`.
fn user_name(i: usize) -> String {
    format!("bench-user-{i:02}")
}

/// The engine: `MemoryStore`, ephemeral keys, MFA required, lock-out as
/// late as the builder allows (see the crate docs).
fn engine() -> Engine {
    let config = MfaConfig::builder("Bench")
        .lockout(mfa_benches::late_lockout())
        .build()
        .expect("config");
    let keys = Keys::generate_ephemeral().expect("keys");
    Arc::new(
        Mfa::builder(MemoryStore::new(), keys, config)
            .policy(Policy::required_from(Timestamp::EPOCH))
            .build(),
    )
}

/// RFC 4226 HOTP, 6 digits.
fn hotp(seed: &[u8], counter: u64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(seed).expect("hmac key");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let v = u32::from_be_bytes([h[off], h[off + 1], h[off + 2], h[off + 3]]) & 0x7fff_ffff;
    format!("{:06}", v % 1_000_000)
}

/// Enrols a confirmed TOTP factor for every user, through the engine.
fn enrol_users(mfa: &Mfa<MemoryStore>) {
    let caller = Caller::password_only(Audience::new(Platform::WEB));
    let step_secs = mfa.config().totp().step_secs;
    for i in 0..USERS {
        let user = UserId::new(user_name(i)).expect("user id");
        let request = EnrollRequest::Totp {
            label: "Phone".into(),
            account_name: "bench@example.org".into(),
        };
        let Enrollment::Totp(t) = block_on(mfa.begin_enrollment(&user, request, &caller)).expect("enrol")
        else {
            panic!("not a TOTP enrolment");
        };
        let seed = base32::decode(
            base32::Alphabet::Rfc4648 { padding: false },
            t.secret_base32.expose(),
        )
        .expect("base32 seed");
        let step = mfa.now().unix_secs() as u64 / step_secs;
        block_on(mfa.confirm_enrollment(&user, &t.factor, &hotp(&seed, step))).expect("confirm");
    }
}

/// The bench-only lock-out arrangement: clears every user's failure count
/// every [`RESET_EVERY`], on its own thread.
fn spawn_failure_reset(mfa: Engine) {
    let users: Vec<UserId> = (0..USERS)
        .map(|i| UserId::new(user_name(i)).expect("user id"))
        .collect();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(RESET_EVERY);
            for u in &users {
                block_on(mfa.store().clear_failures(u)).expect("clear failures");
            }
        }
    });
}

/// Says the server accepts connections.
fn ready(framework: &str, port: u16) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {framework} 127.0.0.1:{port} users={USERS}").expect("stdout");
    out.flush().expect("stdout");
}

/// `http-target axum|actix PORT`: enrols the users, then serves until killed.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (framework, port) = match args.as_slice() {
        [_, f, p] => (f.as_str(), p.parse::<u16>().expect("port")),
        _ => {
            eprintln!("usage: http-target axum|actix PORT");
            std::process::exit(2);
        }
    };
    let mfa = engine();
    enrol_users(&mfa);
    spawn_failure_reset(mfa.clone());
    match framework {
        "axum" => axum_server::serve(mfa, port),
        "actix" => actix_server::serve(mfa, port),
        other => {
            eprintln!("unknown framework {other:?} (axum or actix)");
            std::process::exit(2);
        }
    }
}

/// mfa-axum, on a tokio runtime with one worker thread.
mod axum_server {
    use mfa_axum::axum::extract::State;
    use mfa_axum::axum::http::StatusCode;
    use mfa_axum::axum::response::{IntoResponse, Response};
    use mfa_axum::axum::routing::post;
    use mfa_axum::axum::{Json, Router};
    use mfa_axum::axum_extra::extract::cookie::CookieJar;
    use mfa_axum::tower_sessions::{self, Session, SessionManagerLayer};
    use mfa_axum::{MfaSettings, MfaState, axum, login_response, mfa_routes, start_login};
    use mfa_core::{Audience, MemoryStore, Platform, UserId};

    use super::{Engine, LoginForm, PASSWORD, json, ready};

    /// The adapter's state over the bench engine.
    type St = MfaState<MemoryStore>;

    /// The baseline: parses the JSON body, answers `{"ok":true}`.
    async fn bare(Json(_): Json<serde_json::Value>) -> Json<serde_json::Value> {
        Json(json!({"ok": true}))
    }

    /// The baseline behind the session layer: loads the session first.
    async fn bare_session(session: Session, Json(_): Json<serde_json::Value>) -> Json<serde_json::Value> {
        let _ = session.get_value("bench").await;
        Json(json!({"ok": true}))
    }

    /// The fake login (as in the contract test server).
    async fn login(
        State(st): State<St>,
        session: Session,
        jar: CookieJar,
        Json(f): Json<LoginForm>,
    ) -> Response {
        let user = match UserId::new(f.user) {
            Ok(u) if f.password == PASSWORD => u,
            _ => {
                return (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"error": "invalid_credentials"})),
                )
                    .into_response();
            }
        };
        login_response(start_login(&st, &session, &user, Audience::new(Platform::WEB), &jar).await)
    }

    /// Builds the app and serves it until the process is killed.
    pub fn serve(mfa: Engine, port: u16) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async move {
            let state = MfaState::from_arc(mfa, MfaSettings::default().allow_while_pending("/login"));
            let sessions = SessionManagerLayer::new(tower_sessions::MemoryStore::default())
                .with_name("sid")
                .with_same_site(tower_sessions::cookie::SameSite::Lax);
            let guarded: Router = Router::new()
                .route("/login", post(login))
                .with_state(state.clone())
                .merge(mfa_routes(state.clone()));
            // `/bare-session` is added after `protect`: the session layer
            // only, no MFA guard.
            let with_sessions = state
                .protect(guarded)
                .route("/bare-session", post(bare_session))
                .layer(sessions);
            let app = Router::new().route("/bare", post(bare)).merge(with_sessions);
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("bind");
            ready("axum", port);
            axum::serve(listener, app).await.expect("serve");
        });
    }
}

/// mfa-actix, with one worker.
mod actix_server {
    use mfa_actix::actix_session::config::CookieContentSecurity;
    use mfa_actix::actix_session::{Session, SessionMiddleware};
    use mfa_actix::actix_web::cookie::{Key, SameSite};
    use mfa_actix::actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    use mfa_actix::{MemorySessionStore, MfaSettings, MfaState, login_response, mfa_scope, start_login};
    use mfa_core::{Audience, MemoryStore, Platform, UserId};

    use super::{Engine, LoginForm, PASSWORD, json, ready};

    /// The adapter's state over the bench engine.
    type St = MfaState<MemoryStore>;

    /// The baseline: parses the JSON body, answers `{"ok":true}`. (The body
    /// must be read: actix-web closes the connection after a response when
    /// the request's body was left unread.)
    async fn bare(_: web::Json<serde_json::Value>) -> HttpResponse {
        HttpResponse::Ok().json(json!({"ok": true}))
    }

    /// The baseline behind the session layer: reads the session first.
    async fn bare_session(session: Session, _: web::Json<serde_json::Value>) -> HttpResponse {
        let _ = session.get::<serde_json::Value>("bench");
        HttpResponse::Ok().json(json!({"ok": true}))
    }

    /// The fake login (as in the contract test server).
    async fn login(req: HttpRequest, st: web::Data<St>, f: web::Json<LoginForm>) -> HttpResponse {
        let f = f.into_inner();
        let user = match UserId::new(f.user) {
            Ok(u) if f.password == PASSWORD => u,
            _ => return HttpResponse::Unauthorized().json(json!({"error": "invalid_credentials"})),
        };
        login_response(start_login(&st, &req, &user, Audience::new(Platform::WEB)).await)
    }

    /// Builds the app and serves it until the process is killed.
    pub fn serve(mfa: Engine, port: u16) {
        let state = MfaState::from_arc(mfa, MfaSettings::default().allow_while_pending("/login"));
        let sessions = MemorySessionStore::default();
        let key = Key::generate();
        mfa_actix::actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                // `/bare` outside every middleware; `/bare-session` inside
                // the session middleware only; the login and the MFA scope
                // inside the session middleware and the MFA guard.
                App::new()
                    .app_data(web::Data::new(state.clone()))
                    .route("/bare", web::post().to(bare))
                    .service(
                        web::scope("")
                            .route("/bare-session", web::post().to(bare_session))
                            .service(
                                web::scope("")
                                    .route("/login", web::post().to(login))
                                    .service(mfa_scope(state.clone()))
                                    .wrap(state.middleware()),
                            )
                            .wrap(
                                SessionMiddleware::builder(sessions.clone(), key.clone())
                                    .cookie_name("sid".into())
                                    .cookie_same_site(SameSite::Lax)
                                    .cookie_content_security(CookieContentSecurity::Private)
                                    .build(),
                            ),
                    )
            })
            .workers(1)
            .shutdown_timeout(1)
            .bind(("127.0.0.1", port))
            .expect("bind")
            .run();
            ready("actix", port);
            server.await.expect("serve");
        });
    }
}
