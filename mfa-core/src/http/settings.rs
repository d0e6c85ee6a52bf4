//! The adapters' shared settings, the trust cookie and the session error.

use crate::{IssuedTrust, TRUST_COOKIE, Timestamp};

/// The trust cookie name used when [`HttpSettings::dev_insecure_cookie`] is
/// on: without `Secure` the `__Host-` prefix is not allowed.
pub const DEV_TRUST_COOKIE: &str = "mfa_trust_dev";

/// A session backend failed (store unreachable, record undecodable).
#[derive(Debug)]
pub struct SessionError(pub Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session backend: {}", self.0)
    }
}

impl std::error::Error for SessionError {}

/// How to refuse a request to an application route (not an MFA API route,
/// which always answers JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `401` with a JSON error body (`mfa_required`, `unauthenticated`,
    /// `session_ended`). The default; right for APIs and SPAs.
    Json,
    /// `303 See Other` to a page: for server-rendered apps. A request that
    /// asks for JSON (see [`wants_json`]) still gets the JSON `401`: the
    /// same site's mobile app or script never wants a login page.
    Redirect {
        /// Where a logged-out (or force-logged-out) visitor goes.
        login: String,
        /// Where a pending session goes (the "enter your code" page).
        mfa: String,
    },
}

impl Refusal {
    /// Where to redirect for `error` (`None`: answer JSON). Server errors
    /// are never redirected; `mfa_page` picks the MFA page over the login.
    pub fn redirect_for(&self, status: u16, mfa_page: bool) -> Option<&str> {
        match self {
            Refusal::Redirect { login, mfa } if status != 500 => Some(if mfa_page { mfa } else { login }),
            _ => None,
        }
    }
}

/// Whether a request's `Accept` header asks for JSON rather than a page:
/// it names `application/json` (or a `+json` type) and not `text/html`.
/// Browsers navigating send `text/html`; API clients send JSON types.
///
/// ```
/// use mfa_core::http::wants_json;
/// assert!(wants_json(Some("application/json")));
/// assert!(wants_json(Some("application/problem+json, */*;q=0.1")));
/// assert!(!wants_json(Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")));
/// assert!(!wants_json(Some("*/*")));
/// assert!(!wants_json(None));
/// ```
pub fn wants_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let mut json = false;
    for media in accept.split(',') {
        let media = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if media == "text/html" || media == "application/xhtml+xml" {
            return false;
        }
        json |=
            media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"));
    }
    json
}

/// The trust cookie: `__Host-mfa_trust` with `Secure`, or
/// [`DEV_TRUST_COOKIE`] without.
///
/// ```
/// use mfa_core::http::TrustCookie;
/// let c = TrustCookie { secure: true };
/// assert_eq!(c.clear(), "__Host-mfa_trust=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax; Secure");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustCookie {
    /// Whether the cookie is `Secure` (always, outside development).
    pub secure: bool,
}

impl TrustCookie {
    /// The cookie's name.
    pub fn name(self) -> &'static str {
        if self.secure {
            TRUST_COOKIE
        } else {
            DEV_TRUST_COOKIE
        }
    }

    fn attributes(self) -> &'static str {
        if self.secure {
            "Path=/; HttpOnly; SameSite=Lax; Secure"
        } else {
            "Path=/; HttpOnly; SameSite=Lax"
        }
    }

    /// The `Set-Cookie` value carrying `trust` until it expires.
    pub fn set(self, trust: &IssuedTrust, now: Timestamp) -> String {
        let max_age = trust.expires_at.saturating_since(now).as_secs();
        format!(
            "{}={}; Max-Age={max_age}; {}",
            self.name(),
            trust.token.expose(),
            self.attributes()
        )
    }

    /// The `Set-Cookie` value that clears the cookie in this browser.
    pub fn clear(self) -> String {
        format!("{}=; Max-Age=0; {}", self.name(), self.attributes())
    }
}

