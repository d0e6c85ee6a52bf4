//! The Orchard Homes tenant portal: the reference application of the MFA
//! workspace. Residents log in with a password plus a second factor (SMS,
//! email or an authenticator app), can trust a device for 90 days, and use
//! their rent account, repairs and appointments, documents, messages and
//! applications; the contact team resets MFA and runs the rollout.
//!
//! `cargo run -p tenant-portal` starts it on an embedded SQLite file with
//! demo accounts.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod config;
pub mod data;
pub mod demo;
pub mod mail;
pub mod notify;
pub mod sessions;
pub mod util;
pub mod web;
