//! Setting up two-step verification at first login (or in the grace
//! period): authenticator app (QR code and key), text message or email;
//! then recovery codes, shown once.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::extract::State;
use axum::http::{Uri, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use mfa_axum::MfaRequest;
use mfa_axum::contract::{ApiError, Call, ConfirmRequest, EnrolledResponse, PendingStep, Stage};
use mfa_core::{Caller, EnrollRequest, Enrollment, FactorId, FactorKind, MfaError, UserId};
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    Chrome, CsrfForm, HasCsrf, PageError, Plain, csrf_token, engine, engine_refusal, explain, public_chrome,
    refusal, render, renewed_login,
};
use crate::app::App;

const PENDING_FACTOR: &str = "portal_enroll_factor";

#[derive(Template)]
#[template(path = "enroll_choose.html")]
struct ChoosePage {
    chrome: Chrome,
    csrf: String,
    totp: bool,
    sms: bool,
    email: bool,
    skippable: bool,
}

#[derive(Template)]
#[template(path = "enroll_totp.html")]
struct TotpPage {
    chrome: Chrome,
    csrf: String,
    factor: String,
    qr_svg: String,
    key: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "enroll_oob.html")]
struct OobPage {
    chrome: Chrome,
    csrf: String,
    sms: bool,
    value: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "enroll_code.html")]
struct OobCodePage {
    chrome: Chrome,
    csrf: String,
    to: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "enroll_done.html")]
struct DonePage {
    chrome: Chrome,
    method: String,
    codes: Vec<String>,
    next: &'static str,
}

/// Who may enrol now: a session that must enrol (pending) or is offered
/// enrolment (grace period), as the MFA layer authenticated it.
pub struct Enrolling {
    user: UserId,
    /// The session's caller (password only until a factor is confirmed).
    caller: Caller,
    methods: Vec<FactorKind>,
    skippable: bool,
    mfa: MfaRequest,
}

impl FromRequestParts<App> for Enrolling {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, PageError> {
        let mfa = MfaRequest::from_request_parts(parts, app).await?;
        let Some(r) = mfa.state().record() else {
            return Err(PageError::Redirect("/login".into()));
        };
        let (methods, skippable) = match r.stage() {
            Stage::Pending {
                step: PendingStep::MustEnroll { methods },
            } => (methods.clone(), false),
            Stage::Complete {
                offer_enroll: Some(methods),
                ..
            } => (methods.clone(), true),
            Stage::Pending { .. } => return Err(PageError::Redirect("/login/mfa".into())),
            Stage::Complete { .. } => return Err(PageError::Redirect("/account".into())),
        };
        Ok(Enrolling {
            user: r.user().clone(),
            caller: r.caller(),
            methods,
            skippable,
            mfa,
        })
    }
}

/// `GET /enroll`.
pub async fn choose(State(app): State<App>, e: Enrolling, session: Session) -> Result<Response, PageError> {
    render(&ChoosePage {
        chrome: public_chrome(&app),
        csrf: csrf_token(&session).await?,
        totp: e.methods.contains(&FactorKind::Totp),
        sms: e.methods.contains(&FactorKind::Sms),
        email: e.methods.contains(&FactorKind::Email),
        skippable: e.skippable,
    })
}

/// `POST /enroll/skip`: only in the grace period.
pub async fn skip(
    State(app): State<App>,
    e: Enrolling,
    session: Session,
    CsrfForm(_): CsrfForm<Plain>,
) -> Result<Response, PageError> {
    if !e.skippable {
        return Err(PageError::Redirect("/enroll".into()));
    }
    e.mfa
        .decline_enroll_offer(&app.mfa)
        .await
        .map_err(|e| PageError::Internal(format!("decline_enroll_offer: {e:?}")))?;
    // The login is complete: a new CSRF token for it.
    session.remove::<String>("csrf").await?;
    Ok(Redirect::to("/").into_response())
}

/// `GET /enroll/totp`: nothing is created by a GET; back to the choice.
pub async fn totp_get() -> Redirect {
    Redirect::to("/enroll")
}

