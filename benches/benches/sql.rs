//! Criterion benches of TOTP verification through the engine on the SQL
//! stores of `mfa-store-sqlx`: SQLite (a file, WAL) and PostgreSQL, with
//! 1 000 and then 100 000 enrolled users, next to the same verification on
//! `MemoryStore` measured in the same run. `cargo bench -p mfa-benches --bench
//! sql`; `docs/PERFORMANCE.md` holds the results.
//!
//! PostgreSQL: `MFA_BENCH_POSTGRES_URL`, else `MFA_TEST_POSTGRES_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`; the bench works in its own
//! schema `mfa_bench` (dropped and re-created each run). Unreachable: the
//! PostgreSQL benches are skipped with a note.
//!
//! The filler users get one TOTP factor row each, written straight to the
//! store (a sealed blob that is never opened); the measured user enrols
//! through the engine.

// Bench harness code: a failed setup step must stop the run loudly (unwrap,
// expect, panic), and criterion's macros generate undocumented items.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use mfa_core::store::FactorRecord;
use mfa_core::*;
use mfa_store_sqlx::{PgStore, SqliteStore};
use sha1::Sha1;
use sqlx::Executor;
use sqlx::postgres::PgPoolOptions;
use tokio::runtime::Runtime;

type HmacSha1 = Hmac<Sha1>;

const STEP: Duration = Duration::from_secs(30);
const SIZES: [usize; 2] = [1_000, 100_000];

fn hotp(key: &HmacSha1, counter: u64) -> String {
    let mut mac = key.clone();
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let v = u32::from_be_bytes([h[off], h[off + 1], h[off + 2], h[off + 3]]) & 0x7fff_ffff;
    format!("{:06}", v % 1_000_000)
}

struct Bed<S: MfaStore> {
    mfa: Mfa<S>,
    clock: Arc<ManualClock>,
    user: UserId,
    factor: FactorId,
    key: HmacSha1,
    wrong: String,
    users: usize,
}

fn engine<S: MfaStore>(store: S, clock: Arc<ManualClock>) -> Mfa<S> {
    let config = MfaConfig::builder("Bench")
        .lockout(mfa_benches::late_lockout())
        .build()
        .unwrap();
    Mfa::builder(store, Keys::new(&[7; 32], 1, &[9; 32]).unwrap(), config)
        .clock(clock)
        .policy(Policy::required_from(Timestamp::EPOCH))
        .build()
}

async fn bed<S: MfaStore>(store: S) -> Bed<S> {
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_secs(1_700_000_010)));
    let mfa = engine(store, clock.clone());
    let user = UserId::new("measured-user").unwrap();
    let caller = Caller::password_only(Audience::new(Platform::WEB));
    let request = EnrollRequest::Totp {
        label: "Phone".into(),
        account_name: "bench@example.org".into(),
    };
    let Enrollment::Totp(t) = mfa.begin_enrollment(&user, request, &caller).await.unwrap() else {
        panic!("not a TOTP enrolment");
    };
    let seed = base32::decode(
        base32::Alphabet::Rfc4648 { padding: false },
        t.secret_base32.expose(),
    )
    .unwrap();
    let key = HmacSha1::new_from_slice(&seed).unwrap();
    let step = clock.now().unix_secs() as u64 / 30;
    mfa.confirm_enrollment(&user, &t.factor, &hotp(&key, step))
        .await
        .unwrap();
    let window: Vec<String> = (step - 1..=step + 2).map(|s| hotp(&key, s)).collect();
    let wrong = (0..1_000_000u32)
        .map(|v| format!("{:06}", (v * 7919 + 123_457) % 1_000_000))
        .find(|c| !window.contains(c))
        .unwrap();
    Bed {
        mfa,
        clock,
        user,
        factor: t.factor,
        key,
        wrong,
        users: 1,
    }
}

/// Adds filler users (one TOTP factor row each) through `store` until the
/// bed has `total`, 16 inserts in flight.
async fn fill<S: MfaStore, F: MfaStore>(bed: &mut Bed<S>, store: &F, total: usize) {
    let now = bed.clock.now();
    let rows = (bed.users..total).map(|i| FactorRecord {
        id: FactorId::generate().unwrap(),
        user: UserId::new(format!("filler-{i:06}")).unwrap(),
        kind: FactorKind::Totp,
        label: "Phone".into(),
        state: FactorState::Active,
        secret: Some(Sealed(vec![1; 65])),
        destination: None,
        masked: None,
        destination_key: None,
        last_step: Some(1),
        created_at: now,
        confirmed_at: Some(now),
        last_used_at: None,
    });
    futures::stream::iter(rows)
        .for_each_concurrent(16, |record| async move {
            store.insert_factor(&record).await.unwrap();
        })
        .await;
    bed.users = total.max(bed.users);
}

