//! What leaves the portal and what survives it: SMTP delivery (lettre,
//! against an SMTP server on loopback) of codes, text messages through an
//! email-to-SMS gateway and security notices; sessions kept in the
//! database across a restart and dead after logout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use common::{SAM_PHONE, attr, sam_at_code_step};
use mfa_core::{Audience, Caller, EnrollRequest, Platform, UserId};
use tenant_portal::app;
use tenant_portal::config::Config;
use tenant_portal::mail::SmtpSettings;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One message an SMTP client handed over.
#[derive(Clone, Debug)]
struct Received {
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP server (RFC 5321 happy path, no TLS, no auth): enough
/// for a real client to deliver to, recording what it received.
async fn smtp_server() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let sink = inbox.clone();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let sink = sink.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut to = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-test\r\n250 8BITMIME\r\n",
                        "RCPT" => {
                            let addr = line.split(['<', '>']).nth(1).unwrap_or("").to_owned();
                            to.push(addr);
                            b"250 OK\r\n"
                        }
                        "DATA" => {
                            write.write_all(b"354 go on\r\n").await.unwrap();
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(&l);
                                data.push('\n');
                            }
                            sink.lock().unwrap().push(Received {
                                to: std::mem::take(&mut to),
                                data,
                            });
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 OK\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, inbox)
}

/// Waits (up to 5 s) for a message to `to` whose text contains `needle`.
async fn wait_for(inbox: &Mutex<Vec<Received>>, to: &str, needle: &str) -> Received {
    for _ in 0..100 {
        if let Some(m) = inbox
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.to.iter().any(|t| t == to) && m.data.contains(needle))
        {
            return m.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "no message to {to} containing {needle:?}; got {:?}",
        inbox.lock().unwrap()
    );
}

fn six_digits(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_delivers_codes_text_messages_and_security_notices() {
    let (port, inbox) = smtp_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::demo(
        "127.0.0.1:0".parse().unwrap(),
        format!("sqlite://{}?mode=rwc", dir.path().join("p.sqlite3").display()),
    );
    config.smtp = Some(SmtpSettings {
        url: format!("smtp://127.0.0.1:{port}"),
        from: "Orchard Homes <no-reply@orchard.example>".into(),
        sms_gateway: Some("sms.example".into()),
    });
    let (_router, app, _) = app::build(config).await.unwrap();
    assert!(app.outbox.is_none(), "SMTP configured: no demo outbox");
    let mfa = app.mfa.mfa();
    let jo = UserId::new("u-jo").unwrap();
    let caller = Caller::password_only(Audience::new(Platform::WEB));

    // An email code goes to the address, through SMTP.
    let setup = mfa
        .begin_enrollment(
            &jo,
            EnrollRequest::Email {
                label: "Home".into(),
                address: "jo.home@example.org".into(),
            },
            &caller,
        )
        .await
        .unwrap();
    let mail = wait_for(&inbox, "jo.home@example.org", "code").await;
    assert!(mail.data.contains("no-reply@orchard.example"), "{}", mail.data);
    let code = six_digits(mail.data.split("\n\n").nth(1).unwrap());
    let enrolled = mfa.confirm_enrollment(&jo, setup.factor(), &code).await.unwrap();

    // The change is notified to the account's address (another channel),
    // without the code.
    let notice = wait_for(&inbox, "jo@example.org", "A sign-in method was added").await;
    assert!(!notice.data.contains(&code));

    // A text message goes through the email-to-SMS gateway. Adding a
    // second method needs a fresh second factor: the one the confirmation
    // just proved (the engine's own result, not a hand-made caller).
    let fresh = enrolled.caller(Audience::new(Platform::WEB));
    mfa.begin_enrollment(
        &jo,
        EnrollRequest::Sms {
            label: "Mobile".into(),
            phone: "+44 7700 900456".into(),
        },
        &fresh,
    )
    .await
    .unwrap();
    let sms = wait_for(&inbox, "+447700900456@sms.example", "code").await;
    assert_eq!(six_digits(sms.data.split("\n\n").nth(1).unwrap()).len(), 6);
}

#[tokio::test]
async fn plain_smtp_to_another_host_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::demo(
        "127.0.0.1:0".parse().unwrap(),
        format!("sqlite://{}?mode=rwc", dir.path().join("p.sqlite3").display()),
    );
    config.smtp = Some(SmtpSettings {
        url: "smtp://mail.example:25".into(),
        from: "Orchard Homes <no-reply@orchard.example>".into(),
        sms_gateway: None,
    });
    let err = app::build(config).await.err().expect("refused");
    assert!(err.to_string().contains("smtps://"), "{err}");
}

async fn serve(config: Config) -> (String, tokio::task::JoinHandle<()>, tenant_portal::app::App) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = config;
    config.bind = addr;
    let (router, app, _) = app::build(config).await.unwrap();
    let task = tokio::spawn(async move {
        app::listen(listener, router).await.unwrap();
    });
    (format!("http://{addr}"), task, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_and_die_at_logout() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::demo(
        "127.0.0.1:0".parse().unwrap(),
        format!("sqlite://{}?mode=rwc", dir.path().join("p.sqlite3").display()),
    );
    let (base, server, app) = serve(config.clone()).await;
    let outbox = app.outbox.clone().unwrap();
    let (mut b, csrf) = sam_at_code_step(&base).await;
    let code = outbox.last_code_to(SAM_PHONE).unwrap();
    let (s, loc, _) = b
        .post("/login/mfa/code", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    assert_eq!((s, loc.as_str()), (303, "/"));
    assert_eq!(b.get("/rent").await.0, 200);

    // Restart: a new process state on the same database.
    server.abort();
    drop(app);
    let (base, _server, _app) = serve(config).await;
    b.rebase(&base);
    let (s, _, page) = b.get("/rent").await;
    assert_eq!(s, 200, "signed out by a restart");
    assert!(page.contains("Rent"));

    // Logout deletes the record: the old cookie is worth nothing.
    let old = b.clone();
    let (_, _, page) = b.get("/account").await;
    let csrf = attr(&page, "csrf");
    assert_eq!(b.post("/logout", &[("csrf", &csrf)]).await.0, 303);
    let mut replay = old;
    let (s, loc, _) = replay.get("/rent").await;
    assert_eq!(
        (s, loc.as_str()),
        (303, "/login"),
        "a logged-out session id still worked"
    );
}
