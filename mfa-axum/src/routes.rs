//! The MFA routes (see `docs/http-api.md`).

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};

use mfa_core::MfaStore;
use mfa_core::http::{Call, handle};

use crate::contract::{
    ApiError, ConfirmRequest, EnrollEmailRequest, EnrollSmsRequest, EnrollTotpRequest, FactorRef,
    RequestFacts, Route, SendCodeRequest, StepUpRequest, VerifyRequest, csrf_check,
};
use crate::http::{ApiJson, error_response, reply_response};
use crate::layer::{Checked, guard};
use crate::session::apply;
use crate::state::MfaState;

/// The router of every MFA route under the configured prefix, with the
/// layer ([`guard`]), the CSRF rule, the body limit and `Cache-Control:
/// no-store` applied. Merge it into the application's router; the
/// session layer goes outside.
///
/// ```
/// use axum::Router;
/// use mfa_axum::{MfaSettings, MfaState, mfa_routes};
/// use mfa_core::*;
/// # fn demo() -> Result<(), MfaError> {
/// let mfa = Mfa::builder(MemoryStore::new(), Keys::generate_ephemeral()?, MfaConfig::builder("Demo").build()?).build();
/// let state = MfaState::new(mfa, MfaSettings::default());
/// let app: Router = Router::new()
///     .merge(mfa_routes(state.clone()))
///     .layer(tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default()));
/// # Ok(()) }
/// # demo().unwrap();
/// ```
pub fn mfa_routes<S: MfaStore, T: Clone + Send + Sync + 'static>(state: MfaState<S>) -> Router<T> {
    let p = state.settings.http.prefix_str().to_owned();
    let at = |r: Route| format!("{p}{}", r.path());
    Router::new()
        .route(&at(Route::Status), get(status::<S>))
        .route(&at(Route::SendCode), post(send_code::<S>))
        .route(&at(Route::Verify), post(verify::<S>))
        .route(&at(Route::EnrollTotp), post(enroll_totp::<S>))
        .route(&at(Route::EnrollSms), post(enroll_sms::<S>))
        .route(&at(Route::EnrollEmail), post(enroll_email::<S>))
        .route(&at(Route::EnrollResend), post(enroll_resend::<S>))
        .route(&at(Route::EnrollConfirm), post(enroll_confirm::<S>))
        .route(&at(Route::Factors), get(factors::<S>))
        .route(&at(Route::RemoveFactor), delete(remove_factor::<S>))
        .route(&at(Route::RecoveryCodes), post(recovery_codes::<S>))
        .route(
            &at(Route::Devices),
            get(devices::<S>).delete(revoke_all_devices::<S>),
        )
        .route(&at(Route::RevokeDevice), delete(revoke_device::<S>))
        .route(&at(Route::StepUp), post(step_up::<S>))
        .route(&format!("{p}/openapi.json"), get(openapi_json))
        .route(&format!("{p}/{{*rest}}"), axum::routing::any(unknown_route))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::<S>))
        .layer(axum::middleware::from_fn_with_state(state.clone(), csrf::<S>))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.settings.http.body_limit_bytes(),
        ))
        .layer(axum::middleware::from_fn(no_store))
        .with_state(state)
}

/// The OpenAPI document, with the prefix of this router.
async fn openapi_json(State(st): State<MfaState<impl MfaStore>>) -> Response {
    match crate::openapi(st.settings.http.prefix_str()).to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(_) => error_response(ApiError::internal()),
    }
}

async fn unknown_route() -> Response {
    error_response(ApiError::new(404, "not_found", "no such route"))
}

async fn method_not_allowed() -> Response {
    error_response(ApiError::new(
        405,
        "method_not_allowed",
        "method not allowed on this route",
    ))
}

