//! Wiring: database, MFA engine (SQL store, keys, policy, sender, audit
//! and notice sinks), delivery, sessions, routes and security headers.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use mfa_axum::{MfaSettings, MfaState, Refusal, mfa_routes};
use mfa_core::{Keys, ManualClock, Mfa, MfaConfig, Outbox, Policy, Tee, TracingSink};
use mfa_store_sqlx::SqlxStore;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::audit::AuditSink;
use crate::config::Config;
use crate::data::{Db, seed};
use crate::mail::{Mailer, NoDelivery, Smtp, SmtpCodeSender};
use crate::notify::Notifier;
use crate::sessions::SessionStore;
use crate::web;

/// The MFA engine over the SQL store.
pub type Engine = Mfa<SqlxStore>;

/// Everything a handler needs.
#[derive(Clone)]
pub struct App {
    /// The portal's data.
    pub db: Db,
    /// The MFA engine and adapter settings.
    pub mfa: MfaState<SqlxStore>,
    /// Demo outbox for codes (demo mode without SMTP only).
    pub outbox: Option<Arc<Outbox>>,
    /// Where other emails go (reset links, security notices).
    pub mail: Mailer,
    /// Server-side sessions, in the portal database.
    pub sessions: SessionStore,
    /// Settings.
    pub config: Arc<Config>,
}

/// What a test may put in place of the engine's defaults: the HTTP
/// contract suite moves the clock and reads codes from its own outbox.
#[derive(Default)]
pub struct EngineParts {
    /// The engine's clock (default: the system clock).
    pub clock: Option<Arc<ManualClock>>,
    /// Where codes go (default: SMTP, the demo outbox, or nowhere).
    pub outbox: Option<Arc<Outbox>>,
    /// The rollout policy (default: file, saved, or demo policy).
    pub policy: Option<Policy>,
    /// The engine configuration (default: `MfaConfig::builder("Orchard Homes")`).
    pub config: Option<MfaConfig>,
    /// Extra paths a pending session may reach.
    pub pending_pages: Vec<&'static str>,
}

impl axum::extract::FromRef<App> for MfaState<SqlxStore> {
    fn from_ref(app: &App) -> Self {
        app.mfa.clone()
    }
}

