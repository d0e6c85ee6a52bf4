//! [`MfaStore`](mfa_core::MfaStore) on SQL databases through [sqlx]: SQLite (embedded, the
//! default feature), PostgreSQL (feature `postgres`) and MySQL / MariaDB
//! (feature `mysql`), so an application keeps its MFA state in the database
//! it already runs, and several app servers behind a load balancer can share
//! one PostgreSQL or MySQL safely.
//!
//! ```
//! use mfa_core::{MfaStore, UserId};
//! # #[cfg(feature = "sqlite")]
//! use mfa_store_sqlx::SqliteStore;
//!
//! # #[cfg(not(feature = "sqlite"))] fn main() {}
//! # #[cfg(feature = "sqlite")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let store = SqliteStore::connect("sqlite::memory:").await?;
//! store.migrate().await?;
//! let state = store.user_state(&UserId::new("tenant-42")?).await?;
//! assert_eq!(state.failures, 0);
//! # Ok(())
//! # })
//! # }
//! ```
//!
//! # Choosing a backend
//!
//! One type per backend: [`SqliteStore`], [`PgStore`] and [`MySqlStore`],
//! each with `connect(url)`, `from_pool(pool)` and `migrate()`. [`SqlxStore`]
//! picks one from the URL scheme (`sqlite:`, `postgres://` /
//! `postgresql://`, `mysql://` / `mariadb://`).
//!
//! # Schema
//!
//! Migrations are embedded per backend (`migrations/<backend>`, applied by
//! `migrate()`, which is idempotent). Tables are prefixed `mfa_` so they sit
//! beside an application's own: `mfa_users` (epoch, failures, lock, flags),
//! `mfa_factors`, `mfa_challenges`, `mfa_devices` (unique token hash),
//! `mfa_recovery_codes`, `mfa_sends` and (PostgreSQL, MySQL)
//! `mfa_send_locks`; every lookup has an index. sqlx records applied
//! migrations in `_sqlx_migrations`; `migrate()` ignores versions it does not
//! know, so an application that runs its own sqlx migrations on the same
//! database should call `Migrator::set_ignore_missing(true)` on its side too.
//!
//! Times are [`Timestamp`](mfa_core::Timestamp)s: UTC, millisecond
//! precision, stored as `BIGINT` unix milliseconds (comparisons are integer
//! comparisons on every backend). Keyed hashes are 32-byte binary columns,
//! sealed secrets and destinations binary; the store never sees a plain seed,
//! destination or code. User ids compare byte-wise and case-sensitively
//! (`COLLATE "C"` on PostgreSQL, `VARBINARY(255)` on MySQL).
//!
//! # Atomicity
//!
//! Every guarantee of the store contract is one atomic statement or one
//! short transaction:
//!
//! - consuming a code or a recovery code: `UPDATE … SET used_at = ? WHERE …
//!   AND used_at IS NULL`, true only when one row changed;
//! - TOTP replay: `UPDATE … WHERE last_step IS NULL OR last_step < ?`;
//! - per-challenge attempts: `UPDATE … SET attempts = attempts + 1 WHERE …
//!   attempts < max … RETURNING` (SQLite, PostgreSQL), a transaction with
//!   `SELECT … FOR UPDATE` on MySQL;
//! - account attempts (`reserve_attempt`): one upsert `INSERT … ON CONFLICT
//!   DO UPDATE SET failures = failures + 1, locked_until = … WHERE failures <
//!   hard_stop AND (locked_until IS NULL OR locked_until <= now) RETURNING`
//!   on SQLite and PostgreSQL, whose `locked_until` expression is exactly
//!   [`LockoutRules::lock_after`](mfa_core::LockoutRules::lock_after); on
//!   MySQL a transaction that locks the user row (`FOR UPDATE`) and applies
//!   `lock_after` itself;
//! - `replace_challenge`, `record_send`, factor deletion, activation, epoch
//!   bumps, resets and recovery-code replacement: one transaction. SQLite
//!   opens it with `BEGIN IMMEDIATE` (the write lock first, so no
//!   read-then-write can interleave); PostgreSQL and MySQL lock the user's
//!   `mfa_users` row first (`SELECT … FOR UPDATE`), and `record_send` also
//!   locks the destination's `mfa_send_locks` row, so the per-destination cap
//!   holds across users and app servers. Row locks are always taken user
//!   row first, so these transactions cannot deadlock each other; a deadlock
//!   or serialization failure reported by the server anyway (e.g. InnoDB gap
//!   locks) is retried a few times, the whole transaction at once.
//!
//! SQLite runs in WAL mode with a 5 s busy timeout, foreign keys on and
//! `synchronous = NORMAL`. `sqlite::memory:` works (a pool of exactly one
//! connection that is never recycled, so the data lives as long as the
//! store).
//!
//! # Statements per verification
//!
//! A successful verification, as the engine drives it (the composite calls
//! of [`MfaStore`](mfa_core::MfaStore)):
//!
//! | backend | TOTP verify | SMS / email verify |
//! |---|---|---|
//! | PostgreSQL | **2** statements = 2 round trips | **2** statements = 2 round trips |
//! | SQLite (in process, no round trips) | 4 statements | 5 statements |
//! | MySQL / MariaDB | 8 statements (one of them a 4-statement transaction: `BEGIN` … `COMMIT`) | 12 statements (two 4-statement transactions) |
//!
//! On PostgreSQL a TOTP verify is `reserve_and_load_factor` (one CTE
//! statement: the attempt upsert, returning the factor row only when the
//! gate is open) then `accept_totp_step` (one CTE statement: advance the
//! step, clear the failures). An SMS/email verify is
//! `reserve_and_take_attempt` (one statement: the attempt upsert, then the
//! per-challenge attempt, returning the challenge) then `complete_challenge`
//! (one statement: mark used, clear failures, touch the factor). A wrong
//! code costs the first statement only. Only when a refusal loses a race
//! with a concurrent writer (the statement's snapshot cannot tell why the
//! row did not change) is the account row re-read with one more statement.
//! `PgStore::connect` turns off sqlx's ping before each pool checkout, which
//! would otherwise add a round trip per statement.
//!
//! SQLite: reserve (one upsert), load the factor / take the challenge
//! attempt (one `UPDATE … RETURNING`), advance the step or mark the code
//! used, clear the failures (and touch the factor). MySQL has no
//! `UPDATE … RETURNING`: reserving is `INSERT IGNORE` (the row on demand)
//! plus `BEGIN; SELECT … FOR UPDATE; UPDATE; COMMIT`, and so is taking a
//! challenge attempt (without the insert); the rest are single statements.
//! The `tests/` count these statements from sqlx's own statement log.
//!
//! # Errors
//!
//! Every sqlx error becomes [`StoreError::Backend`] with the sqlx error as its
//! source (unique-key violations become [`StoreError::Conflict`], undecodable
//! rows [`StoreError::Corrupt`]); a bad URL or an unreachable database is
//! such an error from `connect`, never a panic, and nothing is half-written:
//! a failed transaction is rolled back.

#![forbid(unsafe_code)]

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!("mfa-store-sqlx: enable at least one of the features `sqlite`, `postgres`, `mysql`");

#[macro_use]
mod common;
mod any;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use any::SqlxStore;
#[cfg(feature = "mysql")]
pub use mysql::MySqlStore;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

pub use mfa_core::StoreError;

/// The `Result` of this crate's own calls (`connect`, `migrate`).
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A connection URL whose scheme no enabled backend handles.
#[derive(Debug, thiserror::Error)]
#[error("unsupported database URL scheme (enabled backends: {enabled}): {scheme}")]
pub struct UnsupportedUrl {
    /// The scheme found (the part before the first `:`).
    pub scheme: String,
    /// The backends this build supports.
    pub enabled: String,
}