async fn no_store(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The CSRF rule of [`csrf_check`] on every MFA route.
async fn csrf<S: MfaStore>(State(state): State<MfaState<S>>, req: Request, next: Next) -> Response {
    let h = req.headers();
    let facts = RequestFacts::from_headers(
        req.method().as_str(),
        |name| h.get(name).and_then(|v| v.to_str().ok()),
        req.uri().authority().map(|a| a.as_str()),
    );
    if let Err(e) = csrf_check(&facts, state.settings.http.allowed_origins()) {
        return error_response(e);
    }
    next.run(req).await
}

/// Runs one call through [`mfa_core::http::handle`] and applies its
/// session change.
async fn run<S: MfaStore>(st: &MfaState<S>, checked: Option<Extension<Checked>>, call: Call) -> Response {
    let Some(Extension(checked)) = checked else {
        return error_response(ApiError::internal());
    };
    let cookie = st.settings.http.trust_cookie();
    let reply = match handle(&st.mfa, cookie, checked.state, call).await {
        Ok(reply) => reply,
        Err(e) => return error_response(e),
    };
    let change = reply.session.clone();
    if let Some(session) = &checked.session
        && let Err(e) = apply(&**session, change).await
    {
        return error_response(e);
    }
    reply_response(reply)
}

type Ctx = Option<Extension<Checked>>;

async fn status<S: MfaStore>(State(st): State<MfaState<S>>, ctx: Ctx) -> Response {
    run(&st, ctx, Call::Status).await
}

async fn send_code<S: MfaStore>(
    State(st): State<MfaState<S>>,
    ctx: Ctx,
    ApiJson(body): ApiJson<SendCodeRequest>,
) -> Response {
    run(&st, ctx, Call::SendCode(body)).await
}

async fn verify<S: MfaStore>(
    State(st): State<MfaState<S>>,
    ctx: Ctx,
    headers: HeaderMap,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Response {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    run(&st, ctx, Call::Verify(body, user_agent)).await
}

async fn step_up<S: MfaStore>(
    State(st): State<MfaState<S>>,
    ctx: Ctx,
    ApiJson(body): ApiJson<StepUpRequest>,
) -> Response {
    run(&st, ctx, Call::StepUp(body)).await
}

async fn enroll_totp<S: MfaStore>(
    State(st): State<MfaState<S>>,
    ctx: Ctx,
    ApiJson(body): ApiJson<EnrollTotpRequest>,
) -> Response {
    run(&st, ctx, Call::EnrollTotp(body)).await
}

async fn enroll_sms<S: MfaStore>(
    State(st): State<MfaState<S>>,
    ctx: Ctx,
    ApiJson(body): ApiJson<EnrollSmsRequest>,
) -> Response {
    run(&st, ctx, Call::EnrollSms(body)).await
}

async fn enroll_email<S: MfaStore>(
    State(st): State<MfaState<S>>,
    ctx: Ctx,
    ApiJson(body): ApiJson<EnrollEmailRequest>,
) -> Response {
    run(&st, ctx, Call::EnrollEmail(body)).await
}

async fn enroll_resend<S: MfaStore>(
    State(st): State<MfaState<S>>,
    ctx: Ctx,
    ApiJson(body): ApiJson<FactorRef>,
) -> Response {
    run(&st, ctx, Call::EnrollResend(body)).await
}

async fn enroll_confirm<S: MfaStore>(
    State(st): State<MfaState<S>>,
    ctx: Ctx,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> Response {
    run(&st, ctx, Call::EnrollConfirm(body)).await
}

async fn factors<S: MfaStore>(State(st): State<MfaState<S>>, ctx: Ctx) -> Response {
    run(&st, ctx, Call::Factors).await
}

async fn remove_factor<S: MfaStore>(
    State(st): State<MfaState<S>>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Response {
    run(&st, ctx, Call::RemoveFactor(id)).await
}

async fn recovery_codes<S: MfaStore>(State(st): State<MfaState<S>>, ctx: Ctx) -> Response {
    run(&st, ctx, Call::RecoveryCodes).await
}

async fn devices<S: MfaStore>(State(st): State<MfaState<S>>, ctx: Ctx) -> Response {
    run(&st, ctx, Call::Devices).await
}

async fn revoke_device<S: MfaStore>(
    State(st): State<MfaState<S>>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Response {
    run(&st, ctx, Call::RevokeDevice(id)).await
}

async fn revoke_all_devices<S: MfaStore>(State(st): State<MfaState<S>>, ctx: Ctx) -> Response {
    run(&st, ctx, Call::RevokeAllDevices).await
}
