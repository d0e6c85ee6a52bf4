//! Settings from the environment (documented in the README and
//! `examples/tenant-portal/portal.env.example`).
//!
//! The modes fail closed: with nothing set the portal is the demo on
//! `127.0.0.1:8080`; a demo on a non-loopback address starts only when
//! `PORTAL_MODE=demo` asks for it (and then warns loudly at start-up); and
//! production refuses to start without the MFA keys, SMTP delivery
//! (`PORTAL_SMTP_URL`, `PORTAL_MAIL_FROM`) and the public address
//! (`PORTAL_PUBLIC_URL`, https unless loopback) that emailed links use.

use std::net::{IpAddr, SocketAddr};

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
    /// Demo mode (`PORTAL_MODE=demo`; the default when `PORTAL_BIND` is a
    /// loopback address): seeded accounts, the demo outbox instead of real
    /// SMS/email (shown only to clients on this machine), demo keys kept in
    /// the database when none are configured. A demo on any other address
    /// must be asked for explicitly with `PORTAL_MODE=demo`.
    pub demo: bool,
    /// The address residents use to reach the portal (`PORTAL_PUBLIC_URL`,
    /// e.g. `https://portal.orchard.example`, no trailing slash): every
    /// emailed link (password reset, registration) is built from it, never
    /// from the bind address. Required in production, and `https` unless
    /// its host is loopback; in demo mode it defaults to `http://{bind}`.
    pub public_url: String,
    /// `MFA_MAC_KEY` (base64, 32 bytes).
    pub mac_key: Option<String>,
    /// `MFA_ENCRYPTION_KEYS` (`id:base64`, comma-separated, current first).
    pub encryption_keys: Option<String>,
    /// The rollout policy file (`PORTAL_POLICY_FILE`, TOML); otherwise the
    /// one saved from the staff console, otherwise the demo policy.
    pub policy_file: Option<String>,
    /// SMTP delivery (`PORTAL_SMTP_URL`, `PORTAL_MAIL_FROM`,
    /// `PORTAL_SMS_EMAIL_GATEWAY`). Required in production; without it in
    /// demo mode, the demo outbox.
    pub smtp: Option<SmtpSettings>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("demo", &self.demo)
            .field("public_url", &self.public_url)
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
    /// Production without a way to send codes and links.
    #[error(
        "production mode needs PORTAL_SMTP_URL and PORTAL_MAIL_FROM: without them no code, password-reset link or security notice can be sent (see portal.env.example)"
    )]
    Sender,
    /// Production without the public address.
    #[error(
        "production mode needs PORTAL_PUBLIC_URL, the https address residents use (e.g. https://portal.orchard.example): emailed links are built from it"
    )]
    PublicUrlMissing,
    /// An unusable public address.
    #[error("PORTAL_PUBLIC_URL {0}")]
    PublicUrl(&'static str),
    /// Demo mode by default on an address other machines can reach.
    #[error(
        "PORTAL_BIND {0} is not a loopback address, and the demo (seeded accounts with published passwords) must not be exposed by default: set PORTAL_MODE=production, bind to 127.0.0.1, or set PORTAL_MODE=demo to expose the demo on purpose"
    )]
    DemoExposed(SocketAddr),
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
            public_url: format!("http://{bind}"),
            mac_key: None,
            encryption_keys: None,
            policy_file: None,
            smtp: None,
        }
    }

    /// Reads the environment ([`Config::from_vars`] over `std::env`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads the settings from `var` (a variable's value, if set; blank
    /// counts as unset). Fails closed: production without keys, SMTP or a
    /// public URL, and a demo on a non-loopback address not asked for
    /// explicitly, are refused.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let bind: SocketAddr = var("PORTAL_BIND")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .trim()
            .parse()
            .map_err(|_| ConfigError::Bind)?;
        let demo = match var("PORTAL_MODE").as_deref().map(str::trim) {
            None if is_loopback(bind.ip()) => true,
            None => return Err(ConfigError::DemoExposed(bind)),
            Some("demo") => true,
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
        let public_url = match var("PORTAL_PUBLIC_URL") {
            Some(url) => public_url(url.trim(), !demo)?,
            None if demo => format!("http://{bind}"),
            None => return Err(ConfigError::PublicUrlMissing),
        };
        let config = Config {
            bind,
            database_url: var("DATABASE_URL")
                .unwrap_or_else(|| "sqlite://tenant-portal.sqlite3?mode=rwc".into()),
            demo,
            public_url,
            mac_key: var("MFA_MAC_KEY"),
            encryption_keys: var("MFA_ENCRYPTION_KEYS"),
            policy_file: var("PORTAL_POLICY_FILE"),
            smtp,
        };
        if !demo && (config.mac_key.is_none() || config.encryption_keys.is_none()) {
            return Err(ConfigError::Keys);
        }
        if !demo && config.smtp.is_none() {
            return Err(ConfigError::Sender);
        }
        Ok(config)
    }

    /// A demo reachable from other machines (its accounts' passwords are
    /// published; only the outbox stays local).
    pub fn demo_exposed(&self) -> bool {
        self.demo && !is_loopback(self.bind.ip())
    }

    /// The origin (`scheme://host[:port]`) of [`Config::public_url`], for
    /// the CSRF origin check.
    pub fn public_origin(&self) -> &str {
        let rest = self.public_url.split_once("://").map_or("", |(_, r)| r);
        let path_at = rest.find('/').unwrap_or(rest.len());
        let end = self.public_url.len() - rest.len() + path_at;
        &self.public_url[..end]
    }
}

