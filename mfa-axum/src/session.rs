//! Session glue: the small [`MfaSession`] trait the adapter needs from a
//! session system, and its implementation for `tower_sessions::Session`.
//! An application with its own sessions implements [`MfaSession`] and a
//! [`SessionSource`] and passes the source to
//! [`MfaSettings::session_source`](crate::MfaSettings::session_source).

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::Extensions;

use crate::contract::{SESSION_KEY, SessionToken};

pub use mfa_core::http::SessionError;

/// What the adapter needs from one request's session.
///
/// ```
/// use mfa_axum::{MfaSession, SessionError, contract::SessionToken};
/// use std::sync::Mutex;
/// /// A toy session (tests): one sealed record in memory.
/// struct Toy(Mutex<Option<SessionToken>>);
/// #[async_trait::async_trait]
/// impl MfaSession for Toy {
///     async fn load(&self) -> Result<Option<SessionToken>, SessionError> { Ok(self.0.lock().unwrap().clone()) }
///     async fn save(&self, r: &SessionToken) -> Result<(), SessionError> { *self.0.lock().unwrap() = Some(r.clone()); Ok(()) }
///     async fn cycle_id(&self) -> Result<(), SessionError> { Ok(()) }
///     async fn end(&self) -> Result<(), SessionError> { *self.0.lock().unwrap() = None; Ok(()) }
/// }
/// ```
#[async_trait]
pub trait MfaSession: Send + Sync {
    /// The sealed MFA record of this session, if any (the engine
    /// authenticates it: a store needs no integrity of its own).
    async fn load(&self) -> Result<Option<SessionToken>, SessionError>;
    /// Stores the sealed record (it must be persisted by the end of the
    /// request).
    async fn save(&self, record: &SessionToken) -> Result<(), SessionError>;
    /// Gives the session a new id, keeping its data, and invalidates the
    /// old id (against session fixation). Called after the password and
    /// after the second factor.
    async fn cycle_id(&self) -> Result<(), SessionError>;
    /// Ends the session: data gone, id invalid (logout, forced logout).
    async fn end(&self) -> Result<(), SessionError>;
}

/// Finds the session of a request (usually in its extensions, put there by
/// the session system's layer).
pub trait SessionSource: Send + Sync + 'static {
    /// The session, or `None` when the session layer is missing.
    fn session(&self, extensions: &Extensions) -> Option<Arc<dyn MfaSession>>;
}

/// The default [`SessionSource`]: `tower_sessions::Session` from the
/// request extensions (install `tower_sessions::SessionManagerLayer`
/// outside the MFA layer).
#[derive(Clone, Copy, Debug, Default)]
pub struct TowerSessions;

impl SessionSource for TowerSessions {
    fn session(&self, extensions: &Extensions) -> Option<Arc<dyn MfaSession>> {
        extensions
            .get::<tower_sessions::Session>()
            .cloned()
            .map(|s| Arc::new(s) as Arc<dyn MfaSession>)
    }
}

fn backend(e: tower_sessions::session::Error) -> SessionError {
    SessionError(Box::new(e))
}

#[async_trait]
impl MfaSession for tower_sessions::Session {
    /// An undecodable record (e.g. written by an incompatible version) is
    /// dropped and the session treated as anonymous, rather than failing
    /// every request of that session.
    async fn load(&self) -> Result<Option<SessionToken>, SessionError> {
        let Some(value) = self.get_value(SESSION_KEY).await.map_err(backend)? else {
            return Ok(None);
        };
        match serde_json::from_value(value) {
            Ok(record) => Ok(Some(record)),
            Err(e) => {
                tracing::warn!(error = %e, "mfa: dropping an undecodable session record");
                self.remove_value(SESSION_KEY).await.map_err(backend)?;
                Ok(None)
            }
        }
    }

    async fn save(&self, record: &SessionToken) -> Result<(), SessionError> {
        self.insert(SESSION_KEY, record).await.map_err(backend)
    }

    async fn cycle_id(&self) -> Result<(), SessionError> {
        tower_sessions::Session::cycle_id(self).await.map_err(backend)
    }

    async fn end(&self) -> Result<(), SessionError> {
        self.flush().await.map_err(backend)
    }
}

/// Applies what a flow decided about the session.
pub(crate) async fn apply(
    session: &dyn MfaSession,
    change: mfa_core::http::SessionChange,
) -> Result<(), crate::contract::ApiError> {
    use mfa_core::http::SessionChange;
    let done = match change {
        SessionChange::Keep => Ok(()),
        SessionChange::Renew(token) => match session.cycle_id().await {
            Ok(()) => session.save(&token).await,
            Err(e) => Err(e),
        },
        SessionChange::End => session.end().await,
        _ => Ok(()),
    };
    done.map_err(|e| {
        tracing::error!(error = %e, "mfa: session backend failed");
        crate::contract::ApiError::internal()
    })
}
