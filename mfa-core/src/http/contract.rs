//! The HTTP contract, framework-free: request and response bodies, the
//! session model, error → status mapping, the CSRF rule and which routes a
//! pending session may use (see `docs/http-api.md`).
//!
//! Nothing here depends on a web framework: mfa-axum and mfa-actix both
//! translate these types. Statuses are plain `u16`s for that reason.
//!
//! ```
//! use mfa_core::http::ApiError;
//! use mfa_core::MfaError;
//! let e = ApiError::from_mfa(&MfaError::InvalidCode { attempts_left: 3 });
//! assert_eq!(e.status, 422);
//! assert_eq!(
//!     serde_json::to_value(&e.body).unwrap(),
//!     serde_json::json!({"error": "invalid_code", "attempts_left": 3, "message": "the code is not correct (3 attempts left)"})
//! );
//! ```

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::session::PendingStep;
use crate::{CodeSent, CompletedBy, FactorKind, FactorSummary, MfaError, Timestamp, TrustedDevice};

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

/// Every route of the contract, relative to the prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// `GET /status`
    Status,
    /// `POST /send-code` (also the resend)
    SendCode,
    /// `POST /verify`
    Verify,
    /// `POST /enroll/totp`
    EnrollTotp,
    /// `POST /enroll/sms`
    EnrollSms,
    /// `POST /enroll/email`
    EnrollEmail,
    /// `POST /enroll/resend`
    EnrollResend,
    /// `POST /enroll/confirm`
    EnrollConfirm,
    /// `GET /factors`
    Factors,
    /// `DELETE /factors/{id}`
    RemoveFactor,
    /// `POST /recovery-codes`
    RecoveryCodes,
    /// `GET /devices`
    Devices,
    /// `DELETE /devices/{id}`
    RevokeDevice,
    /// `DELETE /devices`
    RevokeAllDevices,
    /// `POST /step-up`
    StepUp,
}

impl Route {
    /// Every route.
    pub const ALL: [Route; 15] = [
        Route::Status,
        Route::SendCode,
        Route::Verify,
        Route::EnrollTotp,
        Route::EnrollSms,
        Route::EnrollEmail,
        Route::EnrollResend,
        Route::EnrollConfirm,
        Route::Factors,
        Route::RemoveFactor,
        Route::RecoveryCodes,
        Route::Devices,
        Route::RevokeDevice,
        Route::RevokeAllDevices,
        Route::StepUp,
    ];

    /// The HTTP method.
    pub fn method(self) -> &'static str {
        match self {
            Route::Status | Route::Factors | Route::Devices => "GET",
            Route::RemoveFactor | Route::RevokeDevice | Route::RevokeAllDevices => "DELETE",
            _ => "POST",
        }
    }

    /// The path below the prefix, with `{id}` for a path parameter.
    pub fn path(self) -> &'static str {
        match self {
            Route::Status => "/status",
            Route::SendCode => "/send-code",
            Route::Verify => "/verify",
            Route::EnrollTotp => "/enroll/totp",
            Route::EnrollSms => "/enroll/sms",
            Route::EnrollEmail => "/enroll/email",
            Route::EnrollResend => "/enroll/resend",
            Route::EnrollConfirm => "/enroll/confirm",
            Route::Factors => "/factors",
            Route::RemoveFactor => "/factors/{id}",
            Route::RecoveryCodes => "/recovery-codes",
            Route::Devices => "/devices",
            Route::RevokeDevice => "/devices/{id}",
            Route::RevokeAllDevices => "/devices",
            Route::StepUp => "/step-up",
        }
    }

    /// Whether a *pending* session (password checked, second factor
    /// missing) may use this route. It may read its status, send and
    /// verify codes, and, only when the policy forces enrolment, enrol and
    /// confirm its first factor. Everything else answers `mfa_required`.
    pub fn allowed_while_pending(self, step: &PendingStep) -> bool {
        match self {
            Route::Status | Route::SendCode | Route::Verify => true,
            Route::EnrollTotp
            | Route::EnrollSms
            | Route::EnrollEmail
            | Route::EnrollResend
            | Route::EnrollConfirm => matches!(step, PendingStep::MustEnroll { .. }),
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------
// Wire views
// ---------------------------------------------------------------------------

fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339()
}

/// A factor as the API shows it (no secret, masked destination).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FactorView {
    /// Its id (`fa_…`).
    pub id: String,
    /// `totp`, `sms` or `email`.
    #[schema(value_type = String, example = "totp")]
    pub method: FactorKind,
    /// The user's label.
    pub label: String,
    /// For SMS/email: the masked destination.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub masked_destination: Option<String>,
    /// When it was confirmed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub confirmed_at: Option<String>,
    /// When it last verified a code (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_used_at: Option<String>,
}

