//! The second step of a login: choose a method, get a code (SMS/email) or
//! open the app, enter it, optionally trust this device; resend, try
//! another way, or use a recovery code. The engine decides; these pages
//! explain its answers in words a resident can act on.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use mfa_axum::contract::{ApiError, Call, CodeTarget, PendingStep, VerifyRequest};
use mfa_core::{FactorId, FactorKind, Purpose, UserId};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::{
    Chrome, CsrfForm, HasCsrf, PageError, Pending, csrf_token, engine, engine_refusal, public_chrome,
    refusal, render,
};
use crate::app::App;

/// Session key of the method being used.
pub const TARGET: &str = "portal_mfa_target";

/// The method the user picked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    kind: FactorKind,
    factor: String,
    label: String,
    challenge: Option<String>,
    to: Option<String>,
}

/// One choice on the "check it's you" page.
pub struct Choice {
    id: String,
    describe: String,
}

#[derive(Template)]
#[template(path = "mfa_choose.html")]
struct ChoosePage {
    chrome: Chrome,
    csrf: String,
    factors: Vec<Choice>,
    recovery: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "mfa_code.html")]
struct CodePage {
    chrome: Chrome,
    csrf: String,
    heading: String,
    instructions: String,
    code_label: &'static str,
    code_hint: &'static str,
    action: &'static str,
    recovery: bool,
    resend: bool,
    trust_allowed: bool,
    trust_days: u64,
    error: Option<String>,
    notice: Option<String>,
}

fn describe(kind: FactorKind, label: &str, masked: Option<&str>) -> String {
    match (kind, masked) {
        (FactorKind::Sms, Some(m)) => format!("Text message to {m}"),
        (FactorKind::Email, Some(m)) => format!("Email to {m}"),
        (FactorKind::Totp, _) if label == "Authenticator app" => label.to_owned(),
        (FactorKind::Totp, _) => format!("Authenticator app ({label})"),
        _ => label.to_owned(),
    }
}

async fn choose_page(
    app: &App,
    session: &Session,
    step: PendingStep,
    error: Option<String>,
) -> Result<Response, PageError> {
    let PendingStep::ChooseFactor {
        factors,
        recovery_codes,
        ..
    } = step
    else {
        return Err(PageError::Redirect("/enroll".into()));
    };
    render(&ChoosePage {
        chrome: public_chrome(app),
        csrf: csrf_token(session).await?,
        factors: factors
            .iter()
            .map(|f| Choice {
                id: f.id.clone(),
                describe: describe(f.method, &f.label, f.masked_destination.as_deref()),
            })
            .collect(),
        recovery: recovery_codes,
        error,
    })
}

/// `GET /login/mfa`: choose a method.
pub async fn choose(State(app): State<App>, p: Pending, session: Session) -> Result<Response, PageError> {
    choose_page(&app, &session, p.step, None).await
}

/// A form naming a factor.
#[derive(Deserialize)]
pub struct FactorForm {
    csrf: String,
    factor: String,
}

