//! actix glue for the contract types: error and reply responses.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};

use mfa_core::http::{ApiError, Reply};

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// An error response: status, JSON body and, for `rate_limited`,
/// `Retry-After`.
///
/// ```
/// let res = mfa_actix::error_response(mfa_core::http::ApiError::mfa_required());
/// assert_eq!(res.status(), 401);
/// ```
pub fn error_response(e: ApiError) -> HttpResponse {
    let mut res = HttpResponse::build(status(e.status));
    if let Some(secs) = e.body.retry_after {
        res.insert_header((header::RETRY_AFTER, secs.to_string()));
    }
    res.json(&e.body)
}

/// A flow's reply (its session change already applied).
pub(crate) fn reply_response(reply: Reply) -> HttpResponse {
    let mut res = HttpResponse::build(status(reply.status));
    if let Some(v) = reply.set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.append_header((header::SET_COOKIE, v));
    }
    match reply.body {
        Some(body) => res.json(body),
        None => res.finish(),
    }
}

/// A `303 See Other` to `to`.
pub(crate) fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}