impl From<&FactorSummary> for FactorView {
    fn from(f: &FactorSummary) -> Self {
        FactorView {
            id: f.id.to_string(),
            method: f.kind,
            label: f.label.clone(),
            masked_destination: f.masked_destination.clone(),
            confirmed_at: f.confirmed_at.map(rfc3339),
            last_used_at: f.last_used_at.map(rfc3339),
        }
    }
}

/// A trusted device as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceView {
    /// Its id (`dv_…`).
    pub id: String,
    /// Its label.
    pub label: String,
    /// When it was trusted.
    pub created_at: String,
    /// When it last skipped a second factor.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_used_at: Option<String>,
    /// When the trust ends.
    pub expires_at: String,
}

impl From<&TrustedDevice> for DeviceView {
    fn from(d: &TrustedDevice) -> Self {
        DeviceView {
            id: d.id.to_string(),
            label: d.label.clone(),
            created_at: rfc3339(d.created_at),
            last_used_at: d.last_used_at.map(rfc3339),
            expires_at: rfc3339(d.expires_at),
        }
    }
}

/// `GET /status`: the login state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusResponse {
    /// `anonymous`, `pending` or `complete`.
    pub state: String,
    /// Pending: `choose_factor` or `must_enroll`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub step: Option<String>,
    /// Complete: `second_factor`, `trusted_device` or `not_required`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub completed_by: Option<String>,
    /// Complete: whether the session counts as freshly verified (step-up).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fresh: Option<bool>,
    /// Pending `choose_factor`, or complete: the usable factors.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub factors: Option<Vec<FactorView>>,
    /// Pending `must_enroll`: methods that may be enrolled.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub methods: Option<Vec<FactorKind>>,
    /// Pending `choose_factor`: whether a recovery code may be used.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub recovery_codes: Option<bool>,
    /// Pending `choose_factor`: whether "trust this device" may be offered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trust_allowed: Option<bool>,
    /// Complete: unused recovery codes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub recovery_codes_left: Option<u32>,
    /// Complete: live trusted devices.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trusted_devices: Option<usize>,
    /// Complete, grace period: enrolment is offered (skippable) with these
    /// methods; MFA becomes mandatory later.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub enroll_offered: Option<Vec<FactorKind>>,
}

impl StatusResponse {
    /// The anonymous state.
    pub fn anonymous() -> Self {
        StatusResponse {
            state: "anonymous".into(),
            step: None,
            completed_by: None,
            fresh: None,
            factors: None,
            methods: None,
            recovery_codes: None,
            trust_allowed: None,
            recovery_codes_left: None,
            trusted_devices: None,
            enroll_offered: None,
        }
    }

    /// A pending state.
    pub fn pending(step: &PendingStep) -> Self {
        let mut s = StatusResponse::anonymous();
        s.state = "pending".into();
        match step {
            PendingStep::ChooseFactor {
                factors,
                recovery_codes,
                trust_allowed,
            } => {
                s.step = Some("choose_factor".into());
                s.factors = Some(factors.clone());
                s.recovery_codes = Some(*recovery_codes);
                s.trust_allowed = Some(*trust_allowed);
            }
            PendingStep::MustEnroll { methods } => {
                s.step = Some("must_enroll".into());
                s.methods = Some(methods.clone());
            }
        }
        s
    }

