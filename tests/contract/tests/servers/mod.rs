//! The adapters as servers under test, shared by the suites and the
//! parity test (each test binary uses some of them).
#![allow(dead_code)]

pub mod actix;
pub mod axum;

use std::sync::Arc;

use mfa_contract_tests::yielding::Interleavings;
use mfa_contract_tests::{Running, Setup};
use mfa_core::http::HttpSettings;
use mfa_core::{Keys, Mfa, MfaStore};

/// How many threads serve requests: actix workers, axum runtime threads.
/// More than one, so that the race scenarios' requests run in parallel.
pub const SERVER_THREADS: usize = 4;

/// The store a server under test keeps its state in.
#[derive(Clone)]
pub enum Store {
    /// `MemoryStore`.
    Memory,
    /// `MemoryStore` behind a `YieldingStore` recording into this.
    Yielding(Arc<Interleavings>),
}

/// The engine of one server, built from the suite's [`Setup`].
pub fn engine<S: MfaStore>(setup: Setup, store: S) -> Arc<Mfa<S>> {
    let keys = Keys::generate_ephemeral().unwrap();
    let builder = Mfa::builder(store, keys, setup.config);
    Arc::new(
        builder
            .policy(setup.policy)
            .clock(setup.clock)
            .sender(setup.outbox)
            .build(),
    )
}

/// The settings both servers use: MFA routes under `prefix`; the fake
/// login, logout and the pending page reachable by pending sessions.
pub fn settings(prefix: &str) -> HttpSettings {
    HttpSettings::default()
        .prefix(prefix)
        .allow_while_pending("/login")
        .allow_while_pending("/logout")
        .allow_while_pending("/app/pending")
}

/// The description of a started server: the session cookie is `sid` in
/// both, the trust cookie the default `__Host-mfa_trust`.
pub fn running<S: MfaStore>(
    addr: std::net::SocketAddr,
    prefix: &str,
    mfa: Arc<Mfa<S>>,
    guard: Box<dyn std::any::Any + Send + Sync>,
) -> Running {
    Running {
        base_url: format!("http://{addr}"),
        prefix: prefix.to_owned(),
        session_cookie: "sid".into(),
        trust_cookie: settings(prefix).trust_cookie_name().to_owned(),
        control: mfa,
        guard,
    }
}
