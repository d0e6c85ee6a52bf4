//! The portal's own data: residents and staff, rent, repairs and
//! appointment slots, documents, messages, applications, password resets,
//! the audit log and settings. (MFA state lives in mfa-store-sqlx's tables.)

pub mod db;
pub mod housing;
pub mod seed;
pub mod users;

pub use db::{Backend, Db, DbError};
