//! The OpenAPI 3.1 document of the contract, generated with utoipa (no
//! framework extras) and served by both adapters at `{prefix}/openapi.json`. The functions below only carry the
//! route descriptions (the handlers are generic over the store); a test
//! checks that the document and the router list the same routes.

// The stubs exist for their `#[utoipa::path]` attributes only.
#![allow(dead_code)]

use utoipa::OpenApi;
use utoipa::openapi::path::Paths;

use crate::http::contract::{
    CodeSentResponse, CodeTarget, ConfirmRequest, DeviceView, DevicesResponse, EnrollEmailRequest,
    EnrollSmsRequest, EnrollTotpRequest, EnrolledResponse, ErrorBody, FactorRef, FactorView, FactorsResponse,
    RecoveryCodesResponse, RevokedResponse, SendCodeRequest, StatusResponse, StepUpRequest,
    TotpEnrollResponse, VerifiedResponse, VerifyRequest,
};

/// The login state: anonymous, pending (with what is missing) or complete.
#[utoipa::path(get, path = "/status", tag = "mfa",
    responses((status = 200, body = StatusResponse), (status = 401, description = "session_ended", body = ErrorBody)))]
fn status() {}

/// Sends (or re-sends) an SMS/email code: purpose login when pending, step-up when complete.
#[utoipa::path(post, path = "/send-code", tag = "mfa", request_body = SendCodeRequest,
    responses((status = 200, body = CodeSentResponse),
        (status = 401, description = "unauthenticated, mfa_required", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 422, description = "challenge_closed", body = ErrorBody),
        (status = 429, description = "rate_limited (retry_after)", body = ErrorBody),
        (status = 503, description = "delivery_failed", body = ErrorBody)))]
fn send_code() {}

/// Verifies the second factor of a pending login; may set the trust cookie.
#[utoipa::path(post, path = "/verify", tag = "mfa", request_body = VerifyRequest,
    responses((status = 200, body = VerifiedResponse),
        (status = 400, description = "invalid_json, invalid_input, malformed_code (digits)", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "not_pending", body = ErrorBody),
        (status = 422, description = "invalid_code (attempts_left), expired, challenge_closed", body = ErrorBody),
        (status = 423, description = "locked (until)", body = ErrorBody)))]
fn verify() {}

/// Starts enrolling an authenticator app: otpauth URI, QR SVG and key, shown once.
#[utoipa::path(post, path = "/enroll/totp", tag = "mfa", request_body = EnrollTotpRequest,
    responses((status = 201, body = TotpEnrollResponse),
        (status = 400, description = "invalid_input", body = ErrorBody),
        (status = 401, description = "unauthenticated, mfa_required", body = ErrorBody),
        (status = 403, description = "step_up_required, not_allowed", body = ErrorBody)))]
fn enroll_totp() {}

/// Starts enrolling an SMS factor: a code is sent.
#[utoipa::path(post, path = "/enroll/sms", tag = "mfa", request_body = EnrollSmsRequest,
    responses((status = 201, body = CodeSentResponse),
        (status = 400, description = "invalid_input", body = ErrorBody),
        (status = 401, description = "unauthenticated, mfa_required", body = ErrorBody),
        (status = 403, description = "step_up_required, not_allowed", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
fn enroll_sms() {}

/// Starts enrolling an email factor: a code is sent.
#[utoipa::path(post, path = "/enroll/email", tag = "mfa", request_body = EnrollEmailRequest,
    responses((status = 201, body = CodeSentResponse),
        (status = 400, description = "invalid_input", body = ErrorBody),
        (status = 401, description = "unauthenticated, mfa_required", body = ErrorBody),
        (status = 403, description = "step_up_required, not_allowed", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
fn enroll_email() {}

/// Sends a new code for a pending SMS/email enrolment.
#[utoipa::path(post, path = "/enroll/resend", tag = "mfa", request_body = FactorRef,
    responses((status = 200, body = CodeSentResponse),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
fn enroll_resend() {}

/// Confirms a pending factor with a code from it; completes a pending login.
#[utoipa::path(post, path = "/enroll/confirm", tag = "mfa", request_body = ConfirmRequest,
    responses((status = 200, body = EnrolledResponse),
        (status = 400, description = "malformed_code, invalid_input", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 422, description = "invalid_code, expired", body = ErrorBody),
        (status = 423, description = "locked", body = ErrorBody)))]
fn enroll_confirm() {}

/// The user's confirmed factors.
#[utoipa::path(get, path = "/factors", tag = "mfa",
    responses((status = 200, body = FactorsResponse), (status = 401, body = ErrorBody)))]
fn factors() {}

/// Removes a factor (fresh second factor needed); revokes trusted devices.
#[utoipa::path(delete, path = "/factors/{id}", tag = "mfa",
    params(("id" = String, Path, description = "factor id (fa_…)")),
    responses((status = 204, description = "removed"),
        (status = 400, description = "invalid_input", body = ErrorBody),
        (status = 403, description = "step_up_required", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody)))]
