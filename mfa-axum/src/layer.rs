//! The layer that confines pending sessions and ends sessions the engine
//! says are over, and the extractors that read what it found.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use axum_extra::extract::cookie::CookieJar;
use mfa_core::http::{Admission, Call, CompleteLogin, Refused, Reply, RequestState, SessionChange, admit};
use mfa_core::{Assurance, Audience, Caller, CompletedBy, MfaStore, UserId};

use crate::contract::{ApiError, PendingStep};
use crate::http::{add_cookie, error_response};
use crate::session::{MfaSession, apply};
use crate::state::{MfaState, Refusal};

/// What the layer found for this request (in its extensions).
#[derive(Clone)]
pub(crate) struct Checked {
    pub(crate) session: Option<Arc<dyn MfaSession>>,
    pub(crate) state: RequestState,
    pub(crate) refusal: Refusal,
}

/// Refuses a request per the refusal mode.
fn refuse(refusal: &Refusal, refused: Refused) -> Response {
    match refused.redirect(refusal) {
        Some(to) => Redirect::to(to).into_response(),
        None => error_response(refused.error),
    }
}

/// The MFA middleware; install it with [`MfaState::protect`] (or
/// `axum::middleware::from_fn_with_state(state, mfa_axum::guard::<S>)`),
/// *inside* the session layer. On each request it:
///
/// 1. loads the session's MFA record;
/// 2. asks the engine ([`Mfa::check_session`](mfa_core::Mfa::check_session))
///    whether the session may go on, and ends it when the user's sessions
///    were revoked (admin reset) or its cohort's forced re-login cut-off
///    passed: `401 {"error":"session_ended","reason":…}` (or a redirect);
/// 3. refuses a *pending* session anything but the MFA routes and the
///    paths given to [`allow_while_pending`](crate::MfaSettings::allow_while_pending):
///    `401 {"error":"mfa_required"}` (or a redirect to the MFA page);
/// 4. records what it found for the extractors.
///
/// The decisions are [`mfa_core::http::admit`]'s.
pub async fn guard<S: MfaStore>(State(state): State<MfaState<S>>, mut req: Request, next: Next) -> Response {
    if req.extensions().get::<Checked>().is_some() {
        return next.run(req).await;
    }
    let settings = &state.settings;
    let path = req.uri().path();
    // JSON on the MFA routes and for clients that ask for it.
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let refusal = settings.http.refusal_for(path, accept);
    let pending_allowed = settings.http.pending_allowed(path);
    let session = settings.sessions.session(req.extensions());
    let token = match &session {
        Some(session) => match session.load().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "mfa: session load failed");
                return error_response(ApiError::internal());
            }
        },
        None => {
            tracing::warn!(
                "mfa: no session on the request; is the session layer installed outside the MFA layer?"
            );
            None
        }
    };
    let checked_state = match admit(&state.mfa, token, pending_allowed).await {
        Admission::Proceed(s) => s,
        Admission::Refuse { refused, end_session } => {
            if end_session
                && let Some(session) = &session
                && let Err(e) = apply(&**session, SessionChange::End).await
            {
                return error_response(e);
            }
            return refuse(&refusal, refused);
        }
    };
    req.extensions_mut().insert(Checked {
        session,
        state: checked_state,
        refusal: refusal.clone(),
    });
    next.run(req).await
}

impl<S: MfaStore> MfaState<S> {
    /// Applies [`guard`] to every route of `router` (install the session
    /// layer after this call, so that it runs first).
    ///
    /// ```
    /// # use mfa_axum::*; use mfa_core::*; use axum::{Router, routing::get};
    /// # fn demo(state: MfaState<MemoryStore>) {
    /// let app: Router = Router::new()
    ///     .route("/account", get(|_: RequireMfa| async { "hello" }))
    ///     .merge(mfa_routes(state.clone()));
    /// let app = state.protect(app)
    ///     .layer(tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default()));
    /// # }
    /// ```
    pub fn protect<T: Clone + Send + Sync + 'static>(&self, router: Router<T>) -> Router<T> {
        router.layer(axum::middleware::from_fn_with_state(self.clone(), guard::<S>))
    }
}

/// An extractor's refusal: JSON or a redirect, per [`Refusal`].
#[derive(Debug)]
pub struct MfaRejection {
    error: ApiError,
    redirect: Option<String>,
}

