//! Demo data: residents, an applicant and a member of staff, with a rent
//! account, repairs, open appointment slots, documents, messages and an
//! application each, so every page has something to show.

use super::db::{Db, DbError};
use super::users::{Role, User};

/// A demo account, printed at start-up in demo mode.
#[derive(Clone, Debug)]
pub struct DemoAccount {
    /// Login email.
    pub email: &'static str,
    /// Password (demo only).
    pub password: Option<&'static str>,
    /// What the account shows off.
    pub note: &'static str,
}

/// The demo accounts.
pub const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount {
        email: "jo@example.org",
        password: Some("tenant-demo-1"),
        note: "resident, no MFA yet: enrols at first login",
    },
    DemoAccount {
        email: "sam@example.org",
        password: Some("tenant-demo-2"),
        note: "resident with SMS (+44 7700 900123) already set up",
    },
    DemoAccount {
        email: "staff@example.org",
        password: Some("staff-demo-1"),
        note: "contact team: staff console (authenticator app required)",
    },
    DemoAccount {
        email: "alex@example.org",
        password: None,
        note: "applicant: registers through the link printed below",
    },
];

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

fn midnight(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY)
}

fn person(id: &str, email: &str, name: &str, role: Role, phone: Option<&str>, tenancy: Option<&str>) -> User {
    User {
        id: id.to_owned(),
        email: email.to_owned(),
        name: name.to_owned(),
        role,
        phone: phone.map(str::to_owned),
        address: tenancy.map(|_| "Flat 3, 14 Orchard Row, Bristol BS1 4DJ".to_owned()),
        tenancy_ref: tenancy.map(str::to_owned),
        has_password: false,
    }
}

/// Seeds the database if it has no accounts. Returns the applicant's
/// registration token when it seeded.
pub async fn seed(db: &Db, now: i64) -> Result<Option<String>, DbError> {
    if db.has_users().await? {
        return Ok(None);
    }
    let users = [
        (
            person(
                "u-jo",
                "jo@example.org",
                "Jo Bloggs",
                Role::Resident,
                Some("07700 900456"),
                Some("TEN-10423"),
            ),
            Some("tenant-demo-1"),
        ),
        (
            person(
                "u-sam",
                "sam@example.org",
                "Sam Patel",
                Role::Resident,
                Some("+44 7700 900123"),
                Some("TEN-10877"),
            ),
            Some("tenant-demo-2"),
        ),
        (
            person(
                "u-staff",
                "staff@example.org",
                "Morgan Lee",
                Role::Staff,
                None,
                None,
            ),
            Some("staff-demo-1"),
        ),
        (
            person(
                "u-alex",
                "alex@example.org",
                "Alex Green",
                Role::Applicant,
                None,
                None,
            ),
            None,
        ),
    ];
    for (u, password) in &users {
        db.create_user(u, *password, now).await?;
    }

    let today = midnight(now);
    for resident in ["u-jo", "u-sam"] {
        for month in (0..6).rev() {
            let at = today - month * 30 * DAY;
            db.post_ledger(resident, at, "Rent and service charge", 45_217)
                .await?;
            if month > 0 || resident == "u-sam" {
                db.post_ledger(resident, at + 2 * DAY, "Payment received, thank you", -45_217)
                    .await?;
            }
        }
        db.add_document(
            resident,
            "tenancy",
            "Tenancy agreement",
            "Assured tenancy of Flat 3, 14 Orchard Row, from 1 April 2021. Rent is due monthly in advance.",
            today - 900 * DAY,
        )
        .await?;
        db.add_document(
            resident,
            "statement",
            "Rent statement (last quarter)",
            "Opening balance £0.00. Charges £1,356.51. Payments £1,356.51. Closing balance £0.00.",
            today - 30 * DAY,
        )
        .await?;
        db.add_document(
            resident,
            "epc",
            "Energy performance certificate",
            "Energy rating C (72). Valid until 2031.",
            today - 700 * DAY,
        )
        .await?;
        db.add_document(
            resident,
            "personal",
            "Your personal details",
            "Name, contact details and household members as held by Orchard Homes.",
            today - 10 * DAY,
        )
        .await?;
        db.add_message(resident, true, "Orchard Homes housing team", "Welcome to your tenant portal. You can message us here any time; we reply within two working days.", today - 20 * DAY).await?;
    }
    db.add_message(
        "u-jo",
        false,
        "Jo Bloggs",
        "Hello, is the bin collection day changing over the holidays?",
        today - 3 * DAY,
    )
    .await?;
    db.add_message(
        "u-jo",
        true,
        "Priya (housing team)",
        "Hi Jo, yes: collections move to Saturday for two weeks. We'll post a notice in the block too.",
        today - 2 * DAY,
    )
    .await?;

    for trade in ["plumbing", "electrical", "general"] {
        for day in 1..=14 {
            let d = today + day * DAY;
            // Weekdays only.
            if matches!((d / DAY + 4).rem_euclid(7), 0 | 6) {
                continue;
            }
            db.add_slot(trade, d + 8 * HOUR, d + 12 * HOUR).await?;
            db.add_slot(trade, d + 13 * HOUR, d + 17 * HOUR).await?;
        }
    }
    let repair = db
        .report_repair(
            "u-jo",
            "plumbing",
            "Dripping kitchen tap",
            "The hot tap drips constantly, even when fully closed.",
            now - 2 * DAY,
        )
        .await?;
    if let Some(first) = db.open_slots("plumbing", now).await?.into_iter().nth(1) {
        db.book_slot("u-jo", &repair, &first.id, now).await?;
    }

    db.add_application(
        "u-alex",
        "Two-bedroom home in Bristol (any area)",
        2,
        "Currently in temporary accommodation with my daughter.",
        "draft",
        now,
    )
    .await?;
    let token = db.issue_registration("u-alex", now, 30 * DAY).await?;
    Ok(Some(token))
}
