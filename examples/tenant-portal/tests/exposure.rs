//! What the portal refuses to expose, over real loopback sockets: the demo
//! outbox (every code and reset link) only in demo mode and only to a
//! client on this machine; redirects only to paths on this site.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;

use axum::extract::connect_info::MockConnectInfo;
use common::{Browser, SAM_PHONE, attr, sam_at_code_step};
use tenant_portal::app::{self, EngineParts};
use tenant_portal::config::Config;

fn sqlite(dir: &tempfile::TempDir) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("portal.sqlite3").display()
    )
}

/// Serves `router` on a fresh loopback port the way `main` does (the peer
/// address known to handlers). Returns the base URL.
async fn listen(router: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        app::listen(listener, router).await.unwrap();
    });
    (format!("http://{addr}"), task)
}

/// The same router served as if its clients came from `peer` (a test
/// cannot open a loopback socket from a public address; the handler sees
/// the address exactly as it would see a real one).
async fn listen_as(router: axum::Router, peer: SocketAddr) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = router.layer(MockConnectInfo(peer));
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (format!("http://{addr}"), task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_outbox_is_served_only_to_loopback_clients() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::demo("127.0.0.1:0".parse().unwrap(), sqlite(&dir));
    let (router, _app, _) = app::build(config).await.unwrap();

    let (base, local) = listen(router.clone()).await;
    let (s, _, page) = Browser::new(&base).get("/demo/outbox").await;
    assert_eq!(s, 200, "the demo outbox on this machine");
    assert!(page.contains("+447700900123"), "the outbox lists the seeded SMS");
    local.abort();

    for peer in ["203.0.113.9:4444", "192.168.1.20:5555", "[2001:db8::1]:443"] {
        let (base, remote) = listen_as(router.clone(), peer.parse().unwrap()).await;
        let (s, _, page) = Browser::new(&base).get("/demo/outbox").await;
        assert_eq!(s, 404, "the demo outbox was served to {peer}");
        assert!(!page.contains("+447700900123"));
        remote.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_never_serves_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let b64 = |b: [u8; 32]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let mut config = Config::demo(addr, sqlite(&dir));
    config.demo = false;
    config.mac_key = Some(b64(rand::random()));
    config.encryption_keys = Some(format!("1:{}", b64(rand::random())));
    // Even with an outbox wired in (as the contract suite does).
    let outbox = std::sync::Arc::new(mfa_core::Outbox::new());
    let parts = EngineParts {
        outbox: Some(outbox),
        ..EngineParts::default()
    };
    let (portal, _) = app::start(config, parts).await.unwrap();
    let router = portal.serve(tenant_portal::web::routes());
    let task = tokio::spawn(async move {
        app::listen(listener, router).await.unwrap();
    });
    let (s, _, _) = Browser::new(&format!("http://{addr}")).get("/demo/outbox").await;
    assert_eq!(s, 404, "production served the outbox");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_links_are_built_from_the_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::demo("127.0.0.1:0".parse().unwrap(), sqlite(&dir));
    config.public_url = "https://portal.orchard.example".into();
    let (router, app, _) = app::build(config).await.unwrap();
    let (base, task) = listen(router).await;
    let mut b = Browser::new(&base);
    let (_, _, page) = b.get("/forgot-password").await;
    let csrf = attr(&page, "csrf");
    let (s, _, _) = b
        .post(
            "/forgot-password",
            &[("csrf", &csrf), ("email", "sam@example.org")],
        )
        .await;
    assert_eq!(s, 200);
    let mailbox = app.mail.demo_mailbox().unwrap();
    let mut body = None;
    for _ in 0..100 {
        body = mailbox
            .all()
            .into_iter()
            .find(|m| m.to == "sam@example.org" && m.subject.contains("Reset"))
            .map(|m| m.body);
        if body.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let body = body.expect("a reset email");
    assert!(
        body.contains("https://portal.orchard.example/reset-password/"),
        "{body}"
    );
    assert!(!body.contains("127.0.0.1"), "{body}");
    task.abort();
}

/// Logs Sam in (password, SMS code from the outbox).
async fn sam(base: &str, outbox: &mfa_core::Outbox) -> Browser {
    let (mut b, csrf) = sam_at_code_step(base).await;
    let code = outbox.last_code_to(SAM_PHONE).unwrap();
    let (s, loc, _) = b
        .post("/login/mfa/code", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    assert_eq!((s, loc.as_str()), (303, "/"));
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_next_ends_on_the_home_page() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::demo("127.0.0.1:0".parse().unwrap(), sqlite(&dir));
    let (router, app, _) = app::build(config).await.unwrap();
    let (base, task) = listen(router).await;
    let outbox = app.outbox.clone().unwrap();
    let mut b = sam(&base, &outbox).await;

    // The confirmation page carries only a safe target in its form.
    for hostile in [
        "//evil.example",
        "/%5Cevil.example",
        "/%09/evil.example",
        "/%0A/evil.example",
        "/%252F%252Fevil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "evil.example",
        "",
    ] {
        let (s, _, page) = b.get(&format!("/account/confirm?next={hostile}")).await;
        assert_eq!(s, 200, "next={hostile}");
        assert_eq!(attr(&page, "next"), "/", "next={hostile}");
    }
    let (_, _, page) = b.get("/account/confirm?next=/rent/pay").await;
    assert_eq!(attr(&page, "next"), "/rent/pay", "a same-site path is kept");

    // A forged form with a hostile target: step-up succeeds, and the
    // redirect stays on this site.
    let (_, _, page) = b.get("/account/confirm?next=/account").await;
    let (csrf, factor) = (attr(&page, "csrf"), attr(&page, "factor"));
    let hostile = "/\t/evil.example";
    let (s, _, page) = b
        .post(
            "/account/confirm",
            &[("csrf", &csrf), ("next", hostile), ("factor", &factor)],
        )
        .await;
    assert_eq!(s, 200);
    let challenge = attr(&page, "challenge");
    let code = outbox.last_code_to("+447700900123").unwrap();
    let (s, loc, _) = b
        .post(
            "/account/confirm",
            &[
                ("csrf", &csrf),
                ("next", hostile),
                ("factor", &factor),
                ("challenge", &challenge),
                ("code", code.expose()),
            ],
        )
        .await;
    assert_eq!((s, loc.as_str()), (303, "/"), "step-up redirected off-site");
    task.abort();
}
