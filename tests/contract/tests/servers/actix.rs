//! mfa-actix as a server under test.

use mfa_actix::actix_session::SessionMiddleware;
use mfa_actix::actix_session::config::CookieContentSecurity;
use mfa_actix::actix_web::cookie::{Key, SameSite};
use mfa_actix::actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};
use mfa_actix::{
    MemorySessionStore, MfaState, PendingMfa, RequireFreshMfa, RequireMfa, login_response, mfa_scope,
    start_login,
};
use mfa_contract_tests::yielding::YieldingStore;
use mfa_contract_tests::{PASSWORD, Running, ServerUnderTest, Setup};
use mfa_core::{Audience, MemoryStore, MfaStore, Platform, UserId};
use serde_json::json;

use super::{SERVER_THREADS, Store};

use mfa_contract_tests::LoginForm;

async fn login<S: MfaStore>(
    req: HttpRequest,
    st: web::Data<MfaState<S>>,
    f: web::Json<LoginForm>,
) -> HttpResponse {
    let f = f.into_inner();
    let refused = || HttpResponse::Unauthorized().json(json!({"error": "invalid_credentials"}));
    if f.password != PASSWORD {
        return refused();
    }
    let Ok(user) = UserId::new(f.user) else {
        return refused();
    };
    let platform = req
        .headers()
        .get("x-client-platform")
        .and_then(|v| v.to_str().ok())
        .and_then(|p| Platform::new(p).ok())
        .unwrap_or(Platform::WEB);
    login_response(start_login(&st, &req, &user, Audience::new(platform)).await)
}

async fn logout<S: MfaStore>(req: HttpRequest, st: web::Data<MfaState<S>>) -> HttpResponse {
    match mfa_actix::logout(&st, &req) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => mfa_actix::error_response(e),
    }
}

/// Stops the server when the test drops it.
struct Stop(ServerHandle);

impl Drop for Stop {
    fn drop(&mut self) {
        drop(self.0.stop(false));
    }
}

/// mfa-actix with its routes under `prefix`, on its own thread and actix
/// system, with [`SERVER_THREADS`] workers (so requests run in parallel).
pub struct ActixServer {
    /// The MFA routes' prefix.
    pub prefix: &'static str,
    /// The engine's store.
    pub store: Store,
}

impl ActixServer {
    /// Routes under `prefix`, state in a `MemoryStore`.
    pub const fn new(prefix: &'static str) -> Self {
        ActixServer {
            prefix,
            store: Store::Memory,
        }
    }
}

#[async_trait::async_trait]
impl ServerUnderTest for ActixServer {
    async fn start(&self, setup: Setup) -> Running {
        match &self.store {
            Store::Memory => serve(self.prefix, setup, MemoryStore::new()),
            Store::Yielding(seen) => serve(
                self.prefix,
                setup,
                YieldingStore::new(MemoryStore::new(), seen.clone()),
            ),
        }
    }
}

fn serve<S: MfaStore>(prefix: &'static str, setup: Setup, store: S) -> Running {
    let mfa = super::engine(setup, store);
    let settings = super::settings(prefix);
    let state = MfaState::from_arc(mfa.clone(), settings);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let sessions = MemorySessionStore::default();
        let key = Key::generate();
        mfa_actix::actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(web::Data::new(state.clone()))
                    .route("/login", web::post().to(login::<S>))
                    .route("/logout", web::post().to(logout::<S>))
                    .route(
                        "/app/account",
                        web::get().to(|m: RequireMfa| async move { web::Json(json!({"user": m.user})) }),
                    )
                    .route(
                        "/app/payments",
                        web::get().to(|m: RequireFreshMfa| async move { web::Json(json!({"user": m.user})) }),
                    )
                    .route(
                        "/app/pending",
                        web::get().to(|m: PendingMfa| async move { web::Json(json!({"user": m.user})) }),
                    )
                    .service(mfa_scope(state.clone()))
                    .wrap(state.middleware())
                    .wrap(
                        SessionMiddleware::builder(sessions.clone(), key.clone())
                            .cookie_name("sid".into())
                            .cookie_same_site(SameSite::Lax)
                            .cookie_content_security(CookieContentSecurity::Private)
                            .build(),
                    )
            })
            .workers(SERVER_THREADS)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
            tx.send(server.handle()).unwrap();
            let _ = server.await;
        });
    });
    let handle = rx.recv().unwrap();
    super::running(addr, prefix, mfa, Box::new(Stop(handle)))
}
