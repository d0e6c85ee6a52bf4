//! The tenancy pages: repairs and appointments (book, reschedule), documents,
//! messages with the housing team, applications for a home, and payments
//! (which need a fresh second factor).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, CsrfForm, HasCsrf, LoggedIn, PageError, engine, render};
use crate::app::App;
use crate::util::{date, date_time, money};

const TRADES: [(&str, &str); 3] = [
    ("plumbing", "Plumbing (leaks, taps, toilets, heating water)"),
    ("electrical", "Electrical (sockets, lights, fuse box)"),
    ("general", "General (doors, windows, damp, other)"),
];

struct RepairRow {
    id: String,
    title: String,
    category: String,
    status: String,
    reported: String,
    appointment: Option<String>,
}

#[derive(Template)]
#[template(path = "repairs.html")]
struct RepairsPage {
    chrome: Chrome,
    csrf: String,
    repairs: Vec<RepairRow>,
    trades: Vec<(&'static str, &'static str)>,
    error: Option<String>,
}

fn now_ms(app: &App) -> i64 {
    engine(app).now().unix_millis()
}

async fn repairs_page(app: &App, me: LoggedIn, error: Option<String>) -> Result<Response, PageError> {
    let repairs = app.db.repairs(&me.user.id).await?;
    render(&RepairsPage {
        chrome: me.chrome,
        csrf: me.csrf,
        repairs: repairs
            .into_iter()
            .map(|r| RepairRow {
                id: r.id,
                title: r.title,
                category: r.category,
                status: r.status,
                reported: date(r.reported_at),
                appointment: r.slot.map(|s| date_time(s.starts_at)),
            })
            .collect(),
        trades: TRADES.to_vec(),
        error,
    })
}

/// `GET /repairs`.
pub async fn repairs(State(app): State<App>, me: LoggedIn) -> Result<Response, PageError> {
    repairs_page(&app, me, None).await
}

/// The report form.
#[derive(Deserialize)]
pub struct ReportForm {
    csrf: String,
    category: String,
    title: String,
    details: String,
}