    /// A complete state (without the engine's counts).
    pub fn complete(by: CompletedBy, fresh: bool) -> Self {
        let mut s = StatusResponse::anonymous();
        s.state = "complete".into();
        s.completed_by = Some(by.as_str().into());
        s.fresh = Some(fresh);
        s
    }
}

/// `POST /send-code` body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendCodeRequest {
    /// The SMS/email factor to send through.
    pub factor_id: String,
}

/// A code was sent (`/send-code`, `/enroll/sms`, `/enroll/email`, `/enroll/resend`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CodeSentResponse {
    /// The challenge to verify against (`ch_…`).
    pub challenge_id: String,
    /// The factor it went through.
    pub factor_id: String,
    /// `sms` or `email`.
    #[schema(value_type = String, example = "sms")]
    pub method: FactorKind,
    /// Where, masked.
    pub sent_to: String,
    /// When the code stops working.
    pub expires_at: String,
    /// When a resend is allowed.
    pub resend_at: String,
    /// Attempts left on the challenge (a resend keeps the count).
    pub attempts_left: u32,
}

impl From<&CodeSent> for CodeSentResponse {
    fn from(c: &CodeSent) -> Self {
        CodeSentResponse {
            challenge_id: c.challenge.to_string(),
            factor_id: c.factor.to_string(),
            method: c.kind,
            sent_to: c.to.clone(),
            expires_at: rfc3339(c.expires_at),
            resend_at: rfc3339(c.resend_at),
            attempts_left: c.attempts_left,
        }
    }
}

/// Which code is being entered (`/verify`, `/step-up`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum CodeTarget {
    /// A code from an authenticator app.
    Totp {
        /// The TOTP factor.
        factor_id: String,
    },
    /// The code sent for an SMS/email challenge.
    Challenge {
        /// The challenge from `/send-code`.
        challenge_id: String,
    },
    /// A recovery code.
    RecoveryCode {},
}

/// `POST /verify` body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// Which code.
    #[serde(flatten)]
    pub target: CodeTarget,
    /// What the user typed.
    pub code: String,
    /// Trust this device afterwards (if the policy allows).
    #[serde(default)]
    pub trust_device: bool,
    /// A label for the device list (default: from `User-Agent`).
    #[serde(default)]
    pub device_label: Option<String>,
}

/// `POST /step-up` body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StepUpRequest {
    /// Which code.
    #[serde(flatten)]
    pub target: CodeTarget,
    /// What the user typed.
    pub code: String,
}

/// `POST /verify` and `POST /step-up` success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifiedResponse {
    /// Always `complete`.
    pub state: String,
    /// What was proved (`totp`, `sms`, `email`, `recovery_code`).
    #[schema(value_type = String, example = "totp")]
    pub method: FactorKind,
    /// Whether a trust cookie was set.
    pub trusted_device: bool,
    /// Recovery codes left, when one was used.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub recovery_codes_left: Option<u32>,
}

/// `POST /enroll/totp` body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollTotpRequest {
    /// The user's name for the app ("Phone").
    pub label: String,
    /// The account name shown in the app (default: the user id). No ':'.
    #[serde(default)]
    pub account_name: Option<String>,
}

/// `POST /enroll/totp` answer: shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TotpEnrollResponse {
    /// The pending factor; confirm with `/enroll/confirm`.
    pub factor_id: String,
    /// The `otpauth://` URI.
    pub otpauth_uri: String,
    /// The QR code as an SVG document.
    pub qr_svg: String,
    /// The key in base32, for manual entry.
    pub secret: String,
}

/// `POST /enroll/sms` body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollSmsRequest {
    /// The user's name for it.
    pub label: String,
    /// The phone number.
    pub phone: String,
}

