//! Test databases: a fresh SQLite file per test, and — when `DJINN_TEST_POSTGRES_URL` is
//! set (see `.ci/postgres.sh`) — a fresh PostgreSQL schema per test, so runs never collide.
#![allow(dead_code)]

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use djinn_store::Store;

pub struct TestDb {
    pub store: Store,
    /// The URL the store was opened with (open it again for a "second process").
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: (base URL, schema) to drop after the test.
    pub schema: Option<(String, String)>,
}

impl TestDb {
    /// Runs raw SQL (with `$1` binds as text) outside the store's API, e.g. to tamper.
    pub async fn exec(&self, sql: &str) -> u64 {
        if let Some(pool) = self.store.sqlite_pool() {
            sqlx::query(sql)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected()
        } else {
            let pool = self.store.postgres_pool().unwrap();
            sqlx::query(sql)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected()
        }
    }
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("djinn.db").display());
    let store = Store::open(&url).await.unwrap();
    TestDb {
        store,
        url,
        _dir: Some(dir),
        schema: None,
    }
}

/// `None` (after a visible line on stderr) when no PostgreSQL is configured.
pub async fn postgres(test: &str) -> Option<TestDb> {
    let Ok(base) = std::env::var("DJINN_TEST_POSTGRES_URL") else {
        // Written to the real stderr, not through `eprintln!`, so libtest's output
        // capture cannot hide it: a skipped backend must be visible.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: DJINN_TEST_POSTGRES_URL not set ({test}); source .ci/postgres.sh to run it"
        );
        return None;
    };
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let schema = format!(
        "djinn_t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000
    );
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let store = Store::open(&url).await.unwrap();
    Some(TestDb {
        store,
        url,
        _dir: None,
        schema: Some((base, schema)),
    })
}

/// Drops a passed PostgreSQL test's schema (a failed test's stays, for inspection).
pub async fn cleanup(schema: Option<(String, String)>) {
    if let Some((base, schema)) = schema {
        let admin = sqlx::PgPool::connect(&base).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    }
}

/// Declares each listed `async fn name(db: TestDb)` as two tests:
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(mut db) = $crate::common::postgres(stringify!($name)).await else { return };
                    let schema = db.schema.take();
                    super::$name(db).await;
                    $crate::common::cleanup(schema).await;
                }
            )*
        }
    };
}
