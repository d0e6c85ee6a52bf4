//! The flows every adapter drives, written once: login, the per-request
//! session check, and each MFA route. They never touch a session: they say
//! what to do with it ([`SessionChange`]) and the adapter applies that.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::http::contract::{
    ApiError, CodeSentResponse, CodeTarget, ConfirmRequest, DeviceView, DevicesResponse, EnrollEmailRequest,
    EnrollSmsRequest, EnrollTotpRequest, EnrolledResponse, FactorRef, FactorView, FactorsResponse,
    RecoveryCodesResponse, RevokedResponse, Route, SendCodeRequest, StatusResponse, StepUpRequest,
    TotpEnrollResponse, VerifiedResponse, VerifyRequest,
};
use crate::http::session::{PendingStep, SessionRecord, SessionToken, Stage};
use crate::http::settings::{Refusal, TrustCookie};
use crate::{
    Assurance, Attempt, AttemptTarget, Audience, Caller, ChallengeId, CompletedBy, DeviceId, EnrollRequest,
    Enrollment, FactorId, LoginContext, LoginStep, Mfa, MfaError, MfaStore, Purpose, SecretString,
    SessionCheck, UserId,
};

/// What the adapter must do with the request's session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum SessionChange {
    /// Nothing.
    Keep,
    /// Give the session a new id (invalidating the old one, against
    /// fixation), then store this sealed record.
    Renew(SessionToken),
    /// End the session: data gone, id invalid.
    End,
}

/// A successful answer of an MFA route.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Reply {
    /// The HTTP status (200, 201 or 204).
    pub status: u16,
    /// The JSON body (`None` for 204).
    pub body: Option<serde_json::Value>,
    /// A `Set-Cookie` value for the trust cookie.
    pub set_cookie: Option<String>,
    /// What to do with the session.
    pub session: SessionChange,
}

impl Reply {
    fn json(status: u16, body: &impl Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| {
            tracing::error!(error = %e, "mfa: encoding a response failed");
            ApiError::internal()
        })?;
        Ok(Reply {
            status,
            body: Some(body),
            set_cookie: None,
            session: SessionChange::Keep,
        })
    }

    fn empty() -> Reply {
        Reply {
            status: 204,
            body: None,
            set_cookie: None,
            session: SessionChange::Keep,
        }
    }
}

/// Maps an engine error, logging internal ones (engine errors carry no
/// secret).
fn engine_error(e: MfaError) -> ApiError {
    if e.is_internal() {
        tracing::error!(error = %e, "mfa engine failure");
    }
    ApiError::from_mfa(&e)
}

/// Decodes a request body: `400 invalid_json` when it is not the JSON the
/// route takes.
///
/// ```
/// use mfa_core::http::{decode_json, FactorRef};
/// assert!(decode_json::<FactorRef>(br#"{"factor_id":"fa_1"}"#).is_ok());
/// assert_eq!(decode_json::<FactorRef>(b"{").unwrap_err().body.error, "invalid_json");
/// ```
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|_| ApiError::invalid_json())
}

// ---------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------

/// The login's answer for `step`: `200` with the body of `GET
/// {prefix}/status`, or `423 locked`.
///
/// ```
/// use mfa_core::http::login_reply;
/// use mfa_core::{FactorKind, LoginStep};
/// let reply = login_reply(&LoginStep::MustEnroll { methods: vec![FactorKind::Totp] }).unwrap();
/// assert_eq!(reply.body.unwrap()["step"], "must_enroll");
/// assert_eq!(login_reply(&LoginStep::Locked { until: None }).unwrap_err().status, 423);
/// ```
pub fn login_reply(step: &LoginStep) -> Result<Reply, ApiError> {
    match step {
        LoginStep::Complete { by, .. } => Reply::json(200, &StatusResponse::complete(*by, false)),
        LoginStep::OfferEnroll { methods, .. } => {
            let mut body = StatusResponse::complete(CompletedBy::NotRequired, false);
            body.enroll_offered = Some(methods.clone());
            Reply::json(200, &body)
        }
        LoginStep::Locked { until } => Err(ApiError::locked(*until)),
        other => match PendingStep::of(other) {
            Some(step) => Reply::json(200, &StatusResponse::pending(&step)),
            None => Err(ApiError::internal()),
        },
    }
}

