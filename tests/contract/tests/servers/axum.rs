//! mfa-axum as a server under test.

use axum::Router;
use mfa_axum::{MfaSettings, MfaState, mfa_routes};
use mfa_axum::{axum, tower_sessions};
use mfa_contract_tests::axum_app::scaffold;
use mfa_contract_tests::{Running, ServerUnderTest, Setup};
use mfa_core::MemoryStore;

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
        let app: Router = scaffold::<MemoryStore, _>()
            .merge(mfa_routes(state.clone()))
            .with_state(state.clone());
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