impl HasCsrf for FactorForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /login/mfa/start`: pick a method; SMS/email send a code now.
pub async fn start(
    State(app): State<App>,
    p: Pending,
    session: Session,
    CsrfForm(form): CsrfForm<FactorForm>,
) -> Result<Response, PageError> {
    let PendingStep::ChooseFactor { factors, .. } = &p.step else {
        return Err(PageError::Redirect("/enroll".into()));
    };
    let Some(f) = factors.iter().find(|f| f.id == form.factor) else {
        let error = Some("Please choose one of the options.".into());
        return choose_page(&app, &session, p.step, error).await;
    };
    let mut target = Target {
        kind: f.method,
        factor: f.id.clone(),
        label: describe(f.method, &f.label, f.masked_destination.as_deref()),
        challenge: None,
        to: f.masked_destination.clone(),
    };
    if f.method.is_out_of_band() {
        let id: FactorId = f.id.parse().map_err(|_| PageError::NotFound)?;
        match engine(&app).send_code(&p.user, &id, Purpose::Login).await {
            Ok(sent) => target.challenge = Some(sent.challenge.to_string()),
            Err(e) => {
                let error = Some(engine_refusal(&e)?);
                return choose_page(&app, &session, p.step, error).await;
            }
        }
    }
    session.insert(TARGET, &target).await?;
    Ok(Redirect::to("/login/mfa/code").into_response())
}

async fn code_page(
    app: &App,
    p: &Pending,
    session: &Session,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let Some(t) = session.get::<Target>(TARGET).await? else {
        return Err(PageError::Redirect("/login/mfa".into()));
    };
    let trust_allowed = matches!(
        p.step,
        PendingStep::ChooseFactor {
            trust_allowed: true,
            ..
        }
    );
    let trust_days = match p.mfa.state().record() {
        Some(r) => {
            engine(app)
                .policy()
                .settings_for(r.audience())
                .trust_for
                .as_secs()
                / 86_400
        }
        None => 0,
    };
    let (heading, instructions, hint) = match t.kind {
        FactorKind::Totp => (
            "Enter the code from your authenticator app".to_owned(),
            format!(
                "Open {} and enter the 6-digit code it shows for Orchard Homes.",
                if t.label == "Authenticator app" {
                    "your authenticator app"
                } else {
                    t.label.as_str()
                }
            ),
            "The code changes every 30 seconds.",
        ),
        _ => (
            "Enter the code we sent you".to_owned(),
            format!(
                "We've sent a 6-digit code to {}. It is valid for 5 minutes.",
                t.to.as_deref().unwrap_or("you")
            ),
            "It can take a minute or two to arrive.",
        ),
    };
    render(&CodePage {
        chrome: public_chrome(app),
        csrf: csrf_token(session).await?,
        heading,
        instructions,
        code_label: "Code",
        code_hint: hint,
        action: "/login/mfa/code",
        recovery: false,
        resend: t.kind.is_out_of_band(),
        trust_allowed,
        trust_days,
        error,
        notice,
    })
}

/// `GET /login/mfa/code`.
pub async fn code_page_get(
    State(app): State<App>,
    p: Pending,
    session: Session,
) -> Result<Response, PageError> {
    code_page(&app, &p, &session, None, None).await
}

/// The code form.
#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    code: String,
    #[serde(default)]
    trust: Option<String>,
}

impl HasCsrf for CodeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Runs the second step through the MFA routes' own path (`/verify`):
/// on success the library completes the session (new id, the engine's
/// assurance, the trust cookie when one was issued); the chosen method is
/// then forgotten and the user lands on their home page.
async fn verify(
    app: &App,
    p: &Pending,
    session: &Session,
    jar: CookieJar,
    request: VerifyRequest,
) -> Result<Result<Response, ApiError>, PageError> {
    match p.mfa.run(&app.mfa, Call::Verify(request, None), jar).await {
        Ok((_, jar)) => {
            session.remove::<Target>(TARGET).await?;
            session.remove::<String>("csrf").await?;
            let to = landing(app, &p.user).await?;
            Ok(Ok((jar, Redirect::to(to)).into_response()))
        }
        Err(e) => Ok(Err(e)),
    }
}

fn device_label(headers: &HeaderMap) -> String {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let browser = ["Edg", "Firefox", "Chrome", "Safari"]
        .into_iter()
        .find(|b| ua.contains(b))
        .map(|b| if b == "Edg" { "Edge" } else { b })
        .unwrap_or("Browser");
    let os = ["Android", "iPhone", "iPad", "Windows", "Mac OS", "Linux"]
        .into_iter()
        .find(|o| ua.contains(o))
        .unwrap_or("unknown device");
    format!("{browser} on {os}")
}

async fn landing(app: &App, user: &UserId) -> Result<&'static str, PageError> {
    let user = app.db.user(user.as_str()).await?.ok_or(PageError::NotFound)?;
    Ok(super::auth::home_for(&user))
}

/// `POST /login/mfa/code`: verify.
pub async fn submit(
    State(app): State<App>,
    p: Pending,
    session: Session,
    jar: CookieJar,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<Response, PageError> {
    let Some(t) = session.get::<Target>(TARGET).await? else {
        return Err(PageError::Redirect("/login/mfa".into()));
    };
    let target = match (&t.kind, &t.challenge) {
        (FactorKind::Totp, _) => CodeTarget::Totp { factor_id: t.factor },
        (_, Some(c)) => CodeTarget::Challenge {
            challenge_id: c.clone(),
        },
        _ => return Err(PageError::Redirect("/login/mfa".into())),
    };
    let trust_device = form.trust.as_deref() == Some("yes");
    let request = VerifyRequest {
        target,
        code: form.code,
        trust_device,
        device_label: trust_device.then(|| device_label(&headers)),
    };
    match verify(&app, &p, &session, jar, request).await? {
        Ok(done) => Ok(done),
        Err(e) => code_page(&app, &p, &session, Some(refusal(&e)?), None).await,
    }
}

/// `POST /login/mfa/resend`: a new code by the same method (the old one
/// stops working; wrong tries so far still count).
pub async fn resend(
    State(app): State<App>,
    p: Pending,
    session: Session,
    CsrfForm(_): CsrfForm<super::Plain>,
) -> Result<Response, PageError> {
    let Some(mut t) = session.get::<Target>(TARGET).await? else {
        return Err(PageError::Redirect("/login/mfa".into()));
    };
    let factor: FactorId = t.factor.parse().map_err(|_| PageError::NotFound)?;
    match engine(&app).send_code(&p.user, &factor, Purpose::Login).await {
        Ok(sent) => {
            t.challenge = Some(sent.challenge.to_string());
            session.insert(TARGET, &t).await?;
            code_page(
                &app,
                &p,
                &session,
                None,
                Some("We've sent a new code. Any code we sent before no longer works.".into()),
            )
            .await
        }
        Err(e) => code_page(&app, &p, &session, Some(engine_refusal(&e)?), None).await,
    }
}

async fn recovery_form(app: &App, session: &Session, error: Option<String>) -> Result<Response, PageError> {
    render(&CodePage {
        chrome: public_chrome(app),
        csrf: csrf_token(session).await?,
        heading: "Use a recovery code".into(),
        instructions: "Enter one of the recovery codes you saved when you set up two-step verification. Each code works once.".into(),
        code_label: "Recovery code",
        code_hint: "",
        action: "/login/mfa/recovery",
        recovery: true,
        resend: false,
        trust_allowed: false,
        trust_days: 0,
        error,
        notice: None,
    })
}

/// `GET /login/mfa/recovery`.
pub async fn recovery_page(
    State(app): State<App>,
    _: Pending,
    session: Session,
) -> Result<Response, PageError> {
    recovery_form(&app, &session, None).await
}

/// `POST /login/mfa/recovery`.
pub async fn recovery(
    State(app): State<App>,
    p: Pending,
    session: Session,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<Response, PageError> {
    let request = VerifyRequest {
        target: CodeTarget::RecoveryCode {},
        code: form.code,
        trust_device: false,
        device_label: None,
    };
    let error = match verify(&app, &p, &session, jar, request).await? {
        Ok(done) => return Ok(done),
        Err(e) if e.body.error == "invalid_input" => "A recovery code has 16 letters and numbers.".into(),
        Err(e) => refusal(&e)?,
    };
    recovery_form(&app, &session, Some(error)).await
}
