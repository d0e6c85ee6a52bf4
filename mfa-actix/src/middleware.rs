//! The middleware that confines pending sessions and ends sessions the
//! engine says are over, and the extractors that read what it found.

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures::future::LocalBoxFuture;

use mfa_core::http::{
    Admission, ApiError, CompleteLogin, PendingStep, Refusal, Refused, RequestState, SessionChange, admit,
};
use mfa_core::{MfaStore, UserId};

use crate::http::{error_response, redirect};
use crate::session::apply;
use crate::state::MfaState;

/// What the middleware found for this request (in its extensions).
#[derive(Clone)]
pub(crate) struct Checked {
    pub(crate) state: RequestState,
    pub(crate) refusal: Refusal,
}

/// The MFA middleware (a [`Transform`]); get it from
/// [`MfaState::middleware`] and `.wrap()` it **before** the session
/// middleware (actix runs the last-wrapped first). On each request it:
///
/// 1. loads the session's MFA record;
/// 2. asks the engine ([`Mfa::check_session`](mfa_core::Mfa::check_session))
///    whether the session may go on, and ends it when the user's sessions
///    were revoked (admin reset) or its cohort's forced re-login cut-off
///    passed: `401 {"error":"session_ended","reason":…}` (or a redirect);
/// 3. refuses a *pending* session anything but the MFA routes and the
///    paths given to [`allow_while_pending`](mfa_core::http::HttpSettings::allow_while_pending):
///    `401 {"error":"mfa_required"}` (or a redirect to the MFA page);
/// 4. records what it found for the extractors.
///
/// Refusals are responses (the right body of an [`EitherBody`]), never
/// errors. The decisions are [`mfa_core::http::admit`]'s.
pub struct MfaMiddleware<S> {
    state: MfaState<S>,
}

impl<S: MfaStore> MfaState<S> {
    /// The middleware for the whole application (the MFA scope installs
    /// it on itself too; it runs once per request).
    ///
    /// ```
    /// # use mfa_actix::*; use mfa_core::*; use actix_web::{App, web};
    /// # fn demo(state: MfaState<MemoryStore>) {
    /// let app = App::new()
    ///     .route("/account", web::get().to(|m: RequireMfa| async move { m.user.to_string() }))
    ///     .service(mfa_scope(state.clone()))
    ///     .wrap(state.middleware())
    ///     .wrap(actix_session::SessionMiddleware::new(MemorySessionStore::default(), actix_web::cookie::Key::generate()));
    /// # }
    /// ```
    pub fn middleware(&self) -> MfaMiddleware<S> {
        MfaMiddleware { state: self.clone() }
    }
}

impl<S, Svc, B> Transform<Svc, ServiceRequest> for MfaMiddleware<S>
where
    S: MfaStore,
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = MfaGuard<S, Svc>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: Svc) -> Self::Future {
        ready(Ok(MfaGuard {
            service: Rc::new(service),
            state: self.state.clone(),
        }))
    }
}

/// The service [`MfaMiddleware`] wraps around the application.
pub struct MfaGuard<S, Svc> {
    service: Rc<Svc>,
    state: MfaState<S>,
}

impl<S, Svc, B> Service<ServiceRequest> for MfaGuard<S, Svc>
where
    S: MfaStore,
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        let state = self.state.clone();
        Box::pin(async move {
            if req.extensions().contains::<Checked>() {
                return service.call(req).await.map(ServiceResponse::map_into_left_body);
            }
            match check(&state, req.request()).await {
                Ok(checked) => {
                    req.extensions_mut().insert(checked);
                    service.call(req).await.map(ServiceResponse::map_into_left_body)
                }
                Err(res) => Ok(req.into_response(res).map_into_right_body()),
            }
        })
    }
}

/// The per-request check; `Err` is the refusal to answer.
async fn check<S: MfaStore>(state: &MfaState<S>, req: &HttpRequest) -> Result<Checked, HttpResponse> {
    let settings = state.settings();
    let path = req.path();
    // JSON on the MFA routes and for clients that ask for it.
    let accept = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let refusal = settings.refusal_for(path, accept);
    let session = state.sessions().session(req);
    let record = match session.as_deref().map(|s| s.load()).transpose() {
        Ok(r) => r.flatten(),
        Err(e) => {
            tracing::error!(error = %e, "mfa: session load failed");
            return Err(error_response(ApiError::internal()));
        }
    };
    match admit(state.mfa(), record, settings.pending_allowed(path)).await {
        Admission::Proceed(found) => Ok(Checked {
            state: found,
            refusal: refusal.clone(),
        }),
        Admission::Refuse { refused, end_session } => {
            let change = if end_session {
                SessionChange::End
            } else {
                SessionChange::Keep
            };
            apply(session.as_deref(), change).map_err(error_response)?;
            Err(match refused.redirect(&refusal) {
                Some(to) => redirect(to),
                None => error_response(refused.error),
            })
        }
    }
}

