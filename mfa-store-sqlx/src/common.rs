//! What the backends share: error mapping, conversions, the lock-out
//! arithmetic the SQL mirrors, and (as a macro expanded per backend) every
//! method whose SQL is the same on all three.

use std::fmt::Display;
use std::time::Duration;

use mfa_core::rules;
use mfa_core::store::StoreResult;
use mfa_core::{FactorKind, FactorState, Gate, KeyedHash, LockoutRules, Purpose, StoreError, Timestamp};

/// How many times a transaction that hit a deadlock or serialization
/// failure is run again.
pub(crate) const RETRIES: u32 = 8;

/// sqlx results into store results.
pub(crate) trait DbResult<T> {
    /// Maps the error into [`StoreError::Backend`].
    fn db(self) -> StoreResult<T>;
    /// Maps a unique violation into [`StoreError::Conflict`], anything else
    /// into [`StoreError::Backend`].
    fn unique(self, what: &'static str) -> StoreResult<T>;
}

impl<T> DbResult<T> for Result<T, sqlx::Error> {
    fn db(self) -> StoreResult<T> {
        self.map_err(backend)
    }
    fn unique(self, what: &'static str) -> StoreResult<T> {
        self.map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what),
            _ => backend(e),
        })
    }
}

/// Any sqlx error as a backend error.
pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Migration errors as backend errors.
pub(crate) fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// A deadlock, serialization failure or busy database: the transaction was
/// rolled back as a whole and may be run again.
pub(crate) fn is_retryable(e: &StoreError) -> bool {
    let StoreError::Backend(b) = e else {
        return false;
    };
    match b.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(d)) => matches!(
            d.code().as_deref(),
            // PostgreSQL serialization failure / deadlock; MySQL deadlock
            // (SQLSTATE 40001) ; SQLite BUSY, BUSY_RECOVERY, BUSY_SNAPSHOT, LOCKED.
            Some("40001" | "40P01" | "5" | "261" | "517" | "6")
        ),
        _ => false,
    }
}

/// Runs an async expression again while it fails with a retryable error.
macro_rules! retry {
    ($e:expr) => {{
        let mut tries = 0u32;
        loop {
            match $e {
                Err(err) if tries < $crate::common::RETRIES && $crate::common::is_retryable(&err) => {
                    tries += 1;
                    ::tracing::debug!(tries, error = %err, "mfa-store-sqlx: retrying transaction");
                }
                other => break other,
            }
        }
    }};
}

/// An atomic step kept losing races to concurrent writers.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
#[derive(Debug, thiserror::Error)]
#[error("{0}: gave up after repeated contention")]
pub(crate) struct Contention(pub &'static str);

/// The error for [`Contention`].
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn contention(what: &'static str) -> StoreError {
    StoreError::Backend(Box::new(Contention(what)))
}

/// A row that does not decode.
pub(crate) fn corrupt(what: &str, e: impl Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Milliseconds of a timestamp.
pub(crate) fn ms(t: Timestamp) -> i64 {
    t.unix_millis()
}

/// A timestamp from stored milliseconds.
pub(crate) fn ts(v: i64) -> Timestamp {
    Timestamp::from_unix_millis(v)
}

/// A duration in milliseconds, saturating.
pub(crate) fn dur_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A stored non-negative integer as `u64`.
pub(crate) fn to_u64(v: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(v).map_err(|e| corrupt(what, e))
}

/// A stored non-negative integer as `u32`.
pub(crate) fn to_u32(v: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(v).map_err(|e| corrupt(what, e))
}

/// A `u64` for a BIGINT column.
pub(crate) fn from_u64(v: u64, what: &'static str) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} out of range: {v}")))
}

/// A stored 32-byte keyed hash.
pub(crate) fn hash(v: Vec<u8>, what: &str) -> StoreResult<KeyedHash> {
    KeyedHash::from_slice(&v).ok_or_else(|| corrupt(what, format!("{} bytes, not 32", v.len())))
}

/// A stored factor kind.
pub(crate) fn kind(s: &str) -> StoreResult<FactorKind> {
    FactorKind::parse(s).ok_or_else(|| corrupt("kind", s))
}

/// A stored purpose.
pub(crate) fn purpose(s: &str) -> StoreResult<Purpose> {
    Purpose::parse(s).ok_or_else(|| corrupt("purpose", s))
}

/// A stored factor state.
pub(crate) fn state(s: &str) -> StoreResult<FactorState> {
    match s {
        "pending" => Ok(FactorState::Pending),
        "active" => Ok(FactorState::Active),
        other => Err(corrupt("state", other)),
    }
}

/// A factor state as stored.
pub(crate) fn state_str(s: FactorState) -> &'static str {
    match s {
        FactorState::Pending => "pending",
        FactorState::Active => "active",
    }
}

/// [`LockoutRules`] as the integers the atomic SQL update works with.
///
/// With `shift = min(failures - free - 1, 30)`, the back-off is
/// `max` when `shift >= ksat`, else `base << shift`: exactly
/// `min(base * 2^shift, max)` as [`LockoutRules::lock_after`] computes it,
/// without overflow (`base << shift < max` whenever it is used), and `max`
/// is clamped so that `now + back-off` saturates like `Timestamp + Duration`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LockMath {
    pub now: i64,
    pub free: i64,
    pub base: i64,
    pub max: i64,
    pub ksat: i64,
    pub hard: i64,
    /// The rules themselves, for the decisions made in Rust.
    pub rules: LockoutRules,
}