impl HasCsrf for ReportForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /repairs`: report, then choose an appointment.
pub async fn report(
    State(app): State<App>,
    me: LoggedIn,
    CsrfForm(f): CsrfForm<ReportForm>,
) -> Result<Response, PageError> {
    let title = f.title.trim();
    if !TRADES.iter().any(|(t, _)| *t == f.category)
        || title.is_empty()
        || title.len() > 120
        || f.details.len() > 4000
    {
        return repairs_page(
            &app,
            me,
            Some("Choose a type of repair and describe it in a few words.".into()),
        )
        .await;
    }
    let id = app
        .db
        .report_repair(&me.user.id, &f.category, title, f.details.trim(), now_ms(&app))
        .await?;
    Ok(Redirect::to(&format!("/repairs/{id}")).into_response())
}

#[derive(Template)]
#[template(path = "repair.html")]
struct RepairPage {
    chrome: Chrome,
    csrf: String,
    id: String,
    title: String,
    details: String,
    status: String,
    appointment: Option<String>,
    slots: Vec<(String, String)>,
    notice: Option<String>,
}

async fn repair_page(
    app: &App,
    me: LoggedIn,
    id: &str,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let r = app.db.repair(&me.user.id, id).await?.ok_or(PageError::NotFound)?;
    let slots = app
        .db
        .open_slots(&r.category, now_ms(app))
        .await?
        .into_iter()
        .map(|s| {
            (
                s.id,
                format!(
                    "{} to {}",
                    date_time(s.starts_at),
                    &date_time(s.ends_at)[date_time(s.ends_at).len().saturating_sub(5)..]
                ),
            )
        })
        .collect();
    render(&RepairPage {
        chrome: me.chrome,
        csrf: me.csrf,
        id: r.id,
        title: r.title,
        details: r.details,
        status: r.status,
        appointment: r.slot.map(|s| date_time(s.starts_at)),
        slots,
        notice,
    })
}

/// `GET /repairs/{id}`: details, and open slots to book or reschedule.
pub async fn repair(
    State(app): State<App>,
    me: LoggedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    repair_page(&app, me, &id, None).await
}

/// The booking form.
#[derive(Deserialize)]
pub struct BookForm {
    csrf: String,
    slot: String,
}

impl HasCsrf for BookForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /repairs/{id}/book`: book or reschedule (the slot is taken
/// atomically; the old one is released).
pub async fn book(
    State(app): State<App>,
    me: LoggedIn,
    Path(id): Path<String>,
    CsrfForm(f): CsrfForm<BookForm>,
) -> Result<Response, PageError> {
    let ok = app.db.book_slot(&me.user.id, &id, &f.slot, now_ms(&app)).await?;
    let notice = if ok {
        "Your appointment is booked. We'll text you the day before."
    } else {
        "Sorry, that slot has just been taken. Please choose another."
    };
    repair_page(&app, me, &id, Some(notice.into())).await
}

struct DocRow {
    id: String,
    kind: String,
    title: String,
    issued: String,
}

#[derive(Template)]
#[template(path = "documents.html")]
struct DocumentsPage {
    chrome: Chrome,
    documents: Vec<DocRow>,
}

fn kind_name(kind: &str) -> String {
    match kind {
        "tenancy" => "Tenancy agreement",
        "statement" => "Rent statement",
        "epc" => "Energy performance certificate",
        "personal" => "Personal information",
        _ => "Document",
    }
    .to_owned()
}

/// `GET /documents`.
pub async fn documents(State(app): State<App>, me: LoggedIn) -> Result<Response, PageError> {
    let docs = app.db.documents(&me.user.id).await?;
    render(&DocumentsPage {
        chrome: me.chrome,
        documents: docs
            .into_iter()
            .map(|d| DocRow {
                id: d.id,
                kind: kind_name(&d.kind),
                title: d.title,
                issued: date(d.issued_at),
            })
            .collect(),
    })
}

#[derive(Template)]
#[template(path = "document.html")]
struct DocumentPage {
    chrome: Chrome,
    title: String,
    kind: String,
    issued: String,
    body: String,
}

/// `GET /documents/{id}`: only the resident's own.
pub async fn document(
    State(app): State<App>,
    me: LoggedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let d = app
        .db
        .documents(&me.user.id)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or(PageError::NotFound)?;
    render(&DocumentPage {
        chrome: me.chrome,
        title: d.title,
        kind: kind_name(&d.kind),
        issued: date(d.issued_at),
        body: d.body,
    })
}

struct MessageRow {
    mine: bool,
    author: String,
    at: String,
    body: String,
}

#[derive(Template)]
#[template(path = "messages.html")]
struct MessagesPage {
    chrome: Chrome,
    csrf: String,
    messages: Vec<MessageRow>,
    notice: Option<String>,
}

async fn messages_page(app: &App, me: LoggedIn, notice: Option<String>) -> Result<Response, PageError> {
    let msgs = app.db.messages(&me.user.id).await?;
    render(&MessagesPage {
        chrome: me.chrome,
        csrf: me.csrf,
        messages: msgs
            .into_iter()
            .map(|m| MessageRow {
                mine: !m.from_staff,
                author: m.author,
                at: date_time(m.sent_at),
                body: m.body,
            })
            .collect(),
        notice,
    })
}

/// `GET /messages`.
pub async fn messages(State(app): State<App>, me: LoggedIn) -> Result<Response, PageError> {
    messages_page(&app, me, None).await
}

/// The message form.
#[derive(Deserialize)]
pub struct MessageForm {
    csrf: String,
    body: String,
}

impl HasCsrf for MessageForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /messages`.
pub async fn send_message(
    State(app): State<App>,
    me: LoggedIn,
    CsrfForm(f): CsrfForm<MessageForm>,
) -> Result<Response, PageError> {
    let body = f.body.trim();
    if body.is_empty() || body.len() > 4000 {
        return messages_page(
            &app,
            me,
            Some("Write a message of up to 4,000 characters.".into()),
        )
        .await;
    }
    app.db
        .add_message(&me.user.id, false, &me.user.name, body, now_ms(&app))
        .await?;
    messages_page(&app, me, Some("Sent. We reply within two working days.".into())).await
}

struct ApplicationRow {
    property: String,
    bedrooms: i64,
    status: String,
    submitted: String,
}

#[derive(Template)]
#[template(path = "applications.html")]
struct ApplicationsPage {
    chrome: Chrome,
    csrf: String,
    applications: Vec<ApplicationRow>,
    notice: Option<String>,
}

async fn applications_page(app: &App, me: LoggedIn, notice: Option<String>) -> Result<Response, PageError> {
    let apps = app.db.applications(&me.user.id).await?;
    render(&ApplicationsPage {
        chrome: me.chrome,
        csrf: me.csrf,
        applications: apps
            .into_iter()
            .map(|a| ApplicationRow {
                property: a.property,
                bedrooms: a.bedrooms,
                status: a.status,
                submitted: date(a.submitted_at),
            })
            .collect(),
        notice,
    })
}

/// `GET /applications`.
pub async fn applications(State(app): State<App>, me: LoggedIn) -> Result<Response, PageError> {
    applications_page(&app, me, None).await
}

/// The application form.
#[derive(Deserialize)]
pub struct ApplicationForm {
    csrf: String,
    property: String,
    bedrooms: i64,
    #[serde(default)]
    notes: String,
}

impl HasCsrf for ApplicationForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /applications`.
pub async fn apply(
    State(app): State<App>,
    me: LoggedIn,
    CsrfForm(f): CsrfForm<ApplicationForm>,
) -> Result<Response, PageError> {
    let property = f.property.trim();
    if property.is_empty() || property.len() > 200 || !(0..=6).contains(&f.bedrooms) || f.notes.len() > 4000 {
        return applications_page(
            &app,
            me,
            Some("Say where you'd like to live and how many bedrooms you need (0 to 6).".into()),
        )
        .await;
    }
    app.db
        .add_application(
            &me.user.id,
            property,
            f.bedrooms,
            f.notes.trim(),
            "submitted",
            now_ms(&app),
        )
        .await?;
    applications_page(&app, me, Some("Application submitted. We'll be in touch.".into())).await
}

#[derive(Template)]
#[template(path = "pay.html")]
struct PayPage {
    chrome: Chrome,
    csrf: String,
    balance: String,
    error: Option<String>,
    notice: Option<String>,
}

/// `GET /rent/pay`: needs a fresh second factor (a trusted device is not
/// enough).
pub async fn pay_page(State(app): State<App>, me: LoggedIn) -> Result<Response, PageError> {
    if !me.mfa.fresh {
        return Ok(Redirect::to("/account/confirm?next=/rent/pay").into_response());
    }
    let balance = app.db.balance(&me.user.id).await?;
    render(&PayPage {
        chrome: me.chrome,
        csrf: me.csrf,
        balance: money(balance.max(0)),
        error: None,
        notice: None,
    })
}

/// The payment form.
#[derive(Deserialize)]
pub struct PayForm {
    csrf: String,
    amount: String,
}

impl HasCsrf for PayForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn pence(amount: &str) -> Option<i64> {
    let a = amount.trim().trim_start_matches('£');
    let (pounds, p) = a.split_once('.').unwrap_or((a, "0"));
    if pounds.is_empty()
        || !pounds.bytes().all(|b| b.is_ascii_digit())
        || p.len() > 2
        || !p.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let pounds: i64 = pounds.parse().ok()?;
    let p: i64 = format!("{p:0<2}").parse().ok()?;
    pounds.checked_mul(100)?.checked_add(p)
}

/// `POST /rent/pay`: a demo payment (no card processor), after step-up.
pub async fn pay(
    State(app): State<App>,
    me: LoggedIn,
    CsrfForm(f): CsrfForm<PayForm>,
) -> Result<Response, PageError> {
    if !me.mfa.fresh {
        return Ok(Redirect::to("/account/confirm?next=/rent/pay").into_response());
    }
    let Some(amount) = pence(&f.amount).filter(|p| (100..=500_000).contains(p)) else {
        let balance = app.db.balance(&me.user.id).await?;
        return render(&PayPage {
            chrome: me.chrome,
            csrf: me.csrf,
            balance: money(balance.max(0)),
            error: Some("Enter an amount between £1.00 and £5,000.00, like 452.17.".into()),
            notice: None,
        });
    };
    app.db
        .post_ledger(&me.user.id, now_ms(&app), "Online payment, thank you", -amount)
        .await?;
    let balance = app.db.balance(&me.user.id).await?;
    render(&PayPage {
        chrome: me.chrome,
        csrf: me.csrf,
        balance: money(balance.max(0)),
        error: None,
        notice: Some(format!("Thank you: we've received {}.", money(amount))),
    })
}

#[cfg(test)]
mod tests {
    use super::pence;

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(pence("452.17"), Some(45217));
        assert_eq!(pence("£5"), Some(500));
        assert_eq!(pence("5.5"), Some(550));
        for bad in ["", "-1", "1.234", "1e3", "abc", "1,000"] {
            assert_eq!(pence(bad), None, "{bad}");
        }
    }
}
