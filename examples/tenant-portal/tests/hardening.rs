//! Account hardening over real loopback sockets: the password change ends
//! other sessions, revokes trusted devices and emails a notice; residents
//! are emailed on a lock-out and a new trusted device; forms refuse
//! cross-site posts and tokens from before login; a logout wave reaches
//! staff sessions too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Browser, SAM_PHONE, attr, sam_at_code_step};
use mfa_axum::mfa_routes;
use mfa_core::{EnrollRequest, Enrollment, ManualClock, Timestamp, UserId};
use tenant_portal::app::{self, App, EngineParts};
use tenant_portal::config::Config;

struct Portal {
    base: String,
    app: App,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Portal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The demo portal (engine on a manual clock set to now) on a loopback port.
async fn portal() -> Portal {
    portal_with(|_| {}).await
}

/// [`portal`] with its configuration adjusted by `adjust`.
async fn portal_with(adjust: impl FnOnce(&mut Config)) -> Portal {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("portal.sqlite3").display()
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(now)));
    let parts = EngineParts {
        clock: Some(clock.clone()),
        ..EngineParts::default()
    };
    let mut config = Config::demo(addr, url);
    adjust(&mut config);
    let (app, _) = app::start(config, parts).await.unwrap();
    let router = app.serve(tenant_portal::web::routes().merge(mfa_routes(app.mfa.clone())));
    let task = tokio::spawn(async move {
        app::listen(listener, router).await.unwrap();
    });
    Portal {
        base: format!("http://{addr}"),
        app,
        clock,
        _dir: dir,
        task,
    }
}

impl Portal {
    fn outbox(&self) -> Arc<mfa_core::Outbox> {
        self.app.outbox.clone().unwrap()
    }

    /// Subjects of the demo emails to `to`.
    fn subjects(&self, to: &str) -> Vec<String> {
        self.app
            .mail
            .demo_mailbox()
            .unwrap()
            .all()
            .into_iter()
            .filter(|m| m.to == to)
            .map(|m| format!("{}\n{}", m.subject, m.body))
            .collect()
    }

    /// Waits (up to 5 s) for an email to `to` whose subject or text
    /// contains `needle`.
    async fn wait_mail(&self, to: &str, needle: &str) -> String {
        for _ in 0..100 {
            if let Some(m) = self.subjects(to).into_iter().find(|m| m.contains(needle)) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no email to {to} with {needle:?}: {:?}", self.subjects(to));
    }

    /// Gives the staff account a confirmed authenticator app; returns its key.
    async fn staff_totp(&self) -> Totp {
        let mfa = self.app.mfa.mfa();
        let user = UserId::new("u-staff").unwrap();
        let caller = mfa_core::Caller::password_only(mfa_core::Audience::new(mfa_core::Platform::WEB));
        let request = EnrollRequest::Totp {
            label: "Authenticator app".into(),
            account_name: "staff@example.org".into(),
        };
        let Enrollment::Totp(t) = mfa.begin_enrollment(&user, request, &caller).await.unwrap() else {
            panic!("not a TOTP enrolment");
        };
        let totp = Totp::new(t.secret_base32.expose(), self.clock.clone());
        let code = totp.code();
        mfa.confirm_enrollment(&user, &t.factor, &code).await.unwrap();
        totp
    }
}

/// An authenticator app on the engine's clock.
struct Totp {
    t: totp_rs::Totp,
    clock: Arc<ManualClock>,
}

impl Totp {
    fn new(key: &str, clock: Arc<ManualClock>) -> Self {
        let secret = totp_rs::Secret::try_from_base32(key.to_uppercase()).unwrap();
        let t = totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(30)
            .with_secret(secret)
            .build()
            .unwrap();
        Totp { t, clock }
    }