fn run_verifies<S: MfaStore>(c: &mut Criterion, rt: &Runtime, name: &str, bed: &Bed<S>) {
    let web = Audience::new(Platform::WEB);
    let mut g = c.benchmark_group(format!("sql_totp_verify/{name}"));
    g.bench_function(format!("right/{}_users", bed.users), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                bed.clock.advance(STEP);
                let step = bed.clock.now().unix_secs() as u64 / 30;
                let a = Attempt::login(
                    AttemptTarget::Totp(bed.factor.clone()),
                    hotp(&bed.key, step),
                    web.clone(),
                );
                let t = Instant::now();
                let _ = black_box(rt.block_on(bed.mfa.verify(&bed.user, &a)).unwrap());
                total += t.elapsed();
            }
            total
        })
    });
    let wrong = Attempt::login(
        AttemptTarget::Totp(bed.factor.clone()),
        bed.wrong.clone(),
        web.clone(),
    );
    g.bench_function(format!("wrong/{}_users", bed.users), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let t = Instant::now();
                let r = rt.block_on(bed.mfa.verify(&bed.user, &wrong));
                total += t.elapsed();
                assert!(matches!(black_box(r), Err(MfaError::InvalidCode { .. })), "{i}");
                if i % 64 == 63 {
                    rt.block_on(bed.mfa.store().clear_failures(&bed.user)).unwrap();
                }
            }
            rt.block_on(bed.mfa.store().clear_failures(&bed.user)).unwrap();
            total
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
}

fn sql(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // The in-memory store in the same run, as the reference.
    let memory = rt.block_on(bed(MemoryStore::new()));
    run_verifies(c, &rt, "memory", &memory);
    drop(memory);

    // SQLite: a file in WAL mode.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut sqlite = rt.block_on(async {
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        bed(store).await
    });
    for n in SIZES {
        let t = Instant::now();
        let store = sqlite.mfa.store().clone();
        rt.block_on(async {
            fill(&mut sqlite, &store, n).await;
            // Settle before measuring: statistics, WAL folded into the file.
            store
                .pool()
                .execute("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)")
                .await
                .unwrap();
        });
        eprintln!("sqlite: {n} users in {:.1?}", t.elapsed());
        run_verifies(c, &rt, "sqlite_wal_file", &sqlite);
    }
    drop(sqlite);

    // PostgreSQL, in a schema of its own.
    let url = std::env::var("MFA_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("MFA_TEST_POSTGRES_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pg = rt.block_on(async {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(3))
            .connect(&url)
            .await
            .ok()?;
        admin
            .execute("DROP SCHEMA IF EXISTS mfa_bench CASCADE; CREATE SCHEMA mfa_bench")
            .await
            .unwrap();
        admin.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET search_path TO mfa_bench").await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .unwrap();
        let store = PgStore::from_pool(pool);
        store.migrate().await.unwrap();
        // Filler rows go through their own pool without waiting for each
        // commit's WAL flush (setup only; the measured pool keeps the
        // server's default, synchronous_commit = on).
        let filler = PgPoolOptions::new()
            .max_connections(16)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET search_path TO mfa_bench; SET synchronous_commit TO off")
                        .await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .unwrap();
        Some((bed(store).await, PgStore::from_pool(filler)))
    });
    match pg {
        Some((mut pg, filler)) => {
            for n in SIZES {
                let t = Instant::now();
                rt.block_on(async {
                    fill(&mut pg, &filler, n).await;
                    // Settle before measuring: statistics, and the filler's
                    // WAL flushed by a checkpoint.
                    filler.pool().execute("ANALYZE; CHECKPOINT").await.unwrap();
                });
                eprintln!("postgres: {n} users in {:.1?}", t.elapsed());
                run_verifies(c, &rt, "postgres", &pg);
            }
        }
        None => eprintln!("PostgreSQL not reachable at {url}: its benches are skipped"),
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = sql
}
criterion_main!(benches);