/// The login step after the password was checked: asks the engine
/// ([`Mfa::begin_login`]) with the trust cookie's value and says what the
/// session becomes (always a new id: [`SessionChange::Renew`] with the
/// sealed record, or [`SessionChange::End`] when the login is locked).
pub async fn begin_login<S: MfaStore>(
    mfa: &Mfa<S>,
    user: &UserId,
    audience: Audience,
    trust_token: Option<&str>,
) -> Result<(LoginStep, SessionChange), ApiError> {
    let mut ctx = LoginContext::new(audience.clone());
    if let Some(token) = trust_token {
        ctx = ctx.with_trust_token(token);
    }
    let step = mfa.begin_login(user, &ctx).await.map_err(engine_error)?;
    let change = match SessionRecord::for_login(user, audience, mfa.now(), &step) {
        Some(record) => SessionChange::Renew(record.seal(mfa)),
        None => SessionChange::End,
    };
    Ok((step, change))
}

/// The application changed the password of the logged-in user of `state`
/// (after checking the current one and a fresh second factor): the
/// engine's [`Mfa::password_changed`] revokes every trusted device and
/// ends every session of the user, and this session is re-issued (new id)
/// so that it alone goes on.
pub async fn password_changed<S: MfaStore>(
    mfa: &Mfa<S>,
    state: &RequestState,
) -> Result<SessionChange, ApiError> {
    let record = state.record.clone().ok_or_else(ApiError::unauthenticated)?;
    if record.is_pending() {
        return Err(ApiError::mfa_required());
    }
    let revoked_at = mfa.password_changed(record.user()).await.map_err(engine_error)?;
    Ok(SessionChange::Renew(record.reissued_after(revoked_at).seal(mfa)))
}

/// The user of `state` declines the grace period's offer to enrol: the
/// session stays complete and stops offering (no engine state changes).
pub fn decline_enroll_offer<S: MfaStore>(mfa: &Mfa<S>, state: &RequestState) -> SessionChange {
    match &state.record {
        Some(r)
            if matches!(
                r.stage(),
                Stage::Complete {
                    offer_enroll: Some(_),
                    ..
                }
            ) =>
        {
            SessionChange::Renew(r.clone().without_offer().seal(mfa))
        }
        _ => SessionChange::Keep,
    }
}

// ---------------------------------------------------------------------------
// The per-request check
// ---------------------------------------------------------------------------

/// What the middleware found for a request: made only by [`admit`]
/// (anonymous by `Default`).
#[derive(Clone, Debug, Default)]
pub struct RequestState {
    record: Option<SessionRecord>,
    fresh: bool,
}

/// The authenticator-app account name when the client names none: the
/// user id, made acceptable to the otpauth label (no `:`, at most 128
/// bytes), so that any valid user id can enrol.
fn default_account_name(user: &UserId) -> String {
    let mut name = String::new();
    for c in user.as_str().chars().map(|c| if c == ':' { '.' } else { c }) {
        if name.len() + c.len_utf8() > 128 {
            break;
        }
        name.push(c);
    }
    name
}

/// A refusal, for the adapter to answer as JSON or as a redirect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The error.
    pub error: ApiError,
    /// Whether the MFA page (not the login page) is where to go.
    pub mfa_page: bool,
    /// Whether a redirect may replace the JSON error (per the refusal
    /// mode); never for server errors and `not_pending`.
    pub redirectable: bool,
}

impl Refused {
    fn to(error: ApiError, mfa_page: bool) -> Refused {
        let redirectable = error.status != 500;
        Refused {
            error,
            mfa_page,
            redirectable,
        }
    }