    /// The code of the clock's current step; moves the clock to the next
    /// step afterwards (a code is accepted once).
    fn code(&self) -> String {
        use mfa_core::Clock as _;
        let secs = (self.clock.now().unix_millis() / 1000) as u64;
        let code = self.t.generate(secs).to_string();
        self.clock.advance(Duration::from_secs(30));
        code
    }
}

/// Logs Sam in (password, SMS code from the outbox), trusting the device
/// when `trust`.
async fn sam(p: &Portal, trust: bool) -> Browser {
    let (mut b, csrf) = sam_at_code_step(&p.base).await;
    let code = p.outbox().last_code_to(SAM_PHONE).unwrap();
    let mut form = vec![("csrf", csrf.as_str()), ("code", code.expose())];
    if trust {
        form.push(("trust", "yes"));
    }
    let (s, loc, _) = b.post("/login/mfa/code", &form).await;
    assert_eq!((s, loc.as_str()), (303, "/"));
    b
}

/// Logs the member of staff in with the authenticator app.
async fn staff(p: &Portal, totp: &Totp) -> Browser {
    let mut b = Browser::new(&p.base);
    let (_, _, page) = b.get("/login").await;
    let csrf = attr(&page, "csrf");
    let form = [
        ("csrf", csrf.as_str()),
        ("email", "staff@example.org"),
        ("password", "staff-demo-1"),
    ];
    assert_eq!(b.post("/login", &form).await.1, "/login/mfa");
    let (_, _, page) = b.get("/login/mfa").await;
    let (csrf, factor) = (attr(&page, "csrf"), attr(&page, "factor"));
    b.post("/login/mfa/start", &[("csrf", &csrf), ("factor", &factor)])
        .await;
    let code = totp.code();
    let (s, loc, _) = b
        .post("/login/mfa/code", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!((s, loc.as_str()), (303, "/staff"));
    b
}

/// Confirms it's Sam again with a fresh SMS code (step-up).
async fn step_up(p: &Portal, b: &mut Browser) {
    let (_, _, page) = b.get("/account/confirm?next=/account").await;
    let (csrf, factor) = (attr(&page, "csrf"), attr(&page, "factor"));
    let form = [("csrf", csrf.as_str()), ("next", "/account"), ("factor", &factor)];
    let (_, _, page) = b.post("/account/confirm", &form).await;
    let challenge = attr(&page, "challenge");
    let code = p.outbox().last_code_to("+447700900123").unwrap();
    let (s, loc, _) = b
        .post(
            "/account/confirm",
            &[
                ("csrf", &csrf),
                ("next", "/account"),
                ("factor", &factor),
                ("challenge", &challenge),
                ("code", code.expose()),
            ],
        )
        .await;
    assert_eq!((s, loc.as_str()), (303, "/account"));
}

async fn trusted_devices(p: &Portal) -> usize {
    p.app
        .mfa
        .mfa()
        .trusted_devices(&UserId::new("u-sam").unwrap())
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_needs_the_current_password_and_a_fresh_factor_and_ends_other_sessions() {
    let p = portal().await;
    let mut a = sam(&p, false).await;
    // Another browser, trusted at login.
    let mut other = sam(&p, true).await;
    assert_eq!(trusted_devices(&p).await, 1);
    assert_eq!(other.get("/account").await.0, 200);

    // Past the step-up window: the change needs a fresh second factor.
    p.clock.advance(Duration::from_secs(11 * 60));
    let (_, _, page) = a.get("/account").await;
    let csrf = attr(&page, "csrf");
    let change = |csrf: &str, current: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("current".to_owned(), current.to_owned()),
            ("password".to_owned(), "a brand new passphrase".to_owned()),
            ("confirm".to_owned(), "a brand new passphrase".to_owned()),
        ]
    };
    let form = change(&csrf, "tenant-demo-2");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, loc, _) = a.post("/account/password", &form).await;
    assert_eq!((s, loc.as_str()), (303, "/account/confirm?next=/account"));

    step_up(&p, &mut a).await;
    let (_, _, page) = a.get("/account").await;
    let csrf = attr(&page, "csrf");

