//! The tenancy: rent ledger and payments, repairs with appointment slots,
//! documents, messages with the housing team, applications for a home, the
//! audit log and settings.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::db::{Db, DbError};
use crate::util::new_id;

/// One line of the rent account: charges are positive, payments negative.
#[derive(Clone, Debug)]
pub struct LedgerLine {
    /// When posted (unix ms).
    pub posted_at: i64,
    /// What it is.
    pub description: String,
    /// Amount in pence.
    pub amount_pence: i64,
}

/// A reported repair.
#[derive(Clone, Debug)]
pub struct Repair {
    /// Id.
    pub id: String,
    /// Plumbing, electrical, general.
    pub category: String,
    /// Short title.
    pub title: String,
    /// What is wrong.
    pub details: String,
    /// reported / booked / completed.
    pub status: String,
    /// When reported.
    pub reported_at: i64,
    /// The booked appointment, if any.
    pub slot: Option<Slot>,
}

/// An appointment slot for a trade.
#[derive(Clone, Debug)]
pub struct Slot {
    /// Id.
    pub id: String,
    /// Which trade.
    pub trade: String,
    /// Start (unix ms).
    pub starts_at: i64,
    /// End (unix ms).
    pub ends_at: i64,
}

/// A document.
#[derive(Clone, Debug)]
pub struct Document {
    /// Id.
    pub id: String,
    /// tenancy / statement / epc / personal.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Text.
    pub body: String,
    /// Issue date.
    pub issued_at: i64,
}

/// A message in a resident's conversation with the housing team.
#[derive(Clone, Debug)]
pub struct Message {
    /// From the team (not the resident).
    pub from_staff: bool,
    /// Who wrote it.
    pub author: String,
    /// Text.
    pub body: String,
    /// When.
    pub sent_at: i64,
}

/// An application for a home.
#[derive(Clone, Debug)]
pub struct Application {
    /// Id.
    pub id: String,
    /// Property or area applied for.
    pub property: String,
    /// Bedrooms needed.
    pub bedrooms: i64,
    /// draft / submitted / shortlisted / offered.
    pub status: String,
    /// Notes from the applicant.
    pub notes: String,
    /// When submitted.
    pub submitted_at: i64,
}

/// One audit-log entry.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    /// When.
    pub at: i64,
    /// Whose account.
    pub user_id: String,
    /// Who acted (staff name), if not the user.
    pub actor: Option<String>,
    /// Event name.
    pub event: String,
    /// Details (JSON, no secrets).
    pub detail: String,
}

fn slot(row: &AnyRow, prefix: &str) -> Result<Option<Slot>, DbError> {
    let id: Option<String> = row.try_get(format!("{prefix}id").as_str())?;
    Ok(match id {
        Some(id) => Some(Slot {
            id,
            trade: row.try_get(format!("{prefix}trade").as_str())?,
            starts_at: row.try_get(format!("{prefix}starts_at").as_str())?,
            ends_at: row.try_get(format!("{prefix}ends_at").as_str())?,
        }),
        None => None,
    })
}

impl Db {
    // ---- rent -------------------------------------------------------

    /// Adds a ledger line.
    pub async fn post_ledger(
        &self,
        user_id: &str,
        at: i64,
        description: &str,
        amount_pence: i64,
    ) -> Result<(), DbError> {
        self.exec(
            "INSERT INTO portal_rent_ledger (id, user_id, posted_at, description, amount_pence) VALUES (?, ?, ?, ?, ?)",
            |q| q.bind(new_id()).bind(user_id.to_owned()).bind(at).bind(description.to_owned()).bind(amount_pence),
        )
        .await?;
        Ok(())
    }

