//! The calls an application's own handlers make: login after the password,
//! logout, and recording a second factor verified from its own pages.

use actix_web::cookie::Cookie;
use actix_web::{HttpRequest, HttpResponse};

use mfa_core::http::{ApiError, LoginOutcome, SessionChange, SessionRecord};
use mfa_core::{Audience, MfaStore, UserId, Verified};

use crate::http::{error_response, reply_response};
use crate::session::{MfaSession, apply};
use crate::state::MfaState;

fn session_of<S>(state: &MfaState<S>, req: &HttpRequest) -> Result<Box<dyn MfaSession>, ApiError> {
    state.sessions().session(req).ok_or_else(|| {
        tracing::error!("mfa: no session on the request; is the session middleware installed?");
        ApiError::internal()
    })
}

/// Call after the password was checked (login, password reset,
/// registration, token refresh: every path into a session). It renews the
/// session id, reads the trust cookie, asks the engine what the login
/// needs ([`Mfa::begin_login`](mfa_core::Mfa::begin_login)) and records
/// the answer in the session. `audience` carries the platform (and
/// groups) as the application knows it.
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse, web};
/// use mfa_actix::{MfaState, login_response, start_login};
/// use mfa_core::{Audience, MemoryStore, Platform, UserId};
///
/// #[derive(serde::Deserialize)]
/// struct Login { user: String, password: String }
///
/// async fn login(req: HttpRequest, mfa: web::Data<MfaState<MemoryStore>>, form: web::Json<Login>) -> HttpResponse {
///     if form.password != "let me in" {            // the app's own password check
///         return HttpResponse::Unauthorized().body("bad credentials");
///     }
///     let Ok(user) = UserId::new(form.user.clone()) else { return HttpResponse::BadRequest().finish() };
///     // 200 status JSON, or 423 locked
///     login_response(start_login(&mfa, &req, &user, Audience::new(Platform::WEB)).await)
/// }
/// ```
pub async fn start_login<S: MfaStore>(
    state: &MfaState<S>,
    req: &HttpRequest,
    user: &UserId,
    audience: Audience,
) -> Result<LoginOutcome, ApiError> {
    let session = session_of(state, req)?;
    let cookie = req.cookie(state.settings().trust_cookie_name());
    let token = cookie.as_ref().map(|c| c.value());
    let (outcome, change) = mfa_core::http::begin_login(state.mfa(), user, audience, token).await?;
    apply(Some(&*session), change)?;
    Ok(outcome)
}

/// The HTTP answer of a login: `200` with the body of `GET
/// {prefix}/status`, `423 locked`, or the error.
pub fn login_response(outcome: Result<LoginOutcome, ApiError>) -> HttpResponse {
    outcome
        .and_then(LoginOutcome::reply)
        .map_or_else(error_response, reply_response)
}

/// Ends the session (the application's logout).
pub fn logout<S>(state: &MfaState<S>, req: &HttpRequest) -> Result<(), ApiError> {
    apply(Some(&*session_of(state, req)?), SessionChange::End)
}

/// Records a second factor the engine just verified for a pending session,
/// for applications that verify from their own pages: the session gets a
/// new id and becomes complete with the engine's assurance. Answers the
/// trust cookie to add to the response when
/// [`Mfa::verify`](mfa_core::Mfa::verify) issued a token.
pub fn complete_verification<S: MfaStore>(
    state: &MfaState<S>,
    req: &HttpRequest,
    record: SessionRecord,
    verified: &Verified,
) -> Result<Option<Cookie<'static>>, ApiError> {
    let session = session_of(state, req)?;
    let (change, set_cookie) =
        mfa_core::http::verified_session(state.mfa(), state.settings().trust_cookie(), record, verified);
    apply(Some(&*session), change)?;
    Ok(set_cookie.and_then(|c| Cookie::parse(c).ok()))
}