/// Whether `path` is `prefix` or below it (segment-wise).
///
/// ```
/// assert!(mfa_core::http::under_prefix("/mfa/verify", "/mfa"));
/// assert!(!mfa_core::http::under_prefix("/mfa-admin", "/mfa"));
/// ```
pub fn under_prefix(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The framework-free settings of an adapter.
///
/// ```
/// use mfa_core::http::{HttpSettings, Refusal};
/// let s = HttpSettings::default()
///     .prefix("/auth/mfa")
///     .allow_while_pending("/logout")
///     .refusal(Refusal::Redirect { login: "/login".into(), mfa: "/login/code".into() });
/// assert_eq!(s.prefix_str(), "/auth/mfa");
/// assert!(s.pending_allowed("/logout"));
/// ```
#[derive(Clone, Debug)]
pub struct HttpSettings {
    prefix: String,
    secure_cookie: bool,
    refusal: Refusal,
    allowed_origins: Vec<String>,
    pending_paths: Vec<String>,
    body_limit: usize,
}

impl Default for HttpSettings {
    /// Prefix `/mfa`, `Secure` trust cookie `__Host-mfa_trust`, JSON
    /// refusals, 16 KiB bodies.
    fn default() -> Self {
        HttpSettings {
            prefix: "/mfa".into(),
            secure_cookie: true,
            refusal: Refusal::Json,
            allowed_origins: Vec::new(),
            pending_paths: Vec::new(),
            body_limit: 16 * 1024,
        }
    }
}

impl HttpSettings {
    /// The path prefix of the MFA routes (default `/mfa`). A trailing `/`
    /// is dropped; an empty prefix is not allowed and falls back to `/mfa`.
    pub fn prefix(mut self, prefix: &str) -> Self {
        let p = prefix.trim_end_matches('/');
        self.prefix = if p.starts_with('/') && p.len() > 1 {
            p.to_owned()
        } else {
            "/mfa".into()
        };
        self
    }

    /// The prefix in use.
    pub fn prefix_str(&self) -> &str {
        &self.prefix
    }

    /// **Development only.** Sends the trust cookie without `Secure`, under
    /// the name [`DEV_TRUST_COOKIE`] (the `__Host-` prefix requires
    /// `Secure`). Only for plain-http hosts other than `localhost` /
    /// `127.0.0.1`, where browsers already accept `Secure` cookies; never
    /// in production. Feature `danger-insecure-cookie`.
    #[cfg(feature = "danger-insecure-cookie")]
    pub fn dev_insecure_cookie(mut self) -> Self {
        self.secure_cookie = false;
        self
    }

    /// How application routes refuse (JSON 401 or redirects).
    pub fn refusal(mut self, refusal: Refusal) -> Self {
        self.refusal = refusal;
        self
    }

    /// The refusal in use.
    pub fn refusal_mode(&self) -> &Refusal {
        &self.refusal
    }

    /// How to refuse one request: JSON on the MFA routes and for clients
    /// that ask for JSON ([`wants_json`] of its `Accept` header), else the
    /// configured [`Refusal`].
    ///
    /// ```
    /// use mfa_core::http::{HttpSettings, Refusal};
    /// let s = HttpSettings::default().refusal(Refusal::Redirect { login: "/login".into(), mfa: "/code".into() });
    /// assert_eq!(s.refusal_for("/mfa/status", Some("text/html")), Refusal::Json);
    /// assert_eq!(s.refusal_for("/rent", Some("application/json")), Refusal::Json);
    /// assert_eq!(s.refusal_for("/rent", Some("text/html")), *s.refusal_mode());
    /// ```
    pub fn refusal_for(&self, path: &str, accept: Option<&str>) -> Refusal {
        if under_prefix(path, &self.prefix) || wants_json(accept) {
            Refusal::Json
        } else {
            self.refusal.clone()
        }
    }

    /// An extra origin (`https://app.example`) allowed to call the
    /// state-changing MFA routes, besides the server's own.
    pub fn allow_origin(mut self, origin: &str) -> Self {
        self.allowed_origins.push(origin.to_owned());
        self
    }

    /// The extra origins.
    pub fn allowed_origins(&self) -> &[String] {
        &self.allowed_origins
    }

    /// An application path a *pending* session may still reach (exact
    /// match), such as `/logout` or the login page.
    pub fn allow_while_pending(mut self, path: &str) -> Self {
        self.pending_paths.push(path.to_owned());
        self
    }

    /// Whether a pending session may reach `path`: the MFA routes and the
    /// paths given to [`allow_while_pending`](Self::allow_while_pending).
    pub fn pending_allowed(&self, path: &str) -> bool {
        under_prefix(path, &self.prefix) || self.pending_paths.iter().any(|p| p == path)
    }

    /// The largest request body the MFA routes read (default 16 KiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The body limit in use.
    pub fn body_limit_bytes(&self) -> usize {
        self.body_limit
    }

    /// The trust cookie.
    pub fn trust_cookie(&self) -> TrustCookie {
        TrustCookie {
            secure: self.secure_cookie,
        }
    }

    /// The trust cookie's name: `__Host-mfa_trust`, or
    /// [`DEV_TRUST_COOKIE`] with [`dev_insecure_cookie`](Self::dev_insecure_cookie).
    pub fn trust_cookie_name(&self) -> &'static str {
        self.trust_cookie().name()
    }
}
