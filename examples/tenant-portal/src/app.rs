//! Wiring: database, MFA engine (SQL store, keys, policy, sender, audit
//! sink), sessions, routes and security headers.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use mfa_axum::{MfaSettings, MfaState, Refusal, mfa_routes};
use mfa_core::{Keys, Mfa, MfaConfig, Outbox, Policy, Tee, TracingSink};
use mfa_store_sqlx::SqlxStore;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::audit::AuditSink;
use crate::config::Config;
use crate::data::{Db, seed};
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
    /// Demo outbox for codes (demo mode only).
    pub outbox: Option<Arc<Outbox>>,
    /// Demo mailbox for other emails (demo mode only).
    pub mailbox: Option<Arc<crate::demo::Mailbox>>,
    /// Settings.
    pub config: Arc<Config>,
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
    let db = Db::connect(&config.database_url).await?;
    let store = SqlxStore::connect(&config.database_url).await?;
    store.migrate().await?;
    let keys = keys(&config, &db).await?;
    let policy = policy(&config, &db).await?;
    let outbox = config.demo.then(|| Arc::new(Outbox::new()));
    let mut builder = Mfa::builder(store, keys, MfaConfig::builder("Orchard Homes").build()?)
        .policy(policy)
        .events(Tee(TracingSink, AuditSink::new(db.clone())));
    if let Some(o) = &outbox {
        builder = builder.sender(o.clone());
    }
    let engine = Arc::new(builder.build());
    let mut settings = MfaSettings::default().refusal(Refusal::Redirect {
        login: "/login".into(),
        mfa: "/login/mfa".into(),
    });
    // The pages a pending session (password checked, second factor missing)
    // may reach: the second step, first enrolment, logout, and the demo
    // outbox. Everything else redirects to /login/mfa.
    for path in PENDING_PAGES {
        settings = settings.allow_while_pending(path);
    }
    settings = settings.allow_origin(&format!("http://{}", config.bind));
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
        mfa: mfa.clone(),
        mailbox: config.demo.then(|| Arc::new(crate::demo::Mailbox::default())),
        outbox,
        config: Arc::new(config),
    };
    let routes = web::routes().merge(mfa_routes(mfa.clone()));
    let sessions = SessionManagerLayer::new(tower_sessions::MemoryStore::default())
        .with_name("portal_session")
        .with_same_site(tower_sessions::cookie::SameSite::Lax)
        .with_http_only(true)
        .with_secure(true)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::hours(2),
        ));
    let router = mfa
        .protect(routes.with_state(app.clone()))
        .route("/healthz", get(|| async { "ok" }))
        .route("/static/portal.css", get(web::stylesheet))
        .layer(sessions)
        .layer(middleware::map_response(security_headers));
    Ok((router, app, token))
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