    /// Where to redirect under `refusal` (`None`: answer the JSON error).
    pub fn redirect<'a>(&self, refusal: &'a Refusal) -> Option<&'a str> {
        if !self.redirectable {
            return None;
        }
        refusal.redirect_for(self.error.status, self.mfa_page)
    }
}

/// The middleware's decision for one request.
#[derive(Clone, Debug)]
#[must_use]
pub enum Admission {
    /// Go on, with this state for the handlers and extractors.
    Proceed(RequestState),
    /// Refuse.
    Refuse {
        /// Why.
        refused: Refused,
        /// End the session first.
        end_session: bool,
    },
}

/// A complete login, as the extractors give it to application handlers.
/// Made only by [`RequestState::complete`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompleteLogin {
    /// The user.
    pub user: UserId,
    /// The platform and groups of the login.
    pub audience: Audience,
    /// How strongly the session is authenticated.
    pub assurance: Assurance,
    /// Why the login completed.
    pub completed_by: CompletedBy,
    /// Whether the session is freshly verified ([`Mfa::is_fresh`]).
    pub fresh: bool,
}

impl CompleteLogin {
    /// The caller this login is, for engine calls that check assurance
    /// (enrolment, factor removal, recovery codes).
    pub fn caller(&self) -> Caller {
        Caller::new(self.audience.clone(), self.assurance)
    }
}

impl RequestState {
    /// The authenticated session record, if any.
    pub fn record(&self) -> Option<&SessionRecord> {
        self.record.as_ref()
    }

    /// Whether the session is a complete login freshly verified
    /// ([`Mfa::is_fresh`]).
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// A complete login, or `401 unauthenticated` / `401 mfa_required`.
    pub fn complete(&self) -> Result<CompleteLogin, Refused> {
        match self.record.as_ref().map(|r| (r, r.stage())) {
            Some((r, Stage::Complete { assurance, by, .. })) => Ok(CompleteLogin {
                user: r.user().clone(),
                audience: r.audience().clone(),
                assurance: *assurance,
                completed_by: *by,
                fresh: self.fresh,
            }),
            Some((_, Stage::Pending { .. })) => Err(Refused::to(ApiError::mfa_required(), true)),
            None => Err(Refused::to(ApiError::unauthenticated(), false)),
        }
    }

    /// A complete, freshly verified login; besides [`complete`](Self::complete)'s
    /// refusals, `403 step_up_required`.
    pub fn fresh_complete(&self) -> Result<CompleteLogin, Refused> {
        let login = self.complete()?;
        if !login.fresh {
            return Err(Refused::to(ApiError::from_mfa(&MfaError::StepUpRequired), true));
        }
        Ok(login)
    }

    /// A pending login, or `401 unauthenticated` / `409 not_pending`.
    pub fn pending(&self) -> Result<(UserId, PendingStep), Refused> {
        match self.record.as_ref().map(|r| (r.user(), r.stage())) {
            Some((user, Stage::Pending { step })) => Ok((user.clone(), step.clone())),
            Some(_) => Err(Refused {
                error: ApiError::not_pending(),
                mfa_page: false,
                redirectable: false,
            }),
            None => Err(Refused::to(ApiError::unauthenticated(), false)),
        }
    }
}