fn remove_factor() {}

/// Generates a new set of recovery codes (fresh second factor needed), shown once.
#[utoipa::path(post, path = "/recovery-codes", tag = "mfa",
    responses((status = 201, body = RecoveryCodesResponse),
        (status = 403, description = "step_up_required", body = ErrorBody),
        (status = 422, description = "not_enrolled", body = ErrorBody)))]
fn recovery_codes() {}

/// The user's live trusted devices.
#[utoipa::path(get, path = "/devices", tag = "mfa",
    responses((status = 200, body = DevicesResponse), (status = 401, body = ErrorBody)))]
fn devices() {}

/// Revokes one trusted device.
#[utoipa::path(delete, path = "/devices/{id}", tag = "mfa",
    params(("id" = String, Path, description = "device id (dv_…)")),
    responses((status = 204, description = "revoked"),
        (status = 400, description = "invalid_input", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody)))]
fn revoke_device() {}

/// Revokes every trusted device of the user and clears this browser's trust cookie.
#[utoipa::path(delete, path = "/devices", tag = "mfa",
    responses((status = 200, body = RevokedResponse), (status = 401, body = ErrorBody)))]
fn revoke_all_devices() {}

/// Re-verifies a second factor on a complete session (makes it fresh).
#[utoipa::path(post, path = "/step-up", tag = "mfa", request_body = StepUpRequest,
    responses((status = 200, body = VerifiedResponse),
        (status = 400, description = "malformed_code, invalid_input", body = ErrorBody),
        (status = 401, description = "unauthenticated, mfa_required", body = ErrorBody),
        (status = 422, description = "invalid_code, expired, challenge_closed", body = ErrorBody),
        (status = 423, description = "locked", body = ErrorBody)))]
fn step_up() {}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "mfa",
    responses((status = 200, description = "the OpenAPI 3.1 document")))]
fn openapi_json() {}

#[derive(OpenApi)]
#[openapi(
    info(title = "MFA HTTP contract", description = "See docs/http-api.md."),
    paths(
        status,
        send_code,
        verify,
        enroll_totp,
        enroll_sms,
        enroll_email,
        enroll_resend,
        enroll_confirm,
        factors,
        remove_factor,
        recovery_codes,
        devices,
        revoke_device,
        revoke_all_devices,
        step_up,
        openapi_json
    ),
    components(schemas(
        StatusResponse,
        FactorView,
        DeviceView,
        SendCodeRequest,
        CodeSentResponse,
        CodeTarget,
        VerifyRequest,
        StepUpRequest,
        VerifiedResponse,
        EnrollTotpRequest,
        TotpEnrollResponse,
        EnrollSmsRequest,
        EnrollEmailRequest,
        FactorRef,
        ConfirmRequest,
        EnrolledResponse,
        FactorsResponse,
        DevicesResponse,
        RevokedResponse,
        RecoveryCodesResponse,
        ErrorBody
    ))
)]
struct ApiDoc;

/// The OpenAPI 3.1 document with every path under `prefix`.
///
/// ```
/// let doc = mfa_core::http::openapi("/mfa");
/// let json = doc.to_json().unwrap();
/// assert!(json.contains("\"/mfa/verify\""));
/// assert!(json.starts_with("{\"openapi\":\"3.1"));
/// ```
pub fn openapi(prefix: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let mut paths = Paths::new();
    for (path, item) in std::mem::take(&mut doc.paths.paths) {
        paths.paths.insert(format!("{prefix}{path}"), item);
    }
    doc.paths = paths;
    doc
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use crate::http::contract::Route;

    /// The router is built from `Route::ALL`; the document must list each.
    #[test]
    fn every_route_of_the_router_is_in_the_document() {
        let doc: serde_json::Value = serde_json::from_str(&super::openapi("/p").to_json().unwrap()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let mut n = 0;
        for route in Route::ALL {
            let item = &doc["paths"][format!("/p{}", route.path())];
            assert!(
                item.get(route.method().to_lowercase()).is_some(),
                "{} {} missing",
                route.method(),
                route.path()
            );
            n += 1;
        }
        let listed: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| ["get", "post", "delete"].contains(&k.as_str()))
                    .count()
            })
            .sum();
        assert_eq!(listed, n + 1, "only the routes and /openapi.json");
    }
}
