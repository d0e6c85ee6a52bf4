//! [`SqlxStore`]: one of the backends, chosen by URL.

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

use crate::UnsupportedUrl;

/// A store on whichever backend a URL names: `sqlite:` (feature `sqlite`),
/// `postgres://` or `postgresql://` (feature `postgres`), `mysql://` or
/// `mariadb://` (feature `mysql`).
///
/// ```
/// use mfa_core::{MfaStore, UserId};
/// use mfa_store_sqlx::SqlxStore;
///
/// # #[cfg(not(feature = "sqlite"))] fn main() {}
/// # #[cfg(feature = "sqlite")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let store = SqlxStore::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// assert_eq!(store.backend(), "sqlite");
/// assert!(store.factors(&UserId::new("u1")?).await?.is_empty());
/// assert!(SqlxStore::connect("redis://localhost").await.is_err());
/// # Ok(())
/// # })
/// # }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SqlxStore {
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(crate::SqliteStore),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(crate::PgStore),
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    MySql(crate::MySqlStore),
}

fn enabled() -> String {
    let mut v = Vec::new();
    if cfg!(feature = "sqlite") {
        v.push("sqlite");
    }
    if cfg!(feature = "postgres") {
        v.push("postgres");
    }
    if cfg!(feature = "mysql") {
        v.push("mysql");
    }
    v.join(", ")
}

impl SqlxStore {
    /// Connects to the database the URL names (without migrating).
    pub async fn connect(url: &str) -> crate::Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default().to_ascii_lowercase();
        match scheme.as_str() {
            #[cfg(feature = "sqlite")]
            "sqlite" => Ok(SqlxStore::Sqlite(crate::SqliteStore::connect(url).await?)),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => Ok(SqlxStore::Postgres(crate::PgStore::connect(url).await?)),
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => Ok(SqlxStore::MySql(crate::MySqlStore::connect(url).await?)),
            _ => Err(mfa_core::StoreError::Backend(Box::new(UnsupportedUrl {
                scheme,
                enabled: enabled(),
            }))),
        }
    }

    /// Applies the embedded migrations of the backend (idempotent).
    pub async fn migrate(&self) -> crate::Result<()> {
        match self {
            #[cfg(feature = "sqlite")]
            SqlxStore::Sqlite(s) => s.migrate().await,
            #[cfg(feature = "postgres")]
            SqlxStore::Postgres(s) => s.migrate().await,
            #[cfg(feature = "mysql")]
            SqlxStore::MySql(s) => s.migrate().await,
        }
    }

    /// `"sqlite"`, `"postgres"` or `"mysql"`.
    pub fn backend(&self) -> &'static str {
        match self {
            #[cfg(feature = "sqlite")]
            SqlxStore::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            SqlxStore::Postgres(_) => "postgres",
            #[cfg(feature = "mysql")]
            SqlxStore::MySql(_) => "mysql",
        }
    }

    /// Closes the pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        match self {
            #[cfg(feature = "sqlite")]
            SqlxStore::Sqlite(s) => s.pool().close().await,
            #[cfg(feature = "postgres")]
            SqlxStore::Postgres(s) => s.pool().close().await,
            #[cfg(feature = "mysql")]
            SqlxStore::MySql(s) => s.pool().close().await,
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<crate::SqliteStore> for SqlxStore {
    fn from(s: crate::SqliteStore) -> Self {
        SqlxStore::Sqlite(s)
    }
}

#[cfg(feature = "postgres")]
impl From<crate::PgStore> for SqlxStore {
    fn from(s: crate::PgStore) -> Self {
        SqlxStore::Postgres(s)
    }
}

#[cfg(feature = "mysql")]
impl From<crate::MySqlStore> for SqlxStore {
    fn from(s: crate::MySqlStore) -> Self {
        SqlxStore::MySql(s)
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            #[cfg(feature = "sqlite")]
            SqlxStore::Sqlite($s) => $call,
            #[cfg(feature = "postgres")]
            SqlxStore::Postgres($s) => $call,
            #[cfg(feature = "mysql")]
            SqlxStore::MySql($s) => $call,
        }
    };
}

