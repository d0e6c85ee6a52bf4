//! Account and security: contact details, factors (add, rename, remove),
//! trusted devices (revoke one or all), recovery codes (regenerate), recent
//! security activity, password change. Changes need a fresh second factor
//! (step-up); the engine enforces it, these pages send the resident to
//! `/account/confirm` first.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use mfa_axum::MfaRequest;
use mfa_axum::contract::{ApiError, Call, CodeTarget, ConfirmRequest, StepUpRequest};
use mfa_core::{ChallengeId, DeviceId, EnrollRequest, Enrollment, FactorId, FactorKind, MfaError, Purpose};
use serde::Deserialize;

use super::{Chrome, CsrfForm, HasCsrf, LoggedIn, PageError, Plain, engine, explain, render};
use crate::app::App;
use crate::util::{date, date_time};

struct FactorRow {
    id: String,
    kind: String,
    label: String,
    detail: String,
    added: String,
}

struct DeviceRow {
    id: String,
    label: String,
    added: String,
    last_used: String,
    expires: String,
}

struct EventRow {
    at: String,
    what: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    csrf: String,
    name: String,
    email: String,
    phone: String,
    address: String,
    fresh: bool,
    factors: Vec<FactorRow>,
    devices: Vec<DeviceRow>,
    recovery_left: u32,
    events: Vec<EventRow>,
    notice: Option<String>,
    error: Option<String>,
    codes: Vec<String>,
}

/// [`explain`] for an engine call made directly.
fn explain_engine(e: &MfaError) -> Option<String> {
    explain(&ApiError::from_mfa(e))
}

/// Plain words for an audit event.
pub fn describe_event(name: &str) -> &'static str {
    match name {
        "factor_enrolled" => "A sign-in method was added",
        "factor_removed" => "A sign-in method was removed",
        "factor_renamed" => "A sign-in method was renamed",
        "verify_succeeded" => "Signed in with a second step",
        "verify_failed" => "A wrong code was entered",
        "locked_out" => "Sign-in paused after wrong codes",
        "trusted_device_added" => "A device was trusted",
        "trusted_device_used" => "Signed in on a trusted device",
        "trusted_device_revoked" => "Trusted devices were removed",
        "recovery_code_used" => "A recovery code was used",
        "recovery_codes_generated" => "New recovery codes were made",
        "password_changed" => "Your password was changed",
        "admin_reset" => "Our team reset your two-step verification",
        "admin_unlock" => "Our team unlocked your account",
        "challenge_sent" => "A code was sent",
        "forced_logout" => "You were signed out for security",
        "replay_refused" => "An old code was refused",
        "send_refused" => "A code was not sent (too many requests)",
        _ => "Security activity",
    }
}

async fn account_page(
    app: &App,
    me: LoggedIn,
    notice: Option<String>,
    error: Option<String>,
    codes: Vec<String>,
) -> Result<Response, PageError> {
    let mfa = engine(app);
    let user = &me.mfa.user;
    let status = mfa
        .status(user)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let devices = mfa
        .trusted_devices(user)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let events = app.db.audit_log(Some(user.as_str()), 15).await?;
    let fresh = me.mfa.fresh;
    render(&AccountPage {
        chrome: me.chrome,
        csrf: me.csrf,
        name: me.user.name,
        email: me.user.email,
        phone: me.user.phone.unwrap_or_default(),
        address: me.user.address.unwrap_or_default(),
        fresh,
        factors: status
            .factors
            .iter()
            .map(|f| FactorRow {
                id: f.id.to_string(),
                kind: match f.kind {
                    FactorKind::Totp => "Authenticator app".into(),
                    FactorKind::Sms => "Text message".into(),
                    FactorKind::Email => "Email".into(),
                    _ => "Other".into(),
                },
                // The default label repeats the kind: show only a label the
                // resident chose.
                label: if ["Authenticator app", "Mobile phone", "Email"].contains(&f.label.as_str()) {
                    String::new()
                } else {
                    f.label.clone()
                },
                detail: f
                    .masked_destination
                    .clone()
                    .unwrap_or_else(|| "On your phone".into()),
                added: f.confirmed_at.map(|t| date(t.unix_millis())).unwrap_or_default(),
            })
            .collect(),
        devices: devices
            .iter()
            .map(|d| DeviceRow {
                id: d.id.to_string(),
                label: d.label.clone(),
                added: date(d.created_at.unix_millis()),
                last_used: d
                    .last_used_at
                    .map(|t| date_time(t.unix_millis()))
                    .unwrap_or_else(|| "not yet".into()),
                expires: date(d.expires_at.unix_millis()),
            })
            .collect(),
        recovery_left: status.recovery_codes_left,
        events: events
            .iter()
            .map(|e| EventRow {
                at: date_time(e.at),
                what: describe_event(&e.event).to_owned(),
            })
            .collect(),
        notice,
        error,
        codes,
    })
}

