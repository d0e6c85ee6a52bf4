//! [`MfaState`]: the engine, the settings and the session system.

use std::sync::Arc;

use mfa_core::http::HttpSettings;
use mfa_core::{Mfa, MfaStore};

use crate::session::{ActixSessions, SessionSource};

/// The adapter's settings (prefix, refusal mode, trust cookie, extra
/// origins, paths a pending session may reach, body limit): the
/// framework-free [`HttpSettings`], shared with mfa-axum.
pub type MfaSettings = HttpSettings;

/// The engine (shared), the settings and the session system: what
/// [`mfa_scope`](crate::mfa_scope), the middleware and the login calls
/// need. Cheap to clone.
///
/// ```
/// use mfa_actix::{MfaSettings, MfaState};
/// use mfa_core::*;
/// # fn demo() -> Result<(), MfaError> {
/// let mfa = Mfa::builder(MemoryStore::new(), Keys::generate_ephemeral()?, MfaConfig::builder("Demo").build()?).build();
/// let state = MfaState::new(mfa, MfaSettings::default().prefix("/auth/mfa"));
/// assert_eq!(state.settings().prefix_str(), "/auth/mfa");
/// # Ok(()) }
/// # demo().unwrap();
/// ```
pub struct MfaState<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    mfa: Arc<Mfa<S>>,
    settings: HttpSettings,
    sessions: Box<dyn SessionSource>,
}

impl<S> Clone for MfaState<S> {
    fn clone(&self) -> Self {
        MfaState {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> std::fmt::Debug for MfaState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MfaState").field(&self.inner.settings).finish()
    }
}

impl<S: MfaStore> MfaState<S> {
    /// Wraps an engine; sessions from actix-session ([`ActixSessions`]).
    pub fn new(mfa: Mfa<S>, settings: MfaSettings) -> Self {
        Self::from_arc(Arc::new(mfa), settings)
    }

    /// Wraps a shared engine (the app keeps its own `Arc` for staff
    /// actions); sessions from actix-session ([`ActixSessions`]).
    pub fn from_arc(mfa: Arc<Mfa<S>>, settings: MfaSettings) -> Self {
        Self::with_sessions(mfa, settings, ActixSessions)
    }

    /// Wraps a shared engine with your own session system.
    pub fn with_sessions(mfa: Arc<Mfa<S>>, settings: MfaSettings, sessions: impl SessionSource) -> Self {
        let inner = Inner {
            mfa,
            settings,
            sessions: Box::new(sessions),
        };
        MfaState {
            inner: Arc::new(inner),
        }
    }
}

impl<S> MfaState<S> {
    /// The engine.
    pub fn mfa(&self) -> &Arc<Mfa<S>> {
        &self.inner.mfa
    }

    /// The settings.
    pub fn settings(&self) -> &MfaSettings {
        &self.inner.settings
    }

    /// The session system.
    pub(crate) fn sessions(&self) -> &dyn SessionSource {
        &*self.inner.sessions
    }
}
