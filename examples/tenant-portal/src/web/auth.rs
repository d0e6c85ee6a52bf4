//! Login and logout. After the password check, one call decides the rest:
//! `mfa_axum::start_login` (the same call every path into a session makes).

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use mfa_axum::start_login;
use mfa_core::{Audience, LoginStep, Platform, UserId};
use serde::Deserialize;
use tower_sessions::Session;

use super::{Chrome, CsrfForm, HasCsrf, PageError, Plain, csrf_token, public_chrome, render};
use crate::app::App;
use crate::data::users::{Role, User};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    csrf: String,
    email: String,
    error: Option<String>,
    notice: Option<String>,
}

/// `?reset=1` after a password reset.
#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    reset: Option<String>,
}

/// `GET /login`.
pub async fn login_page(
    State(app): State<App>,
    session: Session,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Result<Response, PageError> {
    render(&LoginPage {
        chrome: public_chrome(&app),
        csrf: csrf_token(&session).await?,
        email: String::new(),
        error: None,
        notice: q
            .reset
            .map(|_| "Your password was changed. Log in with it; we'll still ask for your code.".to_owned()),
    })
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    email: String,
    password: String,
    #[serde(default)]
    platform: Option<String>,
}

impl HasCsrf for LoginForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The audience the policy sees for `user` on `platform`.
pub fn audience(user: &User, platform: Platform) -> Audience {
    let groups: &[&str] = if user.role == Role::Staff { &["staff"] } else { &[] };
    Audience::new(platform).with_groups(groups.iter().copied())
}

/// Where a completed login lands.
pub fn home_for(user: &User) -> &'static str {
    if user.role == Role::Staff { "/staff" } else { "/" }
}

/// `POST /login`: password, then the MFA decision.
pub async fn login(
    State(app): State<App>,
    session: Session,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<Response, PageError> {
    let again = |error: &str| -> Result<Response, PageError> {
        Ok(LoginPage {
            chrome: public_chrome(&app),
            csrf: form.csrf.clone(),
            email: form.email.clone(),
            error: Some(error.to_owned()),
            notice: None,
        })
        .and_then(|p| render(&p))
    };
    if form.email.len() > 254 || form.password.len() > 1024 {
        return again("Your email address or password is not right.");
    }
    let Some(user) = app.db.check_password(&form.email, &form.password).await? else {
        return again("Your email address or password is not right.");
    };
    // The platform comes from the application: the real apps identify
    // themselves; in the demo the login form says which one to pretend to be.
    let platform = match form.platform.as_deref() {
        Some(p) if app.config.demo => Platform::new(p).unwrap_or(Platform::WEB),
        _ => Platform::WEB,
    };
    let id = UserId::new(user.id.clone()).map_err(|e| PageError::Internal(e.to_string()))?;
    let step = start_login(&app.mfa, &session, &id, audience(&user, platform), &jar)
        .await
        .map_err(|e| PageError::Internal(format!("start_login: {e:?}")))?;
    // A new CSRF token for the new session id.
    session.remove::<String>("csrf").await?;
    session
        .remove::<serde_json::Value>(super::second_step::TARGET)
        .await?;
    Ok(match step {
        LoginStep::OfferEnroll { .. } | LoginStep::MustEnroll { .. } => {
            Redirect::to("/enroll").into_response()
        }
        LoginStep::Complete { .. } => Redirect::to(home_for(&user)).into_response(),
        LoginStep::ChooseFactor { .. } => Redirect::to("/login/mfa").into_response(),
        LoginStep::Locked { until } => {
            mfa_axum::logout(&session)
                .await
                .map_err(|e| PageError::Internal(format!("{e:?}")))?;
            let msg = match until {
                Some(t) => format!(
                    "Too many failed attempts. You can try again after {} (UTC).",
                    crate::util::date_time(t.unix_millis())
                ),
                None => "Your account is locked after too many failed attempts. Call us on 0300 012 0120 to unlock it.".into(),
            };
            return again(&msg);
        }
        _ => Redirect::to("/login").into_response(),
    })
}

/// `POST /logout`. The trust cookie stays: "trust this device" outlives a
/// logout by design; revoke it from the account page.
pub async fn logout(session: Session, CsrfForm(_): CsrfForm<Plain>) -> Result<Response, PageError> {
    mfa_axum::logout(&session)
        .await
        .map_err(|e| PageError::Internal(format!("{e:?}")))?;
    Ok(Redirect::to("/login").into_response())
}
