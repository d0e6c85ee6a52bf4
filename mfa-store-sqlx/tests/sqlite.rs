//! SQLite: the conformance suite (each test on its own database file in a
//! temporary directory), races, the lock-out formula and durability.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use mfa_core::MfaStore;
use mfa_store_sqlx::{SqliteStore, SqlxStore};

/// A migrated store on a fresh file; the directory lives as long as the
/// process (leaked on purpose: the conformance macro has no teardown).
async fn fresh() -> SqliteStore {
    let dir = tempfile::tempdir().unwrap().keep();
    let url = format!("sqlite://{}?mode=rwc", dir.join("mfa.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

mod conformance {
    mfa_core::store_conformance_tests!(super::fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_on_one_file() {
    let store = Arc::new(fresh().await);
    common::all_races(&[store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_across_two_pools_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mfa.db").display());
    let a = SqliteStore::connect(&url).await.unwrap();
    a.migrate().await.unwrap();
    let b = SqliteStore::connect(&url).await.unwrap();
    common::all_races(&[Arc::new(a), Arc::new(b)]).await;
}

#[tokio::test]
async fn lockout_formula_is_lock_after() {
    common::lockout_formula_matches(&fresh().await).await;
}

#[tokio::test]
async fn in_memory_database_keeps_its_data() {
    let store = SqlxStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let w = common::write_everything(&store).await;
    common::check_everything(&store, &w).await;
    // Concurrency on the single connection still works.
    common::race_sms_code(&[Arc::new(store)]).await;
}

#[tokio::test]
async fn data_survives_reopening_and_migrations_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mfa.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let w = common::write_everything(&store).await;
    store.pool().close().await;
    drop(store);

    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(applied, 1);
    common::check_everything(&store, &w).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn bad_databases_are_errors_not_panics() {
    let err = SqliteStore::connect("sqlite:///nonexistent-dir/x/y.db?mode=rw")
        .await
        .unwrap_err();
    assert!(matches!(err, mfa_core::StoreError::Backend(_)), "{err:?}");
    let err = SqlxStore::connect("nosuchdb://x").await.unwrap_err();
    assert!(err.to_string().contains("nosuchdb"), "{err}");
    // A store whose tables are missing reports a backend error.
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let err = store
        .user_state(&mfa_core::UserId::new("u").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, mfa_core::StoreError::Backend(_)), "{err:?}");
}

#[tokio::test]
async fn failed_transactions_change_nothing() {
    common::failed_transactions_change_nothing(&fresh().await).await;
}

/// Engine-level races (a real `Mfa` over this store): one TOTP code, one
/// SMS code, several first enrolments; one winner, and what each loser got.
mod engine_races {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_totp_verifications_have_one_winner() {
        common::engine::totp_verify_race(fresh().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_sms_verifications_have_one_winner() {
        common::engine::sms_verify_race(fresh().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_first_enrolments_confirm_one_factor() {
        common::engine::first_enrolment_race(fresh().await).await;
    }
}

raw_state_with_dollar_placeholders!(SqliteStore);

/// The rules this backend writes in SQL, held against `mfa_core::rules`.
mod rules_in_sql {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reserve_attempt_sql_is_rules_reserve() {
        common::rules_sql::reserve_matches_rule(&fresh().await, 256);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn take_attempt_sql_is_rules_attempt() {
        common::rules_sql::take_attempt_matches_rule(&fresh().await, 256);
    }
}