impl LockMath {
    pub(crate) fn new(rules: &LockoutRules, now: Timestamp) -> Self {
        let now = ms(now);
        let mut max = dur_ms(rules.max);
        if now >= 0 {
            max = max.min(i64::MAX - now);
        }
        let base = dur_ms(rules.base).min(max);
        let ksat = (0..=30)
            .find(|&k| base.checked_mul(1i64 << k).is_none_or(|v| v >= max))
            .unwrap_or(31);
        LockMath {
            now,
            free: i64::from(rules.free_failures),
            base,
            max,
            ksat,
            hard: i64::from(rules.hard_stop),
            rules: *rules,
        }
    }

    /// `locked_until` after `failures` consecutive failures (what the SQL
    /// computes).
    pub(crate) fn locked_until(&self, failures: i64) -> Option<i64> {
        if failures <= self.free {
            return None;
        }
        let shift = (failures - self.free - 1).min(30);
        let lock = if shift >= self.ksat {
            self.max
        } else {
            self.base << shift
        };
        Some(self.now + lock)
    }

    /// Why an attempt was refused, from the account row, or `None` when
    /// the row says it should not have been (a race: look again). The rule
    /// is [`rules::lockout_refusal`].
    pub(crate) fn refusal(&self, failures: i64, locked_until: Option<i64>) -> Option<Gate> {
        // A count past u32 is past any hard stop.
        let failures = u32::try_from(failures.max(0)).unwrap_or(u32::MAX);
        rules::lockout_refusal(failures, locked_until.map(ts), ts(self.now), &self.rules)
    }
}

/// Why `take_attempt` did not count, from the row as seen (`None`: no row;
/// else used_at, attempts, expires_at). The rule is [`rules::attempt`]; a
/// row that it says should have been counted lost a race to a concurrent
/// use or attempt: closed.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn attempt_refusal(
    row: Option<(Option<i64>, i64, i64)>,
    now: i64,
    max_attempts: u32,
) -> mfa_core::store::AttemptOutcome {
    use mfa_core::store::AttemptOutcome;
    let Some((used_at, attempts, expires_at)) = row else {
        return AttemptOutcome::NotFound;
    };
    let attempts = u32::try_from(attempts.max(0)).unwrap_or(u32::MAX);
    match rules::attempt(used_at.is_some(), attempts, ts(expires_at), ts(now), max_attempts) {
        rules::AttemptRule::Expired => AttemptOutcome::Expired,
        rules::AttemptRule::Closed | rules::AttemptRule::Count => AttemptOutcome::Closed,
    }
}

macro_rules! factor_cols {
    () => {
        "id, user_id, kind, label, state, secret, destination, masked, destination_key, last_step, created_at, confirmed_at, last_used_at"
    };
}
macro_rules! challenge_cols {
    () => {
        "id, user_id, factor_id, kind, purpose, code_hash, attempts, created_at, expires_at, used_at"
    };
}
macro_rules! device_cols {
    () => {
        "id, user_id, token_hash, label, epoch, created_at, last_used_at, expires_at, revoked_at"
    };
}
macro_rules! recovery_cols {
    () => {
        "id, user_id, fingerprint, phc, created_at, used_at"
    };
}

