//! Pages and forms. Every page is server-rendered and works without
//! JavaScript; every form carries a CSRF token checked by [`CsrfForm`].

mod account;
mod auth;
mod enroll;
mod housing;
mod pages;
mod recover;
mod second_step;
mod staff;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use mfa_axum::contract::{Admission, ApiError, CompleteLogin, PendingStep, Reply, SessionChange, admit};
use mfa_axum::{MfaRejection, MfaRequest, PendingMfa, RequireMfa};
use mfa_core::UserId;
use mfa_core::http::{RequestFacts, csrf_check};
use serde::de::DeserializeOwned;
use tower_sessions::Session;

use crate::app::App;
use crate::data::DbError;
use crate::data::users::{Role, User};

/// All portal routes (the MFA JSON routes are merged in by `app`).
pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(pages::dashboard))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route(
            "/forgot-password",
            get(recover::forgot_page).post(recover::forgot),
        )
        .route(
            "/reset-password/{token}",
            get(recover::reset_page).post(recover::reset),
        )
        .route(
            "/register/{token}",
            get(recover::register_page).post(recover::register),
        )
        .route("/login/mfa", get(second_step::choose))
        .route("/login/mfa/start", post(second_step::start))
        .route(
            "/login/mfa/code",
            get(second_step::code_page_get).post(second_step::submit),
        )
        .route("/login/mfa/resend", post(second_step::resend))
        .route(
            "/login/mfa/recovery",
            get(second_step::recovery_page).post(second_step::recovery),
        )
        .route("/enroll", get(enroll::choose))
        .route("/enroll/skip", post(enroll::skip))
        // A GET never creates state: the QR code (a new pending factor) is
        // made by a POST; a GET of the page goes back to the choice.
        .route("/enroll/totp", get(enroll::totp_get).post(enroll::totp_confirm))
        .route("/enroll/totp/start", post(enroll::totp_page))
        .route("/enroll/phone", get(enroll::oob_page).post(enroll::oob_start))
        .route("/enroll/email", get(enroll::oob_page).post(enroll::oob_start))
        .route(
            "/enroll/confirm",
            get(enroll::oob_code_page).post(enroll::oob_confirm),
        )
        .route("/enroll/done", get(enroll::done))
        .route("/rent", get(pages::rent))
        .route("/rent/pay", get(housing::pay_page).post(housing::pay))
        .route("/repairs", get(housing::repairs).post(housing::report))
        .route("/repairs/{id}", get(housing::repair))
        .route("/repairs/{id}/book", post(housing::book))
        .route("/documents", get(housing::documents))
        .route("/documents/{id}", get(housing::document))
        .route("/messages", get(housing::messages).post(housing::send_message))
        .route("/applications", get(housing::applications).post(housing::apply))
        .route("/staff", get(staff::home))
        .route("/staff/residents/{id}", get(staff::resident))
        .route("/staff/residents/{id}/reset", post(staff::reset))
        .route("/staff/residents/{id}/unlock", post(staff::unlock))
        .route("/staff/policy", get(staff::policy).post(staff::save_policy))
        .route("/staff/policy/wave", post(staff::wave))
        .route("/staff/audit", get(staff::audit))
        .route("/account", get(account::account))
        .route(
            "/account/confirm",
            get(account::confirm_page).post(account::confirm),
        )
        .route("/account/factors/add", post(account::add_factor))
        .route("/account/factors/confirm", post(account::confirm_factor))
        .route("/account/factors/remove", post(account::remove_factor))
        .route("/account/factors/rename", post(account::rename_factor))
        .route("/account/devices/revoke", post(account::revoke_device))
        .route("/account/recovery-codes", post(account::regenerate_codes))
        .route("/account/password", post(account::change_password))
        .route("/demo/outbox", get(pages::outbox))
        .route("/help/mfa", get(pages::help))
}

/// The stylesheet.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/portal.css"),
    )
        .into_response()
}

/// What the layout needs: the navigation (when logged in) and demo mode.
#[derive(Clone, Debug, Default)]
pub struct Chrome {
    /// Logged-in navigation.
    pub nav: Option<Nav>,
    /// Demo banner.
    pub demo: bool,
}

/// Navigation for a logged-in user.
#[derive(Clone, Debug)]
pub struct Nav {
    /// Staff console instead of the resident menu.
    pub staff: bool,
    /// The CSRF token for the logout form.
    pub csrf: String,
}

/// A page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// Go elsewhere (login, second step).
    Redirect(String),
    /// The form's CSRF token is missing or wrong.
    Csrf,
    /// The form was sent from another site (`Origin`, `Sec-Fetch-Site`).
    CrossSite,
    /// Something failed inside; logged, never shown.
    Internal(String),
    /// No such thing (or not yours).
    NotFound,
    /// The MFA layer refused (not logged in, second step missing): its
    /// redirect to the login or second-step page.
    Mfa(MfaRejection),
}

