//! Server-side sessions in the portal's own database (table
//! `portal_sessions`), so a restart or a second instance keeps everyone
//! signed in, and a signed-out session id can never be replayed (the
//! record is gone, unlike a cookie-held session).
//!
//! The stores are tower-sessions-sqlx-store's, sharing the MFA store's
//! connection pool; this module only picks the one for the database in use.

use std::time::Duration;

use async_trait::async_trait;
use mfa_store_sqlx::SqlxStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion};
use tower_sessions_sqlx_store::{MySqlStore, PostgresStore, SqliteStore};

/// The session table.
pub const TABLE: &str = "portal_sessions";

/// The session store for the portal's database.
#[derive(Clone, Debug)]
pub enum SessionStore {
    /// SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PostgresStore),
    /// MySQL / MariaDB.
    MySql(MySqlStore),
}

impl SessionStore {
    /// The store over `mfa`'s pool, its table created if missing.
    pub async fn over(mfa: &SqlxStore) -> Result<Self, sqlx::Error> {
        let bad_name = |e: String| sqlx::Error::Configuration(e.into());
        let store = match mfa {
            SqlxStore::Sqlite(s) => SessionStore::Sqlite(
                SqliteStore::new(s.pool().clone())
                    .with_table_name(TABLE)
                    .map_err(bad_name)?,
            ),
            // In the schema / database the URL names, beside the portal's
            // tables (the store's default would create a `tower_sessions`
            // schema or database, which needs more privileges).
            SqlxStore::Postgres(s) => {
                let schema: String = sqlx::query_scalar("SELECT current_schema()")
                    .fetch_one(s.pool())
                    .await?;
                SessionStore::Postgres(
                    PostgresStore::new(s.pool().clone())
                        .with_schema_name(schema)
                        .and_then(|p| p.with_table_name(TABLE))
                        .map_err(bad_name)?,
                )
            }
            SqlxStore::MySql(s) => {
                let database: String = sqlx::query_scalar("SELECT DATABASE()")
                    .fetch_one(s.pool())
                    .await?;
                SessionStore::MySql(
                    MySqlStore::new(s.pool().clone())
                        .with_schema_name(database)
                        .and_then(|m| m.with_table_name(TABLE))
                        .map_err(bad_name)?,
                )
            }
            _ => {
                return Err(sqlx::Error::Configuration(
                    "no session store for this database".into(),
                ));
            }
        };
        match &store {
            SessionStore::Sqlite(s) => s.migrate().await?,
            SessionStore::Postgres(s) => s.migrate().await?,
            SessionStore::MySql(s) => s.migrate().await?,
        }
        Ok(store)
    }

    /// Deletes expired sessions every `period`, in the background, for as
    /// long as the process runs.
    pub fn clean_up_every(&self, period: Duration) {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                if let Err(e) = store.delete_expired().await {
                    tracing::warn!(error = %e, "expired sessions were not deleted");
                }
            }
        });
    }
}

#[async_trait]
impl ExpiredDeletion for SessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            SessionStore::Sqlite(s) => s.delete_expired().await,
            SessionStore::Postgres(s) => s.delete_expired().await,
            SessionStore::MySql(s) => s.delete_expired().await,
        }
    }
}

#[async_trait]
impl tower_sessions::SessionStore for SessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            SessionStore::Sqlite(s) => s.create(record).await,
            SessionStore::Postgres(s) => s.create(record).await,
            SessionStore::MySql(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            SessionStore::Sqlite(s) => s.save(record).await,
            SessionStore::Postgres(s) => s.save(record).await,
            SessionStore::MySql(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            SessionStore::Sqlite(s) => s.load(id).await,
            SessionStore::Postgres(s) => s.load(id).await,
            SessionStore::MySql(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            SessionStore::Sqlite(s) => s.delete(id).await,
            SessionStore::Postgres(s) => s.delete(id).await,
            SessionStore::MySql(s) => s.delete(id).await,
        }
    }
}
