//! MySQL / MariaDB backend.

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::store::{
    AttemptOutcome, ChallengeRecord, DeviceRecord, FactorRecord, RecoveryRecord, ReplaceOutcome, StoreResult,
    UserState,
};
use mfa_core::{
    ChallengeId, DeviceId, FactorId, Gate, KeyedHash, LockoutRules, MfaStore, Purpose, RecoveryId, Sealed,
    SendDecision, SendRules, Timestamp, UserId,
};
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::{MySql, Row, Transaction};

use mfa_core::rules::{AttemptRule, Reservation};

use crate::common::{DbResult, backend, migrate_error, ms, question_marks, to_u32, ts};

/// [`MfaStore`] on MySQL or MariaDB (InnoDB; tested on MariaDB 10.11). Several stores (app
/// servers) may share one database: every guarantee holds across them.
///
/// ```no_run
/// use mfa_store_sqlx::MySqlStore;
///
/// # async fn run() -> Result<(), mfa_core::StoreError> {
/// let store = MySqlStore::connect("mysql://app@localhost/app").await?;
/// store.migrate().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MySqlStore {
    pool: MySqlPool,
}

impl MySqlStore {
    /// Connects with a pool of up to 10 connections that are not pinged
    /// before each use (`test_before_acquire(false)`: a ping is one more
    /// round trip per statement; a connection the server dropped fails one
    /// call and is then replaced). Use [`Self::from_pool`] to choose
    /// otherwise.
    pub async fn connect(url: &str) -> crate::Result<Self> {
        let pool = MySqlPoolOptions::new()
            .max_connections(10)
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(backend)?;
        Ok(MySqlStore { pool })
    }

    /// Wraps a pool the application configured itself.
    pub fn from_pool(pool: MySqlPool) -> Self {
        MySqlStore { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Applies the embedded migrations (`migrations/mysql`) to the
    /// connection's database; running it again is a no-op.
    pub async fn migrate(&self) -> crate::Result<()> {
        let mut migrator = sqlx::migrate!("migrations/mysql");
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await.map_err(migrate_error)
    }

    /// Row-lock suffix for a `SELECT` in a transaction.
    const FOR_UPDATE: &'static str = " FOR UPDATE";

    const ENSURE_USER: &'static str = "INSERT IGNORE INTO mfa_users (user_id) VALUES (?)";

    fn sql(s: &'static str) -> Cow<'static, str> {
        Cow::Owned(question_marks(s))
    }

    /// A transaction holding the user's row lock. The row is created on
    /// demand *before* the transaction (an `INSERT IGNORE` inside it would
    /// take a shared lock that two transactions could then both try to
    /// upgrade: a deadlock); user rows are never deleted.
    async fn begin_user(&self, user: &UserId) -> StoreResult<Transaction<'static, MySql>> {
        self.ensure_user(user).await?;
        let mut tx = self.pool.begin().await.db()?;
        sqlx::query("SELECT user_id FROM mfa_users WHERE user_id = ? FOR UPDATE")
            .bind(user.as_str())
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        Ok(tx)
    }

    /// [`Self::begin_user`], then the destination's send lock too (user row
    /// first, like every other path).
    async fn begin_send(
        &self,
        user: &UserId,
        destination: &KeyedHash,
    ) -> StoreResult<Transaction<'static, MySql>> {
        sqlx::query("INSERT IGNORE INTO mfa_send_locks (destination) VALUES (?)")
            .bind(&destination.as_bytes()[..])
            .execute(&self.pool)
            .await
            .db()?;
        let mut tx = self.begin_user(user).await?;
        sqlx::query("SELECT destination FROM mfa_send_locks WHERE destination = ? FOR UPDATE")
            .bind(&destination.as_bytes()[..])
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        Ok(tx)
    }

    async fn reserve_tx(&self, user: &UserId, now: Timestamp, rules: &LockoutRules) -> StoreResult<Gate> {
        let mut tx = self.pool.begin().await.db()?;
        let row = sqlx::query("SELECT failures, locked_until FROM mfa_users WHERE user_id = ? FOR UPDATE")
            .bind(user.as_str())
            .fetch_one(&mut *tx)
            .await
            .db()?;
        let failures = to_u32(Self::int(&row, "failures")?, "failures")?;
        let locked_until = Self::opt_int(&row, "locked_until")?.map(ts);
        let decision = mfa_core::rules::reserve(failures, locked_until, now, rules);
        match decision {
            Reservation::Refused(_) => tx.rollback().await.db()?,
            Reservation::Counted {
                failures,
                locked_until,
            } => {
                sqlx::query("UPDATE mfa_users SET failures = ?, locked_until = ? WHERE user_id = ?")
                    .bind(i64::from(failures))
                    .bind(locked_until.map(ms))
                    .bind(user.as_str())
                    .execute(&mut *tx)
                    .await
                    .db()?;
                tx.commit().await.db()?;
            }
        }
        Ok(decision.gate())
    }

    async fn take_attempt_tx(
        &self,
        user: &UserId,
        id: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<AttemptOutcome> {
        let mut tx = self.pool.begin().await.db()?;
        let row = sqlx::query(concat!(
            "SELECT ",
            challenge_cols!(),
            " FROM mfa_challenges WHERE user_id = ? AND id = ? FOR UPDATE"
        ))
        .bind(user.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(row) = row else {
            tx.rollback().await.db()?;
            return Ok(AttemptOutcome::NotFound);
        };
        let mut challenge = Self::challenge_row(&row)?;
        let rule = mfa_core::rules::attempt(
            challenge.used_at.is_some(),
            challenge.attempts,
            challenge.expires_at,
            now,
            max_attempts,
        );
        if rule != AttemptRule::Count {
            tx.rollback().await.db()?;
            return Ok(match rule {
                AttemptRule::Expired => AttemptOutcome::Expired,
                _ => AttemptOutcome::Closed,
            });
        }
        sqlx::query("UPDATE mfa_challenges SET attempts = attempts + 1 WHERE id = ?")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .db()?;
        tx.commit().await.db()?;
        challenge.attempts += 1;
        Ok(AttemptOutcome::Counted(challenge))
    }
}

impl_store! { MySqlStore, MySql;
    async fn reserve_attempt(&self, user: &UserId, now: Timestamp, rules: &LockoutRules) -> StoreResult<Gate> {
        if rules.is_hard_stopped(0) {
            return Ok(Gate::Locked { until: None });
        }
        self.ensure_user(user).await?;
        retry!(self.reserve_tx(user, now, rules).await)
    }

    async fn take_attempt(
        &self,
        user: &UserId,
        id: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<AttemptOutcome> {
        retry!(self.take_attempt_tx(user, id, now, max_attempts).await)
    }
}