/// `POST /enroll/email` body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollEmailRequest {
    /// The user's name for it.
    pub label: String,
    /// The address.
    pub address: String,
}

/// `POST /enroll/resend` body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactorRef {
    /// The pending factor.
    pub factor_id: String,
}

/// `POST /enroll/confirm` body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The pending factor.
    pub factor_id: String,
    /// The code from the app, or the code sent.
    pub code: String,
}

/// `POST /enroll/confirm` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrolledResponse {
    /// Always `complete`: confirming proves the factor.
    pub state: String,
    /// The new factor.
    pub factor: FactorView,
}

/// `GET /factors` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FactorsResponse {
    /// Confirmed factors.
    pub factors: Vec<FactorView>,
}

/// `GET /devices` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DevicesResponse {
    /// Live trusted devices, newest first.
    pub devices: Vec<DeviceView>,
}

/// `DELETE /devices` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevokedResponse {
    /// How many devices were revoked.
    pub revoked: u64,
}

/// `POST /recovery-codes` answer: shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// The new codes (the old set is void).
    pub codes: Vec<String>,
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// The JSON body of every error: a machine-readable `error` plus the
/// fields a client can act on. Never an internal detail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable name ([`MfaError::code`] or an adapter code).
    pub error: String,
    /// `invalid_code`: attempts left.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attempts_left: Option<u32>,
    /// `rate_limited`: seconds to wait.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retry_after: Option<u64>,
    /// `locked`: until when (RFC 3339); present and `null` when only an
    /// administrator can unlock.
    #[serde(skip_serializing_if = "Option::is_none", default, with = "double_option")]
    #[schema(value_type = Option<String>, nullable)]
    pub until: Option<Option<String>>,
    /// `malformed_code`: how many digits a code has.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub digits: Option<u32>,
    /// `session_ended`: `revoked` or `rollout_cutoff`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// A short human-readable text (never internals).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// An error response: status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body (boxed: errors travel in `Result`s).
    pub body: Box<ErrorBody>,
}

impl ApiError {
    /// An error with only a code and a message.
    pub fn new(status: u16, error: &str, message: &str) -> Self {
        ApiError {
            status,
            body: Box::new(ErrorBody {
                error: error.to_owned(),
                attempts_left: None,
                retry_after: None,
                until: None,
                digits: None,
                reason: None,
                message: Some(message.to_owned()),
            }),
        }
    }

    /// `401 unauthenticated`: no logged-in session.
    pub fn unauthenticated() -> Self {
        Self::new(401, "unauthenticated", "log in first")
    }

    /// `401 mfa_required`: the session is pending its second factor.
    pub fn mfa_required() -> Self {
        Self::new(401, "mfa_required", "complete the second factor first")
    }

    /// `401 session_ended`: the engine ended the session (`revoked` or `rollout_cutoff`).
    pub fn session_ended(reason: &str) -> Self {
        let mut e = Self::new(401, "session_ended", "log in again");
        e.body.reason = Some(reason.to_owned());
        e
    }

    /// `409 not_pending`: `/verify` on a session that is not pending.
    pub fn not_pending() -> Self {
        Self::new(409, "not_pending", "no login is waiting for a second factor")
    }

    /// `403 cross_site`: the CSRF rule refused the request.
    pub fn cross_site() -> Self {
        Self::new(403, "cross_site", "cross-site request refused")
    }

