//! The contact team's console: find a resident, reset their MFA (audited,
//! resident notified, sessions and devices revoked) or lift a lock, edit
//! the rollout policy, schedule forced logout waves by platform, read the
//! audit log. Staff sign in with MFA like everyone (authenticator app only,
//! per the demo policy) and confirm again before a reset or policy change.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use mfa_core::{Cohort, FactorKind, Platform, Policy, Timestamp, UserId};
use serde::Deserialize;

use super::{Chrome, CsrfForm, HasCsrf, LoggedIn, PageError, Plain, engine, render};
use crate::app::App;
use crate::data::users::Role;
use crate::util::date_time;

fn staff_only(me: &LoggedIn) -> Result<(), PageError> {
    if me.user.role == Role::Staff {
        Ok(())
    } else {
        Err(PageError::NotFound)
    }
}

struct Found {
    id: String,
    name: String,
    email: String,
    tenancy: String,
}

#[derive(Template)]
#[template(path = "staff_home.html")]
struct StaffHome {
    chrome: Chrome,
    q: String,
    found: Vec<Found>,
}

/// Search query.
#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

/// `GET /staff?q=…`.
pub async fn home(
    State(app): State<App>,
    me: LoggedIn,
    Query(s): Query<Search>,
) -> Result<Response, PageError> {
    staff_only(&me)?;
    let found = if s.q.trim().is_empty() {
        Vec::new()
    } else {
        app.db.search_users(&s.q).await?
    };
    render(&StaffHome {
        chrome: me.chrome,
        q: s.q,
        found: found
            .into_iter()
            .map(|u| Found {
                id: u.id,
                name: u.name,
                email: u.email,
                tenancy: u.tenancy_ref.unwrap_or_default(),
            })
            .collect(),
    })
}

#[derive(Template)]
#[template(path = "staff_resident.html")]
struct ResidentPage {
    chrome: Chrome,
    csrf: String,
    id: String,
    name: String,
    email: String,
    factors: Vec<String>,
    devices: usize,
    recovery_left: u32,
    locked: Option<String>,
    reenroll: bool,
    events: Vec<(String, String, String)>,
    notice: Option<String>,
}

async fn resident_page(
    app: &App,
    me: LoggedIn,
    id: &str,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let user = app
        .db
        .user(id)
        .await?
        .filter(|u| u.role != Role::Staff)
        .ok_or(PageError::NotFound)?;
    let uid = UserId::new(user.id.clone()).map_err(|_| PageError::NotFound)?;
    let status = engine(app)
        .status(&uid)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let events = app.db.audit_log(Some(&user.id), 30).await?;
    render(&ResidentPage {
        chrome: me.chrome,
        csrf: me.csrf,
        id: user.id,
        name: user.name,
        email: user.email,
        factors: status
            .factors
            .iter()
            .map(|f| match f.kind {
                FactorKind::Totp => format!("Authenticator app ({})", f.label),
                FactorKind::Sms => format!(
                    "Text message to {}",
                    f.masked_destination.clone().unwrap_or_default()
                ),
                FactorKind::Email => format!("Email to {}", f.masked_destination.clone().unwrap_or_default()),
                _ => format!("{} {}", f.kind, f.masked_destination.clone().unwrap_or_default()),
            })
            .collect(),
        devices: status.trusted_devices,
        recovery_left: status.recovery_codes_left,
        locked: status.locked.map(|u| match u {
            Some(t) => format!("until {}", date_time(t.unix_millis())),
            None => "until unlocked by staff".into(),
        }),
        reenroll: status.reenroll_required,
        events: events
            .into_iter()
            .map(|e| {
                (
                    date_time(e.at),
                    super::account::describe_event(&e.event).to_owned(),
                    e.actor.unwrap_or_default(),
                )
            })
            .collect(),
        notice,
    })
}

/// `GET /staff/residents/{id}`.
pub async fn resident(
    State(app): State<App>,
    me: LoggedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    staff_only(&me)?;
    resident_page(&app, me, &id, None).await
}

/// `POST /staff/residents/{id}/reset`: the contact team's MFA reset. The
/// member of staff never sees or chooses a secret.
pub async fn reset(
    State(app): State<App>,
    me: LoggedIn,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Plain>,
) -> Result<Response, PageError> {
    staff_only(&me)?;
    if !me.mfa.fresh {
        return Ok(Redirect::to(&format!("/account/confirm?next=/staff/residents/{id}")).into_response());
    }
    let user = app
        .db
        .user(&id)
        .await?
        .filter(|u| u.role != Role::Staff)
        .ok_or(PageError::NotFound)?;
    let uid = UserId::new(user.id.clone()).map_err(|_| PageError::NotFound)?;
    let actor = format!("{} (contact team)", me.user.name);
    engine(&app)
        .admin_reset(&uid, &actor)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    // The resident is emailed by the notice sink (notify.rs), like every
    // change to their sign-in settings.
    let msg = format!(
        "Two-step verification reset for {}. They were signed out everywhere and will set it up at their next login.",
        user.name
    );
    resident_page(&app, me, &id, Some(msg)).await
}