impl MfaRejection {
    fn new(checked: Option<&Checked>, refused: Refused) -> Self {
        let redirect = checked
            .and_then(|c| refused.redirect(&c.refusal))
            .map(str::to_owned);
        MfaRejection {
            error: refused.error,
            redirect,
        }
    }

    /// The error (for JSON apps that want to wrap it).
    pub fn error(&self) -> &ApiError {
        &self.error
    }
}

impl IntoResponse for MfaRejection {
    fn into_response(self) -> Response {
        match self.redirect {
            Some(to) => Redirect::to(&to).into_response(),
            None => error_response(self.error),
        }
    }
}

fn checked(parts: &Parts) -> Result<&Checked, MfaRejection> {
    parts.extensions.get::<Checked>().ok_or_else(|| {
        tracing::error!("mfa: extractor used on a route without the MFA layer (MfaState::protect)");
        MfaRejection::new(
            None,
            Refused {
                error: ApiError::internal(),
                mfa_page: false,
                redirectable: false,
            },
        )
    })
}

/// Runs one of [`RequestState`]'s checks on what the layer found.
fn check<T>(parts: &Parts, f: impl FnOnce(&RequestState) -> Result<T, Refused>) -> Result<T, MfaRejection> {
    let c = checked(parts)?;
    f(&c.state).map_err(|r| MfaRejection::new(Some(c), r))
}

/// A complete login: the second factor was verified, a trusted device
/// skipped it, or the policy does not require it for this user yet.
/// Refuses anonymous sessions (`401 unauthenticated`) and pending ones
/// (`401 mfa_required`). Needs the layer ([`MfaState::protect`]).
///
/// ```
/// use mfa_axum::RequireMfa;
/// async fn account(mfa: RequireMfa) -> String {
///     format!("hello {}", mfa.user)
/// }
/// ```
#[derive(Clone, Debug)]
pub struct RequireMfa {
    /// The user.
    pub user: UserId,
    /// How strongly the session is authenticated.
    pub assurance: Assurance,
    /// Why the login completed.
    pub completed_by: CompletedBy,
    /// Whether the session is freshly verified ([`Mfa::is_fresh`](mfa_core::Mfa::is_fresh)).
    pub fresh: bool,
    login: CompleteLogin,
}

impl RequireMfa {
    /// The caller this login is, for engine calls that check assurance
    /// (enrolment, removing a factor, recovery codes).
    pub fn caller(&self) -> Caller {
        self.login.caller()
    }

    /// The platform and groups of the login.
    pub fn audience(&self) -> &Audience {
        &self.login.audience
    }
}

impl From<CompleteLogin> for RequireMfa {
    fn from(login: CompleteLogin) -> Self {
        RequireMfa {
            user: login.user.clone(),
            assurance: login.assurance,
            completed_by: login.completed_by,
            fresh: login.fresh,
            login,
        }
    }
}

impl<St: Send + Sync> FromRequestParts<St> for RequireMfa {
    type Rejection = MfaRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, MfaRejection> {
        Ok(RequireMfa::from(check(parts, RequestState::complete)?))
    }
}

/// A complete login whose second factor was verified within the engine's
/// `step_up_max_age` ([`Mfa::is_fresh`](mfa_core::Mfa::is_fresh)); a
/// trusted-device login never counts. For payments and changes of phone,
/// email, password or MFA settings. Refuses with `403
/// {"error":"step_up_required"}` (the client then calls `POST
/// {prefix}/step-up`), besides [`RequireMfa`]'s refusals.
///
/// ```
/// use mfa_axum::RequireFreshMfa;
/// async fn change_phone(mfa: RequireFreshMfa) -> String {
///     format!("ok {}", mfa.user)
/// }
/// ```
#[derive(Clone, Debug)]
pub struct RequireFreshMfa {
    /// The user.
    pub user: UserId,
    /// The fresh assurance.
    pub assurance: Assurance,
    login: CompleteLogin,
}

impl RequireFreshMfa {
    /// The caller this login is: fresh enough for the engine's step-up
    /// checks.
    pub fn caller(&self) -> Caller {
        self.login.caller()
    }
}