/// Expands to the row decoders and the `MfaStore` impl of a backend: the
/// shared methods (SQL written with `$1…$n`, each used once and in order, so
/// the MySQL backend can turn them into `?`) plus the backend's own methods
/// given as `$($own)*`.
///
/// The backend type must provide `fn sql(&'static str) -> Cow<str>`,
/// `const ENSURE_USER`, `const FOR_UPDATE` (the row-lock suffix of a
/// `SELECT`, empty where the whole database is locked), `async fn begin_user(&self, &UserId)` (a transaction
/// in which the user's row exists and is locked) and `async fn
/// begin_send(&self, &UserId, &KeyedHash)` (the same, with the destination's
/// send lock held too).
macro_rules! impl_store {
    ($store:ident, $db:ty; $($own:tt)*) => {
        #[allow(dead_code)]
        impl $store {
            fn text(row: &<$db as sqlx::Database>::Row, col: &str) -> StoreResult<String> {
                // Unchecked: MySQL reports VARBINARY ids as binary; the
                // decode still validates UTF-8.
                row.try_get_unchecked::<String, _>(col).map_err(|e| $crate::common::corrupt(col, e))
            }

            fn opt_text(row: &<$db as sqlx::Database>::Row, col: &str) -> StoreResult<Option<String>> {
                row.try_get_unchecked::<Option<String>, _>(col).map_err(|e| $crate::common::corrupt(col, e))
            }

            fn int(row: &<$db as sqlx::Database>::Row, col: &str) -> StoreResult<i64> {
                row.try_get::<i64, _>(col).map_err(|e| $crate::common::corrupt(col, e))
            }

            fn opt_int(row: &<$db as sqlx::Database>::Row, col: &str) -> StoreResult<Option<i64>> {
                row.try_get::<Option<i64>, _>(col).map_err(|e| $crate::common::corrupt(col, e))
            }

            fn bytes(row: &<$db as sqlx::Database>::Row, col: &str) -> StoreResult<Vec<u8>> {
                row.try_get::<Vec<u8>, _>(col).map_err(|e| $crate::common::corrupt(col, e))
            }

            fn opt_bytes(row: &<$db as sqlx::Database>::Row, col: &str) -> StoreResult<Option<Vec<u8>>> {
                row.try_get::<Option<Vec<u8>>, _>(col).map_err(|e| $crate::common::corrupt(col, e))
            }

            fn user_id(s: String) -> StoreResult<UserId> {
                UserId::new(s).map_err(|e| $crate::common::corrupt("user_id", e))
            }

            fn factor_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<FactorRecord> {
                use $crate::common::*;
                Ok(FactorRecord {
                    id: FactorId::parse(&Self::text(row, "id")?).map_err(|e| corrupt("factor id", e))?,
                    user: Self::user_id(Self::text(row, "user_id")?)?,
                    kind: kind(&Self::text(row, "kind")?)?,
                    label: Self::text(row, "label")?,
                    state: state(&Self::text(row, "state")?)?,
                    secret: Self::opt_bytes(row, "secret")?.map(Sealed),
                    destination: Self::opt_bytes(row, "destination")?.map(Sealed),
                    masked: Self::opt_text(row, "masked")?,
                    destination_key: Self::opt_bytes(row, "destination_key")?
                        .map(|b| hash(b, "destination_key"))
                        .transpose()?,
                    last_step: Self::opt_int(row, "last_step")?.map(|v| to_u64(v, "last_step")).transpose()?,
                    created_at: ts(Self::int(row, "created_at")?),
                    confirmed_at: Self::opt_int(row, "confirmed_at")?.map(ts),
                    last_used_at: Self::opt_int(row, "last_used_at")?.map(ts),
                })
            }

            fn challenge_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<ChallengeRecord> {
                use $crate::common::*;
                Ok(ChallengeRecord {
                    id: ChallengeId::parse(&Self::text(row, "id")?).map_err(|e| corrupt("challenge id", e))?,
                    user: Self::user_id(Self::text(row, "user_id")?)?,
                    factor: FactorId::parse(&Self::text(row, "factor_id")?).map_err(|e| corrupt("factor_id", e))?,
                    kind: kind(&Self::text(row, "kind")?)?,
                    purpose: purpose(&Self::text(row, "purpose")?)?,
                    code_hash: hash(Self::bytes(row, "code_hash")?, "code_hash")?,
                    attempts: to_u32(Self::int(row, "attempts")?, "attempts")?,
                    created_at: ts(Self::int(row, "created_at")?),
                    expires_at: ts(Self::int(row, "expires_at")?),
                    used_at: Self::opt_int(row, "used_at")?.map(ts),
                })
            }

            fn device_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<DeviceRecord> {
                use $crate::common::*;
                Ok(DeviceRecord {
                    id: DeviceId::parse(&Self::text(row, "id")?).map_err(|e| corrupt("device id", e))?,
                    user: Self::user_id(Self::text(row, "user_id")?)?,
                    token_hash: hash(Self::bytes(row, "token_hash")?, "token_hash")?,
                    label: Self::text(row, "label")?,
                    epoch: to_u64(Self::int(row, "epoch")?, "epoch")?,
                    created_at: ts(Self::int(row, "created_at")?),
                    last_used_at: Self::opt_int(row, "last_used_at")?.map(ts),
                    expires_at: ts(Self::int(row, "expires_at")?),
                    revoked_at: Self::opt_int(row, "revoked_at")?.map(ts),
                })
            }

            fn recovery_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<RecoveryRecord> {
                use $crate::common::*;
                Ok(RecoveryRecord {
                    id: RecoveryId::parse(&Self::text(row, "id")?).map_err(|e| corrupt("recovery id", e))?,
                    user: Self::user_id(Self::text(row, "user_id")?)?,
                    fingerprint: hash(Self::bytes(row, "fingerprint")?, "fingerprint")?,
                    phc: Self::text(row, "phc")?,
                    created_at: ts(Self::int(row, "created_at")?),
                    used_at: Self::opt_int(row, "used_at")?.map(ts),
                })
            }

            fn state_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<UserState> {
                use $crate::common::*;
                Ok(UserState {
                    epoch: to_u64(Self::int(row, "epoch")?, "epoch")?,
                    failures: to_u32(Self::int(row, "failures")?, "failures")?,
                    locked_until: Self::opt_int(row, "locked_until")?.map(ts),
                    reenroll_required: row
                        .try_get::<bool, _>("reenroll_required")
                        .map_err(|e| corrupt("reenroll_required", e))?,
                    sessions_revoked_at: Self::opt_int(row, "sessions_revoked_at")?.map(ts),
                })
            }

            async fn ensure_user(&self, user: &UserId) -> StoreResult<()> {
                sqlx::query(Self::ENSURE_USER).bind(user.as_str()).execute(&self.pool).await.db()?;
                Ok(())
            }

            /// Inside a user transaction: the factor epoch moves on and every
            /// live trusted device of the user is revoked (password change,
            /// factor removal).
            async fn bump_epoch_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                user: &UserId,
                now: Timestamp,
            ) -> StoreResult<()> {
                use $crate::common::*;
                sqlx::query(&Self::sql("UPDATE mfa_users SET epoch = epoch + 1 WHERE user_id = $1"))
                    .bind(user.as_str())
                    .execute(&mut **tx)
                    .await
                    .db()?;
                sqlx::query(&Self::sql(
                    "UPDATE mfa_devices SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
                ))
                .bind(ms(now))
                .bind(user.as_str())
                .execute(&mut **tx)
                .await
                .db()?;
                Ok(())
            }

            async fn bump_epoch_tx(&self, user: &UserId, now: Timestamp) -> StoreResult<u64> {
                use $crate::common::*;
                let mut tx = self.begin_user(user).await?;
                Self::bump_epoch_in(&mut tx, user, now).await?;
                let row = sqlx::query(&Self::sql("SELECT epoch FROM mfa_users WHERE user_id = $1"))
                    .bind(user.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .db()?;
                let epoch = to_u64(Self::int(&row, "epoch")?, "epoch")?;
                tx.commit().await.db()?;
                Ok(epoch)
            }

            async fn reset_user_tx(&self, user: &UserId, now: Timestamp) -> StoreResult<()> {
                use $crate::common::*;
                let mut tx = self.begin_user(user).await?;
                for sql in [
                    "DELETE FROM mfa_challenges WHERE user_id = $1",
                    "DELETE FROM mfa_factors WHERE user_id = $1",
                    "DELETE FROM mfa_devices WHERE user_id = $1",
                    "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
                ] {
                    sqlx::query(&Self::sql(sql)).bind(user.as_str()).execute(&mut *tx).await.db()?;
                }
                sqlx::query(&Self::sql(
                    "UPDATE mfa_users SET epoch = epoch + 1, failures = 0, locked_until = NULL, \
                     reenroll_required = TRUE, sessions_revoked_at = $1 WHERE user_id = $2",
                ))
                .bind(ms(now))
                .bind(user.as_str())
                .execute(&mut *tx)
                .await
                .db()?;
                tx.commit().await.db()
            }

            async fn activate_factor_tx(
                &self,
                user: &UserId,
                id: &FactorId,
                now: Timestamp,
                first: bool,
            ) -> StoreResult<bool> {
                use $crate::common::*;
                let mut tx = self.begin_user(user).await?;
                // Under the user's row lock, which every activation takes:
                // no other activation can slip in between this count and
                // the update.
                let row = sqlx::query(&Self::sql(
                    "SELECT COUNT(*) AS n FROM mfa_factors WHERE user_id = $1 AND state = 'active' AND id <> $2",
                ))
                .bind(user.as_str())
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await
                .db()?;
                if !mfa_core::rules::may_activate(first, Self::int(&row, "n")? > 0) {
                    tx.rollback().await.db()?;
                    return Ok(false);
                }
                let n = sqlx::query(&Self::sql(
                    "UPDATE mfa_factors SET state = 'active', confirmed_at = $1 \
                     WHERE user_id = $2 AND id = $3 AND state = 'pending'",
                ))
                .bind(ms(now))
                .bind(user.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .db()?
                .rows_affected();
                if n != 1 {
                    tx.rollback().await.db()?;
                    return Ok(false);
                }
                sqlx::query(&Self::sql("UPDATE mfa_users SET reenroll_required = FALSE WHERE user_id = $1"))
                    .bind(user.as_str())
                    .execute(&mut *tx)
                    .await
                    .db()?;
                tx.commit().await.db()?;
                Ok(true)
            }

            async fn delete_factor_tx(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<bool> {
                use $crate::common::*;
                let mut tx = self.begin_user(user).await?;
                let n = sqlx::query(&Self::sql("DELETE FROM mfa_factors WHERE user_id = $1 AND id = $2"))
                    .bind(user.as_str())
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await
                    .db()?
                    .rows_affected();
                if n != 1 {
                    tx.rollback().await.db()?;
                    return Ok(false);
                }
                sqlx::query(&Self::sql("DELETE FROM mfa_challenges WHERE user_id = $1 AND factor_id = $2"))
                    .bind(user.as_str())
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await
                    .db()?;
                Self::bump_epoch_in(&mut tx, user, now).await?;
                tx.commit().await.db()?;
                Ok(true)
            }

            async fn replace_challenge_tx(
                &self,
                challenge: &ChallengeRecord,
                resend_gap: Duration,
                max_attempts: u32,
            ) -> StoreResult<ReplaceOutcome> {
                use $crate::common::*;
                let now = challenge.created_at;
                let mut tx = self.begin_user(&challenge.user).await?;
                // Row-locked (where the backend has row locks): an attempt
                // counted on the live challenge meanwhile is either seen
                // here and carried over, or finds the challenge gone.
                let live = sqlx::query(&format!(
                    "{}{}",
                    Self::sql(
                        "SELECT attempts, created_at, expires_at FROM mfa_challenges \
                         WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
                         ORDER BY created_at DESC LIMIT 1",
                    ),
                    Self::FOR_UPDATE
                ))
                .bind(challenge.user.as_str())
                .bind(challenge.purpose.as_str())
                .bind(ms(now))
                .fetch_optional(&mut *tx)
                .await
                .db()?;
                let live = match live {
                    Some(row) => Some(mfa_core::rules::LiveChallenge {
                        attempts: to_u32(Self::int(&row, "attempts")?, "attempts")?,
                        created_at: ts(Self::int(&row, "created_at")?),
                        expires_at: ts(Self::int(&row, "expires_at")?),
                    }),
                    None => None,
                };
                let outcome = mfa_core::rules::resend(live, now, resend_gap, max_attempts);
                let ReplaceOutcome::Replaced { attempts } = outcome else {
                    tx.rollback().await.db()?;
                    return Ok(outcome);
                };
                sqlx::query(&Self::sql("DELETE FROM mfa_challenges WHERE user_id = $1 AND purpose = $2"))
                    .bind(challenge.user.as_str())
                    .bind(challenge.purpose.as_str())
                    .execute(&mut *tx)
                    .await
                    .db()?;
                sqlx::query(&Self::sql(concat!(
                    "INSERT INTO mfa_challenges (",
                    challenge_cols!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                )))
                .bind(challenge.id.as_str())
                .bind(challenge.user.as_str())
                .bind(challenge.factor.as_str())
                .bind(challenge.kind.as_str())
                .bind(challenge.purpose.as_str())
                .bind(&challenge.code_hash.as_bytes()[..])
                .bind(i64::from(attempts))
                .bind(ms(challenge.created_at))
                .bind(ms(challenge.expires_at))
                .bind(challenge.used_at.map(ms))
                .execute(&mut *tx)
                .await
                .unique("challenge id")?;
                tx.commit().await.db()?;
                Ok(outcome)
            }

            async fn record_send_tx(
                &self,
                user: &UserId,
                destination: &KeyedHash,
                now: Timestamp,
                rules: &SendRules,
            ) -> StoreResult<SendDecision> {
                use $crate::common::*;
                let since = ms(mfa_core::rules::send_window_start(now, rules));
                let dest = &destination.as_bytes()[..];
                let mut tx = self.begin_send(user, destination).await?;
                let by_user = sqlx::query(&Self::sql(
                    "SELECT COUNT(*) AS n, MIN(sent_at) AS oldest FROM mfa_sends WHERE user_id = $1 AND sent_at > $2",
                ))
                .bind(user.as_str())
                .bind(since)
                .fetch_one(&mut *tx)
                .await
                .db()?;
                let by_dest = sqlx::query(&Self::sql(
                    "SELECT COUNT(*) AS n, MIN(sent_at) AS oldest FROM mfa_sends WHERE destination = $1 AND sent_at > $2",
                ))
                .bind(dest)
                .bind(since)
                .fetch_one(&mut *tx)
                .await
                .db()?;
                let count = |row: &<$db as sqlx::Database>::Row| -> StoreResult<mfa_core::rules::SendCount> {
                    Ok(mfa_core::rules::SendCount {
                        count: to_u64(Self::int(row, "n")?, "count")?,
                        oldest: Self::opt_int(row, "oldest")?.map(ts),
                    })
                };
                let decision = mfa_core::rules::send(count(&by_user)?, count(&by_dest)?, now, rules);
                if decision != SendDecision::Allowed {
                    tx.rollback().await.db()?;
                    return Ok(decision);
                }
                // Keep the table small: this user's sends that left the window.
                sqlx::query(&Self::sql("DELETE FROM mfa_sends WHERE user_id = $1 AND sent_at <= $2"))
                    .bind(user.as_str())
                    .bind(since)
                    .execute(&mut *tx)
                    .await
                    .db()?;
                sqlx::query(&Self::sql("INSERT INTO mfa_sends (user_id, destination, sent_at) VALUES ($1, $2, $3)"))
                    .bind(user.as_str())
                    .bind(dest)
                    .bind(ms(now))
                    .execute(&mut *tx)
                    .await
                    .db()?;
                tx.commit().await.db()?;
                Ok(SendDecision::Allowed)
            }

            async fn replace_recovery_codes_tx(&self, user: &UserId, codes: &[RecoveryRecord]) -> StoreResult<()> {
                use $crate::common::*;
                let mut tx = self.begin_user(user).await?;
                sqlx::query(&Self::sql("DELETE FROM mfa_recovery_codes WHERE user_id = $1"))
                    .bind(user.as_str())
                    .execute(&mut *tx)
                    .await
                    .db()?;
                let insert = Self::sql(concat!(
                    "INSERT INTO mfa_recovery_codes (",
                    recovery_cols!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6)"
                ));
                for c in codes {
                    sqlx::query(&insert)
                        .bind(c.id.as_str())
                        .bind(user.as_str())
                        .bind(&c.fingerprint.as_bytes()[..])
                        .bind(c.phc.as_str())
                        .bind(ms(c.created_at))
                        .bind(c.used_at.map(ms))
                        .execute(&mut *tx)
                        .await
                        .unique("recovery code id")?;
                }
                tx.commit().await.db()
            }
        }

        #[async_trait]
        impl MfaStore for $store {
            async fn user_state(&self, user: &UserId) -> StoreResult<UserState> {
                let row = sqlx::query(&Self::sql(
                    "SELECT epoch, failures, locked_until, reenroll_required, sessions_revoked_at \
                     FROM mfa_users WHERE user_id = $1",
                ))
                .bind(user.as_str())
                .fetch_optional(&self.pool)
                .await
                .db()?;
                match row {
                    Some(row) => Self::state_row(&row),
                    None => Ok(UserState::default()),
                }
            }

            async fn revoke_sessions(&self, user: &UserId, at: Timestamp) -> StoreResult<()> {
                self.ensure_user(user).await?;
                sqlx::query(&Self::sql("UPDATE mfa_users SET sessions_revoked_at = $1 WHERE user_id = $2"))
                    .bind($crate::common::ms(at))
                    .bind(user.as_str())
                    .execute(&self.pool)
                    .await
                    .db()?;
                Ok(())
            }

            async fn bump_epoch(&self, user: &UserId, now: Timestamp) -> StoreResult<u64> {
                retry!(self.bump_epoch_tx(user, now).await)
            }

            async fn reset_user(&self, user: &UserId, now: Timestamp) -> StoreResult<()> {
                retry!(self.reset_user_tx(user, now).await)
            }

            async fn insert_factor(&self, f: &FactorRecord) -> StoreResult<()> {
                use $crate::common::*;
                let last_step = f.last_step.map(|s| from_u64(s, "last_step")).transpose()?;
                sqlx::query(&Self::sql(concat!(
                    "INSERT INTO mfa_factors (",
                    factor_cols!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                )))
                .bind(f.id.as_str())
                .bind(f.user.as_str())
                .bind(f.kind.as_str())
                .bind(f.label.as_str())
                .bind(state_str(f.state))
                .bind(f.secret.as_ref().map(|s| s.0.as_slice()))
                .bind(f.destination.as_ref().map(|s| s.0.as_slice()))
                .bind(f.masked.as_deref())
                .bind(f.destination_key.as_ref().map(|k| &k.as_bytes()[..]))
                .bind(last_step)
                .bind(ms(f.created_at))
                .bind(f.confirmed_at.map(ms))
                .bind(f.last_used_at.map(ms))
                .execute(&self.pool)
                .await
                .unique("factor id")?;
                Ok(())
            }

            async fn factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>> {
                let row = sqlx::query(&Self::sql(concat!(
                    "SELECT ",
                    factor_cols!(),
                    " FROM mfa_factors WHERE user_id = $1 AND id = $2"
                )))
                .bind(user.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .db()?;
                row.as_ref().map(Self::factor_row).transpose()
            }

            async fn factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>> {
                let rows = sqlx::query(&Self::sql(concat!(
                    "SELECT ",
                    factor_cols!(),
                    " FROM mfa_factors WHERE user_id = $1 ORDER BY created_at, id"
                )))
                .bind(user.as_str())
                .fetch_all(&self.pool)
                .await
                .db()?;
                rows.iter().map(Self::factor_row).collect()
            }

            async fn activate_factor(
                &self,
                user: &UserId,
                id: &FactorId,
                now: Timestamp,
                first: bool,
            ) -> StoreResult<bool> {
                retry!(self.activate_factor_tx(user, id, now, first).await)
            }

            async fn rename_factor(&self, user: &UserId, id: &FactorId, label: &str) -> StoreResult<bool> {
                let n = sqlx::query(&Self::sql("UPDATE mfa_factors SET label = $1 WHERE user_id = $2 AND id = $3"))
                    .bind(label)
                    .bind(user.as_str())
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await
                    .db()?
                    .rows_affected();
                Ok(n == 1)
            }

            async fn delete_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<bool> {
                retry!(self.delete_factor_tx(user, id, now).await)
            }

            async fn delete_stale_pending(&self, user: &UserId, before: Timestamp) -> StoreResult<u64> {
                let n = sqlx::query(&Self::sql(
                    "DELETE FROM mfa_factors WHERE user_id = $1 AND state = 'pending' AND created_at < $2",
                ))
                .bind(user.as_str())
                .bind($crate::common::ms(before))
                .execute(&self.pool)
                .await
                .db()?
                .rows_affected();
                Ok(n)
            }

            async fn update_sealed(
                &self,
                user: &UserId,
                id: &FactorId,
                secret: Option<&Sealed>,
                destination: Option<&Sealed>,
            ) -> StoreResult<bool> {
                let n = sqlx::query(&Self::sql(
                    "UPDATE mfa_factors SET secret = $1, destination = $2 WHERE user_id = $3 AND id = $4",
                ))
                .bind(secret.map(|s| s.0.as_slice()))
                .bind(destination.map(|s| s.0.as_slice()))
                .bind(user.as_str())
                .bind(id.as_str())
                .execute(&self.pool)
                .await
                .db()?
                .rows_affected();
                Ok(n == 1)
            }

            async fn advance_totp_step(
                &self,
                user: &UserId,
                id: &FactorId,
                step: u64,
                now: Timestamp,
            ) -> StoreResult<bool> {
                use $crate::common::*;
                let step = from_u64(step, "step")?;
                let n = sqlx::query(&Self::sql(
                    "UPDATE mfa_factors SET last_step = $1, last_used_at = $2 \
                     WHERE user_id = $3 AND id = $4 AND (last_step IS NULL OR last_step < $5)",
                ))
                .bind(step)
                .bind(ms(now))
                .bind(user.as_str())
                .bind(id.as_str())
                .bind(step)
                .execute(&self.pool)
                .await
                .db()?
                .rows_affected();
                Ok(n == 1)
            }

            async fn touch_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<()> {
                sqlx::query(&Self::sql("UPDATE mfa_factors SET last_used_at = $1 WHERE user_id = $2 AND id = $3"))
                    .bind($crate::common::ms(now))
                    .bind(user.as_str())
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await
                    .db()?;
                Ok(())
            }

            async fn factor_users(&self, after: Option<&UserId>, limit: u32) -> StoreResult<Vec<UserId>> {
                let rows = match after {
                    Some(after) => sqlx::query(&Self::sql(
                        "SELECT DISTINCT user_id FROM mfa_factors WHERE user_id > $1 ORDER BY user_id LIMIT $2",
                    ))
                    .bind(after.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .db()?,
                    None => sqlx::query(&Self::sql(
                        "SELECT DISTINCT user_id FROM mfa_factors ORDER BY user_id LIMIT $1",
                    ))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .db()?,
                };
                rows.iter().map(|r| Self::user_id(Self::text(r, "user_id")?)).collect()
            }

            async fn replace_challenge(
                &self,
                challenge: &ChallengeRecord,
                resend_gap: Duration,
                max_attempts: u32,
            ) -> StoreResult<ReplaceOutcome> {
                retry!(self.replace_challenge_tx(challenge, resend_gap, max_attempts).await)
            }

            async fn mark_challenge_used(&self, user: &UserId, id: &ChallengeId, now: Timestamp) -> StoreResult<bool> {
                let n = sqlx::query(&Self::sql(
                    "UPDATE mfa_challenges SET used_at = $1 WHERE user_id = $2 AND id = $3 AND used_at IS NULL \
                     AND EXISTS (SELECT 1 FROM mfa_factors f \
                                 WHERE f.user_id = mfa_challenges.user_id AND f.id = mfa_challenges.factor_id)",
                ))
                .bind($crate::common::ms(now))
                .bind(user.as_str())
                .bind(id.as_str())
                .execute(&self.pool)
                .await
                .db()?
                .rows_affected();
                Ok(n == 1)
            }

            async fn live_challenge(
                &self,
                user: &UserId,
                purpose: Purpose,
                now: Timestamp,
            ) -> StoreResult<Option<ChallengeRecord>> {
                let row = sqlx::query(&Self::sql(concat!(
                    "SELECT ",
                    challenge_cols!(),
                    " FROM mfa_challenges WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL \
                     AND expires_at > $3 ORDER BY created_at DESC LIMIT 1"
                )))
                .bind(user.as_str())
                .bind(purpose.as_str())
                .bind($crate::common::ms(now))
                .fetch_optional(&self.pool)
                .await
                .db()?;
                row.as_ref().map(Self::challenge_row).transpose()
            }

            async fn clear_failures(&self, user: &UserId) -> StoreResult<()> {
                sqlx::query(&Self::sql("UPDATE mfa_users SET failures = 0, locked_until = NULL WHERE user_id = $1"))
                    .bind(user.as_str())
                    .execute(&self.pool)
                    .await
                    .db()?;
                Ok(())
            }

            async fn record_send(
                &self,
                user: &UserId,
                destination: &KeyedHash,
                now: Timestamp,
                rules: &SendRules,
            ) -> StoreResult<SendDecision> {
                retry!(self.record_send_tx(user, destination, now, rules).await)
            }

            async fn insert_device(&self, d: &DeviceRecord) -> StoreResult<()> {
                use $crate::common::*;
                sqlx::query(&Self::sql(concat!(
                    "INSERT INTO mfa_devices (",
                    device_cols!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                )))
                .bind(d.id.as_str())
                .bind(d.user.as_str())
                .bind(&d.token_hash.as_bytes()[..])
                .bind(d.label.as_str())
                .bind(from_u64(d.epoch, "epoch")?)
                .bind(ms(d.created_at))
                .bind(d.last_used_at.map(ms))
                .bind(ms(d.expires_at))
                .bind(d.revoked_at.map(ms))
                .execute(&self.pool)
                .await
                .unique("device token")?;
                Ok(())
            }

            async fn device_by_token(&self, hash: &KeyedHash) -> StoreResult<Option<DeviceRecord>> {
                let row = sqlx::query(&Self::sql(concat!(
                    "SELECT ",
                    device_cols!(),
                    " FROM mfa_devices WHERE token_hash = $1"
                )))
                .bind(&hash.as_bytes()[..])
                .fetch_optional(&self.pool)
                .await
                .db()?;
                row.as_ref().map(Self::device_row).transpose()
            }

            async fn touch_device(&self, user: &UserId, id: &DeviceId, now: Timestamp) -> StoreResult<()> {
                sqlx::query(&Self::sql("UPDATE mfa_devices SET last_used_at = $1 WHERE user_id = $2 AND id = $3"))
                    .bind($crate::common::ms(now))
                    .bind(user.as_str())
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await
                    .db()?;
                Ok(())
            }

            async fn devices(&self, user: &UserId, now: Timestamp) -> StoreResult<Vec<DeviceRecord>> {
                let rows = sqlx::query(&Self::sql(concat!(
                    "SELECT ",
                    device_cols!(),
                    " FROM mfa_devices WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
                     ORDER BY created_at DESC, id DESC"
                )))
                .bind(user.as_str())
                .bind($crate::common::ms(now))
                .fetch_all(&self.pool)
                .await
                .db()?;
                rows.iter().map(Self::device_row).collect()
            }

            async fn revoke_device(&self, user: &UserId, id: &DeviceId, now: Timestamp) -> StoreResult<bool> {
                let now = $crate::common::ms(now);
                let n = sqlx::query(&Self::sql(
                    "UPDATE mfa_devices SET revoked_at = $1 \
                     WHERE user_id = $2 AND id = $3 AND revoked_at IS NULL AND expires_at > $4",
                ))
                .bind(now)
                .bind(user.as_str())
                .bind(id.as_str())
                .bind(now)
                .execute(&self.pool)
                .await
                .db()?
                .rows_affected();
                Ok(n == 1)
            }

            async fn revoke_all_devices(&self, user: &UserId, now: Timestamp) -> StoreResult<u64> {
                let now = $crate::common::ms(now);
                // Live ones first (counted), then expired-but-unrevoked ones.
                let live = sqlx::query(&Self::sql(
                    "UPDATE mfa_devices SET revoked_at = $1 \
                     WHERE user_id = $2 AND revoked_at IS NULL AND expires_at > $3",
                ))
                .bind(now)
                .bind(user.as_str())
                .bind(now)
                .execute(&self.pool)
                .await
                .db()?
                .rows_affected();
                sqlx::query(&Self::sql(
                    "UPDATE mfa_devices SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
                ))
                .bind(now)
                .bind(user.as_str())
                .execute(&self.pool)
                .await
                .db()?;
                Ok(live)
            }

            async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryRecord]) -> StoreResult<()> {
                retry!(self.replace_recovery_codes_tx(user, codes).await)
            }

            async fn recovery_code(
                &self,
                user: &UserId,
                fingerprint: &KeyedHash,
            ) -> StoreResult<Option<RecoveryRecord>> {
                let row = sqlx::query(&Self::sql(concat!(
                    "SELECT ",
                    recovery_cols!(),
                    " FROM mfa_recovery_codes WHERE user_id = $1 AND fingerprint = $2 AND used_at IS NULL LIMIT 1"
                )))
                .bind(user.as_str())
                .bind(&fingerprint.as_bytes()[..])
                .fetch_optional(&self.pool)
                .await
                .db()?;
                row.as_ref().map(Self::recovery_row).transpose()
            }

            async fn use_recovery_code(&self, user: &UserId, id: &RecoveryId, now: Timestamp) -> StoreResult<bool> {
                let n = sqlx::query(&Self::sql(
                    "UPDATE mfa_recovery_codes SET used_at = $1 WHERE user_id = $2 AND id = $3 AND used_at IS NULL",
                ))
                .bind($crate::common::ms(now))
                .bind(user.as_str())
                .bind(id.as_str())
                .execute(&self.pool)
                .await
                .db()?
                .rows_affected();
                Ok(n == 1)
            }

            async fn recovery_codes_remaining(&self, user: &UserId) -> StoreResult<u32> {
                let row = sqlx::query(&Self::sql(
                    "SELECT COUNT(*) AS n FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                ))
                .bind(user.as_str())
                .fetch_one(&self.pool)
                .await
                .db()?;
                $crate::common::to_u32(Self::int(&row, "n")?, "count")
            }

            $($own)*
        }
    };
}

/// Rewrites `$1 … $n` placeholders into `?` (MySQL). Every shared statement
/// uses each placeholder once, in increasing order, so binding order is
/// unchanged.
#[cfg(feature = "mysql")]
pub(crate) fn question_marks(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn lock_math_matches_lock_after() {
        let rules = [
            LockoutRules::default(),
            LockoutRules {
                free_failures: 0,
                ..LockoutRules::default()
            },
            LockoutRules {
                free_failures: 2,
                base: Duration::from_millis(1),
                max: Duration::from_secs(86_400 * 365 * 100),
                hard_stop: 1000,
            },
            LockoutRules {
                free_failures: 1,
                base: Duration::from_secs(7200),
                max: Duration::from_secs(3600),
                hard_stop: 10,
            },
            LockoutRules {
                free_failures: 3,
                base: Duration::ZERO,
                max: Duration::from_secs(60),
                hard_stop: 10,
            },
            LockoutRules {
                free_failures: 0,
                base: Duration::from_secs(u64::MAX / 4096),
                max: Duration::MAX,
                hard_stop: u32::MAX,
            },
        ];
        for r in rules {
            for now in [
                Timestamp::from_unix_millis(0),
                Timestamp::from_unix_millis(1_750_000_000_000),
                Timestamp::from_unix_millis(i64::MAX - 5),
            ] {
                let m = LockMath::new(&r, now);
                for f in (1..=70).chain([1000, u32::MAX as i64]) {
                    let want = u32::try_from(f)
                        .ok()
                        .and_then(|f| r.lock_after(f))
                        .map(|d| ms(now + d));
                    assert_eq!(m.locked_until(f), want, "{r:?} now={now:?} failures={f}");
                }
            }
        }
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn placeholders_become_question_marks() {
        assert_eq!(question_marks("a = $1 AND b = $12, '$'"), "a = ? AND b = ?, '$'");
    }
}