/// `GET /account`.
pub async fn account(State(app): State<App>, me: LoggedIn) -> Result<Response, PageError> {
    account_page(&app, me, None, None, Vec::new()).await
}

fn need_step_up(e: &MfaError) -> bool {
    matches!(e, MfaError::StepUpRequired)
}

fn step_up_redirect() -> Response {
    Redirect::to("/account/confirm?next=/account").into_response()
}

/// A form naming a factor or device.
#[derive(Deserialize)]
pub struct IdForm {
    csrf: String,
    id: String,
    #[serde(default)]
    label: Option<String>,
}

impl HasCsrf for IdForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /account/factors/remove`.
pub async fn remove_factor(
    State(app): State<App>,
    me: LoggedIn,
    CsrfForm(form): CsrfForm<IdForm>,
) -> Result<Response, PageError> {
    let id: FactorId = form.id.parse().map_err(|_| PageError::NotFound)?;
    match engine(&app)
        .remove_factor(&me.mfa.user, &id, &me.mfa.caller())
        .await
    {
        Ok(()) => {
            let msg = "The sign-in method was removed. For your safety, trusted devices were signed out too.";
            account_page(&app, me, Some(msg.into()), None, Vec::new()).await
        }
        Err(e) if need_step_up(&e) => Ok(step_up_redirect()),
        Err(e) => account_page(&app, me, None, explain_engine(&e), Vec::new()).await,
    }
}

/// `POST /account/factors/rename`.
pub async fn rename_factor(
    State(app): State<App>,
    me: LoggedIn,
    CsrfForm(form): CsrfForm<IdForm>,
) -> Result<Response, PageError> {
    let id: FactorId = form.id.parse().map_err(|_| PageError::NotFound)?;
    let label = form.label.unwrap_or_default();
    match engine(&app)
        .rename_factor(&me.mfa.user, &id, &label, &me.mfa.caller())
        .await
    {
        Ok(()) => account_page(&app, me, Some("Renamed.".into()), None, Vec::new()).await,
        Err(e) if need_step_up(&e) => Ok(step_up_redirect()),
        Err(e) => account_page(&app, me, None, explain_engine(&e), Vec::new()).await,
    }
}

/// `POST /account/devices/revoke`: one device, or all with `id=all`.
pub async fn revoke_device(
    State(app): State<App>,
    me: LoggedIn,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<IdForm>,
) -> Result<Response, PageError> {
    let mfa = engine(&app);
    let result = if form.id == "all" {
        mfa.revoke_all_devices(&me.mfa.user).await.map(|_| ())
    } else {
        let id: DeviceId = form.id.parse().map_err(|_| PageError::NotFound)?;
        mfa.revoke_device(&me.mfa.user, &id).await
    };
    match result {
        Ok(()) => {
            let jar = if form.id == "all" {
                jar.remove(
                    axum_extra::extract::cookie::Cookie::build(app.mfa.settings().trust_cookie_name())
                        .path("/"),
                )
            } else {
                jar
            };
            let page = account_page(
                &app,
                me,
                Some("Done. That device will be asked for a code next time.".into()),
                None,
                Vec::new(),
            )
            .await?;
            Ok((jar, page).into_response())
        }
        Err(e) => account_page(&app, me, None, explain_engine(&e), Vec::new()).await,
    }
}

/// `POST /account/recovery-codes`: a new set, replacing the old one.
pub async fn regenerate_codes(
    State(app): State<App>,
    me: LoggedIn,
    CsrfForm(_): CsrfForm<Plain>,
) -> Result<Response, PageError> {
    match engine(&app)
        .generate_recovery_codes(&me.mfa.user, &me.mfa.caller())
        .await
    {
        Ok(codes) => {
            let codes = codes.codes.iter().map(|c| c.expose().to_owned()).collect();
            let msg = "Here are your new recovery codes. Your old codes no longer work. Save these now: we won't show them again.";
            account_page(&app, me, Some(msg.into()), None, codes).await
        }
        Err(e) if need_step_up(&e) => Ok(step_up_redirect()),
        Err(e) => account_page(&app, me, None, explain_engine(&e), Vec::new()).await,
    }
}

/// The new-password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    /// The password in use now.
    #[serde(default)]
    current: String,
    password: String,
    confirm: String,
}

impl HasCsrf for PasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A password we accept: 10 to 128 characters (NIST SP 800-63B: length,
/// not composition rules).
pub fn password_problem(password: &str, confirm: &str) -> Option<&'static str> {
    if password != confirm {
        Some("The two passwords don't match.")
    } else if password.chars().count() < 10 {
        Some("Use at least 10 characters. A few unrelated words make a good password.")
    } else if password.len() > 128 {
        Some("Use at most 128 characters.")
    } else {
        None
    }
}

/// `POST /account/password`: needs the current password and a fresh
/// second factor; ends every other session of the resident, signs trusted
/// devices out and emails a notice (the engine's `password_changed`, whose
/// `PasswordChanged` event the notifier turns into the email).
pub async fn change_password(
    State(app): State<App>,
    me: LoggedIn,
    req: MfaRequest,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<Response, PageError> {
    if !me.mfa.fresh {
        return Ok(step_up_redirect());
    }
    let current_ok = form.current.len() <= 1024
        && app
            .db
            .check_password(&me.user.email, &form.current)
            .await?
            .is_some_and(|u| u.id == me.user.id);
    if !current_ok {
        let msg =
            "Your current password is not right. Enter the password you use now, then the new one twice.";
        return account_page(&app, me, None, Some(msg.into()), Vec::new()).await;
    }
    if let Some(problem) = password_problem(&form.password, &form.confirm) {
        return account_page(&app, me, None, Some(problem.into()), Vec::new()).await;
    }
    app.db.set_password(&me.user.id, &form.password).await?;
    // Every other session ends and trusted devices are revoked; this
    // session is re-issued so that it goes on.
    req.password_changed(&app.mfa)
        .await
        .map_err(|e| PageError::Internal(format!("password_changed: {e:?}")))?;
    account_page(
        &app,
        me,
        Some("Your password was changed. You've been signed out everywhere else, trusted devices will be asked for a code again, and we've emailed you to confirm.".into()),
        None,
        Vec::new(),
    )
    .await
}

// ---- adding a method from the account page (needs step-up) -------------

#[derive(Template)]
#[template(path = "add_factor.html")]
struct AddFactorPage {
    chrome: Chrome,
    csrf: String,
    kind: String,
    qr_svg: String,
    key: String,
    factor: String,
    to: String,
    error: Option<String>,
}

/// The add-method form.
#[derive(Deserialize)]
pub struct AddForm {
    csrf: String,
    kind: String,
    #[serde(default)]
    destination: String,
}

impl HasCsrf for AddForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /account/factors/add`: starts adding a method.
pub async fn add_factor(
    State(app): State<App>,
    me: LoggedIn,
    CsrfForm(form): CsrfForm<AddForm>,
) -> Result<Response, PageError> {
    let request = match form.kind.as_str() {
        "totp" => EnrollRequest::Totp {
            label: "Authenticator app".into(),
            account_name: me.user.email.replace(':', ""),
        },
        "sms" => EnrollRequest::Sms {
            label: "Mobile phone".into(),
            phone: form.destination.clone(),
        },
        "email" => EnrollRequest::Email {
            label: "Email".into(),
            address: form.destination.clone(),
        },
        _ => return Err(PageError::NotFound),
    };
    let c = me.mfa.caller();
    match engine(&app).begin_enrollment(&me.mfa.user, request, &c).await {
        Ok(Enrollment::Totp(t)) => render(&AddFactorPage {
            chrome: me.chrome,
            csrf: me.csrf,
            kind: "totp".into(),
            qr_svg: t.qr_svg.expose().to_owned(),
            key: t.secret_grouped().expose().to_owned(),
            factor: t.factor.to_string(),
            to: String::new(),
            error: None,
        }),
        Ok(Enrollment::OutOfBand(sent)) => render(&AddFactorPage {
            chrome: me.chrome,
            csrf: me.csrf,
            kind: form.kind,
            qr_svg: String::new(),
            key: String::new(),
            factor: sent.factor.to_string(),
            to: sent.to,
            error: None,
        }),
        Err(e) if need_step_up(&e) => Ok(step_up_redirect()),
        Err(e) => account_page(&app, me, None, explain_engine(&e), Vec::new()).await,
    }
}