impl From<MfaRejection> for PageError {
    fn from(e: MfaRejection) -> Self {
        PageError::Mfa(e)
    }
}

impl From<DbError> for PageError {
    fn from(e: DbError) -> Self {
        PageError::Internal(e.to_string())
    }
}

impl From<tower_sessions::session::Error> for PageError {
    fn from(e: tower_sessions::session::Error) -> Self {
        PageError::Internal(e.to_string())
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError::Internal(e.to_string())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    title: &'static str,
    message: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::Redirect(to) => return Redirect::to(&to).into_response(),
            PageError::Mfa(rejection) => return rejection.into_response(),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "Please go back, reload the page and try again.",
            ),
            PageError::CrossSite => (
                StatusCode::FORBIDDEN,
                "This form was sent from another website",
                "For your safety we only accept forms sent from this portal. Please open the portal yourself and try again.",
            ),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "We couldn't find that page.",
            ),
            PageError::Internal(detail) => {
                tracing::error!(%detail, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sorry, something went wrong",
                    "Please try again in a few minutes. If it keeps happening, call us on 0300 012 0120.",
                )
            }
        };
        let page = ErrorPage {
            chrome: Chrome::default(),
            title,
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, title).into_response(),
        }
    }
}

/// Renders a template.
pub fn render<T: Template>(t: &T) -> Result<Response, PageError> {
    Ok(Html(t.render()?).into_response())
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, PageError> {
    if let Some(t) = session.get::<String>("csrf").await? {
        return Ok(t);
    }
    let t = crate::util::random_token();
    session.insert("csrf", &t).await?;
    Ok(t)
}

/// A form with a `csrf` field.
pub trait HasCsrf {
    /// The submitted token.
    fn csrf(&self) -> &str;
}

/// A urlencoded form sent from this portal (the cross-site rule of the
/// JSON routes, [`csrf_check`]: `Origin` the portal's own or a configured
/// one, `Sec-Fetch-Site` not `cross-site`/`same-site`) whose CSRF token
/// matched the session's (compared in constant time). Every POST handler
/// takes one.
pub struct CsrfForm<T>(pub T);

/// The cross-site rule of the MFA JSON routes on a form post: every rule
/// of [`csrf_check`] but the JSON content type, which a form cannot have
/// (its token stands in for it).
fn same_site_form(parts: &Parts, app: &App) -> Result<(), PageError> {
    let h = &parts.headers;
    let mut facts = RequestFacts::from_headers(
        parts.method.as_str(),
        |name| h.get(name).and_then(|v| v.to_str().ok()),
        parts.uri.authority().map(|a| a.as_str()),
    );
    facts.content_type = Some("application/json");
    csrf_check(&facts, app.mfa.settings().http().allowed_origins()).map_err(|_| PageError::CrossSite)
}

impl<T> FromRequest<App> for CsrfForm<T>
where
    T: DeserializeOwned + HasCsrf + Send,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &App) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        same_site_form(&parts, state)?;
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(|_| PageError::Internal("session layer missing".into()))?;
        let req = Request::from_parts(parts, body);
        let axum::Form(form) = axum::Form::<T>::from_request(req, state)
            .await
            .map_err(|_| PageError::Csrf)?;
        let expected = session.get::<String>("csrf").await?.ok_or(PageError::Csrf)?;
        if !mfa_core::crypto::ct_eq(expected.as_bytes(), form.csrf().as_bytes()) {
            return Err(PageError::Csrf);
        }
        Ok(CsrfForm(form))
    }
}

/// A form that carries only the CSRF token.
#[derive(serde::Deserialize)]
pub struct Plain {
    csrf: String,
}

impl HasCsrf for Plain {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The logged-in (second step complete) user and the page chrome. The
/// login is the MFA layer's ([`RequireMfa`]): not logged in redirects to
/// `/login`, a missing second step to `/login/mfa`.
pub struct LoggedIn {
    /// The account.
    pub user: User,
    /// The login as the MFA layer authenticated it (assurance, freshness,
    /// the caller for engine calls).
    pub mfa: RequireMfa,
    /// Layout data.
    pub chrome: Chrome,
    /// CSRF token for forms.
    pub csrf: String,
    /// The session.
    pub session: Session,
}

impl FromRequestParts<App> for LoggedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, PageError> {
        let mfa = RequireMfa::from_request_parts(parts, app).await?;
        let session = Session::from_request_parts(parts, app)
            .await
            .map_err(|_| PageError::Internal("session layer missing".into()))?;
        let user = app
            .db
            .user(mfa.user.as_str())
            .await?
            .ok_or(PageError::Redirect("/login".into()))?;
        let csrf = csrf_token(&session).await?;
        let chrome = Chrome {
            nav: Some(Nav {
                staff: user.role == Role::Staff,
                csrf: csrf.clone(),
            }),
            demo: app.config.demo,
        };
        Ok(LoggedIn {
            user,
            mfa,
            chrome,
            csrf,
            session,
        })
    }
}

