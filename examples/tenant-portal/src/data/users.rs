//! Residents, applicants and staff: accounts, passwords (Argon2id),
//! registration links and password-reset links.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::db::{Db, DbError};
use crate::util::{new_id, random_token};

/// What an account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A tenant.
    Resident,
    /// Someone applying for a home (registered through a link).
    Applicant,
    /// The contact team.
    Staff,
}

impl Role {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::Applicant => "applicant",
            Role::Staff => "staff",
        }
    }

    fn parse(s: &str) -> Role {
        match s {
            "staff" => Role::Staff,
            "applicant" => Role::Applicant,
            _ => Role::Resident,
        }
    }
}

/// An account.
#[derive(Clone, Debug)]
pub struct User {
    /// Id (also the MFA user id).
    pub id: String,
    /// Login email.
    pub email: String,
    /// Full name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Phone on file (contact details, not an MFA factor).
    pub phone: Option<String>,
    /// Home address.
    pub address: Option<String>,
    /// Tenancy reference.
    pub tenancy_ref: Option<String>,
    /// Whether a password is set (registration finished).
    pub has_password: bool,
}

const COLUMNS: &str = "id, email, name, role, phone, address, tenancy_ref, password_hash";

fn user(row: &AnyRow) -> Result<User, DbError> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: Role::parse(&row.try_get::<String, _>("role")?),
        phone: row.try_get("phone")?,
        address: row.try_get("address")?,
        tenancy_ref: row.try_get("tenancy_ref")?,
        has_password: row.try_get::<Option<String>, _>("password_hash")?.is_some(),
    })
}

/// SHA-256 of a high-entropy token, hex: tokens are stored only hashed.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Argon2id with OWASP's parameters.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
}

/// A hash of a password nobody has, verified for unknown emails so that a
/// wrong email takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

impl Db {
    /// Creates an account (seeding, registration invitations).
    pub async fn create_user(&self, u: &User, password: Option<&str>, now: i64) -> Result<(), DbError> {
        let hash = password.and_then(|p| hash_password(p).ok());
        self.exec(
            "INSERT INTO portal_users (id, email, name, role, phone, address, tenancy_ref, platform_group, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            |q| {
                q.bind(u.id.clone())
                    .bind(u.email.to_lowercase())
                    .bind(u.name.clone())
                    .bind(u.role.as_str())
                    .bind(u.phone.clone())
                    .bind(u.address.clone())
                    .bind(u.tenancy_ref.clone())
                    .bind(hash)
                    .bind(now)
            },
        )
        .await?;
        Ok(())
    }

    /// An account by id.
    pub async fn user(&self, id: &str) -> Result<Option<User>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM portal_users WHERE id = ?");
        self.row(&sql, |q| q.bind(id.to_owned()))
            .await?
            .as_ref()
            .map(user)
            .transpose()
    }

    /// Checks an email and password. Unknown emails cost the same Argon2id
    /// evaluation as known ones (no enumeration by timing).
    pub async fn check_password(&self, email: &str, password: &str) -> Result<Option<User>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM portal_users WHERE email = ?");
        let row = self.row(&sql, |q| q.bind(email.trim().to_lowercase())).await?;
        let stored: Option<String> = match &row {
            Some(r) => r.try_get("password_hash")?,
            None => None,
        };
        let hash = stored.as_deref().unwrap_or_else(|| dummy_hash());
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok();
        match row {
            Some(r) if ok && stored.is_some() => Ok(Some(user(&r)?)),
            _ => Ok(None),
        }
    }

    /// Sets a new password.
    pub async fn set_password(&self, user_id: &str, password: &str) -> Result<(), DbError> {
        let hash =
            hash_password(password).map_err(|e| DbError::Sqlx(sqlx::Error::Protocol(e.to_string())))?;
        self.exec(
            "UPDATE portal_users SET password_hash = ?, registration_token_hash = NULL, registration_expires_at = NULL WHERE id = ?",
            |q| q.bind(hash).bind(user_id.to_owned()),
        )
        .await?;
        Ok(())
    }

    /// Issues a registration link token for an account without a password.
    pub async fn issue_registration(&self, user_id: &str, now: i64, ttl_ms: i64) -> Result<String, DbError> {
        let token = random_token();
        self.exec(
            "UPDATE portal_users SET registration_token_hash = ?, registration_expires_at = ? WHERE id = ?",
            |q| {
                q.bind(token_hash(&token))
                    .bind(now + ttl_ms)
                    .bind(user_id.to_owned())
            },
        )
        .await?;
        Ok(token)
    }

    /// The account a live registration token belongs to.
    pub async fn registration_user(&self, token: &str, now: i64) -> Result<Option<User>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM portal_users WHERE registration_token_hash = ? AND registration_expires_at > ?"
        );
        self.row(&sql, |q| q.bind(token_hash(token)).bind(now))
            .await?
            .as_ref()
            .map(user)
            .transpose()
    }

    /// Issues a password-reset token (only for existing accounts; the caller
    /// answers the same either way).
    pub async fn issue_password_reset(
        &self,
        email: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Option<(User, String)>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM portal_users WHERE email = ?");
        let Some(u) = self
            .row(&sql, |q| q.bind(email.trim().to_lowercase()))
            .await?
            .as_ref()
            .map(user)
            .transpose()?
        else {
            return Ok(None);
        };
        let token = random_token();
        self.exec(
            "INSERT INTO portal_password_resets (token_hash, user_id, expires_at, used_at) VALUES (?, ?, ?, NULL)",
            |q| q.bind(token_hash(&token)).bind(u.id.clone()).bind(now + ttl_ms),
        )
        .await?;
        Ok(Some((u, token)))
    }

    /// Uses a password-reset token once: the account it was for, if live.
    pub async fn take_password_reset(&self, token: &str, now: i64) -> Result<Option<User>, DbError> {
        let hash = token_hash(token);
        let Some(row) = self
            .row(
                "SELECT user_id FROM portal_password_resets WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
                |q| q.bind(hash.clone()).bind(now),
            )
            .await?
        else {
            return Ok(None);
        };
        let user_id: String = row.try_get("user_id")?;
        let used = self
            .exec(
                "UPDATE portal_password_resets SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
                |q| q.bind(now).bind(hash),
            )
            .await?;
        if used != 1 {
            return Ok(None);
        }
        self.user(&user_id).await
    }

    /// Residents and applicants whose name, email or tenancy reference
    /// contains `needle` (staff search).
    pub async fn search_users(&self, needle: &str) -> Result<Vec<User>, DbError> {
        let like = format!("%{}%", needle.trim().to_lowercase().replace(['%', '_'], ""));
        let sql = format!(
            "SELECT {COLUMNS} FROM portal_users WHERE role <> 'staff' AND (LOWER(name) LIKE ? OR email LIKE ? OR LOWER(COALESCE(tenancy_ref, '')) LIKE ?) ORDER BY name LIMIT 50"
        );
        self.rows(&sql, |q| q.bind(like.clone()).bind(like.clone()).bind(like))
            .await?
            .iter()
            .map(user)
            .collect()
    }

    /// Whether any account exists (seed once).
    pub async fn has_users(&self) -> Result<bool, DbError> {
        Ok(self.count("SELECT COUNT(*) FROM portal_users", |q| q).await? > 0)
    }

    /// A new account id.
    pub fn new_user_id() -> String {
        new_id()
    }
}
