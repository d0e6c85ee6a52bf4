//! Resident pages: home, rent; the demo outbox; help.

use askama::Template;
use std::net::SocketAddr;

use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use tower_sessions::Session;

use super::{Chrome, LoggedIn, PageError, public_chrome, render};
use crate::app::App;
use crate::data::housing::{LedgerLine, Message, Repair};
use crate::util::{date, date_time, money};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    chrome: Chrome,
    name: String,
    balance: String,
    in_arrears: bool,
    next_visit: Option<(String, String)>,
    latest: Option<(String, String)>,
    trusted_login: bool,
}

/// `GET /`.
pub async fn dashboard(State(app): State<App>, me: LoggedIn) -> Result<Response, PageError> {
    if me.user.role == crate::data::users::Role::Staff {
        return Err(PageError::Redirect("/staff".into()));
    }
    let balance = app.db.balance(&me.user.id).await?;
    let repairs: Vec<Repair> = app.db.repairs(&me.user.id).await?;
    let next_visit = repairs
        .iter()
        .filter_map(|r| r.slot.as_ref().map(|s| (s.starts_at, r.title.clone())))
        .min()
        .map(|(at, title)| (date_time(at), title));
    let messages: Vec<Message> = app.db.messages(&me.user.id).await?;
    let latest = messages.last().map(|m| (m.author.clone(), date(m.sent_at)));
    let trusted_login = matches!(me.mfa.assurance, mfa_core::Assurance::TrustedDevice { .. });
    render(&Dashboard {
        chrome: me.chrome,
        name: me.user.name,
        balance: money(balance.abs()),
        in_arrears: balance > 0,
        next_visit,
        latest,
        trusted_login,
    })
}

struct Line {
    date: String,
    description: String,
    amount: String,
}

#[derive(Template)]
#[template(path = "rent.html")]
struct Rent {
    chrome: Chrome,
    balance: String,
    in_arrears: bool,
    lines: Vec<Line>,
}

/// `GET /rent`: balance and statement.
pub async fn rent(State(app): State<App>, me: LoggedIn) -> Result<Response, PageError> {
    let balance = app.db.balance(&me.user.id).await?;
    let lines: Vec<LedgerLine> = app.db.ledger(&me.user.id).await?;
    render(&Rent {
        chrome: me.chrome,
        balance: money(balance.abs()),
        in_arrears: balance > 0,
        lines: lines
            .into_iter()
            .map(|l| Line {
                date: date(l.posted_at),
                description: l.description,
                amount: money(l.amount_pence),
            })
            .collect(),
    })
}

struct Sent {
    at: String,
    kind: String,
    to: String,
    text: String,
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    chrome: Chrome,
    messages: Vec<Sent>,
}

/// `GET /demo/outbox`: what residents "received". Demo mode only, and only
/// to a client on this machine (the connection's peer address): it lists
/// every code and password-reset link. Anything else, including a server
/// that does not pass the peer address ([`crate::app::listen`] does), gets
/// 404.
pub async fn outbox(
    State(app): State<App>,
    peer: Result<ConnectInfo<SocketAddr>, ExtensionRejection>,
    _session: Session,
) -> Result<Response, PageError> {
    let local = peer.is_ok_and(|ConnectInfo(addr)| crate::config::is_loopback(addr.ip()));
    let Some(outbox) = app.outbox.as_ref().filter(|_| app.config.demo && local) else {
        return Err(PageError::NotFound);
    };
    let mut dated: Vec<(i64, Sent)> = outbox
        .messages()
        .into_iter()
        .map(|m| {
            let at = m.expires_at.unix_millis() - 300_000;
            let kind = if m.kind == mfa_core::FactorKind::Sms {
                "Text message"
            } else {
                "Email"
            };
            (
                at,
                Sent {
                    at: date_time(at),
                    kind: kind.into(),
                    to: m.to,
                    text: m.text.expose().to_owned(),
                },
            )
        })
        .collect();
    if let Some(mailbox) = app.mail.demo_mailbox() {
        dated.extend(mailbox.all().into_iter().map(|m| {
            (
                m.at,
                Sent {
                    at: date_time(m.at),
                    kind: format!("Email: {}", m.subject),
                    to: m.to,
                    text: m.body,
                },
            )
        }));
    }
    dated.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let messages = dated.into_iter().map(|(_, s)| s).collect();
    render(&OutboxPage {
        chrome: public_chrome(&app),
        messages,
    })
}

#[derive(Template)]
#[template(path = "help.html")]
struct Help {
    chrome: Chrome,
}

/// `GET /help/mfa`: what two-step verification is, as the association
/// explains it.
pub async fn help(State(app): State<App>) -> Result<Response, PageError> {
    render(&Help {
        chrome: public_chrome(&app),
    })
}
