//! Session glue: the small [`MfaSession`] trait the adapter needs from a
//! session system, its implementation for `actix_session::Session`, and an
//! in-memory server-side store for actix-session.
//!
//! An application with its own sessions implements [`MfaSession`] and a
//! [`SessionSource`] and passes the source to
//! [`MfaState::with_sessions`](crate::MfaState::with_sessions).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_session::{Session, SessionExt};
use actix_web::HttpRequest;
use actix_web::cookie::time::Duration;

use mfa_core::http::{ApiError, SESSION_KEY, SessionChange, SessionError, SessionToken};

/// What the adapter needs from one request's session. Calls are
/// synchronous: actix session systems keep the state in the request and
/// persist it when the response goes out.
///
/// ```
/// use mfa_actix::{MfaSession, SessionError};
/// use mfa_core::http::SessionToken;
/// use std::cell::RefCell;
/// /// A toy session (tests): one sealed record in memory.
/// struct Toy(RefCell<Option<SessionToken>>);
/// impl MfaSession for Toy {
///     fn load(&self) -> Result<Option<SessionToken>, SessionError> { Ok(self.0.borrow().clone()) }
///     fn save(&self, r: &SessionToken) -> Result<(), SessionError> { *self.0.borrow_mut() = Some(r.clone()); Ok(()) }
///     fn renew(&self) -> Result<(), SessionError> { Ok(()) }
///     fn end(&self) -> Result<(), SessionError> { *self.0.borrow_mut() = None; Ok(()) }
/// }
/// ```
pub trait MfaSession {
    /// The sealed MFA record of this session, if any (the engine
    /// authenticates it).
    fn load(&self) -> Result<Option<SessionToken>, SessionError>;
    /// Stores the sealed record (persisted by the end of the request).
    fn save(&self, record: &SessionToken) -> Result<(), SessionError>;
    /// Gives the session a new id, keeping its data, and invalidates the
    /// old id (against session fixation).
    fn renew(&self) -> Result<(), SessionError>;
    /// Ends the session: data gone, id invalid (logout, forced logout).
    fn end(&self) -> Result<(), SessionError>;
}

/// Finds the session of a request.
pub trait SessionSource: Send + Sync + 'static {
    /// The session, or `None` when there is none.
    fn session(&self, req: &HttpRequest) -> Option<Box<dyn MfaSession>>;
}

/// The default [`SessionSource`]: `actix_session::Session` (install
/// `actix_session::SessionMiddleware` outside the MFA middleware, i.e.
/// `.wrap()` it after).
#[derive(Clone, Copy, Debug, Default)]
pub struct ActixSessions;

impl SessionSource for ActixSessions {
    fn session(&self, req: &HttpRequest) -> Option<Box<dyn MfaSession>> {
        Some(Box::new(req.get_session()))
    }
}

impl MfaSession for Session {
    /// An undecodable record (e.g. written by an incompatible version) is
    /// dropped and the session treated as anonymous.
    fn load(&self) -> Result<Option<SessionToken>, SessionError> {
        match self.get::<SessionToken>(SESSION_KEY) {
            Ok(record) => Ok(record),
            Err(e) => {
                tracing::warn!(error = %e, "mfa: dropping an undecodable session record");
                self.remove(SESSION_KEY);
                Ok(None)
            }
        }
    }

    fn save(&self, record: &SessionToken) -> Result<(), SessionError> {
        self.insert(SESSION_KEY, record)
            .map_err(|e| SessionError(Box::new(e)))
    }

    fn renew(&self) -> Result<(), SessionError> {
        Session::renew(self);
        Ok(())
    }

    fn end(&self) -> Result<(), SessionError> {
        self.purge();
        Ok(())
    }
}

/// Applies what a flow decided about the session.
pub(crate) fn apply(session: Option<&dyn MfaSession>, change: SessionChange) -> Result<(), ApiError> {
    let Some(session) = session else {
        return Ok(());
    };
    let outcome = if let SessionChange::Renew(record) = change {
        session.renew().and_then(|()| session.save(&record))
    } else if change == SessionChange::End {
        session.end()
    } else {
        Ok(())
    };
    outcome.map_err(|e| {
        tracing::error!(error = %e, "mfa: session backend failed");
        ApiError::internal()
    })
}

type State = HashMap<String, String>;
type Entries = HashMap<String, (State, Instant)>;

/// A server-side actix-session store in this process's memory: session ids
/// are random, a renewed or purged id is deleted at once, entries expire
/// with the session TTL. For tests, examples and single-process
/// deployments (sessions are lost on restart); use a shared store (Redis,
/// a database) behind several processes. Cheap to clone (shared).
///
/// ```
/// use actix_session::SessionMiddleware;
/// use actix_web::cookie::Key;
/// let store = mfa_actix::MemorySessionStore::default();
/// let _mw = SessionMiddleware::new(store, Key::generate());
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemorySessionStore {
    entries: Arc<Mutex<Entries>>,
}

impl MemorySessionStore {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Entries>, anyhow::Error> {
        self.entries
            .lock()
            .map_err(|_| anyhow::anyhow!("session store lock poisoned"))
    }

    fn put(&self, key: &str, state: State, ttl: &Duration) -> Result<(), anyhow::Error> {
        let secs = u64::try_from(ttl.whole_seconds()).unwrap_or(0);
        let until = Instant::now() + std::time::Duration::from_secs(secs);
        let mut map = self.lock()?;
        map.retain(|_, (_, exp)| *exp > Instant::now());
        map.insert(key.to_owned(), (state, until));
        Ok(())
    }
}

fn new_key() -> Result<SessionKey, anyhow::Error> {
    let bytes: [u8; 32] = rand::random();
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    SessionKey::try_from(text).map_err(anyhow::Error::from)
}

impl SessionStore for MemorySessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let map = self.lock().map_err(LoadError::Other)?;
        Ok(map
            .get(key.as_ref())
            .filter(|(_, exp)| *exp > Instant::now())
            .map(|(state, _)| state.clone()))
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = new_key().map_err(SaveError::Other)?;
        self.put(key.as_ref(), state, ttl).map_err(SaveError::Other)?;
        Ok(key)
    }

    async fn update(&self, key: SessionKey, state: State, ttl: &Duration) -> Result<SessionKey, UpdateError> {
        let known = self
            .lock()
            .map_err(UpdateError::Other)?
            .contains_key(key.as_ref());
        if !known {
            // Never resurrect an id the store does not know: a new one.
            return self
                .save(state, ttl)
                .await
                .map_err(|e| UpdateError::Other(e.into()));
        }
        self.put(key.as_ref(), state, ttl).map_err(UpdateError::Other)?;
        Ok(key)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let state = self.lock()?.get(key.as_ref()).map(|(s, _)| s.clone());
        match state {
            Some(state) => self.put(key.as_ref(), state, ttl),
            None => Ok(()),
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        self.lock()?.remove(key.as_ref());
        Ok(())
    }
}