/// Start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Portal database.
    #[error(transparent)]
    Db(#[from] crate::data::DbError),
    /// MFA store.
    #[error("MFA store: {0}")]
    Store(#[from] mfa_core::StoreError),
    /// Keys or configuration.
    #[error("MFA configuration: {0}")]
    Mfa(#[from] mfa_core::ConfigError),
    /// Engine.
    #[error("MFA: {0}")]
    Engine(#[from] mfa_core::MfaError),
    /// Policy.
    #[error("rollout policy: {0}")]
    Policy(#[from] mfa_core::PolicyError),
    /// Policy file.
    #[error("cannot read the policy file: {0}")]
    PolicyFile(std::io::Error),
    /// SMTP settings.
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    /// Session store.
    #[error("session store: {0}")]
    Sessions(#[from] sqlx::Error),
}

/// Pages a pending session may reach (exact paths).
pub const PENDING_PAGES: &[&str] = &[
    "/login",
    "/logout",
    "/login/mfa",
    "/login/mfa/start",
    "/login/mfa/code",
    "/login/mfa/resend",
    "/login/mfa/recovery",
    "/enroll",
    "/enroll/skip",
    "/enroll/totp",
    "/enroll/totp/start",
    "/enroll/phone",
    "/enroll/email",
    "/enroll/confirm",
    "/enroll/done",
    "/demo/outbox",
    "/help/mfa",
];

/// The policy the demo starts with: MFA mandatory since 28 May (the
/// Connect announcement), staff on authenticator apps only.
pub const DEMO_POLICY: &str = r#"
enforce_from = "2026-05-28T00:00:00Z"
grace = "14days"

[defaults]
methods = ["totp", "sms", "email"]
trust_device = true
trust_for = "90days"

[[cohorts]]
name = "staff"
groups = ["staff"]
methods = ["totp"]
trust_device = false
"#;

async fn keys(config: &Config, db: &Db) -> Result<Keys, StartError> {
    if let (Some(mac), Some(enc)) = (&config.mac_key, &config.encryption_keys) {
        return Ok(Keys::from_base64(mac, enc)?);
    }
    // Demo mode only (Config refuses production without keys): keys kept in
    // the database so that enrolments survive a restart. Said loudly.
    let (mac, enc) = match (
        db.setting("demo_mac_key").await?,
        db.setting("demo_encryption_keys").await?,
    ) {
        (Some(m), Some(e)) => (m, e),
        _ => {
            use base64::Engine as _;
            let b64 = |b: [u8; 32]| base64::engine::general_purpose::STANDARD.encode(b);
            let mac = b64(rand::random());
            let enc = format!("1:{}", b64(rand::random()));
            db.set_setting("demo_mac_key", &mac).await?;
            db.set_setting("demo_encryption_keys", &enc).await?;
            (mac, enc)
        }
    };
    tracing::warn!(
        "demo mode: MFA keys are stored in the portal database; set MFA_MAC_KEY and MFA_ENCRYPTION_KEYS for real use"
    );
    Ok(Keys::from_base64(&mac, &enc)?)
}

async fn policy(config: &Config, db: &Db) -> Result<Policy, StartError> {
    if let Some(path) = &config.policy_file {
        let text = std::fs::read_to_string(path).map_err(StartError::PolicyFile)?;
        return Ok(Policy::from_toml(&text)?);
    }
    if let Some(saved) = db.setting("policy").await? {
        return Ok(Policy::from_toml(&saved)?);
    }
    Ok(Policy::from_toml(DEMO_POLICY)?)
}

/// Builds the application. Returns the router, the state and, on a fresh
/// demo database, the applicant's registration token.
pub async fn build(config: Config) -> Result<(Router, App, Option<String>), StartError> {
    let (app, token) = start(config, EngineParts::default()).await?;
    let routes = web::routes().merge(mfa_routes(app.mfa.clone()));
    Ok((app.serve(routes), app, token))
}

/// Connects, migrates, builds the engine and seeds the demo: the state
/// without routes. Returns it and, on a fresh demo database, the
/// applicant's registration token.
pub async fn start(config: Config, parts: EngineParts) -> Result<(App, Option<String>), StartError> {
    if config.demo_exposed() {
        tracing::warn!(
            bind = %config.bind,
            "DEMO MODE ON A NON-LOOPBACK ADDRESS (PORTAL_MODE=demo): anyone who can reach {} can log in to the seeded demo accounts, whose passwords are published, and the demo keys are kept in the database. The outbox page of codes and reset links is still shown only to clients on this machine. Never use this with real residents or data.",
            config.bind
        );
    }
    let db = Db::connect(&config.database_url).await?;
    let store = SqlxStore::connect(&config.database_url).await?;
    store.migrate().await?;
    let sessions = SessionStore::over(&store).await?;
    sessions.clean_up_every(std::time::Duration::from_secs(600));
    let keys = keys(&config, &db).await?;
    let policy = match parts.policy {
        Some(p) => p,
        None => policy(&config, &db).await?,
    };
    let smtp = config.smtp.as_ref().map(Smtp::new).transpose()?.map(Arc::new);
    let outbox = match (&parts.outbox, &smtp) {
        (Some(o), _) => Some(o.clone()),
        (None, None) if config.demo => Some(Arc::new(Outbox::new())),
        _ => None,
    };
    let mail = match &smtp {
        Some(s) => Mailer::Smtp(s.clone()),
        None if config.demo => Mailer::Demo(Arc::new(crate::demo::Mailbox::default())),
        None => Mailer::Disabled,
    };
    let mfa_config = match parts.config {
        Some(c) => c,
        None => MfaConfig::builder("Orchard Homes").build()?,
    };
    let sinks = Tee(
        TracingSink,
        Tee(
            AuditSink::new(db.clone()),
            Notifier::new(db.clone(), mail.clone()),
        ),
    );
    let mut builder = Mfa::builder(store, keys, mfa_config).policy(policy).events(sinks);
    builder = match (&outbox, &smtp) {
        (Some(o), _) => builder.sender(o.clone()),
        (None, Some(s)) => builder.sender(SmtpCodeSender(s.clone())),
        (None, None) => builder.sender(NoDelivery),
    };
    if let Some(clock) = parts.clock {
        builder = builder.clock(clock);
    }
    let engine = Arc::new(builder.build());
    let mut settings = MfaSettings::default().refusal(Refusal::Redirect {
        login: "/login".into(),
        mfa: "/login/mfa".into(),
    });
    // The pages a pending session (password checked, second factor missing)
    // may reach: the second step, first enrolment, logout, and the demo
    // outbox. Everything else redirects to /login/mfa (or answers 401 to a
    // client that asks for JSON).
    for path in PENDING_PAGES.iter().chain(&parts.pending_pages) {
        settings = settings.allow_while_pending(path);
    }
    settings = settings.allow_origin(&format!("http://{}", config.bind));
    if config.public_origin() != format!("http://{}", config.bind) {
        settings = settings.allow_origin(config.public_origin());
    }
    let mfa = MfaState::from_arc(engine, settings);

    let token = if config.demo {
        let now = mfa.mfa().now().unix_millis();
        let token = seed::seed(&db, now).await?;
        if token.is_some() {
            crate::demo::enrol_seeded_factors(&mfa, outbox.as_deref()).await?;
        }
        token
    } else {
        None
    };

    let app = App {
        db,
        mfa,
        outbox,
        mail,
        sessions,
        config: Arc::new(config),
    };
    Ok((app, token))
}

/// Serves `router` on `listener` with each request's peer address known
/// to handlers (`ConnectInfo<SocketAddr>`: the demo outbox is shown only to
/// loopback clients). `main` and the tests serve the portal through this.
pub async fn listen(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
}

impl App {
    /// Serves `routes` the way the portal serves its own: behind the MFA
    /// guard, with the portal's sessions (cookie `portal_session`, Secure,
    /// HttpOnly, SameSite=Lax, 2 hours of inactivity), `/healthz`, the
    /// stylesheet and the security headers.
    pub fn serve(&self, routes: Router<App>) -> Router {
        let sessions = SessionManagerLayer::new(self.sessions.clone())
            .with_name("portal_session")
            .with_same_site(tower_sessions::cookie::SameSite::Lax)
            .with_http_only(true)
            .with_secure(true)
            .with_expiry(Expiry::OnInactivity(
                tower_sessions::cookie::time::Duration::hours(2),
            ));
        self.mfa
            .protect(routes.with_state(self.clone()))
            .route("/healthz", get(|| async { "ok" }))
            .route("/static/portal.css", get(web::stylesheet))
            .layer(sessions)
            .layer(middleware::map_response(security_headers))
    }
}

/// Security headers on every response; no caching of pages (they carry
/// account data and codes).
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "same-origin");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    res
}