/// `POST /enroll/totp/start`: a new pending authenticator-app factor and
/// its QR code (each start is afresh; an unconfirmed key expires after 15
/// minutes, and at most five are kept).
pub async fn totp_page(
    State(app): State<App>,
    e: Enrolling,
    session: Session,
    CsrfForm(_): CsrfForm<super::Plain>,
) -> Result<Response, PageError> {
    if !e.methods.contains(&FactorKind::Totp) {
        return Err(PageError::Redirect("/enroll".into()));
    }
    let user = app.db.user(e.user.as_str()).await?.ok_or(PageError::NotFound)?;
    let request = EnrollRequest::Totp {
        label: "Authenticator app".into(),
        account_name: user.email.replace(':', ""),
    };
    let Enrollment::Totp(setup) = engine(&app)
        .begin_enrollment(&e.user, request, &e.caller)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?
    else {
        return Err(PageError::Internal("unexpected enrolment kind".into()));
    };
    render(&TotpPage {
        chrome: public_chrome(&app),
        csrf: csrf_token(&session).await?,
        factor: setup.factor.to_string(),
        qr_svg: setup.qr_svg.expose().to_owned(),
        key: setup.secret_grouped().expose().to_owned(),
        error: None,
    })
}

/// A confirmation form.
#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    #[serde(default)]
    factor: Option<String>,
    code: String,
}

impl HasCsrf for ConfirmForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Confirms the first factor through the MFA routes' own path
/// (`/enroll/confirm`): the library completes the session (confirming
/// proved the factor). Then a set of recovery codes is shown once.
async fn confirm(
    app: &App,
    e: Enrolling,
    session: &Session,
    jar: CookieJar,
    factor: &FactorId,
    code: String,
) -> Result<Result<Response, ApiError>, PageError> {
    let body = ConfirmRequest {
        factor_id: factor.to_string(),
        code,
    };
    let (reply, jar) = match e.mfa.run(&app.mfa, Call::EnrollConfirm(body), jar).await {
        Ok(done) => done,
        Err(error) => return Ok(Err(error)),
    };
    session.remove::<String>(PENDING_FACTOR).await?;
    // The login is complete: a new CSRF token for it (none from the
    // pending stage is accepted after it).
    session.remove::<String>("csrf").await?;
    let enrolled: EnrolledResponse = reply
        .body
        .clone()
        .and_then(|b| serde_json::from_value(b).ok())
        .ok_or_else(|| PageError::Internal("enroll/confirm: unexpected answer".into()))?;
    // The session is now a fresh second factor: the codes are made for it.
    let login = renewed_login(app, &reply).await?;
    let codes = engine(app)
        .generate_recovery_codes(&e.user, &login.caller())
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let user = app.db.user(e.user.as_str()).await?.ok_or(PageError::NotFound)?;
    let method = match enrolled.factor.method {
        FactorKind::Totp => "your authenticator app".to_owned(),
        _ => enrolled.factor.masked_destination.unwrap_or_default(),
    };
    let page = render(&DonePage {
        chrome: Chrome {
            nav: None,
            demo: app.config.demo,
        },
        method,
        codes: codes.codes.iter().map(|c| c.expose().to_owned()).collect(),
        next: super::auth::home_for(&user),
    })?;
    Ok(Ok((jar, page).into_response()))
}

/// `POST /enroll/totp`: confirm with a code from the app.
pub async fn totp_confirm(
    State(app): State<App>,
    e: Enrolling,
    session: Session,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let factor: FactorId = form
        .factor
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|_| PageError::Redirect("/enroll".into()))?;
    match confirm(&app, e, &session, jar, &factor, form.code).await? {
        Ok(done) => Ok(done),
        Err(e) if e.body.error == "not_found" => Err(PageError::Redirect("/enroll".into())),
        Err(e) => {
            let msg = refusal(&e)?;
            render(&TotpPage {
                chrome: public_chrome(&app),
                csrf: csrf_token(&session).await?,
                factor: factor.to_string(),
                qr_svg: String::new(),
                key: String::new(),
                error: Some(format!(
                    "{msg} Use the code your app shows now, or start again to get a new QR code."
                )),
            })
        }
    }
}

