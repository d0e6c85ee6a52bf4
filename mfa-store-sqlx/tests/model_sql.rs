//! The model-based security test of `mfa-core/tests/model.rs` (invariants
//! I1-I4, stated there) on the SQL stores: the same generated cases and
//! reference model (`mfa-core/tests/model/mod.rs`, included below), fewer
//! cases. SQLite always (a temporary file); PostgreSQL and MySQL/MariaDB
//! with their features when `MFA_TEST_POSTGRES_URL` / `MFA_TEST_MYSQL_URL`
//! are set (CI sets them; see `common::database_url`). Each backend gets one
//! fresh migrated database (schema) and every case its own user names, so
//! cases share it without seeing each other.
//!
//! `cargo test -p mfa-store-sqlx --all-features --test model_sql`
//! (64 cases of up to 30 ops per backend; `PROPTEST_CASES`, `MODEL_OPS`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../../mfa-core/tests/model/mod.rs"]
mod machine;

use std::sync::atomic::{AtomicU64, Ordering};

use mfa_core::MfaStore;
use proptest::test_runner::{Config, TestRunner};

fn env_or(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs the model on clones of `store` (one pool), each case with its own
/// user-name prefix.
fn run_model<S: MfaStore + Clone>(rt: &tokio::runtime::Runtime, store: S, backend: &str) {
    let cases = env_or("PROPTEST_CASES", 64);
    let ops = env_or("MODEL_OPS", 30) as usize;
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    });
    let run = common::unique_name();
    let n = AtomicU64::new(0);
    let started = std::time::Instant::now();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = runner.run(&machine::case(1..ops + 1), |case| {
        let prefix = format!("{run}_{}_", n.fetch_add(1, Ordering::Relaxed));
        rt.block_on(machine::run_case(store.clone(), &case, &prefix));
        Ok(())
    });
    std::panic::set_hook(hook);
    eprintln!(
        "model on {backend}: {cases} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{backend}: {e}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[cfg(feature = "sqlite")]
#[test]
fn model_on_sqlite() {
    use mfa_store_sqlx::SqliteStore;
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("mfa.db").display());
    let store = rt.block_on(async {
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
    });
    run_model(&rt, store, "sqlite");
}

#[cfg(feature = "postgres")]
#[test]
fn model_on_postgres() {
    use std::str::FromStr;

    use mfa_store_sqlx::PgStore;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    let Some(url) = common::database_url(common::POSTGRES_ENV, "postgres://postgres@127.0.0.1:5432/test")
    else {
        return;
    };
    let rt = runtime();
    let store = rt.block_on(async {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let schema = common::unique_name();
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let options = PgConnectOptions::from_str(&url)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap();
        let store = PgStore::from_pool(pool);
        store.migrate().await.unwrap();
        store
    });
    run_model(&rt, store, "postgres");
}

#[cfg(feature = "mysql")]
#[test]
fn model_on_mysql() {
    use std::str::FromStr;

    use mfa_store_sqlx::MySqlStore;
    use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
    let Some(url) = common::database_url(common::MYSQL_ENV, "mysql://root@127.0.0.1:3306/test") else {
        return;
    };
    let rt = runtime();
    let store = rt.block_on(async {
        let admin = MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let name = common::unique_name();
        sqlx::query(&format!("CREATE DATABASE `{name}`"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let options = MySqlConnectOptions::from_str(&url).unwrap().database(&name);
        let pool = MySqlPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap();
        let store = MySqlStore::from_pool(pool);
        store.migrate().await.unwrap();
        store
    });
    run_model(&rt, store, "mysql");
}