/// Loopback, including an IPv4 loopback address mapped into IPv6.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Checks and normalises `PORTAL_PUBLIC_URL`: `http(s)://host[:port][/path]`
/// with no credentials, query or fragment; `https` required when
/// `production` unless the host is loopback. Returned without a trailing
/// slash.
fn public_url(url: &str, production: bool) -> Result<String, ConfigError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or(ConfigError::PublicUrl("must start with https://"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(ConfigError::PublicUrl("must start with https://"));
    }
    if !rest.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ConfigError::PublicUrl(
            "must not contain spaces or control characters",
        ));
    }
    if rest.contains(['?', '#', '\\']) {
        return Err(ConfigError::PublicUrl(
            "must not have a query, a fragment or a backslash",
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(ConfigError::PublicUrl("must not contain credentials"));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    if host.is_empty() {
        return Err(ConfigError::PublicUrl("has no host"));
    }
    let loopback = host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(is_loopback);
    if production && scheme != "https" && !loopback {
        return Err(ConfigError::PublicUrl(
            "must be https:// in production (plain http only for a loopback host)",
        ));
    }
    Ok(format!("{scheme}://{}", rest.trim_end_matches('/')))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const KEYS: [(&str, &str); 2] = [
        ("MFA_MAC_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        (
            "MFA_ENCRYPTION_KEYS",
            "1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
    ];
    const SMTP: [(&str, &str); 2] = [
        ("PORTAL_SMTP_URL", "smtps://user:pw@smtp.example.net:465"),
        ("PORTAL_MAIL_FROM", "Orchard Homes <no-reply@orchard.example>"),
    ];

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(|k| {
            vars.iter()
                .rev()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    /// A complete production configuration, plus `extra` (later wins).
    fn production(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut vars = vec![
            ("PORTAL_MODE", "production"),
            ("PORTAL_BIND", "0.0.0.0:8080"),
            ("PORTAL_PUBLIC_URL", "https://portal.orchard.example/"),
        ];
        vars.extend(KEYS);
        vars.extend(SMTP);
        vars.extend(extra);
        load(&vars)
    }

    #[test]
    fn nothing_set_is_the_loopback_demo() {
        let c = load(&[]).unwrap();
        assert!(c.demo);
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(!c.demo_exposed());
        let c = load(&[("PORTAL_BIND", "[::1]:9000"), ("PORTAL_MODE", " ")]).unwrap();
        assert!(c.demo, "blank counts as unset");
        assert_eq!(c.public_url, "http://[::1]:9000");
    }

    #[test]
    fn a_demo_on_a_public_address_must_be_asked_for() {
        for bind in ["0.0.0.0:8080", "192.168.1.5:8080", "[::]:8080"] {
            let e = load(&[("PORTAL_BIND", bind)]).unwrap_err();
            assert!(matches!(e, ConfigError::DemoExposed(_)), "{bind}: {e}");
            assert!(e.to_string().contains("PORTAL_MODE=demo"), "{e}");
            let c = load(&[("PORTAL_BIND", bind), ("PORTAL_MODE", "demo")]).unwrap();
            assert!(c.demo && c.demo_exposed(), "{bind}");
        }
    }

    #[test]
    fn production_needs_keys_a_sender_and_a_public_url() {
        let c = production(&[]).unwrap();
        assert!(!c.demo);
        assert_eq!(c.public_url, "https://portal.orchard.example");
        assert_eq!(c.public_origin(), "https://portal.orchard.example");

        let without = |name: &str| {
            let mut vars = vec![
                ("PORTAL_MODE", "production"),
                ("PORTAL_PUBLIC_URL", "https://portal.orchard.example"),
            ];
            vars.extend(KEYS);
            vars.extend(SMTP);
            vars.retain(|(k, _)| *k != name);
            load(&vars).unwrap_err()
        };
        assert!(matches!(without("MFA_MAC_KEY"), ConfigError::Keys));
        assert!(matches!(without("MFA_ENCRYPTION_KEYS"), ConfigError::Keys));
        let e = without("PORTAL_SMTP_URL");
        assert!(matches!(e, ConfigError::Sender), "{e}");
        assert!(e.to_string().contains("PORTAL_SMTP_URL"));
        let e = without("PORTAL_PUBLIC_URL");
        assert!(matches!(e, ConfigError::PublicUrlMissing), "{e}");
        assert!(e.to_string().contains("PORTAL_PUBLIC_URL"));
    }

    #[test]
    fn the_public_url_is_https_unless_its_host_is_loopback() {
        for bad in [
            "http://portal.orchard.example",
            "http://192.168.1.5:8080",
            "ftp://portal.orchard.example",
            "portal.orchard.example",
            "https://",
            "https://:443/",
            "https://user:pw@portal.orchard.example",
            "https://portal.orchard.example/?x=1",
            "https://portal.orchard.example/#top",
            "https://portal .orchard.example",
            "https://portal.orchard.example\\evil",
        ] {
            let e = production(&[("PORTAL_PUBLIC_URL", bad)]).unwrap_err();
            assert!(matches!(e, ConfigError::PublicUrl(_)), "{bad}: {e}");
        }
        for (good, stored, origin) in [
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080",
            ),
            (
                "http://localhost:8080/",
                "http://localhost:8080",
                "http://localhost:8080",
            ),
            ("http://[::1]:8080", "http://[::1]:8080", "http://[::1]:8080"),
            (
                "HTTPS://portal.orchard.example/tenants/",
                "https://portal.orchard.example/tenants",
                "https://portal.orchard.example",
            ),
        ] {
            let c = production(&[("PORTAL_PUBLIC_URL", good)]).unwrap();
            assert_eq!(c.public_url, stored);
            assert_eq!(c.public_origin(), origin);
        }
        // A demo may name a plain-http LAN address.
        let c = load(&[
            ("PORTAL_MODE", "demo"),
            ("PORTAL_BIND", "0.0.0.0:8080"),
            ("PORTAL_PUBLIC_URL", "http://192.168.1.5:8080"),
        ])
        .unwrap();
        assert_eq!(c.public_url, "http://192.168.1.5:8080");
    }

    #[test]
    fn unknown_modes_and_binds_are_refused() {
        assert!(matches!(load(&[("PORTAL_MODE", "prod")]), Err(ConfigError::Mode)));
        assert!(matches!(
            load(&[("PORTAL_BIND", "localhost")]),
            Err(ConfigError::Bind)
        ));
        assert!(matches!(
            load(&[("PORTAL_SMTP_URL", "smtp://localhost:25")]),
            Err(ConfigError::MailFrom)
        ));
    }
}