/// The per-request check. It opens the session's sealed record (a token
/// whose tag does not verify under the engine's key is refused as
/// `401 unauthenticated` and the session ended: nothing but the engine
/// makes a record, I3), asks the engine ([`Mfa::check_login`]) whether
/// the session may go on, ending it when the user's sessions were revoked
/// or a password-only session's user has enrolled a factor since
/// (`session_ended`, reason `revoked`), or its cohort's forced re-login
/// cut-off passed (`rollout_cutoff`), and refuses a *pending* session a
/// path it may not reach (`mfa_required`).
pub async fn admit<S: MfaStore>(
    mfa: &Mfa<S>,
    token: Option<SessionToken>,
    pending_allowed: bool,
) -> Admission {
    let Some(token) = token else {
        return Admission::Proceed(RequestState::default());
    };
    let Some(record) = SessionRecord::open(mfa, &token) else {
        tracing::warn!("mfa: a session record failed authentication; ending the session");
        return Admission::Refuse {
            refused: Refused::to(ApiError::unauthenticated(), false),
            end_session: true,
        };
    };
    let check = if record.is_pending() {
        // A pending session grants nothing but the MFA routes.
        mfa.check_session(record.user(), record.issued_at(), record.audience())
            .await
    } else {
        mfa.check_login(
            record.user(),
            record.issued_at(),
            record.audience(),
            &record.assurance(),
        )
        .await
    };
    match check {
        Ok(SessionCheck::Valid) => {}
        Ok(check) => {
            let reason = if check == SessionCheck::Revoked {
                "revoked"
            } else {
                "rollout_cutoff"
            };
            return Admission::Refuse {
                refused: Refused::to(ApiError::session_ended(reason), false),
                end_session: true,
            };
        }
        Err(e) => {
            return Admission::Refuse {
                refused: Refused::to(engine_error(e), false),
                end_session: false,
            };
        }
    }
    if record.is_pending() && !pending_allowed {
        return Admission::Refuse {
            refused: Refused::to(ApiError::mfa_required(), true),
            end_session: false,
        };
    }
    let fresh = mfa.is_fresh(&record.assurance());
    Admission::Proceed(RequestState {
        record: Some(record),
        fresh,
    })
}

// ---------------------------------------------------------------------------
// The MFA routes
// ---------------------------------------------------------------------------

/// One MFA route call, its body decoded.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Call {
    /// `GET /status`
    Status,
    /// `POST /send-code`
    SendCode(SendCodeRequest),
    /// `POST /verify`, with the `User-Agent` (the default device label).
    Verify(VerifyRequest, Option<String>),
    /// `POST /step-up`
    StepUp(StepUpRequest),
    /// `POST /enroll/totp`
    EnrollTotp(EnrollTotpRequest),
    /// `POST /enroll/sms`
    EnrollSms(EnrollSmsRequest),
    /// `POST /enroll/email`
    EnrollEmail(EnrollEmailRequest),
    /// `POST /enroll/resend`
    EnrollResend(FactorRef),
    /// `POST /enroll/confirm`
    EnrollConfirm(ConfirmRequest),
    /// `GET /factors`
    Factors,
    /// `DELETE /factors/{id}`
    RemoveFactor(String),
    /// `POST /recovery-codes`
    RecoveryCodes,
    /// `GET /devices`
    Devices,
    /// `DELETE /devices/{id}`
    RevokeDevice(String),
    /// `DELETE /devices`
    RevokeAllDevices,
}

impl Call {
    /// The route called.
    pub fn route(&self) -> Route {
        match self {
            Call::Status => Route::Status,
            Call::SendCode(_) => Route::SendCode,
            Call::Verify(..) => Route::Verify,
            Call::StepUp(_) => Route::StepUp,
            Call::EnrollTotp(_) => Route::EnrollTotp,
            Call::EnrollSms(_) => Route::EnrollSms,
            Call::EnrollEmail(_) => Route::EnrollEmail,
            Call::EnrollResend(_) => Route::EnrollResend,
            Call::EnrollConfirm(_) => Route::EnrollConfirm,
            Call::Factors => Route::Factors,
            Call::RemoveFactor(_) => Route::RemoveFactor,
            Call::RecoveryCodes => Route::RecoveryCodes,
            Call::Devices => Route::Devices,
            Call::RevokeDevice(_) => Route::RevokeDevice,
            Call::RevokeAllDevices => Route::RevokeAllDevices,
        }
    }
}