    /// `415 unsupported_media_type`: not `application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            "unsupported_media_type",
            "send Content-Type: application/json",
        )
    }

    /// `413 payload_too_large`.
    pub fn payload_too_large() -> Self {
        Self::new(413, "payload_too_large", "request body too large")
    }

    /// `400 invalid_json`: the body is not the JSON this route takes.
    pub fn invalid_json() -> Self {
        Self::new(400, "invalid_json", "the body is not valid JSON for this route")
    }

    /// `400 invalid_input`: a field or path parameter is unacceptable.
    pub fn invalid_input(what: &str) -> Self {
        Self::new(400, "invalid_input", &format!("invalid {what}"))
    }

    /// `500 internal`: a store or service failure; no details.
    pub fn internal() -> Self {
        ApiError {
            status: 500,
            body: Box::new(ErrorBody {
                error: "internal".into(),
                attempts_left: None,
                retry_after: None,
                until: None,
                digits: None,
                reason: None,
                message: None,
            }),
        }
    }

    /// Maps an engine error. `error` is [`MfaError::code`]; internal
    /// failures become a bare `500 {"error":"internal"}`.
    pub fn from_mfa(e: &MfaError) -> Self {
        if e.is_internal() {
            return Self::internal();
        }
        let status = match e {
            MfaError::InvalidCode { .. }
            | MfaError::Expired
            | MfaError::ChallengeClosed
            | MfaError::NotEnrolled => 422,
            MfaError::MalformedCode { .. } | MfaError::InvalidInput(_) => 400,
            MfaError::Locked { .. } => 423,
            MfaError::RateLimited { .. } => 429,
            MfaError::NotFound => 404,
            MfaError::Policy(_) | MfaError::MethodNotAllowed(_) | MfaError::StepUpRequired => 403,
            MfaError::Delivery(_) => 503,
            _ => 500,
        };
        let mut out = Self::new(status, e.code(), &e.to_string());
        match e {
            MfaError::InvalidCode { attempts_left } => out.body.attempts_left = Some(*attempts_left),
            MfaError::MalformedCode { digits } => out.body.digits = Some(*digits),
            MfaError::RateLimited { retry_after } => {
                let secs = retry_after.as_secs().max(1);
                out.body.retry_after = Some(secs);
            }
            MfaError::Locked { until } => {
                out.body.until = Some(until.map(rfc3339));
            }
            _ => {}
        }
        out
    }

    /// `423 locked` for a login refused by [`LoginStep::Locked`](crate::LoginStep::Locked).
    pub fn locked(until: Option<Timestamp>) -> Self {
        Self::from_mfa(&MfaError::Locked { until })
    }
}

// ---------------------------------------------------------------------------
// CSRF
// ---------------------------------------------------------------------------

/// What the CSRF rule looks at in a request.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestFacts<'a> {
    /// The method.
    pub method: &'a str,
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `Sec-Fetch-Site`.
    pub sec_fetch_site: Option<&'a str>,
    /// `Origin`.
    pub origin: Option<&'a str>,
    /// `Host`.
    pub host: Option<&'a str>,
}

