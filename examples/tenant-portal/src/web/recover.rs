//! Forgotten password and registration links. A password reset never logs
//! anyone in and never skips MFA; registration goes through the same
//! `start_login` as every other path into a session.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use mfa_axum::start_login;
use mfa_core::{LoginStep, Platform, UserId};
use serde::Deserialize;
use tower_sessions::Session;

use super::account::password_problem;
use super::{Chrome, CsrfForm, HasCsrf, PageError, csrf_token, engine, public_chrome, render};
use crate::app::App;

const RESET_TTL_MS: i64 = 30 * 60 * 1000;

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    csrf: String,
    sent: bool,
}

/// `GET /forgot-password`.
pub async fn forgot_page(State(app): State<App>, session: Session) -> Result<Response, PageError> {
    render(&ForgotPage {
        chrome: public_chrome(&app),
        csrf: csrf_token(&session).await?,
        sent: false,
    })
}

/// The email form.
#[derive(Deserialize)]
pub struct EmailForm {
    csrf: String,
    email: String,
}

impl HasCsrf for EmailForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /forgot-password`: the same answer whether or not the account
/// exists (no enumeration); the link goes to the account's email.
pub async fn forgot(
    State(app): State<App>,
    session: Session,
    CsrfForm(f): CsrfForm<EmailForm>,
) -> Result<Response, PageError> {
    let now = engine(&app).now().unix_millis();
    if f.email.len() <= 254
        && let Some((user, token)) = app.db.issue_password_reset(&f.email, now, RESET_TTL_MS).await?
    {
        let body = format!(
            "Someone asked to reset the password of your Orchard Homes account. If it was you, open this link within 30 minutes: {}/reset-password/{token}\nIf it wasn't you, ignore this email: your password stays the same.",
            app.config.public_url
        );
        // Sent off the request path: the answer takes the same time whether
        // or not the account exists.
        app.mail
            .send_later(user.email, "Reset your Orchard Homes password", body, now);
    }
    render(&ForgotPage {
        chrome: public_chrome(&app),
        csrf: csrf_token(&session).await?,
        sent: true,
    })
}

#[derive(Template)]
#[template(path = "set_password.html")]
struct SetPasswordPage {
    chrome: Chrome,
    csrf: String,
    heading: &'static str,
    action: String,
    error: Option<String>,
}

/// `GET /reset-password/{token}`.
pub async fn reset_page(
    State(app): State<App>,
    session: Session,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    render(&SetPasswordPage {
        chrome: public_chrome(&app),
        csrf: csrf_token(&session).await?,
        heading: "Choose a new password",
        action: format!("/reset-password/{token}"),
        error: None,
    })
}

/// The new-password form.
#[derive(Deserialize)]
pub struct NewPassword {
    csrf: String,
    password: String,
    confirm: String,
}

impl HasCsrf for NewPassword {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /reset-password/{token}`: sets the password, signs every other
/// session out, revokes trusted devices, and sends the user to log in: the
/// reset itself never logs in (ASVS 6.4.3), so MFA is never skipped.
pub async fn reset(
    State(app): State<App>,
    session: Session,
    Path(token): Path<String>,
    CsrfForm(f): CsrfForm<NewPassword>,
) -> Result<Response, PageError> {
    let again = |error: &str| {
        render(&SetPasswordPage {
            chrome: public_chrome(&app),
            csrf: f.csrf.clone(),
            heading: "Choose a new password",
            action: format!("/reset-password/{token}"),
            error: Some(error.to_owned()),
        })
    };
    if let Some(problem) = password_problem(&f.password, &f.confirm) {
        return again(problem);
    }
    let now = engine(&app).now().unix_millis();
    let Some(user) = app.db.take_password_reset(&token, now).await? else {
        return again("This link has expired or was already used. Ask for a new one from the login page.");
    };
    app.db.set_password(&user.id, &f.password).await?;
    let id = UserId::new(user.id.clone()).map_err(|e| PageError::Internal(e.to_string()))?;
    // Revokes trusted devices and ends every session of the user.
    engine(&app)
        .password_changed(&id)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    mfa_axum::logout(&session)
        .await
        .map_err(|e| PageError::Internal(format!("{e:?}")))?;
    Ok(Redirect::to("/login?reset=1").into_response())
}

/// `GET /register/{token}`: an applicant sets a password.
pub async fn register_page(
    State(app): State<App>,
    session: Session,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let now = engine(&app).now().unix_millis();
    if app.db.registration_user(&token, now).await?.is_none() {
        return Err(PageError::NotFound);
    }
    render(&SetPasswordPage {
        chrome: public_chrome(&app),
        csrf: csrf_token(&session).await?,
        heading: "Create your account",
        action: format!("/register/{token}"),
        error: None,
    })
}

/// `POST /register/{token}`: password set, then the same `start_login` as
/// a login: the policy decides (here: set up two-step verification now).
pub async fn register(
    State(app): State<App>,
    session: Session,
    jar: CookieJar,
    Path(token): Path<String>,
    CsrfForm(f): CsrfForm<NewPassword>,
) -> Result<Response, PageError> {
    let now = engine(&app).now().unix_millis();
    let Some(user) = app.db.registration_user(&token, now).await? else {
        return Err(PageError::NotFound);
    };
    if let Some(problem) = password_problem(&f.password, &f.confirm) {
        return render(&SetPasswordPage {
            chrome: public_chrome(&app),
            csrf: f.csrf.clone(),
            heading: "Create your account",
            action: format!("/register/{token}"),
            error: Some(problem.to_owned()),
        });
    }
    app.db.set_password(&user.id, &f.password).await?;
    let id = UserId::new(user.id.clone()).map_err(|e| PageError::Internal(e.to_string()))?;
    let step = start_login(
        &app.mfa,
        &session,
        &id,
        super::auth::audience(&user, Platform::WEB),
        &jar,
    )
    .await
    .map_err(|e| PageError::Internal(format!("{e:?}")))?;
    session.remove::<String>("csrf").await?;
    Ok(match step {
        LoginStep::MustEnroll { .. } | LoginStep::OfferEnroll { .. } => Redirect::to("/enroll"),
        LoginStep::ChooseFactor { .. } => Redirect::to("/login/mfa"),
        _ => Redirect::to("/"),
    }
    .into_response())
}