#[async_trait]
impl MfaStore for SqlxStore {
    async fn user_state(&self, user: &UserId) -> StoreResult<UserState> {
        dispatch!(self, s => s.user_state(user).await)
    }
    async fn revoke_sessions(&self, user: &UserId, at: Timestamp) -> StoreResult<()> {
        dispatch!(self, s => s.revoke_sessions(user, at).await)
    }
    async fn bump_epoch(&self, user: &UserId, now: Timestamp) -> StoreResult<u64> {
        dispatch!(self, s => s.bump_epoch(user, now).await)
    }
    async fn reset_user(&self, user: &UserId, now: Timestamp) -> StoreResult<()> {
        dispatch!(self, s => s.reset_user(user, now).await)
    }
    async fn insert_factor(&self, factor: &FactorRecord) -> StoreResult<()> {
        dispatch!(self, s => s.insert_factor(factor).await)
    }
    async fn factor(&self, user: &UserId, id: &FactorId) -> StoreResult<Option<FactorRecord>> {
        dispatch!(self, s => s.factor(user, id).await)
    }
    async fn factors(&self, user: &UserId) -> StoreResult<Vec<FactorRecord>> {
        dispatch!(self, s => s.factors(user).await)
    }
    async fn activate_factor(
        &self,
        user: &UserId,
        id: &FactorId,
        now: Timestamp,
        first: bool,
    ) -> StoreResult<bool> {
        dispatch!(self, s => s.activate_factor(user, id, now, first).await)
    }
    async fn rename_factor(&self, user: &UserId, id: &FactorId, label: &str) -> StoreResult<bool> {
        dispatch!(self, s => s.rename_factor(user, id, label).await)
    }
    async fn delete_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<bool> {
        dispatch!(self, s => s.delete_factor(user, id, now).await)
    }
    async fn delete_stale_pending(&self, user: &UserId, before: Timestamp) -> StoreResult<u64> {
        dispatch!(self, s => s.delete_stale_pending(user, before).await)
    }
    async fn update_sealed(
        &self,
        user: &UserId,
        id: &FactorId,
        secret: Option<&Sealed>,
        destination: Option<&Sealed>,
    ) -> StoreResult<bool> {
        dispatch!(self, s => s.update_sealed(user, id, secret, destination).await)
    }
    async fn advance_totp_step(
        &self,
        user: &UserId,
        id: &FactorId,
        step: u64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        dispatch!(self, s => s.advance_totp_step(user, id, step, now).await)
    }
    async fn touch_factor(&self, user: &UserId, id: &FactorId, now: Timestamp) -> StoreResult<()> {
        dispatch!(self, s => s.touch_factor(user, id, now).await)
    }
    async fn factor_users(&self, after: Option<&UserId>, limit: u32) -> StoreResult<Vec<UserId>> {
        dispatch!(self, s => s.factor_users(after, limit).await)
    }
    async fn replace_challenge(
        &self,
        challenge: &ChallengeRecord,
        resend_gap: Duration,
        max_attempts: u32,
    ) -> StoreResult<ReplaceOutcome> {
        dispatch!(self, s => s.replace_challenge(challenge, resend_gap, max_attempts).await)
    }
    async fn take_attempt(
        &self,
        user: &UserId,
        id: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<AttemptOutcome> {
        dispatch!(self, s => s.take_attempt(user, id, now, max_attempts).await)
    }
    async fn mark_challenge_used(
        &self,
        user: &UserId,
        id: &ChallengeId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        dispatch!(self, s => s.mark_challenge_used(user, id, now).await)
    }
    async fn live_challenge(
        &self,
        user: &UserId,
        purpose: Purpose,
        now: Timestamp,
    ) -> StoreResult<Option<ChallengeRecord>> {
        dispatch!(self, s => s.live_challenge(user, purpose, now).await)
    }
    async fn reserve_attempt(
        &self,
        user: &UserId,
        now: Timestamp,
        rules: &LockoutRules,
    ) -> StoreResult<Gate> {
        dispatch!(self, s => s.reserve_attempt(user, now, rules).await)
    }
    async fn clear_failures(&self, user: &UserId) -> StoreResult<()> {
        dispatch!(self, s => s.clear_failures(user).await)
    }
    async fn record_send(
        &self,
        user: &UserId,
        destination: &KeyedHash,
        now: Timestamp,
        rules: &SendRules,
    ) -> StoreResult<SendDecision> {
        dispatch!(self, s => s.record_send(user, destination, now, rules).await)
    }
    async fn reserve_and_load_factor(
        &self,
        user: &UserId,
        factor: &FactorId,
        now: Timestamp,
        rules: &LockoutRules,
    ) -> StoreResult<(Gate, Option<FactorRecord>)> {
        dispatch!(self, s => s.reserve_and_load_factor(user, factor, now, rules).await)
    }
    async fn accept_totp_step(
        &self,
        user: &UserId,
        factor: &FactorId,
        step: u64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        dispatch!(self, s => s.accept_totp_step(user, factor, step, now).await)
    }
    async fn reserve_and_take_attempt(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        now: Timestamp,
        max_attempts: u32,
        rules: &LockoutRules,
    ) -> StoreResult<(Gate, Option<AttemptOutcome>)> {
        dispatch!(self, s => s.reserve_and_take_attempt(user, challenge, now, max_attempts, rules).await)
    }
    async fn complete_challenge(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        factor: &FactorId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        dispatch!(self, s => s.complete_challenge(user, challenge, factor, now).await)
    }
    async fn insert_device(&self, device: &DeviceRecord) -> StoreResult<()> {
        dispatch!(self, s => s.insert_device(device).await)
    }
    async fn device_by_token(&self, hash: &KeyedHash) -> StoreResult<Option<DeviceRecord>> {
        dispatch!(self, s => s.device_by_token(hash).await)
    }
    async fn touch_device(&self, user: &UserId, id: &DeviceId, now: Timestamp) -> StoreResult<()> {
        dispatch!(self, s => s.touch_device(user, id, now).await)
    }
    async fn devices(&self, user: &UserId, now: Timestamp) -> StoreResult<Vec<DeviceRecord>> {
        dispatch!(self, s => s.devices(user, now).await)
    }
    async fn revoke_device(&self, user: &UserId, id: &DeviceId, now: Timestamp) -> StoreResult<bool> {
        dispatch!(self, s => s.revoke_device(user, id, now).await)
    }
    async fn revoke_all_devices(&self, user: &UserId, now: Timestamp) -> StoreResult<u64> {
        dispatch!(self, s => s.revoke_all_devices(user, now).await)
    }
    async fn replace_recovery_codes(&self, user: &UserId, codes: &[RecoveryRecord]) -> StoreResult<()> {
        dispatch!(self, s => s.replace_recovery_codes(user, codes).await)
    }
    async fn recovery_code(
        &self,
        user: &UserId,
        fingerprint: &KeyedHash,
    ) -> StoreResult<Option<RecoveryRecord>> {
        dispatch!(self, s => s.recovery_code(user, fingerprint).await)
    }
    async fn use_recovery_code(&self, user: &UserId, id: &RecoveryId, now: Timestamp) -> StoreResult<bool> {
        dispatch!(self, s => s.use_recovery_code(user, id, now).await)
    }
    async fn recovery_codes_remaining(&self, user: &UserId) -> StoreResult<u32> {
        dispatch!(self, s => s.recovery_codes_remaining(user).await)
    }
}
