//! Setting up two-step verification at first login (or in the grace
//! period): authenticator app (QR code and key), text message or email;
//! then recovery codes, shown once.

use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use mfa_axum::contract::{CompletedVia, PendingStep, SessionRecord, Stage};
use mfa_core::{Assurance, Caller, EnrollRequest, Enrollment, FactorId, FactorKind, MfaError};
use serde::Deserialize;
use tower_sessions::Session;

use super::second_step::explain;
use super::{Chrome, CsrfForm, HasCsrf, PageError, Plain, csrf_token, engine, public_chrome, record, render};
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
/// enrolment (grace period). Returns the record and the allowed methods.
async fn enrolling(session: &Session) -> Result<(SessionRecord, Vec<FactorKind>, bool), PageError> {
    let Some(r) = record(session).await? else {
        return Err(PageError::Redirect("/login".into()));
    };
    match &r.stage {
        Stage::Pending {
            step: PendingStep::MustEnroll { methods },
        } => {
            let m = methods.clone();
            Ok((r, m, false))
        }
        Stage::Complete {
            offer_enroll: Some(methods),
            ..
        } => {
            let m = methods.clone();
            Ok((r, m, true))
        }
        Stage::Pending { .. } => Err(PageError::Redirect("/login/mfa".into())),
        Stage::Complete { .. } => Err(PageError::Redirect("/account".into())),
    }
}

fn caller(r: &SessionRecord) -> Caller {
    Caller {
        audience: r.audience(),
        assurance: match &r.stage {
            Stage::Complete { assurance, .. } => *assurance,
            Stage::Pending { .. } => Assurance::PasswordOnly,
        },
    }
}

/// `GET /enroll`.
pub async fn choose(State(app): State<App>, session: Session) -> Result<Response, PageError> {
    let (_, methods, skippable) = enrolling(&session).await?;
    render(&ChoosePage {
        chrome: public_chrome(&app),
        csrf: csrf_token(&session).await?,
        totp: methods.contains(&FactorKind::Totp),
        sms: methods.contains(&FactorKind::Sms),
        email: methods.contains(&FactorKind::Email),
        skippable,
    })
}

/// `POST /enroll/skip`: only in the grace period.
pub async fn skip(session: Session, CsrfForm(_): CsrfForm<Plain>) -> Result<Response, PageError> {
    let (mut r, _, skippable) = enrolling(&session).await?;
    if !skippable {
        return Err(PageError::Redirect("/enroll".into()));
    }
    if let Stage::Complete { offer_enroll, .. } = &mut r.stage {
        *offer_enroll = None;
    }
    mfa_axum::MfaSession::save(&session, &r).await?;
    Ok(Redirect::to("/").into_response())
}

/// `GET /enroll/totp`: a new key and QR code (each visit starts afresh; an
/// unconfirmed key expires after 15 minutes).
pub async fn totp_page(State(app): State<App>, session: Session) -> Result<Response, PageError> {
    let (r, methods, _) = enrolling(&session).await?;
    if !methods.contains(&FactorKind::Totp) {
        return Err(PageError::Redirect("/enroll".into()));
    }
    let user = app.db.user(r.user.as_str()).await?.ok_or(PageError::NotFound)?;
    let request = EnrollRequest::Totp {
        label: "Authenticator app".into(),
        account_name: user.email.replace(':', ""),
    };
    let Enrollment::Totp(setup) = engine(&app)
        .begin_enrollment(&r.user, request, &caller(&r))
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

/// After a confirmed first factor: the session is complete (confirming
/// proved the factor), and a set of recovery codes is shown once.
async fn finish(
    app: &App,
    session: &Session,
    mut r: SessionRecord,
    enrolled: mfa_core::Enrolled,
) -> Result<Response, PageError> {
    r.stage = Stage::Complete {
        assurance: enrolled.assurance,
        by: CompletedVia::SecondFactor,
        offer_enroll: None,
    };
    mfa_axum::MfaSession::cycle_id(session).await?;
    mfa_axum::MfaSession::save(session, &r).await?;
    session.remove::<String>(PENDING_FACTOR).await?;
    let codes = engine(app)
        .generate_recovery_codes(&r.user, &caller(&r))
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let user = app.db.user(r.user.as_str()).await?.ok_or(PageError::NotFound)?;
    let method = match enrolled.factor.kind {
        FactorKind::Totp => "your authenticator app".to_owned(),
        _ => enrolled.factor.masked_destination.clone().unwrap_or_default(),
    };
    render(&DonePage {
        chrome: Chrome {
            nav: None,
            demo: app.config.demo,
        },
        method,
        codes: codes.codes.iter().map(|c| c.expose().to_owned()).collect(),
        next: super::auth::home_for(&user),
    })
}

/// `POST /enroll/totp`: confirm with a code from the app.
pub async fn totp_confirm(
    State(app): State<App>,
    session: Session,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let (r, _, _) = enrolling(&session).await?;
    let factor: FactorId = form
        .factor
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|_| PageError::Redirect("/enroll/totp".into()))?;
    match engine(&app)
        .confirm_enrollment(&r.user, &factor, &form.code)
        .await
    {
        Ok(enrolled) => finish(&app, &session, r, enrolled).await,
        Err(MfaError::NotFound) => Err(PageError::Redirect("/enroll/totp".into())),
        Err(e) => {
            let msg = explain(&e).ok_or_else(|| PageError::Internal(e.to_string()))?;
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
pub async fn oob_page(State(app): State<App>, session: Session, uri: Uri) -> Result<Response, PageError> {
    enrolling(&session).await?;
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
    session: Session,
    uri: Uri,
    CsrfForm(form): CsrfForm<DestinationForm>,
) -> Result<Response, PageError> {
    let (r, methods, _) = enrolling(&session).await?;
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
    if !methods.contains(&kind) {
        return Err(PageError::Redirect("/enroll".into()));
    }
    match engine(&app).begin_enrollment(&r.user, request, &caller(&r)).await {
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
                _ => explain(&e).ok_or_else(|| PageError::Internal(e.to_string()))?,
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
    enrolling(session).await?;
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
pub async fn oob_code_page(State(app): State<App>, session: Session) -> Result<Response, PageError> {
    oob_code(&app, &session, None, None).await
}

/// `POST /enroll/confirm`: confirm with the code sent (or, with
/// `resend=yes`, send a new one).
pub async fn oob_confirm(
    State(app): State<App>,
    session: Session,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let (r, _, _) = enrolling(&session).await?;
    let Some(factor) = session.get::<String>(PENDING_FACTOR).await? else {
        return Err(PageError::Redirect("/enroll".into()));
    };
    let factor: FactorId = factor
        .parse()
        .map_err(|_| PageError::Redirect("/enroll".into()))?;
    if form.code == "resend" {
        return match engine(&app).resend_enrollment_code(&r.user, &factor).await {
            Ok(_) => {
                oob_code(
                    &app,
                    &session,
                    None,
                    Some("We've sent a new code. The old one no longer works.".into()),
                )
                .await
            }
            Err(e) => oob_code(&app, &session, explain(&e), None).await,
        };
    }
    match engine(&app)
        .confirm_enrollment(&r.user, &factor, &form.code)
        .await
    {
        Ok(enrolled) => finish(&app, &session, r, enrolled).await,
        Err(e) => {
            let msg = explain(&e).ok_or_else(|| PageError::Internal(e.to_string()))?;
            oob_code(&app, &session, Some(msg), None).await
        }
    }
}

/// `GET /enroll/done`: the recovery codes are shown only by the POST that
/// created them.
pub async fn done() -> Redirect {
    Redirect::to("/")
}