/// `GET /enroll/phone` and `GET /enroll/email`.
pub async fn oob_page(
    State(app): State<App>,
    _: Enrolling,
    session: Session,
    uri: Uri,
) -> Result<Response, PageError> {
    render(&OobPage {
        chrome: public_chrome(&app),
        csrf: csrf_token(&session).await?,
        sms: uri.path().ends_with("phone"),
        value: String::new(),
        error: None,
    })
}

/// The phone/email form.
#[derive(Deserialize)]
pub struct DestinationForm {
    csrf: String,
    destination: String,
}

impl HasCsrf for DestinationForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /enroll/phone` and `POST /enroll/email`: send a code there.
pub async fn oob_start(
    State(app): State<App>,
    e: Enrolling,
    session: Session,
    uri: Uri,
    CsrfForm(form): CsrfForm<DestinationForm>,
) -> Result<Response, PageError> {
    let sms = uri.path().ends_with("phone");
    let (kind, request) = if sms {
        (
            FactorKind::Sms,
            EnrollRequest::Sms {
                label: "Mobile phone".into(),
                phone: form.destination.clone(),
            },
        )
    } else {
        (
            FactorKind::Email,
            EnrollRequest::Email {
                label: "Email".into(),
                address: form.destination.clone(),
            },
        )
    };
    if !e.methods.contains(&kind) {
        return Err(PageError::Redirect("/enroll".into()));
    }
    match engine(&app).begin_enrollment(&e.user, request, &e.caller).await {
        Ok(Enrollment::OutOfBand(sent)) => {
            session.insert(PENDING_FACTOR, sent.factor.to_string()).await?;
            session.insert("portal_enroll_to", sent.to.clone()).await?;
            Ok(Redirect::to("/enroll/confirm").into_response())
        }
        Ok(_) => Err(PageError::Internal("unexpected enrolment kind".into())),
        Err(e) => {
            let error = match &e {
                MfaError::InvalidInput(_) if sms => {
                    "Enter a mobile number, like 07700 900123 or +44 7700 900123.".into()
                }
                MfaError::InvalidInput(_) => "Enter an email address, like name@example.com.".into(),
                _ => engine_refusal(&e)?,
            };
            render(&OobPage {
                chrome: public_chrome(&app),
                csrf: csrf_token(&session).await?,
                sms,
                value: form.destination,
                error: Some(error),
            })
        }
    }
}

async fn oob_code(
    app: &App,
    session: &Session,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let to = session
        .get::<String>("portal_enroll_to")
        .await?
        .unwrap_or_default();
    render(&OobCodePage {
        chrome: public_chrome(app),
        csrf: csrf_token(session).await?,
        to,
        error,
        notice,
    })
}

/// `GET /enroll/confirm`.
pub async fn oob_code_page(
    State(app): State<App>,
    _: Enrolling,
    session: Session,
) -> Result<Response, PageError> {
    oob_code(&app, &session, None, None).await
}

/// `POST /enroll/confirm`: confirm with the code sent (or, with
/// `resend=yes`, send a new one).
pub async fn oob_confirm(
    State(app): State<App>,
    e: Enrolling,
    session: Session,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let Some(factor) = session.get::<String>(PENDING_FACTOR).await? else {
        return Err(PageError::Redirect("/enroll".into()));
    };
    let factor: FactorId = factor
        .parse()
        .map_err(|_| PageError::Redirect("/enroll".into()))?;
    if form.code == "resend" {
        return match engine(&app).resend_enrollment_code(&e.user, &factor).await {
            Ok(_) => {
                oob_code(
                    &app,
                    &session,
                    None,
                    Some("We've sent a new code. The old one no longer works.".into()),
                )
                .await
            }
            Err(e) => oob_code(&app, &session, explain(&ApiError::from_mfa(&e)), None).await,
        };
    }
    match confirm(&app, e, &session, jar, &factor, form.code).await? {
        Ok(done) => Ok(done),
        Err(e) => oob_code(&app, &session, Some(refusal(&e)?), None).await,
    }
}

/// `GET /enroll/done`: the recovery codes are shown only by the POST that
/// created them.
pub async fn done() -> Redirect {
    Redirect::to("/")
}