/// `POST /staff/residents/{id}/unlock`.
pub async fn unlock(
    State(app): State<App>,
    me: LoggedIn,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Plain>,
) -> Result<Response, PageError> {
    staff_only(&me)?;
    let uid = UserId::new(id.clone()).map_err(|_| PageError::NotFound)?;
    engine(&app)
        .admin_unlock(&uid, &format!("{} (contact team)", me.user.name))
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    resident_page(&app, me, &id, Some("Unlocked.".into())).await
}

#[derive(Template)]
#[template(path = "staff_policy.html")]
struct PolicyPage {
    chrome: Chrome,
    csrf: String,
    toml: String,
    enforce_from: String,
    waves: Vec<(String, String)>,
    error: Option<String>,
    notice: Option<String>,
}

fn waves(p: &Policy) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(c) = p.defaults.relogin_cutoff {
        out.push(("everyone else (web)".into(), date_time(c.unix_millis())));
    }
    for c in &p.cohorts {
        if let Some(t) = c.relogin_cutoff {
            out.push((c.name.clone(), date_time(t.unix_millis())));
        }
    }
    out
}

async fn policy_page(
    app: &App,
    me: LoggedIn,
    error: Option<String>,
    notice: Option<String>,
    text: Option<String>,
) -> Result<Response, PageError> {
    let p = engine(app).policy();
    render(&PolicyPage {
        chrome: me.chrome,
        csrf: me.csrf,
        toml: text.unwrap_or_else(|| p.to_toml().unwrap_or_default()),
        enforce_from: p.enforce_from.map(|t| t.to_rfc3339()).unwrap_or_default(),
        waves: waves(&p),
        error,
        notice,
    })
}

/// `GET /staff/policy`.
pub async fn policy(State(app): State<App>, me: LoggedIn) -> Result<Response, PageError> {
    staff_only(&me)?;
    policy_page(&app, me, None, None, None).await
}

async fn save(app: &App, me: LoggedIn, p: Policy, what: &str) -> Result<Response, PageError> {
    let text = p.to_toml().map_err(|e| PageError::Internal(e.to_string()))?;
    if let Err(e) = engine(app).set_policy(p) {
        return policy_page(app, me, Some(e.to_string()), None, Some(text)).await;
    }
    app.db.set_setting("policy", &text).await?;
    let at = engine(app).now().unix_millis();
    app.db
        .audit(at, &me.user.id, Some(&me.user.name), "policy_changed", what)
        .await?;
    policy_page(app, me, None, Some(format!("Saved: {what}.")), None).await
}

/// The policy text form.
#[derive(Deserialize)]
pub struct PolicyText {
    csrf: String,
    toml: String,
}