impl<'a> RequestFacts<'a> {
    /// The facts of a request from its method, a header lookup (by
    /// lower-case name) and the URI's authority (the `Host` fallback).
    ///
    /// ```
    /// use mfa_core::http::RequestFacts;
    /// let f = RequestFacts::from_headers("POST", |h| (h == "host").then_some("a.example"), None);
    /// assert_eq!(f.host, Some("a.example"));
    /// ```
    pub fn from_headers(
        method: &'a str,
        header: impl Fn(&'static str) -> Option<&'a str>,
        authority: Option<&'a str>,
    ) -> Self {
        RequestFacts {
            method,
            content_type: header("content-type"),
            sec_fetch_site: header("sec-fetch-site"),
            origin: header("origin"),
            host: header("host").or(authority),
        }
    }
}

/// The CSRF rule for state-changing routes (any method but GET, HEAD,
/// OPTIONS):
///
/// 1. an `Origin` listed in `allowed_origins` passes 1 and 2;
/// 1. otherwise `Sec-Fetch-Site`, when sent, must be `same-origin` or
///    `none` (`cross-site` and `same-site` are refused: a sibling
///    subdomain is not trusted);
/// 2. and `Origin`, when sent, must be `scheme://host[:port]` whose
///    authority equals `Host` (`null` is refused);
/// 3. a POST must be `Content-Type: application/json` (a cross-site form
///    cannot send it; `fetch` needs a CORS pre-flight the app does not
///    grant).
///
/// ```
/// use mfa_core::http::{csrf_check, RequestFacts};
/// let ok = RequestFacts { method: "POST", content_type: Some("application/json"),
///     origin: Some("https://portal.example"), host: Some("portal.example"), ..Default::default() };
/// assert!(csrf_check(&ok, &[]).is_ok());
/// let evil = RequestFacts { origin: Some("https://evil.example"), ..ok };
/// assert_eq!(csrf_check(&evil, &[]).unwrap_err().body.error, "cross_site");
/// ```
pub fn csrf_check(req: &RequestFacts<'_>, allowed_origins: &[String]) -> Result<(), ApiError> {
    if matches!(req.method, "GET" | "HEAD" | "OPTIONS") {
        return Ok(());
    }
    // An origin the application listed is trusted whatever the fetch site
    // (a sibling subdomain it serves its front end from).
    let listed = req.origin.is_some_and(|o| allowed_origins.iter().any(|a| a == o));
    if !listed {
        if let Some(site) = req.sec_fetch_site
            && !(site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none"))
        {
            return Err(ApiError::cross_site());
        }
        if let Some(origin) = req.origin {
            let same = origin_authority(origin)
                .zip(req.host)
                .is_some_and(|(a, h)| a.eq_ignore_ascii_case(h.trim()));
            if !same {
                return Err(ApiError::cross_site());
            }
        }
    }
    if req.method == "POST" && !is_json(req.content_type) {
        return Err(ApiError::unsupported_media_type());
    }
    Ok(())
}

/// The `host[:port]` of an `Origin` value, if it is `http(s)://authority`.
fn origin_authority(origin: &str) -> Option<&str> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))?;
    (!rest.is_empty() && !rest.contains(['/', '?', '#', '@'])).then_some(rest)
}

/// `application/json`, optionally with parameters (`; charset=utf-8`).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn locked_until_admin_serialises_null_until() {
        let e = ApiError::locked(None);
        assert_eq!(e.status, 423);
        let v = serde_json::to_value(&e.body).unwrap();
        assert_eq!(v["until"], serde_json::Value::Null);
        assert!(v.as_object().unwrap().contains_key("until"));
    }

    #[test]
    fn internal_errors_carry_nothing_but_the_code() {
        let e = ApiError::from_mfa(&MfaError::SecretUnavailable);
        assert_eq!(e.status, 500);
        assert_eq!(
            serde_json::to_value(&e.body).unwrap(),
            serde_json::json!({"error": "internal"})
        );
    }

    #[test]
    fn csrf_refuses_cross_and_same_site_and_non_json() {
        let base = RequestFacts {
            method: "POST",
            content_type: Some("application/json; charset=utf-8"),
            host: Some("127.0.0.1:8080"),
            ..Default::default()
        };
        assert!(csrf_check(&base, &[]).is_ok());
        for site in ["cross-site", "same-site"] {
            let r = RequestFacts {
                sec_fetch_site: Some(site),
                ..base
            };
            assert_eq!(csrf_check(&r, &[]).unwrap_err().status, 403);
        }
        let null = RequestFacts {
            origin: Some("null"),
            ..base
        };
        assert!(csrf_check(&null, &[]).is_err());
        let same = RequestFacts {
            origin: Some("http://127.0.0.1:8080"),
            ..base
        };
        assert!(csrf_check(&same, &[]).is_ok());
        let form = RequestFacts {
            content_type: Some("application/x-www-form-urlencoded"),
            ..base
        };
        assert_eq!(csrf_check(&form, &[]).unwrap_err().status, 415);
        let delete = RequestFacts {
            method: "DELETE",
            content_type: None,
            ..base
        };
        assert!(csrf_check(&delete, &[]).is_ok());
        let listed = RequestFacts {
            origin: Some("https://app.example"),
            sec_fetch_site: Some("same-site"),
            ..base
        };
        assert!(csrf_check(&listed, &["https://app.example".into()]).is_ok());
        assert!(csrf_check(&listed, &[]).is_err());
    }
}