    /// The rent account, newest first.
    pub async fn ledger(&self, user_id: &str) -> Result<Vec<LedgerLine>, DbError> {
        self.rows(
            "SELECT posted_at, description, amount_pence FROM portal_rent_ledger WHERE user_id = ? ORDER BY posted_at DESC, id",
            |q| q.bind(user_id.to_owned()),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(LedgerLine {
                posted_at: r.try_get("posted_at")?,
                description: r.try_get("description")?,
                amount_pence: r.try_get("amount_pence")?,
            })
        })
        .collect()
    }

    /// Balance owed in pence (positive: arrears).
    pub async fn balance(&self, user_id: &str) -> Result<i64, DbError> {
        // SUM gives NUMERIC/DECIMAL on PostgreSQL and MySQL: cast back to a
        // 64-bit integer, in each dialect's spelling.
        let sql = match self.backend() {
            super::Backend::MySql => {
                "SELECT CAST(COALESCE(SUM(amount_pence), 0) AS SIGNED) FROM portal_rent_ledger WHERE user_id = ?"
            }
            _ => {
                "SELECT CAST(COALESCE(SUM(amount_pence), 0) AS BIGINT) FROM portal_rent_ledger WHERE user_id = ?"
            }
        };
        self.count(sql, |q| q.bind(user_id.to_owned())).await
    }

    // ---- repairs and appointments ------------------------------------

    /// Reports a repair.
    pub async fn report_repair(
        &self,
        user_id: &str,
        category: &str,
        title: &str,
        details: &str,
        now: i64,
    ) -> Result<String, DbError> {
        let id = new_id();
        self.exec(
            "INSERT INTO portal_repairs (id, user_id, category, title, details, status, reported_at) VALUES (?, ?, ?, ?, ?, 'reported', ?)",
            |q| {
                q.bind(id.clone())
                    .bind(user_id.to_owned())
                    .bind(category.to_owned())
                    .bind(title.to_owned())
                    .bind(details.to_owned())
                    .bind(now)
            },
        )
        .await?;
        Ok(id)
    }

    /// A resident's repairs with their appointments, newest first.
    pub async fn repairs(&self, user_id: &str) -> Result<Vec<Repair>, DbError> {
        self.rows(
            "SELECT r.id, r.category, r.title, r.details, r.status, r.reported_at, s.id AS s_id, s.trade AS s_trade, s.starts_at AS s_starts_at, s.ends_at AS s_ends_at FROM portal_repairs r LEFT JOIN portal_slots s ON s.repair_id = r.id WHERE r.user_id = ? ORDER BY r.reported_at DESC",
            |q| q.bind(user_id.to_owned()),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Repair {
                id: r.try_get("id")?,
                category: r.try_get("category")?,
                title: r.try_get("title")?,
                details: r.try_get("details")?,
                status: r.try_get("status")?,
                reported_at: r.try_get("reported_at")?,
                slot: slot(r, "s_")?,
            })
        })
        .collect()
    }

    /// One repair of the resident.
    pub async fn repair(&self, user_id: &str, repair_id: &str) -> Result<Option<Repair>, DbError> {
        Ok(self
            .repairs(user_id)
            .await?
            .into_iter()
            .find(|r| r.id == repair_id))
    }

    /// Open slots for a trade after `now`, soonest first.
    pub async fn open_slots(&self, trade: &str, now: i64) -> Result<Vec<Slot>, DbError> {
        self.rows(
            "SELECT id, trade, starts_at, ends_at FROM portal_slots WHERE trade = ? AND repair_id IS NULL AND starts_at > ? ORDER BY starts_at LIMIT 20",
            |q| q.bind(trade.to_owned()).bind(now),
        )
        .await?
        .iter()
        .map(|r| Ok(slot(r, "")?.ok_or(sqlx::Error::RowNotFound)?))
        .collect()
    }

    /// Adds an open slot.
    pub async fn add_slot(&self, trade: &str, starts_at: i64, ends_at: i64) -> Result<(), DbError> {
        self.exec(
            "INSERT INTO portal_slots (id, trade, starts_at, ends_at, repair_id) VALUES (?, ?, ?, ?, NULL)",
            |q| {
                q.bind(new_id())
                    .bind(trade.to_owned())
                    .bind(starts_at)
                    .bind(ends_at)
            },
        )
        .await?;
        Ok(())
    }

    /// Books `slot_id` for the resident's repair, releasing any slot it had
    /// (reschedule). The slot is taken atomically: if someone else took it
    /// first, nothing changes and `false` is returned.
    pub async fn book_slot(
        &self,
        user_id: &str,
        repair_id: &str,
        slot_id: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let Some(repair) = self.repair(user_id, repair_id).await? else {
            return Ok(false);
        };
        if repair.status == "completed" {
            return Ok(false);
        }
        let mut tx = self.pool().begin().await?;
        let take = self.sql(
            "UPDATE portal_slots SET repair_id = ? WHERE id = ? AND repair_id IS NULL AND trade = ? AND starts_at > ?",
        );
        let taken = sqlx::query(&take)
            .bind(repair_id.to_owned())
            .bind(slot_id.to_owned())
            .bind(repair.category.clone())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if taken != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let release = self.sql("UPDATE portal_slots SET repair_id = NULL WHERE repair_id = ? AND id <> ?");
        sqlx::query(&release)
            .bind(repair_id.to_owned())
            .bind(slot_id.to_owned())
            .execute(&mut *tx)
            .await?;
        let status = self.sql("UPDATE portal_repairs SET status = 'booked' WHERE id = ?");
        sqlx::query(&status)
            .bind(repair_id.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    // ---- documents ----------------------------------------------------

    /// Adds a document.
    pub async fn add_document(
        &self,
        user_id: &str,
        kind: &str,
        title: &str,
        body: &str,
        at: i64,
    ) -> Result<(), DbError> {
        self.exec(
            "INSERT INTO portal_documents (id, user_id, kind, title, body, issued_at) VALUES (?, ?, ?, ?, ?, ?)",
            |q| {
                q.bind(new_id())
                    .bind(user_id.to_owned())
                    .bind(kind.to_owned())
                    .bind(title.to_owned())
                    .bind(body.to_owned())
                    .bind(at)
            },
        )
        .await?;
        Ok(())
    }

    /// A resident's documents, newest first.
    pub async fn documents(&self, user_id: &str) -> Result<Vec<Document>, DbError> {
        self.rows(
            "SELECT id, kind, title, body, issued_at FROM portal_documents WHERE user_id = ? ORDER BY issued_at DESC",
            |q| q.bind(user_id.to_owned()),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Document {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
                issued_at: r.try_get("issued_at")?,
            })
        })
        .collect()
    }

    // ---- messages -----------------------------------------------------

    /// Adds a message to the resident's conversation.
    pub async fn add_message(
        &self,
        user_id: &str,
        from_staff: bool,
        author: &str,
        body: &str,
        at: i64,
    ) -> Result<(), DbError> {
        self.exec(
            "INSERT INTO portal_messages (id, user_id, from_staff, author, body, sent_at) VALUES (?, ?, ?, ?, ?, ?)",
            |q| {
                q.bind(new_id())
                    .bind(user_id.to_owned())
                    .bind(i64::from(from_staff))
                    .bind(author.to_owned())
                    .bind(body.to_owned())
                    .bind(at)
            },
        )
        .await?;
        Ok(())
    }

    /// The conversation, oldest first.
    pub async fn messages(&self, user_id: &str) -> Result<Vec<Message>, DbError> {
        self.rows(
            "SELECT from_staff, author, body, sent_at FROM portal_messages WHERE user_id = ? ORDER BY sent_at, id",
            |q| q.bind(user_id.to_owned()),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Message {
                from_staff: r.try_get::<i64, _>("from_staff")? != 0,
                author: r.try_get("author")?,
                body: r.try_get("body")?,
                sent_at: r.try_get("sent_at")?,
            })
        })
        .collect()
    }

    // ---- applications ----------------------------------------------------

    /// Submits an application for a home.
    pub async fn add_application(
        &self,
        user_id: &str,
        property: &str,
        bedrooms: i64,
        notes: &str,
        status: &str,
        now: i64,
    ) -> Result<(), DbError> {
        self.exec(
            "INSERT INTO portal_applications (id, user_id, property, bedrooms, status, notes, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            |q| {
                q.bind(new_id())
                    .bind(user_id.to_owned())
                    .bind(property.to_owned())
                    .bind(bedrooms)
                    .bind(status.to_owned())
                    .bind(notes.to_owned())
                    .bind(now)
            },
        )
        .await?;
        Ok(())
    }

    /// A user's applications, newest first.
    pub async fn applications(&self, user_id: &str) -> Result<Vec<Application>, DbError> {
        self.rows(
            "SELECT id, property, bedrooms, status, notes, submitted_at FROM portal_applications WHERE user_id = ? ORDER BY submitted_at DESC",
            |q| q.bind(user_id.to_owned()),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Application {
                id: r.try_get("id")?,
                property: r.try_get("property")?,
                bedrooms: r.try_get("bedrooms")?,
                status: r.try_get("status")?,
                notes: r.try_get("notes")?,
                submitted_at: r.try_get("submitted_at")?,
            })
        })
        .collect()
    }

    // ---- audit log and settings ------------------------------------------

    /// Appends to the audit log.
    pub async fn audit(
        &self,
        at: i64,
        user_id: &str,
        actor: Option<&str>,
        event: &str,
        detail: &str,
    ) -> Result<(), DbError> {
        self.exec(
            "INSERT INTO portal_audit (id, at, user_id, actor, event, detail) VALUES (?, ?, ?, ?, ?, ?)",
            |q| {
                q.bind(new_id())
                    .bind(at)
                    .bind(user_id.to_owned())
                    .bind(actor.map(str::to_owned))
                    .bind(event.to_owned())
                    .bind(detail.to_owned())
            },
        )
        .await?;
        Ok(())
    }

    /// Recent audit entries, newest first; one user's, or everyone's.
    pub async fn audit_log(&self, user_id: Option<&str>, limit: i64) -> Result<Vec<AuditEntry>, DbError> {
        let rows = match user_id {
            Some(u) => {
                self.rows(
                    "SELECT at, user_id, actor, event, detail FROM portal_audit WHERE user_id = ? ORDER BY at DESC LIMIT ?",
                    |q| q.bind(u.to_owned()).bind(limit),
                )
                .await?
            }
            None => {
                self.rows(
                    "SELECT at, user_id, actor, event, detail FROM portal_audit ORDER BY at DESC LIMIT ?",
                    |q| q.bind(limit),
                )
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: r.try_get("at")?,
                    user_id: r.try_get("user_id")?,
                    actor: r.try_get("actor")?,
                    event: r.try_get("event")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// A stored setting (e.g. the rollout policy as TOML).
    pub async fn setting(&self, name: &str) -> Result<Option<String>, DbError> {
        match self
            .row("SELECT value FROM portal_settings WHERE name = ?", |q| {
                q.bind(name.to_owned())
            })
            .await?
        {
            Some(r) => Ok(Some(r.try_get("value")?)),
            None => Ok(None),
        }
    }

    /// Stores a setting.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), DbError> {
        let mut tx = self.pool().begin().await?;
        let delete = self.sql("DELETE FROM portal_settings WHERE name = ?");
        sqlx::query(&delete)
            .bind(name.to_owned())
            .execute(&mut *tx)
            .await?;
        let insert = self.sql("INSERT INTO portal_settings (name, value) VALUES (?, ?)");
        sqlx::query(&insert)
            .bind(name.to_owned())
            .bind(value.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