impl HasCsrf for PolicyText {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /staff/policy`: the whole policy as TOML, validated with clear
/// errors (enforcement date, grace, cohorts, methods, trust duration).
pub async fn save_policy(
    State(app): State<App>,
    me: LoggedIn,
    CsrfForm(f): CsrfForm<PolicyText>,
) -> Result<Response, PageError> {
    staff_only(&me)?;
    if !me.mfa.fresh {
        return Ok(Redirect::to("/account/confirm?next=/staff/policy").into_response());
    }
    match Policy::from_toml(&f.toml) {
        Ok(p) => save(&app, me, p, "rollout policy edited").await,
        Err(e) => policy_page(&app, me, Some(e.to_string()), None, Some(f.toml)).await,
    }
}

/// The logout-wave form.
#[derive(Deserialize)]
pub struct Wave {
    csrf: String,
    platform: String,
    /// `now`, or an RFC 3339 time.
    at: String,
}

impl HasCsrf for Wave {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Sets the re-login cut-off `at` for everyone on `platform`, whichever
/// cohort they are in (cohorts are first-match: a wave appended after the
/// staff cohort would never reach staff). A cohort for exactly `platform`
/// gets the cut-off; a cohort that also covers other platforms is split:
/// a copy for `platform` alone, with the same settings and the cut-off, is
/// put just before it (so staff on `platform` keep their methods and
/// trust rules, and staff elsewhere are not logged out). Everyone else on
/// `platform` (the defaults) gets a wave cohort at the end.
pub fn add_wave(p: &mut Policy, platform: &Platform, at: Timestamp) {
    let only = vec![platform.clone()];
    let mut cohorts: Vec<Cohort> = Vec::with_capacity(p.cohorts.len() + 2);
    for mut c in std::mem::take(&mut p.cohorts) {
        if c.platforms == only {
            c.relogin_cutoff = Some(at);
        } else if c.platforms.is_empty() || c.platforms.contains(platform) {
            // Already split by an earlier wave: that copy comes first and
            // has just been given the cut-off.
            let split = cohorts
                .iter()
                .any(|e| e.platforms == only && e.groups == c.groups);
            if !split {
                cohorts.push(Cohort {
                    name: format!("{}-{platform}-wave", c.name),
                    platforms: only.clone(),
                    relogin_cutoff: Some(at),
                    ..c.clone()
                });
            }
        }
        cohorts.push(c);
    }
    let everyone = cohorts.iter().any(|c| c.platforms == only && c.groups.is_empty());
    if !everyone {
        cohorts.push(Cohort {
            name: format!("{platform}-app-wave"),
            platforms: only,
            groups: Vec::new(),
            enforce_from: None,
            methods: None,
            trust_device: None,
            trust_for: None,
            relogin_cutoff: Some(at),
        });
    }
    p.cohorts = cohorts;
}

/// `POST /staff/policy/wave`: everyone on `platform` whose session started
/// before `at` is logged out once `at` has passed (web "that evening", apps
/// in stages).
pub async fn wave(
    State(app): State<App>,
    me: LoggedIn,
    CsrfForm(f): CsrfForm<Wave>,
) -> Result<Response, PageError> {
    staff_only(&me)?;
    if !me.mfa.fresh {
        return Ok(Redirect::to("/account/confirm?next=/staff/policy").into_response());
    }
    let platform = match Platform::new(&f.platform) {
        Ok(p) => p,
        Err(e) => return policy_page(&app, me, Some(e.to_string()), None, None).await,
    };
    let at = if f.at.trim() == "now" {
        engine(&app).now()
    } else {
        match Timestamp::parse_rfc3339(&f.at) {
            Ok(t) => t,
            Err(_) => {
                return policy_page(
                    &app,
                    me,
                    Some("Give the time as `now` or like 2026-08-22T00:00:00Z.".into()),
                    None,
                    None,
                )
                .await;
            }
        }
    };
    let mut p = (*engine(&app).policy()).clone();
    add_wave(&mut p, &platform, at);
    let what = format!("logout wave for {platform} at {}", at.to_rfc3339());
    save(&app, me, p, &what).await
}

#[derive(Template)]
#[template(path = "staff_audit.html")]
struct AuditPage {
    chrome: Chrome,
    rows: Vec<(String, String, String, String)>,
}

/// `GET /staff/audit`.
pub async fn audit(State(app): State<App>, me: LoggedIn) -> Result<Response, PageError> {
    staff_only(&me)?;
    let rows = app
        .db
        .audit_log(None, 200)
        .await?
        .into_iter()
        .map(|e| (date_time(e.at), e.user_id, e.event, e.actor.unwrap_or_default()))
        .collect();
    render(&AuditPage {
        chrome: me.chrome,
        rows,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use mfa_core::{Audience, FactorKind, Platform, Policy, Timestamp};

    use super::add_wave;

    #[test]
    fn a_wave_reaches_every_cohort_on_its_platform_and_no_other() {
        let text = format!(
            "{}\n[[cohorts]]\nname = \"apps\"\nplatforms = [\"ios\", \"web\"]\nmethods = [\"totp\", \"sms\"]\n",
            crate::app::DEMO_POLICY
        );
        let mut p = Policy::from_toml(&text).unwrap();
        let (t1, t2) = (
            Timestamp::from_unix_millis(1_780_000_000_000),
            Timestamp::from_unix_millis(1_780_000_600_000),
        );
        add_wave(&mut p, &Platform::WEB, t1);
        add_wave(&mut p, &Platform::WEB, t2);
        // Valid, and no cohort added twice.
        let p = Policy::from_toml(&p.to_toml().unwrap()).unwrap();
        let mut names: Vec<_> = p.cohorts.iter().map(|c| c.name.clone()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "{names:?}");

        let staff = |platform| Audience::new(platform).with_groups(["staff"]);
        let web = p.settings_for(&staff(Platform::WEB));
        assert_eq!(web.relogin_cutoff, Some(t2));
        assert_eq!(web.methods, vec![FactorKind::Totp]);
        assert!(!web.trust_device);
        assert_eq!(p.settings_for(&staff(Platform::IOS)).relogin_cutoff, None);
        assert_eq!(
            p.settings_for(&Audience::new(Platform::WEB)).relogin_cutoff,
            Some(t2)
        );
        assert_eq!(p.settings_for(&Audience::new(Platform::IOS)).relogin_cutoff, None);
        assert_eq!(
            p.settings_for(&Audience::new(Platform::ANDROID)).relogin_cutoff,
            None
        );
    }
}