impl<St: Send + Sync> FromRequestParts<St> for RequireFreshMfa {
    type Rejection = MfaRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, MfaRejection> {
        let login = check(parts, RequestState::fresh_complete)?;
        Ok(RequireFreshMfa {
            user: login.user.clone(),
            assurance: login.assurance,
            login,
        })
    }
}

/// A pending login (password checked, second factor missing): for the
/// application's own "enter your code" page. Refuses anonymous sessions
/// (`401 unauthenticated`) and complete ones (`409 not_pending`). The
/// layer keeps pending sessions off application routes, so list the page's
/// path with [`allow_while_pending`](crate::MfaSettings::allow_while_pending).
///
/// ```
/// use mfa_axum::PendingMfa;
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

impl<St: Send + Sync> FromRequestParts<St> for PendingMfa {
    type Rejection = MfaRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, MfaRejection> {
        let (user, step) = check(parts, RequestState::pending)?;
        Ok(PendingMfa { user, step })
    }
}

/// The request's MFA context, for applications that drive the MFA flows
/// from their own pages (HTML forms) instead of the JSON routes: it runs a
/// contract [`Call`] through exactly the path the JSON routes take
/// ([`mfa_core::http::handle`]) and applies the session change, so the
/// application never builds or edits session state. Needs the layer.
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// use axum_extra::extract::cookie::CookieJar;
/// use mfa_axum::{MfaRequest, MfaState};
/// use mfa_axum::contract::{Call, CodeTarget, VerifyRequest};
/// use mfa_core::MemoryStore;
/// async fn code_form(mfa: MfaRequest, axum::extract::State(st): axum::extract::State<MfaState<MemoryStore>>,
///                    jar: CookieJar) -> Response {
///     let body = VerifyRequest { target: CodeTarget::RecoveryCode {}, code: "abcd-efgh".into(),
///                                trust_device: false, device_label: None };
///     match mfa.run(&st, Call::Verify(body, None), jar).await {
///         Ok((_reply, jar)) => (jar, "welcome").into_response(),
///         Err(e) => mfa_axum::error_response(e),
///     }
/// }
/// ```
#[derive(Clone)]
pub struct MfaRequest {
    checked: Checked,
}

impl std::fmt::Debug for MfaRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaRequest")
            .field("state", &self.checked.state)
            .finish_non_exhaustive()
    }
}

impl<St: Send + Sync> FromRequestParts<St> for MfaRequest {
    type Rejection = MfaRejection;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, MfaRejection> {
        Ok(MfaRequest {
            checked: checked(parts)?.clone(),
        })
    }
}

impl MfaRequest {
    /// What the layer found (the authenticated session record, freshness).
    pub fn state(&self) -> &RequestState {
        &self.checked.state
    }

    async fn apply(&self, change: SessionChange) -> Result<(), ApiError> {
        match &self.checked.session {
            Some(session) => apply(&**session, change).await,
            None if change == SessionChange::Keep => Ok(()),
            None => Err(ApiError::internal()),
        }
    }

    /// Runs `call` as the JSON route would, applies the session change and
    /// adds the trust cookie (if one was issued) to `jar`.
    pub async fn run<S: MfaStore>(
        &self,
        state: &MfaState<S>,
        call: Call,
        jar: CookieJar,
    ) -> Result<(Reply, CookieJar), ApiError> {
        let cookie = state.settings.http.trust_cookie();
        let reply = mfa_core::http::handle(&state.mfa, cookie, self.checked.state.clone(), call).await?;
        self.apply(reply.session.clone()).await?;
        let jar = add_cookie(jar, reply.set_cookie.clone());
        Ok((reply, jar))
    }

    /// The logged-in user changed their password (the application checked
    /// the current one and a fresh factor): see
    /// [`mfa_core::http::password_changed`]. Every other session of the
    /// user ends and every trusted device is revoked; this one goes on.
    pub async fn password_changed<S: MfaStore>(&self, state: &MfaState<S>) -> Result<(), ApiError> {
        let change = mfa_core::http::password_changed(&state.mfa, &self.checked.state).await?;
        self.apply(change).await
    }

    /// The user skips the grace period's offer to enrol.
    pub async fn decline_enroll_offer<S: MfaStore>(&self, state: &MfaState<S>) -> Result<(), ApiError> {
        self.apply(mfa_core::http::decline_enroll_offer(
            &state.mfa,
            &self.checked.state,
        ))
        .await
    }
}