    // A wrong current password changes nothing.
    let form = change(&csrf, "not-my-password");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, _, page) = a.post("/account/password", &form).await;
    assert_eq!(s, 200);
    assert!(page.contains("current password"), "{page}");
    assert!(
        p.app
            .db
            .check_password("sam@example.org", "tenant-demo-2")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(other.get("/account").await.0, 200, "the other session ended");

    // The right one: changed, the other session ends, devices revoked, emailed.
    let form = change(&csrf, "tenant-demo-2");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, _, page) = a.post("/account/password", &form).await;
    assert_eq!(s, 200);
    assert!(page.contains("Your password was changed"), "{page}");
    assert!(
        p.app
            .db
            .check_password("sam@example.org", "a brand new passphrase")
            .await
            .unwrap()
            .is_some()
    );
    let (s, loc, _) = other.get("/account").await;
    assert_eq!((s, loc.as_str()), (303, "/login"), "the other session goes on");
    assert_eq!(trusted_devices(&p).await, 0, "trusted devices kept");
    p.wait_mail("sam@example.org", "Your password was changed").await;
    // This session goes on.
    assert_eq!(a.get("/account").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_are_emailed_when_a_device_is_trusted() {
    let p = portal().await;
    let _b = sam(&p, true).await;
    let mail = p.wait_mail("sam@example.org", "A new device was trusted").await;
    assert!(mail.contains("0300 012 0120"), "{mail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_are_emailed_when_their_account_is_locked() {
    let p = portal().await;
    // Wrong codes until sign-in is paused.
    let (mut b, csrf) = sam_at_code_step(&p.base).await;
    let code = p.outbox().last_code_to(SAM_PHONE).unwrap();
    let wrong = if code.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        b.post("/login/mfa/code", &[("csrf", &csrf), ("code", wrong)])
            .await;
    }
    let status = p
        .app
        .mfa
        .mfa()
        .status(&UserId::new("u-sam").unwrap())
        .await
        .unwrap();
    assert!(status.locked.is_some(), "the account was not locked");
    let mail = p
        .wait_mail("sam@example.org", "Signing in to your account was paused")
        .await;
    assert!(mail.contains("0300 012 0120"), "{mail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_refuse_cross_site_posts() {
    let p = portal().await;
    let mut b = sam(&p, false).await;
    let (_, _, page) = b.get("/messages").await;
    let csrf = attr(&page, "csrf");
    let own = p.base.clone();
    for (i, headers) in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("origin", "http://127.0.0.1:1")],
        vec![("sec-fetch-site", "cross-site")],
        vec![
            ("sec-fetch-site", "same-site"),
            ("origin", "https://sub.127.0.0.1"),
        ],
        vec![("sec-fetch-site", "same-site")],
    ]
    .into_iter()
    .enumerate()
    {
        let body = format!("forged message {i}");
        let (s, _, _) = b
            .post_with("/messages", &[("csrf", &csrf), ("body", &body)], &headers)
            .await;
        assert_eq!(s, 403, "{headers:?} was accepted");
        let (_, _, page) = b.get("/messages").await;
        assert!(!page.contains(&body), "{headers:?} wrote a message");
    }
    // The portal's own origin, as a browser sends it.
    let headers = [("origin", own.as_str()), ("sec-fetch-site", "same-origin")];
    let form = [("csrf", csrf.as_str()), ("body", "a real message")];
    let (s, _, _) = b.post_with("/messages", &form, &headers).await;
    assert!(s < 400, "the portal's own form was refused: {s}");
    let (_, _, page) = b.get("/messages").await;
    assert!(page.contains("a real message"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_tokens_are_bound_to_the_session_and_rotated_at_login() {
    let p = portal().await;
    // Another visitor's token is not this session's.
    let mut x = Browser::new(&p.base);
    let (_, _, page) = x.get("/login").await;
    let theirs = attr(&page, "csrf");
    let mut b = Browser::new(&p.base);
    let (_, _, page) = b.get("/login").await;
    let before = attr(&page, "csrf");
    assert_ne!(theirs, before);
    let form = [
        ("csrf", theirs.as_str()),
        ("email", "sam@example.org"),
        ("password", "tenant-demo-2"),
    ];
    assert_eq!(b.post("/login", &form).await.0, 403, "another session's token");

    // The token from before the password is not accepted after it.
    let form = [
        ("csrf", before.as_str()),
        ("email", "sam@example.org"),
        ("password", "tenant-demo-2"),
    ];
    assert_eq!(b.post("/login", &form).await.1, "/login/mfa");
    let (_, _, page) = b.get("/login/mfa").await;
    let (pending, factor) = (attr(&page, "csrf"), attr(&page, "factor"));
    assert_ne!(pending, before, "the token was not rotated at the password step");
    let (s, _, _) = b
        .post("/login/mfa/start", &[("csrf", &before), ("factor", &factor)])
        .await;
    assert_eq!(s, 403, "a token from before login was accepted");
    b.post("/login/mfa/start", &[("csrf", &pending), ("factor", &factor)])
        .await;
    let code = p.outbox().last_code_to("+447700900123").unwrap();
    let (s, loc, _) = b
        .post("/login/mfa/code", &[("csrf", &pending), ("code", code.expose())])
        .await;
    assert_eq!((s, loc.as_str()), (303, "/"));

    // Nor the second step's token once the login is complete.
    let (_, _, page) = b.get("/messages").await;
    let after = attr(&page, "csrf");
    assert_ne!(after, pending);
    for old in [&before, &pending, &theirs] {
        let (s, _, _) = b
            .post("/messages", &[("csrf", old), ("body", "with an old token")])
            .await;
        assert_eq!(s, 403, "an old token was accepted");
    }
    let (_, _, page) = b.get("/messages").await;
    assert!(!page.contains("with an old token"));
    // Logging out and in again: the old session's token is dead too.
    let (_, _, page) = b.get("/").await;
    let csrf = attr(&page, "csrf");
    assert_eq!(b.post("/logout", &[("csrf", &csrf)]).await.1, "/login");
    let (s, _, _) = b
        .post("/messages", &[("csrf", &after), ("body", "after logout")])
        .await;
    assert!(s == 403 || s == 303, "{s}");

    // A first login that completes by enrolling: the token of the
    // pending stage dies with it.
    let mut jo = Browser::new(&p.base);
    let (_, _, page) = jo.get("/login").await;
    let csrf = attr(&page, "csrf");
    let form = [
        ("csrf", csrf.as_str()),
        ("email", "jo@example.org"),
        ("password", "tenant-demo-1"),
    ];
    assert_eq!(jo.post("/login", &form).await.1, "/enroll");
    let (_, _, page) = jo.get("/enroll").await;
    let pending = attr(&page, "csrf");
    let (_, loc, _) = jo
        .post(
            "/enroll/phone",
            &[("csrf", &pending), ("destination", "+44 7700 900456")],
        )
        .await;
    assert_eq!(loc, "/enroll/confirm");
    let code = p.outbox().last_code_to("+447700900456").unwrap();
    let (s, _, page) = jo
        .post("/enroll/confirm", &[("csrf", &pending), ("code", code.expose())])
        .await;
    assert_eq!(s, 200, "{page}");
    let (s, _, _) = jo
        .post("/messages", &[("csrf", &pending), ("body", "pending token")])
        .await;
    assert_eq!(s, 403, "the pending stage's token was accepted after enrolment");
    let (_, _, page) = jo.get("/messages").await;
    assert!(!page.contains("pending token"));
    let fresh = attr(&page, "csrf");
    assert_ne!(fresh, pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_wave_ends_staff_and_resident_sessions_on_that_platform() {
    let p = portal().await;
    let totp = p.staff_totp().await;
    let mut console = staff(&p, &totp).await;
    let mut colleague = staff(&p, &totp).await;
    let mut resident = sam(&p, false).await;
    assert_eq!(colleague.get("/staff").await.0, 200);
    assert_eq!(resident.get("/").await.0, 200);

    p.clock.advance(Duration::from_secs(5));
    let (_, _, page) = console.get("/staff/policy").await;
    let csrf = attr(&page, "csrf");
    let (s, _, page) = console
        .post(
            "/staff/policy/wave",
            &[("csrf", &csrf), ("platform", "web"), ("at", "now")],
        )
        .await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("Saved"), "{page}");
    p.clock.advance(Duration::from_secs(5));

    let (s, loc, _) = resident.get("/").await;
    assert_eq!(
        (s, loc.as_str()),
        (303, "/login"),
        "the resident's web session went on"
    );
    let (s, loc, _) = colleague.get("/staff").await;
    assert_eq!((s, loc.as_str()), (303, "/login"), "a staff web session went on");

    // Staff keep their own rules on web: authenticator app only, no trust.
    let policy = p.app.mfa.mfa().policy();
    let staff_web = mfa_core::Audience::new(mfa_core::Platform::WEB).with_groups(["staff"]);
    let s = policy.settings_for(&staff_web);
    assert_eq!(s.methods, vec![mfa_core::FactorKind::Totp]);
    assert!(!s.trust_device);
    // Other platforms are not in the wave.
    let ios_staff = mfa_core::Audience::new(mfa_core::Platform::IOS).with_groups(["staff"]);
    assert!(policy.settings_for(&ios_staff).relogin_cutoff.is_none());
    let ios = mfa_core::Audience::new(mfa_core::Platform::IOS);
    assert!(policy.settings_for(&ios).relogin_cutoff.is_none());

    // And a staff member logs in again after the wave.
    let mut again = staff(&p, &totp).await;
    assert_eq!(again.get("/staff").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_accept_the_configured_public_origin() {
    // Behind a proxy: the browser's Origin is the public URL's, the Host
    // the portal sees is its own address.
    let p = portal_with(|c| c.public_url = "https://portal.orchard.example/".into()).await;
    let mut b = sam(&p, false).await;
    let (_, _, page) = b.get("/messages").await;
    let csrf = attr(&page, "csrf");
    let headers = [
        ("origin", "https://portal.orchard.example"),
        ("sec-fetch-site", "same-origin"),
    ];
    let form = [("csrf", csrf.as_str()), ("body", "through the proxy")];
    let (s, _, _) = b.post_with("/messages", &form, &headers).await;
    assert!(s < 400, "the public origin was refused: {s}");
    let headers = [("origin", "https://evil.orchard.example")];
    let form = [("csrf", csrf.as_str()), ("body", "from a sibling")];
    assert_eq!(b.post_with("/messages", &form, &headers).await.0, 403);
    let (_, _, page) = b.get("/messages").await;
    assert!(page.contains("through the proxy"));
    assert!(!page.contains("from a sibling"));
}
