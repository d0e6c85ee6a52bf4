//! The HTTP contract suite (tests/contract) against the portal's MFA
//! routes, as the portal serves them: mounted by `app::start` +
//! `App::serve` on a real SQLite file (mfa-store-sqlx), with the portal's
//! persistent sessions, its guard settings (redirect refusals for browsers,
//! its pending-page allow-list), CSRF origin and security headers.
//!
//! The portal's own HTML pages are replaced by the suite's scaffold (a JSON
//! `POST /login` that accepts the suite's password for any user, `/logout`
//! and `/app/*`), because the suite must control the password step. Its
//! client asks for JSON, which is what the portal's mobile apps do, so the
//! guard answers it with JSON refusals instead of redirects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use axum::Router;
use base64::Engine as _;
use mfa_axum::mfa_routes;
use mfa_contract_tests::axum_app::scaffold;
use mfa_contract_tests::{Running, ServerUnderTest, Setup, contract_suite};
use mfa_store_sqlx::SqlxStore;
use tenant_portal::app::{self, App, EngineParts};
use tenant_portal::config::Config;

/// The portal in production mode (keys given, nothing seeded) on a fresh
/// SQLite file, with the suite's clock, outbox, policy and configuration.
struct Portal;

#[async_trait::async_trait]
impl ServerUnderTest for Portal {
    async fn start(&self, setup: Setup) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("portal.sqlite3").display()
        );
        let b64 = |b: [u8; 32]| base64::engine::general_purpose::STANDARD.encode(b);
        let mut config = Config::demo(addr, url);
        config.demo = false;
        config.mac_key = Some(b64(rand::random()));
        config.encryption_keys = Some(format!("1:{}", b64(rand::random())));
        let parts = EngineParts {
            clock: Some(setup.clock),
            outbox: Some(setup.outbox),
            policy: Some(setup.policy),
            config: Some(setup.config),
            pending_pages: vec!["/app/pending"],
        };
        let (portal, _) = app::start(config, parts).await.expect("portal starts");
        let routes: Router<App> = scaffold::<SqlxStore, App>().merge(mfa_routes(portal.mfa.clone()));
        let router = portal.serve(routes);
        let task = tokio::spawn(async move {
            let _ = app::listen(listener, router).await;
        });
        Running {
            base_url: format!("http://{addr}"),
            prefix: "/mfa".into(),
            session_cookie: "portal_session".into(),
            trust_cookie: portal.mfa.settings().trust_cookie_name().to_owned(),
            control: portal.mfa.mfa().clone(),
            guard: Box::new((dir, task.abort_handle())),
        }
    }
}

contract_suite!(Portal);
