//! The adapters as servers under test, shared by the suites and the
//! parity test (each test binary uses some of them).
#![allow(dead_code)]

pub mod actix;
pub mod axum;

use std::sync::Arc;

use mfa_contract_tests::{Running, Setup};
use mfa_core::http::HttpSettings;
use mfa_core::{Keys, MemoryStore, Mfa};

/// The engine of one server, built from the suite's [`Setup`].
pub fn engine(setup: Setup) -> Arc<Mfa<MemoryStore>> {
    let keys = Keys::generate_ephemeral().unwrap();
    let builder = Mfa::builder(MemoryStore::new(), keys, setup.config);
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
pub fn running(
    addr: std::net::SocketAddr,
    prefix: &str,
    mfa: Arc<Mfa<MemoryStore>>,
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
