//! MySQL / MariaDB (at `MFA_TEST_MYSQL_URL`): the conformance suite (each
//! test in its own fresh database), races on one store and across two
//! stores, the lock-out formula, case-sensitive ids and durability.
#![cfg(feature = "mysql")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::str::FromStr;
use std::sync::Arc;

use mfa_core::MfaStore;
use mfa_store_sqlx::{MySqlStore, SqlxStore};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};

/// The database URL, `None` only when the database tests were explicitly
/// skipped (see [`common::database_url`]: unset is a failure otherwise).
fn configured() -> Option<String> {
    common::database_url(common::MYSQL_ENV, "mysql://root@127.0.0.1:3306/test")
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

/// A new empty database (old ones from earlier runs are swept).
async fn new_database() -> String {
    let admin = MySqlPoolOptions::new()
        .max_connections(1)
        .connect(&url())
        .await
        .unwrap();
    if common::first_sweep() {
        let names: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT CAST(SCHEMA_NAME AS BINARY) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'mfa\\_t\\_%'",
        )
        .fetch_all(&admin)
        .await
        .unwrap();
        for n in names
            .into_iter()
            .filter_map(|n| String::from_utf8(n).ok())
            .filter(|n| common::stale(n))
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS `{n}`"))
                .execute(&admin)
                .await;
        }
    }
    let name = common::unique_name();
    sqlx::query(&format!("CREATE DATABASE `{name}`"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    name
}

/// A store on `database` (several pools may share it).
async fn store_in(database: &str, connections: u32) -> MySqlStore {
    let options = MySqlConnectOptions::from_str(&url()).unwrap().database(database);
    let pool = MySqlPoolOptions::new()
        .max_connections(connections)
        .connect_with(options)
        .await
        .unwrap();
    MySqlStore::from_pool(pool)
}

async fn fresh() -> Option<MySqlStore> {
    configured()?;
    let db = new_database().await;
    let store = store_in(&db, 4).await;
    store.migrate().await.unwrap();
    Some(store)
}

mod conformance {
    mfa_core::store_conformance_tests!(optional super::fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_on_one_store() {
    require_database!();
    let db = new_database().await;
    let store = store_in(&db, 8).await;
    store.migrate().await.unwrap();
    common::all_races(&[Arc::new(store)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_across_two_stores_on_one_database() {
    require_database!();
    let db = new_database().await;
    let a = store_in(&db, 5).await;
    a.migrate().await.unwrap();
    let b = store_in(&db, 5).await;
    common::all_races(&[Arc::new(a), Arc::new(b)]).await;
}

#[tokio::test]
async fn lockout_formula_is_lock_after() {
    require_database!();
    common::lockout_formula_matches(&fresh().await.unwrap()).await;
}

#[tokio::test]
async fn user_ids_compare_exactly() {
    require_database!();
    use mfa_core::testkit::fixtures::factor;
    use mfa_core::{FactorKind, UserId};
    let store = fresh().await.unwrap();
    let lower = UserId::new("alice").unwrap();
    let f = factor(&lower, FactorKind::Totp);
    store.insert_factor(&f).await.unwrap();
    for other in ["Alice", "ALICE", "alice ", "alicé"] {
        let u = UserId::new(other).unwrap();
        assert!(
            store.factors(&u).await.unwrap().is_empty(),
            "{other:?} sees alice's factors"
        );
    }
    assert_eq!(store.factors(&lower).await.unwrap().len(), 1);
    let long = UserId::new("é".repeat(127)).unwrap();
    store
        .insert_factor(&factor(&long, FactorKind::Totp))
        .await
        .unwrap();
    assert_eq!(store.factors(&long).await.unwrap()[0].user, long);
}

#[tokio::test]
async fn data_survives_reopening_and_migrations_run_twice() {
    require_database!();
    let db = new_database().await;
    let store = store_in(&db, 2).await;
    store.migrate().await.unwrap();
    let w = common::write_everything(&store).await;
    store.pool().close().await;
    drop(store);

    let store = store_in(&db, 2).await;
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
    assert_eq!(store.backend(), "mysql");
    store.close().await;
    let err = MySqlStore::connect(&common::with_database(&url(), "mfa_no_such_database"))
        .await
        .unwrap_err();
    assert!(matches!(err, mfa_core::StoreError::Backend(_)), "{err:?}");
    let db = new_database().await;
    let store = store_in(&db, 1).await;
    let err = store
        .user_state(&mfa_core::UserId::new("u").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, mfa_core::StoreError::Backend(_)), "{err:?}");
}

/// Statements per verification (documented in the crate docs).
#[tokio::test]
async fn statements_per_verification() {
    require_database!();
    // One connection, already open: connecting runs session `SET`s that
    // sqlx logs as statements too.
    let db = new_database().await;
    let store = store_in(&db, 1).await;
    store.migrate().await.unwrap();
    assert_eq!(common::statements_per_verify(&store).await, (8, 12));
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