/// A login waiting for its second step ([`PendingMfa`]), with the request's
/// MFA context to run the step through. Not logged in redirects to
/// `/login`; an already complete login goes home.
pub struct Pending {
    /// The user whose password was checked.
    pub user: UserId,
    /// What is missing.
    pub step: PendingStep,
    /// The request's MFA context.
    pub mfa: MfaRequest,
}

impl FromRequestParts<App> for Pending {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, PageError> {
        let mfa = MfaRequest::from_request_parts(parts, app).await?;
        match PendingMfa::from_request_parts(parts, app).await {
            Ok(PendingMfa { user, step }) => Ok(Pending { user, step, mfa }),
            Err(e) if e.error().body.error == "not_pending" => Err(PageError::Redirect("/".into())),
            Err(e) => Err(e.into()),
        }
    }
}

/// What to tell a resident about a refusal of the MFA engine (as the
/// contract's error body: its code and the fields to act on); `None` for
/// a failure that is ours, not theirs.
pub fn explain(e: &ApiError) -> Option<String> {
    let b = &e.body;
    Some(match b.error.as_str() {
        "invalid_code" => match b.attempts_left.unwrap_or(0) {
            0 => "That code isn't right, and this code can't be tried again. Ask for a new code or try another way.".into(),
            1 => "That code isn't right. You have 1 more try.".into(),
            n => format!("That code isn't right. You have {n} more tries."),
        },
        "malformed_code" => match b.digits {
            Some(digits) => format!("Enter the {digits}-digit code."),
            None => "Enter the code.".into(),
        },
        "expired" | "not_found" => "That code has expired: codes last 5 minutes. Ask for a new code.".into(),
        "challenge_closed" => {
            "This code can no longer be used after too many wrong tries. Try another way, or ask for a new code when this one expires.".into()
        }
        "locked" => match b.until.as_ref().and_then(|u| u.as_deref()) {
            Some(t) => format!(
                "Too many wrong codes. Please wait until {} (UTC), then try again.",
                mfa_core::Timestamp::parse_rfc3339(t)
                    .map(|t| crate::util::date_time(t.unix_millis()))
                    .unwrap_or_else(|_| t.to_owned())
            ),
            None => "Your account is locked after too many failed attempts. Call us on 0300 012 0120 to unlock it.".into(),
        },
        "rate_limited" => format!(
            "Please wait {} seconds before asking for another code.",
            b.retry_after.unwrap_or(1).max(1)
        ),
        "delivery_failed" => "We couldn't send your code just now. Try again, or try another way.".into(),
        "not_allowed" => "That method can't be used here. Please try another way.".into(),
        "invalid_input" => {
            let what = b.message.as_deref().and_then(|m| m.strip_prefix("invalid "));
            format!("Please check the {}.", what.unwrap_or("details"))
        }
        _ => return None,
    })
}

/// [`explain`], or an internal error for a refusal a resident cannot act on.
pub fn refusal(e: &ApiError) -> Result<String, PageError> {
    explain(e).ok_or_else(|| PageError::Internal(format!("mfa: {} {}", e.status, e.body.error)))
}

/// [`refusal`] for an engine call made directly (no session change).
pub fn engine_refusal(e: &mfa_core::MfaError) -> Result<String, PageError> {
    if e.is_internal() {
        return Err(PageError::Internal(e.to_string()));
    }
    refusal(&ApiError::from_mfa(e))
}

/// The login a contract call just renewed the session to (enrolment
/// confirmed, step-up), authenticated by the same check the MFA layer runs
/// on the next request: for an engine call in the same request that needs
/// the new assurance.
pub async fn renewed_login(app: &App, reply: &Reply) -> Result<CompleteLogin, PageError> {
    let SessionChange::Renew(token) = &reply.session else {
        return Err(PageError::Internal("the session was not renewed".into()));
    };
    match admit(engine(app), Some(token.clone()), false).await {
        Admission::Proceed(state) => state
            .complete()
            .map_err(|r| PageError::Internal(format!("renewed session: {}", r.error.body.error))),
        Admission::Refuse { refused, .. } => Err(PageError::Internal(format!(
            "renewed session refused: {}",
            refused.error.body.error
        ))),
    }
}

/// The chrome for pages outside a logged-in session.
pub fn public_chrome(app: &App) -> Chrome {
    Chrome {
        nav: None,
        demo: app.config.demo,
    }
}

/// Shared engine handle.
pub fn engine(app: &App) -> &Arc<crate::app::Engine> {
    app.mfa.mfa()
}