impl Call {
    /// Builds the call of `route` from the raw request parts, for adapters
    /// that route generically: `body` is decoded with [`decode_json`] (`400
    /// invalid_json`), `id` is the `{id}` path segment, `user_agent` the
    /// header. Routes without a body ignore it.
    ///
    /// ```
    /// use mfa_core::http::{Call, Route};
    /// let call = Call::decode(Route::RemoveFactor, b"", Some("fa_x"), None).unwrap();
    /// assert_eq!(call.route(), Route::RemoveFactor);
    /// assert!(Call::decode(Route::Verify, b"[]", None, None).is_err());
    /// ```
    pub fn decode(
        route: Route,
        body: &[u8],
        id: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<Call, ApiError> {
        let id = || id.unwrap_or_default().to_owned();
        Ok(match route {
            Route::Status => Call::Status,
            Route::SendCode => Call::SendCode(decode_json(body)?),
            Route::Verify => Call::Verify(decode_json(body)?, user_agent.map(str::to_owned)),
            Route::StepUp => Call::StepUp(decode_json(body)?),
            Route::EnrollTotp => Call::EnrollTotp(decode_json(body)?),
            Route::EnrollSms => Call::EnrollSms(decode_json(body)?),
            Route::EnrollEmail => Call::EnrollEmail(decode_json(body)?),
            Route::EnrollResend => Call::EnrollResend(decode_json(body)?),
            Route::EnrollConfirm => Call::EnrollConfirm(decode_json(body)?),
            Route::Factors => Call::Factors,
            Route::RemoveFactor => Call::RemoveFactor(id()),
            Route::RecoveryCodes => Call::RecoveryCodes,
            Route::Devices => Call::Devices,
            Route::RevokeDevice => Call::RevokeDevice(id()),
            Route::RevokeAllDevices => Call::RevokeAllDevices,
        })
    }

    /// Whether the route reads a JSON body.
    pub fn takes_body(route: Route) -> bool {
        route.method() == "POST" && route != Route::RecoveryCodes
    }
}

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, ApiError> {
    s.parse().map_err(|_| ApiError::invalid_input(what))
}

fn target(t: &CodeTarget) -> Result<AttemptTarget, ApiError> {
    Ok(match t {
        CodeTarget::Totp { factor_id } => AttemptTarget::Totp(parse::<FactorId>(factor_id, "factor_id")?),
        CodeTarget::Challenge { challenge_id } => {
            AttemptTarget::Challenge(parse::<ChallengeId>(challenge_id, "challenge_id")?)
        }
        CodeTarget::RecoveryCode {} => AttemptTarget::RecoveryCode,
    })
}

/// The record of a logged-in session allowed on `route`.
fn require(state: RequestState, route: Route) -> Result<SessionRecord, ApiError> {
    let record = state.record.ok_or_else(ApiError::unauthenticated)?;
    if let Stage::Pending { step } = record.stage()
        && !route.allowed_while_pending(step)
    {
        return Err(ApiError::mfa_required());
    }
    Ok(record)
}

/// `reply`, with the session renewed (new id) as `record`.
fn renewed<S: MfaStore>(mfa: &Mfa<S>, mut reply: Reply, record: SessionRecord) -> Reply {
    reply.session = SessionChange::Renew(record.seal(mfa));
    reply
}

/// Runs one MFA route for a request the middleware admitted.
pub async fn handle<S: MfaStore>(
    mfa: &Mfa<S>,
    cookie: TrustCookie,
    state: RequestState,
    call: Call,
) -> Result<Reply, ApiError> {
    let route = call.route();
    if let Call::Status = call {
        return status(mfa, state).await;
    }
    let record = require(state, route)?;
    let user = record.user().clone();
    match call {
        Call::Verify(body, user_agent) => verify(mfa, cookie, record, body, user_agent).await,
        Call::SendCode(body) => {
            let factor = parse::<FactorId>(&body.factor_id, "factor_id")?;
            let purpose = if record.is_pending() {
                Purpose::Login
            } else {
                Purpose::StepUp
            };
            let sent = mfa
                .send_code(&user, &factor, purpose)
                .await
                .map_err(engine_error)?;
            Reply::json(200, &CodeSentResponse::from(&sent))
        }
        Call::EnrollTotp(body) => {
            let account_name = body.account_name.unwrap_or_else(|| default_account_name(&user));
            let request = EnrollRequest::Totp {
                label: body.label,
                account_name,
            };
            begin_enrollment(mfa, &record, request).await
        }
        Call::EnrollSms(body) => {
            let request = EnrollRequest::Sms {
                label: body.label,
                phone: body.phone,
            };
            begin_enrollment(mfa, &record, request).await
        }
        Call::EnrollEmail(body) => {
            let request = EnrollRequest::Email {
                label: body.label,
                address: body.address,
            };
            begin_enrollment(mfa, &record, request).await
        }
        Call::EnrollResend(body) => {
            let factor = parse::<FactorId>(&body.factor_id, "factor_id")?;
            let sent = mfa
                .resend_enrollment_code(&user, &factor)
                .await
                .map_err(engine_error)?;
            Reply::json(200, &CodeSentResponse::from(&sent))
        }
        Call::EnrollConfirm(body) => {
            let factor = parse::<FactorId>(&body.factor_id, "factor_id")?;
            let enrolled = mfa
                .confirm_enrollment(&user, &factor, &body.code)
                .await
                .map_err(engine_error)?;
            let by = match record.stage() {
                Stage::Complete { by, .. } if *by != CompletedBy::NotRequired => *by,
                _ => CompletedBy::SecondFactor,
            };
            let reply = Reply::json(
                200,
                &EnrolledResponse {
                    state: "complete".into(),
                    factor: FactorView::from(&enrolled.factor),
                },
            )?;
            Ok(renewed(mfa, reply, record.completed(enrolled.assurance, by)))
        }
        // Every route below needs a complete login.
        _ if record.is_pending() => Err(ApiError::mfa_required()),
        Call::StepUp(body) => step_up(mfa, record, body).await,
        Call::Factors => {
            let list = mfa.factors(&user).await.map_err(engine_error)?;
            Reply::json(
                200,
                &FactorsResponse {
                    factors: list.iter().map(FactorView::from).collect(),
                },
            )
        }
        Call::RemoveFactor(id) => {
            let factor = parse::<FactorId>(&id, "factor id")?;
            mfa.remove_factor(&user, &factor, &record.caller())
                .await
                .map_err(engine_error)?;
            Ok(Reply::empty())
        }
        Call::RecoveryCodes => {
            let codes = mfa
                .generate_recovery_codes(&user, &record.caller())
                .await
                .map_err(engine_error)?;
            Reply::json(
                201,
                &RecoveryCodesResponse {
                    codes: codes.codes.iter().map(|c| c.expose().to_owned()).collect(),
                },
            )
        }
        Call::Devices => {
            let list = mfa.trusted_devices(&user).await.map_err(engine_error)?;
            Reply::json(
                200,
                &DevicesResponse {
                    devices: list.iter().map(DeviceView::from).collect(),
                },
            )
        }
        Call::RevokeDevice(id) => {
            let device = parse::<DeviceId>(&id, "device id")?;
            mfa.revoke_device(&user, &device).await.map_err(engine_error)?;
            Ok(Reply::empty())
        }
        Call::RevokeAllDevices => {
            let revoked = mfa.revoke_all_devices(&user).await.map_err(engine_error)?;
            let mut reply = Reply::json(200, &RevokedResponse { revoked })?;
            reply.set_cookie = Some(cookie.clear());
            Ok(reply)
        }
        Call::Status => Err(ApiError::internal()),
    }
}

async fn status<S: MfaStore>(mfa: &Mfa<S>, state: RequestState) -> Result<Reply, ApiError> {
    let Some(record) = state.record else {
        return Reply::json(200, &StatusResponse::anonymous());
    };
    let body = match record.stage() {
        Stage::Pending { step } => StatusResponse::pending(step),
        Stage::Complete { by, offer_enroll, .. } => {
            let s = mfa.status(record.user()).await.map_err(engine_error)?;
            let mut body = StatusResponse::complete(*by, state.fresh);
            body.enroll_offered = offer_enroll.clone();
            body.factors = Some(s.factors.iter().map(FactorView::from).collect());
            body.recovery_codes_left = Some(s.recovery_codes_left);
            body.trusted_devices = Some(s.trusted_devices);
            body
        }
    };
    Reply::json(200, &body)
}

async fn verify<S: MfaStore>(
    mfa: &Mfa<S>,
    cookie: TrustCookie,
    record: SessionRecord,
    body: VerifyRequest,
    user_agent: Option<String>,
) -> Result<Reply, ApiError> {
    if !record.is_pending() {
        return Err(ApiError::not_pending());
    }
    let mut attempt = Attempt::login(
        target(&body.target)?,
        SecretString::new(body.code),
        record.audience().clone(),
    );
    if body.trust_device {
        let label = body.device_label.or(user_agent).unwrap_or_default();
        attempt = attempt.trust_device(label);
    }
    let verified = mfa.verify(record.user(), &attempt).await.map_err(engine_error)?;
    let mut reply = Reply::json(
        200,
        &VerifiedResponse {
            state: "complete".into(),
            method: verified.method,
            trusted_device: verified.trust.is_some(),
            recovery_codes_left: verified.recovery_codes_left,
        },
    )?;
    reply.set_cookie = verified.trust.as_ref().map(|t| cookie.set(t, mfa.now()));
    Ok(renewed(
        mfa,
        reply,
        record.completed(verified.assurance, CompletedBy::SecondFactor),
    ))
}

async fn step_up<S: MfaStore>(
    mfa: &Mfa<S>,
    record: SessionRecord,
    body: StepUpRequest,
) -> Result<Reply, ApiError> {
    let attempt = Attempt::login(
        target(&body.target)?,
        SecretString::new(body.code),
        record.audience().clone(),
    )
    .step_up();
    let verified = mfa.verify(record.user(), &attempt).await.map_err(engine_error)?;
    let by = match record.stage() {
        Stage::Complete { by, .. } if *by != CompletedBy::NotRequired => *by,
        _ => CompletedBy::SecondFactor,
    };
    let reply = Reply::json(
        200,
        &VerifiedResponse {
            state: "complete".into(),
            method: verified.method,
            trusted_device: false,
            recovery_codes_left: verified.recovery_codes_left,
        },
    )?;
    Ok(renewed(mfa, reply, record.completed(verified.assurance, by)))
}

async fn begin_enrollment<S: MfaStore>(
    mfa: &Mfa<S>,
    record: &SessionRecord,
    request: EnrollRequest,
) -> Result<Reply, ApiError> {
    let enrollment = mfa
        .begin_enrollment(record.user(), request, &record.caller())
        .await
        .map_err(engine_error)?;
    match &enrollment {
        Enrollment::Totp(t) => Reply::json(
            201,
            &TotpEnrollResponse {
                factor_id: t.factor.to_string(),
                otpauth_uri: t.otpauth_uri.expose().to_owned(),
                qr_svg: t.qr_svg.expose().to_owned(),
                secret: t.secret_base32.expose().to_owned(),
            },
        ),
        Enrollment::OutOfBand(sent) => Reply::json(201, &CodeSentResponse::from(sent)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_valid_user_id_gives_an_acceptable_account_name() {
        let long = "é".repeat(127);
        for id in ["alice", "tenant:42", "urn:x:y", long.as_str()] {
            let user = UserId::new(id).unwrap_or_else(|e| unreachable!("{e}"));
            let name = default_account_name(&user);
            assert!(
                !name.is_empty() && name.len() <= 128 && !name.contains(':'),
                "{name:?}"
            );
        }
        assert_eq!(
            default_account_name(&UserId::new("tenant:42").unwrap_or_else(|e| unreachable!("{e}"))),
            "tenant.42"
        );
    }
}
