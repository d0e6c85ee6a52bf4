//! PostgreSQL (at `MFA_TEST_POSTGRES_URL`): the conformance suite (each test
//! in its own fresh schema), races on one store and across two stores
//! (two pools, as two app servers), the lock-out formula and durability.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::str::FromStr;
use std::sync::Arc;

use mfa_core::MfaStore;
use mfa_store_sqlx::{PgStore, SqlxStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The database URL, `None` only when the database tests were explicitly
/// skipped (see [`common::database_url`]: unset is a failure otherwise).
fn configured() -> Option<String> {
    common::database_url(common::POSTGRES_ENV, "postgres://postgres@127.0.0.1:5432/test")
}

/// The URL, for tests that passed their `require_database!()` guard.
fn url() -> String {
    configured().expect("require_database!() first")
}

/// Returns from the test when the database tests were explicitly skipped.
macro_rules! require_database {
    () => {
        if configured().is_none() {
            return;
        }
    };
}

/// A new empty schema (old ones from earlier runs are swept).
async fn new_schema() -> String {
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url())
        .await
        .unwrap();
    if common::first_sweep() {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'mfa\\_t\\_%'")
                .fetch_all(&admin)
                .await
                .unwrap();
        for n in names.into_iter().filter(|n| common::stale(n)) {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{n}\" CASCADE"))
                .execute(&admin)
                .await;
        }
    }
    let name = common::unique_name();
    sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    name
}

/// A store whose connections use `schema` (several pools may share it).
async fn store_in(schema: &str, connections: u32) -> PgStore {
    let options = PgConnectOptions::from_str(&url())
        .unwrap()
        .options([("search_path", schema)]);
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .connect_with(options)
        .await
        .unwrap();
    PgStore::from_pool(pool)
}

async fn fresh() -> Option<PgStore> {
    configured()?;
    let schema = new_schema().await;
    let store = store_in(&schema, 4).await;
    store.migrate().await.unwrap();
    Some(store)
}

mod conformance {
    mfa_core::store_conformance_tests!(optional super::fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_on_one_store() {
    require_database!();
    let schema = new_schema().await;
    let store = store_in(&schema, 8).await;
    store.migrate().await.unwrap();
    common::all_races(&[Arc::new(store)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_across_two_stores_on_one_schema() {
    require_database!();
    let schema = new_schema().await;
    let a = store_in(&schema, 5).await;
    a.migrate().await.unwrap();
    let b = store_in(&schema, 5).await;
    b.migrate().await.unwrap();
    common::all_races(&[Arc::new(a), Arc::new(b)]).await;
}

#[tokio::test]
async fn lockout_formula_is_lock_after() {
    require_database!();
    common::lockout_formula_matches(&fresh().await.unwrap()).await;
}

#[tokio::test]
async fn data_survives_reopening_and_migrations_run_twice() {
    require_database!();
    let schema = new_schema().await;
    let store = store_in(&schema, 2).await;
    store.migrate().await.unwrap();
    let w = common::write_everything(&store).await;
    store.pool().close().await;
    drop(store);

    let store = store_in(&schema, 2).await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(applied, 1);
    common::check_everything(&store, &w).await;
}

#[tokio::test]
async fn url_dispatch_and_bad_databases() {
    require_database!();
    let store = SqlxStore::connect(&url()).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    store.close().await;
    // A database that does not exist: a typed error, no panic.
    let err = PgStore::connect(&common::with_database(&url(), "mfa_no_such_database"))
        .await
        .unwrap_err();
    assert!(matches!(err, mfa_core::StoreError::Backend(_)), "{err:?}");
    // Tables missing (not migrated): a backend error.
    let schema = new_schema().await;
    let store = store_in(&schema, 1).await;
    let err = store
        .user_state(&mfa_core::UserId::new("u").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, mfa_core::StoreError::Backend(_)), "{err:?}");
}

/// A verification is two statements (sqlx's own statement log, counted).
#[tokio::test]
async fn a_verification_is_two_statements() {
    require_database!();
    let schema = new_schema().await;
    let store = store_in(&schema, 1).await;
    store.migrate().await.unwrap();
    assert_eq!(common::statements_per_verify(&store).await, (2, 2));
}

#[tokio::test]
async fn failed_transactions_change_nothing() {
    require_database!();
    common::failed_transactions_change_nothing(&fresh().await.unwrap()).await;
}

/// Engine-level races (a real `Mfa` over this store): one TOTP code, one
/// SMS code, several first enrolments; one winner, and what each loser got.
mod engine_races {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_totp_verifications_have_one_winner() {
        require_database!();
        common::engine::totp_verify_race(fresh().await.unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_sms_verifications_have_one_winner() {
        require_database!();
        common::engine::sms_verify_race(fresh().await.unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_first_enrolments_confirm_one_factor() {
        require_database!();
        common::engine::first_enrolment_race(fresh().await.unwrap()).await;
    }
}

raw_state_with_dollar_placeholders!(PgStore);

/// The rules this backend writes in SQL, held against `mfa_core::rules`.
mod rules_in_sql {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reserve_attempt_sql_is_rules_reserve() {
        require_database!();
        common::rules_sql::reserve_matches_rule(&fresh().await.unwrap(), 128);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn take_attempt_sql_is_rules_attempt() {
        require_database!();
        common::rules_sql::take_attempt_matches_rule(&fresh().await.unwrap(), 128);
    }
}
