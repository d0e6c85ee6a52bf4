//! One database handle for SQLite, PostgreSQL and MySQL through sqlx's
//! `Any` driver. Queries are written once with `?` placeholders and
//! rewritten to `$1, $2…` for PostgreSQL.

use std::borrow::Cow;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// A database failure, with the cause (never shown to a user).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The driver failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL names no supported database.
    #[error("unsupported database URL (use sqlite:, postgres: or mysql:)")]
    Url,
}

/// Which database the URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL / MariaDB.
    MySql,
}

impl Backend {
    /// From a database URL's scheme.
    pub fn from_url(url: &str) -> Result<Self, DbError> {
        match url.split(':').next().unwrap_or_default() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            "mysql" | "mariadb" => Ok(Backend::MySql),
            _ => Err(DbError::Url),
        }
    }
}

/// The portal's database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// Rewrites `?` placeholders for PostgreSQL. Our SQL never contains a `?`
/// inside a string literal.
pub fn placeholders(backend: Backend, sql: &str) -> Cow<'_, str> {
    if backend != Backend::Postgres || !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

impl Db {
    /// Connects and runs the portal's migrations.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let max = if backend == Backend::Sqlite { 4 } else { 8 };
        let pool = AnyPoolOptions::new().max_connections(max).connect(url).await?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA busy_timeout = 5000").execute(&pool).await?;
        }
        let db = Db { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), DbError> {
        // The MFA store's migrations share sqlx's bookkeeping table: each
        // set ignores the other's entries.
        let mut migrator = match self.backend {
            // Standard SQL that SQLite and PostgreSQL both take as written.
            Backend::Sqlite | Backend::Postgres => sqlx::migrate!("migrations/standard"),
            Backend::MySql => sqlx::migrate!("migrations/mysql"),
        };
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Which database.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Prepares `sql` (with `?` placeholders) for this database.
    pub fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        placeholders(self.backend, sql)
    }

    /// Runs a statement built by `bind` on `sql`; returns rows affected.
    pub async fn exec(&self, sql: &str, bind: impl FnOnce(Query<'_>) -> Query<'_>) -> Result<u64, DbError> {
        let q = self.sql(sql);
        Ok(bind(sqlx::query(&q)).execute(&self.pool).await?.rows_affected())
    }

    /// Fetches all rows.
    pub async fn rows(
        &self,
        sql: &str,
        bind: impl FnOnce(Query<'_>) -> Query<'_>,
    ) -> Result<Vec<AnyRow>, DbError> {
        let q = self.sql(sql);
        Ok(bind(sqlx::query(&q)).fetch_all(&self.pool).await?)
    }

    /// Fetches at most one row.
    pub async fn row(
        &self,
        sql: &str,
        bind: impl FnOnce(Query<'_>) -> Query<'_>,
    ) -> Result<Option<AnyRow>, DbError> {
        let q = self.sql(sql);
        Ok(bind(sqlx::query(&q)).fetch_optional(&self.pool).await?)
    }

    /// A count.
    pub async fn count(&self, sql: &str, bind: impl FnOnce(Query<'_>) -> Query<'_>) -> Result<i64, DbError> {
        let q = self.sql(sql);
        let row = bind(sqlx::query(&q)).fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>(0)?)
    }
}

/// A query on the `Any` driver.
pub type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        assert_eq!(
            placeholders(Backend::Postgres, "a = ? AND b = ?"),
            "a = $1 AND b = $2"
        );
        assert_eq!(placeholders(Backend::Sqlite, "a = ?"), "a = ?");
        assert_eq!(placeholders(Backend::MySql, "a = ?"), "a = ?");
    }
}