/// What the middleware found, for the MFA routes.
pub(crate) fn found(req: &HttpRequest) -> Option<RequestState> {
    req.extensions().get::<Checked>().map(|c| c.state.clone())
}

/// An extractor's refusal: JSON or a redirect, per [`Refusal`]. It is a
/// [`ResponseError`], so actix answers it as that response.
#[derive(Debug)]
pub struct MfaRejection {
    error: ApiError,
    redirect: Option<String>,
}

impl MfaRejection {
    /// The error (for JSON apps that want to wrap it).
    pub fn error(&self) -> &ApiError {
        &self.error
    }
}

impl std::fmt::Display for MfaRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mfa: {}", self.error.body.error)
    }
}

impl ResponseError for MfaRejection {
    fn status_code(&self) -> actix_web::http::StatusCode {
        error_response(self.error.clone()).status()
    }

    fn error_response(&self) -> HttpResponse {
        match &self.redirect {
            Some(to) => redirect(to),
            None => error_response(self.error.clone()),
        }
    }
}

/// Runs one of [`RequestState`]'s checks on what the middleware found.
fn extract<T>(
    req: &HttpRequest,
    f: impl FnOnce(&RequestState) -> Result<T, Refused>,
) -> Result<T, MfaRejection> {
    let ext = req.extensions();
    let Some(c) = ext.get::<Checked>() else {
        tracing::error!("mfa: extractor used on a route without the MFA middleware (MfaState::middleware)");
        return Err(MfaRejection {
            error: ApiError::internal(),
            redirect: None,
        });
    };
    f(&c.state).map_err(|r| MfaRejection {
        redirect: r.redirect(&c.refusal).map(str::to_owned),
        error: r.error,
    })
}

/// Implements `FromRequest` for an extractor: one of [`RequestState`]'s
/// checks, then the extractor's constructor.
macro_rules! extractor {
    ($ty:ident, $check:path, $make:expr) => {
        impl FromRequest for $ty {
            type Error = MfaRejection;
            type Future = Ready<Result<Self, MfaRejection>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(extract(req, $check).map($make))
            }
        }
    };
}

/// A complete login: the second factor was verified, a trusted device
/// skipped it, or the policy does not require it for this user yet.
/// Refuses anonymous sessions (`401 unauthenticated`) and pending ones
/// (`401 mfa_required`). Needs the middleware ([`MfaState::middleware`]).
/// Its fields ([`CompleteLogin`]: `user`, `assurance`, `completed_by`,
/// `fresh`) are reached through `Deref`.
///
/// ```
/// use mfa_actix::RequireMfa;
/// async fn account(mfa: RequireMfa) -> String {
///     format!("hello {}", mfa.user)
/// }
/// ```
#[derive(Clone, Debug)]
pub struct RequireMfa(pub CompleteLogin);

/// A complete login whose second factor was verified within the engine's
/// `step_up_max_age` ([`Mfa::is_fresh`](mfa_core::Mfa::is_fresh)); a
/// trusted-device login never counts. Refuses with `403
/// {"error":"step_up_required"}` (the client then calls `POST
/// {prefix}/step-up`), besides [`RequireMfa`]'s refusals.
///
/// ```
/// use mfa_actix::RequireFreshMfa;
/// async fn change_phone(mfa: RequireFreshMfa) -> String {
///     format!("ok {}", mfa.user)
/// }
/// ```
#[derive(Clone, Debug)]
pub struct RequireFreshMfa(pub CompleteLogin);

impl std::ops::Deref for RequireMfa {
    type Target = CompleteLogin;

    fn deref(&self) -> &CompleteLogin {
        &self.0
    }
}

impl std::ops::Deref for RequireFreshMfa {
    type Target = CompleteLogin;

    fn deref(&self) -> &CompleteLogin {
        &self.0
    }
}

/// A pending login (password checked, second factor missing): for the
/// application's own "enter your code" page. Refuses anonymous sessions
/// (`401 unauthenticated`) and complete ones (`409 not_pending`). List the
/// page's path with
/// [`allow_while_pending`](mfa_core::http::HttpSettings::allow_while_pending).
///
/// ```
/// use mfa_actix::PendingMfa;
/// async fn code_page(p: PendingMfa) -> String {
///     format!("{} needs a second factor", p.user)
/// }
/// ```
#[derive(Clone, Debug)]
pub struct PendingMfa {
    /// The user.
    pub user: UserId,
    /// What is missing.
    pub step: PendingStep,
}

extractor!(RequireMfa, RequestState::complete, RequireMfa);
extractor!(RequireFreshMfa, RequestState::fresh_complete, RequireFreshMfa);
extractor!(PendingMfa, RequestState::pending, |(user, step)| PendingMfa {
    user,
    step
});
