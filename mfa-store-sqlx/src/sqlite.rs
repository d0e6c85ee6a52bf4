//! SQLite backend.

use std::borrow::Cow;
use std::str::FromStr;
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
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use crate::common::{DbResult, LockMath, backend, migrate_error, ms};

/// The busy timeout set on every connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// [`MfaStore`] on SQLite: WAL journal, 5 s busy timeout, foreign keys on,
/// `BEGIN IMMEDIATE` for every read-then-write transaction.
///
/// ```
/// use mfa_core::{LockoutRules, MfaStore, Timestamp, UserId, Gate};
/// use mfa_store_sqlx::SqliteStore;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let store = SqliteStore::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// let user = UserId::new("alice")?;
/// let gate = store.reserve_attempt(&user, Timestamp::from_unix_secs(1_000), &LockoutRules::default()).await?;
/// assert_eq!(gate, Gate::Open { failures: 1 });
/// # Ok(())
/// # })
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it if missing, unless the URL sets `mode=`) the
    /// database at `url`: `sqlite://path/to/file.db`, `sqlite:file.db?mode=rwc`
    /// or `sqlite::memory:`. A file database gets a pool of up to 8
    /// connections in WAL mode; an in-memory one a single connection that is
    /// never recycled (its data lives as long as the store).
    pub async fn connect(url: &str) -> crate::Result<Self> {
        let mut options = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        if !url.contains("mode=") {
            options = options.create_if_missing(true);
        }
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = if memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
        } else {
            SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(
                    options
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal),
                )
                .await
        }
        .map_err(backend)?;
        Ok(SqliteStore { pool })
    }

    /// Wraps a pool the application configured itself. Give its connections
    /// a busy timeout (and, for files, WAL): see [`SqliteStore::connect`].
    pub fn from_pool(pool: SqlitePool) -> Self {
        SqliteStore { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Applies the embedded migrations (`migrations/sqlite`); running it
    /// again is a no-op.
    pub async fn migrate(&self) -> crate::Result<()> {
        let mut migrator = sqlx::migrate!("migrations/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await.map_err(migrate_error)
    }

    /// Row-lock suffix for a `SELECT` in a transaction (none: `BEGIN IMMEDIATE` holds the write lock).
    const FOR_UPDATE: &'static str = "";

    const ENSURE_USER: &'static str =
        "INSERT INTO mfa_users (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING";

    fn sql(s: &'static str) -> Cow<'static, str> {
        Cow::Borrowed(s)
    }

    /// `BEGIN IMMEDIATE`: the database write lock is taken first, so what
    /// the transaction reads cannot change before it writes.
    async fn begin_user(&self, user: &UserId) -> StoreResult<Transaction<'static, Sqlite>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.db()?;
        sqlx::query(Self::ENSURE_USER)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .db()?;
        Ok(tx)
    }

    async fn begin_send(
        &self,
        user: &UserId,
        _destination: &KeyedHash,
    ) -> StoreResult<Transaction<'static, Sqlite>> {
        self.begin_user(user).await
    }
}

impl_store! { SqliteStore, Sqlite;
    async fn reserve_attempt(&self, user: &UserId, now: Timestamp, rules: &LockoutRules) -> StoreResult<Gate> {
        let m = LockMath::new(rules, now);
        if m.hard <= 0 {
            return Ok(Gate::Locked { until: None });
        }
        for _ in 0..crate::common::RETRIES {
            // One statement: create the row on demand, or count the attempt
            // only while under the hard stop and outside the back-off; the
            // new lock is LockoutRules::lock_after (see LockMath).
            let row = sqlx::query(
                "INSERT INTO mfa_users (user_id, failures, locked_until) VALUES ($1, 1, $8) \
                 ON CONFLICT (user_id) DO UPDATE SET \
                   failures = mfa_users.failures + 1, \
                   locked_until = CASE WHEN mfa_users.failures + 1 > $3 \
                     THEN $2 + (CASE WHEN MIN(mfa_users.failures - $3, 30) >= $6 THEN $5 \
                                ELSE ($4 << MIN(mfa_users.failures - $3, 30)) END) \
                     ELSE NULL END \
                 WHERE mfa_users.failures < $7 \
                   AND (mfa_users.locked_until IS NULL OR mfa_users.locked_until <= $2) \
                 RETURNING failures",
            )
            .bind(user.as_str())
            .bind(m.now)
            .bind(m.free)
            .bind(m.base)
            .bind(m.max)
            .bind(m.ksat)
            .bind(m.hard)
            .bind(m.locked_until(1))
            .fetch_optional(&self.pool)
            .await
            .db()?;
            if let Some(row) = row {
                return Ok(Gate::Open {
                    failures: crate::common::to_u32(Self::int(&row, "failures")?, "failures")?,
                });
            }
            let row = sqlx::query("SELECT failures, locked_until FROM mfa_users WHERE user_id = $1")
                .bind(user.as_str())
                .fetch_optional(&self.pool)
                .await
                .db()?;
            if let Some(row) = row
                && let Some(gate) = m.refusal(Self::int(&row, "failures")?, Self::opt_int(&row, "locked_until")?)
            {
                return Ok(gate);
            }
        }
        Err(crate::common::contention("reserve_attempt"))
    }

    async fn take_attempt(
        &self,
        user: &UserId,
        id: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<AttemptOutcome> {
        let row = sqlx::query(concat!(
            "UPDATE mfa_challenges SET attempts = attempts + 1 \
             WHERE user_id = $1 AND id = $2 AND used_at IS NULL AND attempts < $3 AND expires_at > $4 \
             RETURNING ",
            challenge_cols!()
        ))
        .bind(user.as_str())
        .bind(id.as_str())
        .bind(i64::from(max_attempts))
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .db()?;
        if let Some(row) = row {
            return Ok(AttemptOutcome::Counted(Self::challenge_row(&row)?));
        }
        let row = sqlx::query("SELECT used_at, attempts, expires_at FROM mfa_challenges WHERE user_id = $1 AND id = $2")
            .bind(user.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .db()?;
        let seen = match row {
            Some(r) => Some((Self::opt_int(&r, "used_at")?, Self::int(&r, "attempts")?, Self::int(&r, "expires_at")?)),
            None => None,
        };
        Ok(crate::common::attempt_refusal(seen, ms(now), max_attempts))
    }
}
