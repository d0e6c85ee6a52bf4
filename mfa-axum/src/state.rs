//! [`MfaState`]: the engine plus the adapter's settings.

use std::sync::Arc;

use mfa_core::http::HttpSettings;
pub use mfa_core::http::{DEV_TRUST_COOKIE, Refusal};
use mfa_core::{Mfa, MfaStore};

use crate::session::{SessionSource, TowerSessions};

/// The adapter's settings: the framework-free [`HttpSettings`] plus the
/// session system.
///
/// ```
/// use mfa_axum::{MfaSettings, Refusal};
/// let s = MfaSettings::default()
///     .prefix("/auth/mfa")
///     .allow_while_pending("/logout")
///     .refusal(Refusal::Redirect { login: "/login".into(), mfa: "/login/code".into() });
/// assert_eq!(s.prefix_str(), "/auth/mfa");
/// ```
#[derive(Clone)]
pub struct MfaSettings {
    pub(crate) http: HttpSettings,
    pub(crate) sessions: Arc<dyn SessionSource>,
}

impl std::fmt::Debug for MfaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaSettings")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl Default for MfaSettings {
    /// [`HttpSettings::default`] and tower-sessions.
    fn default() -> Self {
        MfaSettings {
            http: HttpSettings::default(),
            sessions: Arc::new(TowerSessions),
        }
    }
}

impl From<HttpSettings> for MfaSettings {
    /// These framework-free settings with tower-sessions.
    fn from(http: HttpSettings) -> Self {
        MfaSettings {
            http,
            ..MfaSettings::default()
        }
    }
}

impl MfaSettings {
    fn with(mut self, f: impl FnOnce(HttpSettings) -> HttpSettings) -> Self {
        self.http = f(self.http);
        self
    }

    /// See [`HttpSettings::prefix`].
    pub fn prefix(self, prefix: &str) -> Self {
        self.with(|h| h.prefix(prefix))
    }

    /// The prefix in use.
    pub fn prefix_str(&self) -> &str {
        self.http.prefix_str()
    }

    /// See [`HttpSettings::dev_insecure_cookie`] (feature
    /// `danger-insecure-cookie`).
    #[cfg(feature = "danger-insecure-cookie")]
    pub fn dev_insecure_cookie(self) -> Self {
        self.with(HttpSettings::dev_insecure_cookie)
    }

    /// See [`HttpSettings::refusal`].
    pub fn refusal(self, refusal: Refusal) -> Self {
        self.with(|h| h.refusal(refusal))
    }

    /// See [`HttpSettings::allow_origin`].
    pub fn allow_origin(self, origin: &str) -> Self {
        self.with(|h| h.allow_origin(origin))
    }

    /// See [`HttpSettings::allow_while_pending`].
    pub fn allow_while_pending(self, path: &str) -> Self {
        self.with(|h| h.allow_while_pending(path))
    }

    /// See [`HttpSettings::body_limit`].
    pub fn body_limit(self, bytes: usize) -> Self {
        self.with(|h| h.body_limit(bytes))
    }

    /// Brings your own session system (default: [`TowerSessions`]).
    pub fn session_source(mut self, source: impl SessionSource) -> Self {
        self.sessions = Arc::new(source);
        self
    }

    /// The trust cookie's name: `__Host-mfa_trust`, or
    /// [`DEV_TRUST_COOKIE`] with [`dev_insecure_cookie`](Self::dev_insecure_cookie).
    pub fn trust_cookie_name(&self) -> &'static str {
        self.http.trust_cookie_name()
    }

    /// The framework-free part.
    pub fn http(&self) -> &HttpSettings {
        &self.http
    }
}

/// The engine (shared) and the adapter's settings: the state of
/// [`mfa_routes`](crate::mfa_routes) and of the layer. Cheap to clone.
///
/// ```
/// use mfa_axum::{MfaSettings, MfaState};
/// use mfa_core::*;
/// # fn demo() -> Result<(), MfaError> {
/// let mfa = Mfa::builder(MemoryStore::new(), Keys::generate_ephemeral()?, MfaConfig::builder("Demo").build()?).build();
/// let state = MfaState::new(mfa, MfaSettings::default());
/// assert_eq!(state.settings().prefix_str(), "/mfa");
/// # Ok(()) }
/// # demo().unwrap();
/// ```
pub struct MfaState<S> {
    pub(crate) mfa: Arc<Mfa<S>>,
    pub(crate) settings: Arc<MfaSettings>,
}

impl<S> Clone for MfaState<S> {
    fn clone(&self) -> Self {
        MfaState {
            mfa: self.mfa.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<S> std::fmt::Debug for MfaState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<S: MfaStore> MfaState<S> {
    /// Wraps an engine.
    pub fn new(mfa: Mfa<S>, settings: MfaSettings) -> Self {
        Self::from_arc(Arc::new(mfa), settings)
    }

    /// Wraps a shared engine (the app keeps its own `Arc` for staff actions).
    pub fn from_arc(mfa: Arc<Mfa<S>>, settings: MfaSettings) -> Self {
        MfaState {
            mfa,
            settings: Arc::new(settings),
        }
    }

    /// The engine.
    pub fn mfa(&self) -> &Arc<Mfa<S>> {
        &self.mfa
    }

    /// The settings.
    pub fn settings(&self) -> &MfaSettings {
        &self.settings
    }
}
