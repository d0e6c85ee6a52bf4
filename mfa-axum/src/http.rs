//! axum glue for the contract types: error and reply responses, the JSON
//! body extractor with 4xx rejections, and the trust cookie.

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde::de::DeserializeOwned;

use mfa_core::http::Reply;

use crate::contract::ApiError;

/// An error response: status, JSON body and, for `rate_limited`,
/// `Retry-After`.
///
/// ```
/// let res = mfa_axum::error_response(mfa_axum::contract::ApiError::mfa_required());
/// assert_eq!(res.status(), 401);
/// ```
pub fn error_response(e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let retry_after = e.body.retry_after;
    let mut res = (status, Json(e.body)).into_response();
    if let Some(secs) = retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// A flow's reply (its session change already applied).
pub(crate) fn reply_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = match reply.body {
        Some(body) => (status, Json(body)).into_response(),
        None => status.into_response(),
    };
    if let Some(v) = reply.set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// `Json<T>` whose rejections are contract errors: 413, 415 or 400.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, St: Send + Sync> FromRequest<St> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &St) -> Result<Self, Response> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(error_response(match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::unsupported_media_type(),
                _ => ApiError::invalid_json(),
            })),
        }
    }
}

/// Adds a `Set-Cookie` value built by [`mfa_core::http::TrustCookie`] to the jar.
pub(crate) fn add_cookie(jar: CookieJar, set_cookie: Option<String>) -> CookieJar {
    match set_cookie.map(Cookie::parse) {
        Some(Ok(c)) => jar.add(c),
        _ => jar,
    }
}
