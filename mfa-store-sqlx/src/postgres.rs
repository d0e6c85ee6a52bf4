//! PostgreSQL backend.

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
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::common::{DbResult, LockMath, attempt_refusal, backend, contention, migrate_error, ms, to_u32};

/// The attempt upsert shared by the reserve statements: `$1` user, `$2`
/// now, `$3` free failures, `$4` base, `$5` max, `$6` saturation shift,
/// `$7` hard stop, `$8` the lock after a first failure. `up` returns the new
/// count only when the attempt was allowed; `cur` is the row as the
/// statement's snapshot saw it (to say why not).
macro_rules! reserve_ctes {
    () => {
        "up AS ( \
           INSERT INTO mfa_users AS u (user_id, failures, locked_until) VALUES ($1, 1, $8) \
           ON CONFLICT (user_id) DO UPDATE SET \
             failures = u.failures + 1, \
             locked_until = CASE WHEN u.failures + 1 > $3 \
               THEN $2 + (CASE WHEN LEAST(u.failures - $3, 30) >= $6 THEN $5 \
                          ELSE $4 << LEAST(u.failures - $3, 30)::int END) \
               ELSE NULL END \
           WHERE u.failures < $7 AND (u.locked_until IS NULL OR u.locked_until <= $2) \
           RETURNING u.failures AS new_failures \
         ), \
         cur AS ( \
           SELECT failures AS cur_failures, locked_until AS cur_locked_until \
           FROM mfa_users WHERE user_id = $1 \
         )"
    };
}

/// [`MfaStore`] on PostgreSQL. Several stores (app servers) may share one
/// database: every guarantee holds across them. A verification costs two
/// statements (see the crate docs).
///
/// ```no_run
/// use mfa_store_sqlx::PgStore;
///
/// # async fn run() -> Result<(), mfa_core::StoreError> {
/// let store = PgStore::connect("postgres://app@localhost/app").await?;
/// store.migrate().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects with a pool of up to 10 connections that are not pinged
    /// before each use (`test_before_acquire(false)`: a ping is one more
    /// round trip per statement; a connection the server dropped fails one
    /// call and is then replaced). Use [`Self::from_pool`] to choose
    /// otherwise.
    pub async fn connect(url: &str) -> crate::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(backend)?;
        Ok(PgStore { pool })
    }

    /// Wraps a pool the application configured itself (for instance with a
    /// `search_path` to keep the tables in their own schema).
    pub fn from_pool(pool: PgPool) -> Self {
        PgStore { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the embedded migrations (`migrations/postgres`) in the
    /// connection's current schema; running it again is a no-op.
    pub async fn migrate(&self) -> crate::Result<()> {
        let mut migrator = sqlx::migrate!("migrations/postgres");
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await.map_err(migrate_error)
    }

    /// Row-lock suffix for a `SELECT` in a transaction.
    const FOR_UPDATE: &'static str = " FOR UPDATE";

    const ENSURE_USER: &'static str =
        "INSERT INTO mfa_users (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING";

    fn sql(s: &'static str) -> Cow<'static, str> {
        Cow::Borrowed(s)
    }

    /// A transaction holding the user's row lock (the row created on demand).
    async fn begin_user(&self, user: &UserId) -> StoreResult<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await.db()?;
        sqlx::query(Self::ENSURE_USER)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query("SELECT 1 FROM mfa_users WHERE user_id = $1 FOR UPDATE")
            .bind(user.as_str())
            .execute(&mut *tx)
            .await
            .db()?;
        Ok(tx)
    }

    /// [`Self::begin_user`], then the destination's send lock too.
    async fn begin_send(
        &self,
        user: &UserId,
        destination: &KeyedHash,
    ) -> StoreResult<Transaction<'static, Postgres>> {
        let mut tx = self.begin_user(user).await?;
        sqlx::query(
            "INSERT INTO mfa_send_locks (destination) VALUES ($1) ON CONFLICT (destination) DO NOTHING",
        )
        .bind(&destination.as_bytes()[..])
        .execute(&mut *tx)
        .await
        .db()?;
        sqlx::query("SELECT 1 FROM mfa_send_locks WHERE destination = $1 FOR UPDATE")
            .bind(&destination.as_bytes()[..])
            .execute(&mut *tx)
            .await
            .db()?;
        Ok(tx)
    }

    /// The gate from a reserve statement's row, `None` when a race hid the
    /// reason (look again).
    fn gate(row: &PgRow, m: &LockMath) -> StoreResult<Option<Gate>> {
        if let Some(n) = Self::opt_int(row, "new_failures")? {
            return Ok(Some(Gate::Open {
                failures: to_u32(n, "failures")?,
            }));
        }
        match Self::opt_int(row, "cur_failures")? {
            Some(f) => Ok(m.refusal(f, Self::opt_int(row, "cur_locked_until")?)),
            None => Ok(None),
        }
    }

    /// Re-reads the account row after a refusal the snapshot could not
    /// explain.
    async fn reread(&self, user: &UserId, m: &LockMath) -> StoreResult<Option<Gate>> {
        let row = sqlx::query("SELECT failures, locked_until FROM mfa_users WHERE user_id = $1")
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await
            .db()?;
        match row {
            Some(r) => Ok(m.refusal(Self::int(&r, "failures")?, Self::opt_int(&r, "locked_until")?)),
            None => Ok(None),
        }
    }

    /// Reserve, and when open load the factor `factor` (if given): one
    /// statement.
    async fn reserve_with_factor(
        &self,
        user: &UserId,
        factor: Option<&FactorId>,
        now: Timestamp,
        rules: &LockoutRules,
    ) -> StoreResult<(Gate, Option<FactorRecord>)> {
        let m = LockMath::new(rules, now);
        if m.hard <= 0 {
            return Ok((Gate::Locked { until: None }, None));
        }
        for _ in 0..crate::common::RETRIES {
            let row = retry!(
                sqlx::query(concat!(
                    "WITH ",
                    reserve_ctes!(),
                    " SELECT up.new_failures, cur.cur_failures, cur.cur_locked_until, \
                   f.id, f.user_id, f.kind, f.label, f.state, f.secret, f.destination, f.masked, \
                   f.destination_key, f.last_step, f.created_at, f.confirmed_at, f.last_used_at \
                 FROM (SELECT 1) AS one \
                 LEFT JOIN up ON TRUE \
                 LEFT JOIN cur ON TRUE \
                 LEFT JOIN mfa_factors f ON up.new_failures IS NOT NULL AND f.user_id = $1 AND f.id = $9"
                ))
                .bind(user.as_str())
                .bind(m.now)
                .bind(m.free)
                .bind(m.base)
                .bind(m.max)
                .bind(m.ksat)
                .bind(m.hard)
                .bind(m.locked_until(1))
                .bind(factor.map(FactorId::as_str).unwrap_or(""))
                .fetch_one(&self.pool)
                .await
                .db()
            )?;
            let gate = match Self::gate(&row, &m)? {
                Some(g) => g,
                None => match self.reread(user, &m).await? {
                    Some(g) => g,
                    None => continue,
                },
            };
            let record = match (gate, Self::opt_text(&row, "id")?) {
                (Gate::Open { .. }, Some(_)) if factor.is_some() => Some(Self::factor_row(&row)?),
                _ => None,
            };
            return Ok((gate, record));
        }
        Err(contention("reserve_attempt"))
    }

    /// The outcome of a take-attempt statement's row (`c_*`: the challenge
    /// as the snapshot saw it; the rest: the counted challenge).
    fn attempt(row: &PgRow, now: Timestamp, max_attempts: u32) -> StoreResult<AttemptOutcome> {
        if Self::opt_text(row, "id")?.is_some() {
            return Ok(AttemptOutcome::Counted(Self::challenge_row(row)?));
        }
        let seen = match Self::opt_int(row, "c_attempts")? {
            Some(attempts) => Some((
                Self::opt_int(row, "c_used_at")?,
                attempts,
                Self::opt_int(row, "c_expires_at")?.unwrap_or(i64::MIN),
            )),
            None => None,
        };
        Ok(attempt_refusal(seen, ms(now), max_attempts))
    }
}

