//! Settings from the environment (documented in the README and
//! `examples/tenant-portal/portal.env.example`).

use std::net::SocketAddr;

use crate::mail::SmtpSettings;

/// How the portal runs. `Debug` leaves out the keys and the SMTP URL
/// (which may hold a password).
#[derive(Clone)]
pub struct Config {
    /// Where to listen (`PORTAL_BIND`, default `127.0.0.1:8080`).
    pub bind: SocketAddr,
    /// The database (`DATABASE_URL`, default an SQLite file
    /// `tenant-portal.sqlite3` in the working directory).
    pub database_url: String,
    /// Demo mode (`PORTAL_MODE=demo`, the default): seeded accounts, the
    /// demo outbox instead of real SMS/email, demo keys kept in the
    /// database when none are configured.
    pub demo: bool,
    /// `MFA_MAC_KEY` (base64, 32 bytes).
    pub mac_key: Option<String>,
    /// `MFA_ENCRYPTION_KEYS` (`id:base64`, comma-separated, current first).
    pub encryption_keys: Option<String>,
    /// The rollout policy file (`PORTAL_POLICY_FILE`, TOML); otherwise the
    /// one saved from the staff console, otherwise the demo policy.
    pub policy_file: Option<String>,
    /// SMTP delivery (`PORTAL_SMTP_URL`, `PORTAL_MAIL_FROM`,
    /// `PORTAL_SMS_EMAIL_GATEWAY`); without it, the demo outbox in demo
    /// mode and no delivery in production.
    pub smtp: Option<SmtpSettings>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("demo", &self.demo)
            .field("keys_set", &self.mac_key.is_some())
            .field("policy_file", &self.policy_file)
            .field("smtp", &self.smtp)
            .finish_non_exhaustive()
    }
}

/// A setting is missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unparseable bind address.
    #[error("PORTAL_BIND must be an address like 127.0.0.1:8080")]
    Bind,
    /// Unknown mode.
    #[error("PORTAL_MODE must be `demo` or `production`")]
    Mode,
    /// Production without keys.
    #[error("production mode needs MFA_MAC_KEY and MFA_ENCRYPTION_KEYS (see portal.env.example)")]
    Keys,
    /// SMTP without a sender address.
    #[error("PORTAL_SMTP_URL needs PORTAL_MAIL_FROM (e.g. `Orchard Homes <no-reply@orchard.example>`)")]
    MailFrom,
}

impl Config {
    /// Demo mode on `database_url`, listening on `bind`, nothing else set
    /// (what `cargo run -p tenant-portal` uses, and the tests).
    pub fn demo(bind: SocketAddr, database_url: impl Into<String>) -> Self {
        Config {
            bind,
            database_url: database_url.into(),
            demo: true,
            mac_key: None,
            encryption_keys: None,
            policy_file: None,
            smtp: None,
        }
    }

    /// Reads the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let bind = var("PORTAL_BIND")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|_| ConfigError::Bind)?;
        let demo = match var("PORTAL_MODE").as_deref() {
            None | Some("demo") => true,
            Some("production") => false,
            Some(_) => return Err(ConfigError::Mode),
        };
        let smtp = match (var("PORTAL_SMTP_URL"), var("PORTAL_MAIL_FROM")) {
            (Some(url), Some(from)) => Some(SmtpSettings {
                url,
                from,
                sms_gateway: var("PORTAL_SMS_EMAIL_GATEWAY"),
            }),
            (Some(_), None) => return Err(ConfigError::MailFrom),
            (None, _) => None,
        };
        let config = Config {
            bind,
            database_url: var("DATABASE_URL")
                .unwrap_or_else(|| "sqlite://tenant-portal.sqlite3?mode=rwc".into()),
            demo,
            mac_key: var("MFA_MAC_KEY"),
            encryption_keys: var("MFA_ENCRYPTION_KEYS"),
            policy_file: var("PORTAL_POLICY_FILE"),
            smtp,
        };
        if !demo && (config.mac_key.is_none() || config.encryption_keys.is_none()) {
            return Err(ConfigError::Keys);
        }
        Ok(config)
    }
}
