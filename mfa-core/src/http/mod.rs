//! The HTTP contract of `docs/http-api.md`, framework-free (feature
//! `http`): wire types, the session record, error → status mapping, the
//! CSRF rule, which routes a pending session may use, and the flows every
//! adapter drives (login, the per-request session check, each MFA route).
//!
//! The adapters (mfa-axum, mfa-actix) only translate: they turn a request
//! into a [`Call`], run [`handle`], and turn the [`Reply`] (status, JSON
//! body, trust cookie and [`SessionChange`]) into their framework's
//! response. Nothing here touches a session: functions say what to do with
//! it, and the adapter applies that to its session system.

mod contract;
mod flow;
mod openapi;
mod session;
mod settings;

pub use contract::*;
pub use flow::{
    Admission, Call, CompleteLogin, Refused, Reply, RequestState, SessionChange, admit, begin_login,
    decline_enroll_offer, decode_json, handle, login_reply, password_changed,
};
pub use openapi::openapi;
pub use session::{PendingStep, SESSION_KEY, SessionRecord, SessionToken, Stage};
pub use settings::{
    DEV_TRUST_COOKIE, HttpSettings, Refusal, SessionError, TrustCookie, under_prefix, wants_json,
};