impl_store! { PgStore, Postgres;
    async fn reserve_attempt(&self, user: &UserId, now: Timestamp, rules: &LockoutRules) -> StoreResult<Gate> {
        Ok(self.reserve_with_factor(user, None, now, rules).await?.0)
    }

    async fn take_attempt(
        &self,
        user: &UserId,
        id: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<AttemptOutcome> {
        let row = retry!(sqlx::query(concat!(
            "WITH ch AS ( \
               UPDATE mfa_challenges SET attempts = attempts + 1 \
               WHERE user_id = $1 AND id = $2 AND used_at IS NULL AND attempts < $4 AND expires_at > $3 \
               RETURNING ",
            challenge_cols!(),
            " ), chc AS ( \
               SELECT used_at AS c_used_at, attempts AS c_attempts, expires_at AS c_expires_at \
               FROM mfa_challenges WHERE user_id = $1 AND id = $2 \
             ) \
             SELECT chc.*, ch.* FROM (SELECT 1) AS one LEFT JOIN ch ON TRUE LEFT JOIN chc ON TRUE"
        ))
        .bind(user.as_str())
        .bind(id.as_str())
        .bind(ms(now))
        .bind(i64::from(max_attempts))
        .fetch_one(&self.pool)
        .await
        .db())?;
        Self::attempt(&row, now, max_attempts)
    }

    async fn reserve_and_load_factor(
        &self,
        user: &UserId,
        factor: &FactorId,
        now: Timestamp,
        rules: &LockoutRules,
    ) -> StoreResult<(Gate, Option<FactorRecord>)> {
        self.reserve_with_factor(user, Some(factor), now, rules).await
    }

    async fn accept_totp_step(&self, user: &UserId, factor: &FactorId, step: u64, now: Timestamp) -> StoreResult<bool> {
        let step = crate::common::from_u64(step, "step")?;
        // One statement. The user row is locked first (as every other path
        // does), then the step advances only forward, and only then are the
        // failures cleared.
        let row = retry!(sqlx::query(
            "WITH lk AS (SELECT 1 FROM mfa_users WHERE user_id = $1 FOR UPDATE), \
             adv AS ( \
               UPDATE mfa_factors SET last_step = $3, last_used_at = $4 \
               WHERE user_id = $1 AND id = $2 AND (last_step IS NULL OR last_step < $3) \
                 AND (SELECT count(*) FROM lk) >= 0 \
               RETURNING 1 AS ok \
             ), \
             clr AS ( \
               UPDATE mfa_users SET failures = 0, locked_until = NULL \
               WHERE user_id = $1 AND EXISTS (SELECT 1 FROM adv) \
               RETURNING 1 AS ok \
             ) \
             SELECT EXISTS (SELECT 1 FROM adv) AS ok, (SELECT count(*) FROM clr) AS cleared",
        )
        .bind(user.as_str())
        .bind(factor.as_str())
        .bind(step)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await
        .db())?;
        row.try_get::<bool, _>("ok").db()
    }

    async fn reserve_and_take_attempt(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
        rules: &LockoutRules,
    ) -> StoreResult<(Gate, Option<AttemptOutcome>)> {
        let m = LockMath::new(rules, now);
        if m.hard <= 0 {
            return Ok((Gate::Locked { until: None }, None));
        }
        for _ in 0..crate::common::RETRIES {
            // One statement: the account attempt (user row first), then,
            // only if it was allowed, the challenge attempt.
            let row = retry!(sqlx::query(concat!(
                "WITH ",
                reserve_ctes!(),
                ", ch AS ( \
                   UPDATE mfa_challenges SET attempts = attempts + 1 \
                   WHERE user_id = $1 AND id = $9 AND used_at IS NULL AND attempts < $10 AND expires_at > $2 \
                     AND EXISTS (SELECT 1 FROM up) \
                   RETURNING ",
                challenge_cols!(),
                " ), chc AS ( \
                   SELECT used_at AS c_used_at, attempts AS c_attempts, expires_at AS c_expires_at \
                   FROM mfa_challenges WHERE user_id = $1 AND id = $9 \
                 ) \
                 SELECT up.new_failures, cur.cur_failures, cur.cur_locked_until, chc.*, ch.* \
                 FROM (SELECT 1) AS one \
                 LEFT JOIN up ON TRUE LEFT JOIN cur ON TRUE LEFT JOIN ch ON TRUE LEFT JOIN chc ON TRUE"
            ))
            .bind(user.as_str())
            .bind(m.now)
            .bind(m.free)
            .bind(m.base)
            .bind(m.max)
            .bind(m.ksat)
            .bind(m.hard)
            .bind(m.locked_until(1))
            .bind(challenge.as_str())
            .bind(i64::from(max_attempts))
            .fetch_one(&self.pool)
            .await
            .db())?;
            let gate = match Self::gate(&row, &m)? {
                Some(g) => g,
                None => match self.reread(user, &m).await? {
                    Some(g) => g,
                    None => continue,
                },
            };
            return match gate {
                Gate::Open { .. } => Ok((gate, Some(Self::attempt(&row, now, max_attempts)?))),
                Gate::Locked { .. } => Ok((gate, None)),
            };
        }
        Err(contention("reserve_and_take_attempt"))
    }

    async fn complete_challenge(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        factor: &FactorId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        // One statement: user row lock, mark used once, then clear the
        // failures and touch the factor only if this call used it.
        let row = retry!(sqlx::query(
            "WITH lk AS (SELECT 1 FROM mfa_users WHERE user_id = $1 FOR UPDATE), \
             used AS ( \
               UPDATE mfa_challenges SET used_at = $3 \
               WHERE user_id = $1 AND id = $2 AND used_at IS NULL AND (SELECT count(*) FROM lk) >= 0 \
                 AND EXISTS (SELECT 1 FROM mfa_factors f \
                             WHERE f.user_id = $1 AND f.id = mfa_challenges.factor_id) \
               RETURNING 1 AS ok \
             ), \
             clr AS ( \
               UPDATE mfa_users SET failures = 0, locked_until = NULL \
               WHERE user_id = $1 AND EXISTS (SELECT 1 FROM used) \
               RETURNING 1 AS ok \
             ), \
             tf AS ( \
               UPDATE mfa_factors SET last_used_at = $3 \
               WHERE user_id = $1 AND id = $4 AND EXISTS (SELECT 1 FROM used) \
               RETURNING 1 AS ok \
             ) \
             SELECT EXISTS (SELECT 1 FROM used) AS ok, \
                    (SELECT count(*) FROM clr) + (SELECT count(*) FROM tf) AS touched",
        )
        .bind(user.as_str())
        .bind(challenge.as_str())
        .bind(ms(now))
        .bind(factor.as_str())
        .fetch_one(&self.pool)
        .await
        .db())?;
        row.try_get::<bool, _>("ok").db()
    }
}
