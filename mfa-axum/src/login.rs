//! The one call an application's login handler makes after checking the
//! password.

use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;

use mfa_core::{Audience, LoginStep, MfaStore, UserId};

use crate::contract::ApiError;
use crate::http::{error_response, reply_response};
use crate::session::{MfaSession, apply};
use crate::state::MfaState;

/// Call after the password was checked (login, password reset,
/// registration, token refresh: every path into a session). It cycles the
/// session id, reads the trust cookie, asks the engine what the login
/// needs ([`Mfa::begin_login`](mfa_core::Mfa::begin_login)) and records
/// the answer in the session. `audience` carries the platform (and
/// groups) **as the application knows it**: from which app or build the
/// request comes, e.g. a header such as `X-Client-Platform` that the app
/// maps to a [`Platform`](mfa_core::Platform) it trusts.
///
/// ```
/// use axum::{Json, extract::State, http::HeaderMap, response::{IntoResponse, Response}};
/// use axum_extra::extract::cookie::CookieJar;
/// use mfa_axum::{MfaState, login_response, start_login};
/// use mfa_core::{Audience, MemoryStore, Platform, UserId};
/// use tower_sessions::Session;
///
/// #[derive(serde::Deserialize)]
/// struct Login { user: String, password: String }
///
/// async fn login(State(mfa): State<MfaState<MemoryStore>>, session: Session, jar: CookieJar,
///                headers: HeaderMap, Json(form): Json<Login>) -> Response {
///     if form.password != "let me in" {            // the app's own password check
///         return (axum::http::StatusCode::UNAUTHORIZED, "bad credentials").into_response();
///     }
///     let Ok(user) = UserId::new(form.user) else { return axum::http::StatusCode::BAD_REQUEST.into_response() };
///     let platform = match headers.get("x-client-platform").and_then(|v| v.to_str().ok()) {
///         Some("android") => Platform::ANDROID,
///         Some("ios") => Platform::IOS,
///         _ => Platform::WEB,
///     };
///     // 200 status JSON, or 423 locked
///     login_response(start_login(&mfa, &session, &user, Audience::new(platform), &jar).await)
/// }
/// ```
pub async fn start_login<S: MfaStore>(
    state: &MfaState<S>,
    session: &dyn MfaSession,
    user: &UserId,
    audience: Audience,
    cookies: &CookieJar,
) -> Result<LoginStep, ApiError> {
    let token = cookies.get(state.settings.trust_cookie_name()).map(|c| c.value());
    let (step, change) = mfa_core::http::begin_login(&state.mfa, user, audience, token).await?;
    apply(session, change).await?;
    Ok(step)
}

/// The HTTP answer of a login: `200` with the body of `GET
/// {prefix}/status`, `423 locked`, or the error.
pub fn login_response(step: Result<LoginStep, ApiError>) -> Response {
    match step.and_then(|s| mfa_core::http::login_reply(&s)) {
        Ok(reply) => reply_response(reply),
        Err(e) => error_response(e),
    }
}

/// Ends the session (the application's logout).
pub async fn logout(session: &dyn MfaSession) -> Result<(), ApiError> {
    apply(session, mfa_core::http::SessionChange::End).await
}