/// The confirm-new-method form.
#[derive(Deserialize)]
pub struct ConfirmAddForm {
    csrf: String,
    factor: String,
    code: String,
}

impl HasCsrf for ConfirmAddForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /account/factors/confirm`.
pub async fn confirm_factor(
    State(app): State<App>,
    me: LoggedIn,
    req: MfaRequest,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<ConfirmAddForm>,
) -> Result<Response, PageError> {
    let id: FactorId = form.factor.parse().map_err(|_| PageError::NotFound)?;
    let body = ConfirmRequest {
        factor_id: id.to_string(),
        code: form.code,
    };
    match req.run(&app.mfa, Call::EnrollConfirm(body), jar).await {
        Ok((_, jar)) => {
            let page = account_page(
                &app,
                me,
                Some("Added. We've let you know by email too.".into()),
                None,
                Vec::new(),
            )
            .await?;
            Ok((jar, page).into_response())
        }
        Err(e) => {
            let msg = explain(&e).unwrap_or_else(|| "That didn't work.".into());
            account_page(
                &app,
                me,
                None,
                Some(format!("{msg} Start again to add the method.")),
                Vec::new(),
            )
            .await
        }
    }
}

// ---- step-up ------------------------------------------------------------

#[derive(Template)]
#[template(path = "step_up.html")]
struct StepUpPage {
    chrome: Chrome,
    csrf: String,
    next: String,
    factors: Vec<(String, String, bool)>,
    challenge: String,
    factor: String,
    sent_to: String,
    error: Option<String>,
}

/// Where to go after step-up: only local paths.
#[derive(Deserialize)]
pub struct Next {
    #[serde(default)]
    next: Option<String>,
}

fn safe_next(next: Option<&str>) -> String {
    crate::util::same_site_path(next)
}

async fn step_up_page(
    app: &App,
    me: LoggedIn,
    next: String,
    sent: Option<(String, String, String)>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let factors = engine(app)
        .factors(&me.mfa.user)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?
        .iter()
        .map(|f| {
            let describe = match (f.kind, &f.masked_destination) {
                (FactorKind::Sms, Some(m)) => format!("Text message to {m}"),
                (FactorKind::Email, Some(m)) => format!("Email to {m}"),
                _ => "Authenticator app".to_owned(),
            };
            (f.id.to_string(), describe, f.kind == FactorKind::Totp)
        })
        .collect();
    let (factor, challenge, sent_to) = sent.unwrap_or_default();
    render(&StepUpPage {
        chrome: me.chrome,
        csrf: me.csrf,
        next,
        factors,
        challenge,
        factor,
        sent_to,
        error,
    })
}

/// `GET /account/confirm?next=…`: confirm it's you before a change.
pub async fn confirm_page(
    State(app): State<App>,
    me: LoggedIn,
    Query(q): Query<Next>,
) -> Result<Response, PageError> {
    let next = safe_next(q.next.as_deref());
    step_up_page(&app, me, next, None, None).await
}

/// The step-up form: send a code, or verify one.
#[derive(Deserialize)]
pub struct StepUpForm {
    csrf: String,
    next: String,
    factor: String,
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    code: String,
}

impl HasCsrf for StepUpForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /account/confirm`: the code goes through the MFA routes' own
/// step-up (`/step-up`), which refreshes the session.
pub async fn confirm(
    State(app): State<App>,
    me: LoggedIn,
    req: MfaRequest,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<StepUpForm>,
) -> Result<Response, PageError> {
    let next = safe_next(Some(&form.next));
    let mfa = engine(&app);
    let factor: FactorId = form.factor.parse().map_err(|_| PageError::NotFound)?;
    let is_totp = mfa
        .factors(&me.mfa.user)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?
        .iter()
        .any(|f| f.id == factor && f.kind == FactorKind::Totp);
    if form.code.trim().is_empty() && !is_totp {
        return match mfa.send_code(&me.mfa.user, &factor, Purpose::StepUp).await {
            Ok(sent) => {
                let s = (factor.to_string(), sent.challenge.to_string(), sent.to);
                step_up_page(&app, me, next, Some(s), None).await
            }
            Err(e) => step_up_page(&app, me, next, None, explain_engine(&e)).await,
        };
    }
    let target = if is_totp {
        CodeTarget::Totp {
            factor_id: factor.to_string(),
        }
    } else {
        let challenge: ChallengeId = form.challenge.parse().map_err(|_| PageError::NotFound)?;
        CodeTarget::Challenge {
            challenge_id: challenge.to_string(),
        }
    };
    let body = StepUpRequest {
        target,
        code: form.code,
    };
    match req.run(&app.mfa, Call::StepUp(body), jar).await {
        Ok((_, jar)) => {
            me.session.remove::<String>("csrf").await?;
            Ok((jar, Redirect::to(&next)).into_response())
        }
        Err(e) => {
            let sent = (!is_totp).then(|| (factor.to_string(), form.challenge.clone(), String::new()));
            step_up_page(&app, me, next, sent, explain(&e)).await
        }
    }
}
