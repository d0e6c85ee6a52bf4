//! The calls an application's own handlers make: login after the password,
//! logout, and recording a second factor verified from its own pages.

use actix_web::cookie::Cookie;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};

use mfa_core::http::{ApiError, Call, Reply, RequestState, SessionChange};
use mfa_core::{Audience, LoginStep, MfaStore, UserId};

use crate::middleware::Checked;

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
) -> Result<LoginStep, ApiError> {
    let session = session_of(state, req)?;
    let cookie = req.cookie(state.settings().trust_cookie_name());
    let token = cookie.as_ref().map(|c| c.value());
    let (step, change) = mfa_core::http::begin_login(state.mfa(), user, audience, token).await?;
    apply(Some(&*session), change)?;
    Ok(step)
}

/// The HTTP answer of a login: `200` with the body of `GET
/// {prefix}/status`, `423 locked`, or the error.
pub fn login_response(step: Result<LoginStep, ApiError>) -> HttpResponse {
    step.and_then(|s| mfa_core::http::login_reply(&s))
        .map_or_else(error_response, reply_response)
}

/// Ends the session (the application's logout).
pub fn logout<S>(state: &MfaState<S>, req: &HttpRequest) -> Result<(), ApiError> {
    apply(Some(&*session_of(state, req)?), SessionChange::End)
}

/// What the middleware found for this request (`500` without it).
fn request_state(req: &HttpRequest) -> Result<RequestState, ApiError> {
    req.extensions()
        .get::<Checked>()
        .map(|c| c.state.clone())
        .ok_or_else(|| {
            tracing::error!("mfa: no MFA middleware on this route (MfaState::middleware)");
            ApiError::internal()
        })
}

/// Runs a contract [`Call`] from the application's own pages (an HTML form)
/// through exactly the path the JSON routes take
/// ([`mfa_core::http::handle`]) and applies the session change: the
/// application never builds or edits session state. Answers the reply
/// and the trust cookie to add to the response, if one was issued.
pub async fn run<S: MfaStore>(
    state: &MfaState<S>,
    req: &HttpRequest,
    call: Call,
) -> Result<(Reply, Option<Cookie<'static>>), ApiError> {
    let checked = request_state(req)?;
    let session = session_of(state, req)?;
    let reply = mfa_core::http::handle(state.mfa(), state.settings().trust_cookie(), checked, call).await?;
    apply(Some(&*session), reply.session.clone())?;
    let cookie = reply.set_cookie.clone().and_then(|c| Cookie::parse(c).ok());
    Ok((reply, cookie))
}

/// The logged-in user changed their password (the application checked the
/// current one and a fresh factor): every other session of the user ends,
/// every trusted device is revoked, this session goes on
/// ([`mfa_core::http::password_changed`]).
pub async fn password_changed<S: MfaStore>(state: &MfaState<S>, req: &HttpRequest) -> Result<(), ApiError> {
    let checked = request_state(req)?;
    let session = session_of(state, req)?;
    let change = mfa_core::http::password_changed(state.mfa(), &checked).await?;
    apply(Some(&*session), change)
}
