//! mfa-axum as a server under test.

use axum::Router;
use mfa_axum::{MfaSettings, MfaState, mfa_routes};
use mfa_axum::{axum, tower_sessions};
use mfa_contract_tests::axum_app::scaffold;
use mfa_contract_tests::yielding::YieldingStore;
use mfa_contract_tests::{Running, ServerUnderTest, Setup};
use mfa_core::{MemoryStore, MfaStore};

use super::{SERVER_THREADS, Store};

/// mfa-axum with its routes under `prefix`, served by its own
/// multi-threaded runtime of [`SERVER_THREADS`] threads (not the test's),
/// so requests run in parallel whatever runtime the test has.
pub struct AxumServer {
    /// The MFA routes' prefix.
    pub prefix: &'static str,
    /// The engine's store.
    pub store: Store,
}

impl AxumServer {
    /// Routes under `prefix`, state in a `MemoryStore`.
    pub const fn new(prefix: &'static str) -> Self {
        AxumServer {
            prefix,
            store: Store::Memory,
        }
    }
}

#[async_trait::async_trait]
impl ServerUnderTest for AxumServer {
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

/// Stops the server's runtime when the test drops it.
struct Stop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

fn serve<S: MfaStore>(prefix: &'static str, setup: Setup, store: S) -> Running {
    let mfa = super::engine(setup, store);
    let settings = MfaSettings::from(super::settings(prefix));
    let state = MfaState::from_arc(mfa.clone(), settings);
    let app: Router = scaffold::<S, _>()
        .merge(mfa_routes(state.clone()))
        .with_state(state.clone());
    let app = state.protect(app).layer(
        tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
            .with_name("sid")
            .with_same_site(tower_sessions::cookie::SameSite::Lax),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(SERVER_THREADS)
        .enable_all()
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            tokio::select! {
                _ = axum::serve(listener, app) => {}
                _ = stopped => {}
            }
        });
        // Off any runtime: the connections' tasks are dropped here.
        runtime.shutdown_background();
    });
    super::running(addr, prefix, mfa, Box::new(Stop(Some(stop))))
}
