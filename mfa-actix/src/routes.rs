//! The MFA routes (see `docs/http-api.md`) as an actix [`Scope`].

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse, Scope};

use mfa_core::MfaStore;
use mfa_core::http::{ApiError, Call, RequestFacts, Route, csrf_check, handle};

use crate::http::{error_response, reply_response};
use crate::middleware::found;
use crate::session::apply;
use crate::state::MfaState;

/// What a request under the prefix reached.
#[derive(Clone, Copy)]
enum Target {
    Route(Route),
    OpenApi,
    MethodNotAllowed,
    Unknown,
}

/// The scope of every MFA route under the configured prefix, with the
/// middleware, the CSRF rule, the body limit and `Cache-Control: no-store`
/// applied. Register it with `App::service`; the session middleware goes
/// outside (wrapped last).
///
/// ```
/// use actix_web::App;
/// use mfa_actix::{MemorySessionStore, MfaSettings, MfaState, mfa_scope};
/// use mfa_core::*;
/// # fn demo() -> Result<(), MfaError> {
/// let mfa = Mfa::builder(MemoryStore::new(), Keys::generate_ephemeral()?, MfaConfig::builder("Demo").build()?).build();
/// let state = MfaState::new(mfa, MfaSettings::default());
/// let _app = App::new()
///     .service(mfa_scope(state.clone()))
///     .wrap(actix_session::SessionMiddleware::new(MemorySessionStore::default(), actix_web::cookie::Key::generate()));
/// # Ok(()) }
/// # demo().unwrap();
/// ```
pub fn mfa_scope<S: MfaStore>(
    state: MfaState<S>,
) -> Scope<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let state = &state;
    let mut paths: Vec<&'static str> = Vec::new();
    for route in Route::ALL {
        if !paths.contains(&route.path()) {
            paths.push(route.path());
        }
    }
    let mut scope = web::scope(state.settings().prefix_str());
    for path in paths {
        let mut resource = web::resource(path);
        for route in Route::ALL.into_iter().filter(|r| r.path() == path) {
            let method = match route.method() {
                "GET" => Method::GET,
                "DELETE" => Method::DELETE,
                _ => Method::POST,
            };
            resource = resource.route(web::method(method).to(endpoint(state, Target::Route(route))));
        }
        scope = scope.service(resource.default_service(web::to(endpoint(state, Target::MethodNotAllowed))));
    }
    scope
        .service(
            web::resource("/openapi.json")
                .route(web::get().to(endpoint(state, Target::OpenApi)))
                .default_service(web::to(endpoint(state, Target::MethodNotAllowed))),
        )
        .default_service(web::to(endpoint(state, Target::Unknown)))
        .wrap(state.middleware())
}

/// The handler of one target.
fn endpoint<S: MfaStore>(
    state: &MfaState<S>,
    target: Target,
) -> impl Fn(HttpRequest, web::Payload) -> futures::future::LocalBoxFuture<'static, HttpResponse> + Clone + 'static
{
    let state = state.clone();
    move |req, body| {
        let state = state.clone();
        Box::pin(async move {
            let mut res = serve(&state, target, &req, body)
                .await
                .unwrap_or_else(error_response);
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        })
    }
}

/// The CSRF rule of [`csrf_check`].
fn csrf(req: &HttpRequest, allowed_origins: &[String]) -> Result<(), ApiError> {
    let facts = RequestFacts::from_headers(
        req.method().as_str(),
        |name| req.headers().get(name).and_then(|v| v.to_str().ok()),
        req.uri().authority().map(|a| a.as_str()),
    );
    csrf_check(&facts, allowed_origins)
}

async fn serve<S: MfaStore>(
    st: &MfaState<S>,
    target: Target,
    req: &HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    csrf(req, st.settings().allowed_origins())?;
    let route = match target {
        Target::Route(route) => route,
        Target::OpenApi => {
            let json = mfa_core::http::openapi(st.settings().prefix_str())
                .to_json()
                .map_err(|_| ApiError::internal())?;
            return Ok(HttpResponse::Ok().content_type("application/json").body(json));
        }
        Target::MethodNotAllowed => {
            return Err(ApiError::new(
                405,
                "method_not_allowed",
                "method not allowed on this route",
            ));
        }
        Target::Unknown => return Err(ApiError::new(404, "not_found", "no such route")),
    };
    let bytes = if Call::takes_body(route) {
        match body.to_bytes_limited(st.settings().body_limit_bytes()).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(_)) => return Err(ApiError::invalid_json()),
            Err(_) => return Err(ApiError::payload_too_large()),
        }
    } else {
        Bytes::new()
    };
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let call = Call::decode(route, &bytes, req.match_info().get("id"), user_agent)?;
    let found = found(req).ok_or_else(ApiError::internal)?;
    let reply = handle(st.mfa(), st.settings().trust_cookie(), found, call).await?;
    let session = st.sessions().session(req);
    apply(session.as_deref(), reply.session.clone())?;
    Ok(reply_response(reply))
}
