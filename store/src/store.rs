//! Opening the database: one [`Store`] per process, chosen by URL.
//!
//! `sqlite://path` (the default; a bare path is read as a SQLite file) opens or creates
//! the file in WAL mode with a busy timeout, so readers never block the writer and
//! writers from several connections (or processes) wait for each other instead of
//! failing. `postgres://…` connects to PostgreSQL. Migrations for the chosen backend
//! run on open (`migrations/sqlite`, `migrations/postgres`); both shape the same
//! tables.
//!
//! SQL is written once per operation where the dialects agree (both accept `$1`
//! placeholders) and per backend only where they differ (locking, byte lengths).

use std::str::FromStr;

use sqlx::Connection;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::audit::AuditLog;
use crate::kv::SqlKv;
use crate::registry::Registry;
use crate::usage::UsageLedger;

/// How long a SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors from the durable store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL `{0}`: use `sqlite://PATH` (or a plain file path) or `postgres://USER@HOST/DB`"
    )]
    UnsupportedUrl(String),
    #[error("cannot open database `{url}`: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating database `{url}` failed: {source}")]
    Migrate {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A group-committed audit batch failed and was rolled back; the message is the cause.
    #[error("audit append failed: {0}")]
    BatchFailed(String),
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("stored data is not what this version of djinn wrote: {0}")]
    Corrupt(String),
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool; the body is compiled once per
/// backend, so SQL and binds written in it must suit both.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// The durable store: registry, key-value, audit log and usage over one connection pool.
///
/// Cheap to clone (a pool handle); clones share connections. Open it once at startup
/// with [`Store::open`] and hand clones (or the views from [`Store::kv`],
/// [`Store::audit`], [`Store::registry`], [`Store::usage`]) to whoever needs them.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

/// Knobs for [`Store::open_with`]; [`Default`] is what [`Store::open`] uses.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections in the pool.
    pub max_connections: u32,
    /// SQLite only: `FULL` (default) makes every commit durable across power loss;
    /// `NORMAL` in WAL mode survives process crashes but may lose the last commits on
    /// power loss, and is several times faster for single appends.
    pub sqlite_synchronous_full: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            sqlite_synchronous_full: true,
        }
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the database named by `url`.
    ///
    /// Fails if the URL scheme is unknown, the database cannot be reached or created,
    /// or its migrations do not match this build (for example a newer djinn wrote it).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, &StoreOptions::default()).await
    }

    /// [`Store::open`] with explicit options.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let shown = redact(url);
        let open_err = |source| StoreError::Open {
            url: shown.clone(),
            source,
        };
        let migrate_err = |source| StoreError::Migrate {
            url: shown.clone(),
            source,
        };
        let db = match backend_of(url)? {
            Backend::Sqlite => {
                let url = if url.starts_with("sqlite:") {
                    url.to_owned()
                } else {
                    format!("sqlite://{url}")
                };
                let connect = SqliteConnectOptions::from_str(&url)
                    .map_err(open_err)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(if options.sqlite_synchronous_full {
                        SqliteSynchronous::Full
                    } else {
                        SqliteSynchronous::Normal
                    })
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true);
                // An in-memory database is shared between pooled connections through
                // SQLite's shared cache, whose table locks ignore the busy timeout; one
                // connection avoids spurious "table is locked" errors.
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                let max = if in_memory {
                    1
                } else {
                    options.max_connections.max(1)
                };
                let pool = SqlitePoolOptions::new()
                    .max_connections(max)
                    .connect_with(connect)
                    .await
                    .map_err(open_err)?;
                // sqlx takes no lock when migrating SQLite, so two processes opening a
                // new file at once would both create the tables and one would fail. Run
                // the migrations inside one `BEGIN IMMEDIATE` transaction instead: the
                // second process waits for the write lock, then finds them applied.
                let mut conn = pool.acquire().await.map_err(open_err)?;
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(open_err)?;
                sqlx::migrate!("./migrations/sqlite")
                    .run(&mut *tx)
                    .await
                    .map_err(migrate_err)?;
                tx.commit().await.map_err(open_err)?;
                drop(conn);
                Db::Sqlite(pool)
            }
            Backend::Postgres => {
                let connect = PgConnectOptions::from_str(url).map_err(open_err)?;
                let pool = PgPoolOptions::new()
                    .max_connections(options.max_connections.max(1))
                    .connect_with(connect)
                    .await
                    .map_err(open_err)?;
                sqlx::migrate!("./migrations/postgres")
                    .run(&pool)
                    .await
                    .map_err(migrate_err)?;
                Db::Postgres(pool)
            }
        };
        tracing::debug!(url = %shown, "store opened");
        Ok(Self { db })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Per-plugin key-value storage ([`crate::KvStore`]).
    pub fn kv(&self) -> SqlKv {
        SqlKv::new(self.db.clone())
    }

    /// The hash-chained audit log.
    pub fn audit(&self) -> AuditLog {
        AuditLog::new(self.db.clone())
    }

    /// The plugin registry.
    pub fn registry(&self) -> Registry {
        Registry::new(self.db.clone())
    }

    /// LLM token and cost accounting per plugin per UTC day.
    pub fn usage(&self) -> UsageLedger {
        UsageLedger::new(self.db.clone())
    }

    /// Closes every pooled connection; waits for checked-out ones to come back.
    pub async fn close(&self) {
        on_pool!(&self.db, pool => pool.close().await)
    }

    /// The SQLite pool, for tests and tools that need raw access (e.g. tamper tests).
    #[doc(hidden)]
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.db {
            Db::Sqlite(p) => Some(p),
            Db::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for tests and tools that need raw access.
    #[doc(hidden)]
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.db {
            Db::Postgres(p) => Some(p),
            Db::Sqlite(_) => None,
        }
    }
}

/// The backend a URL selects: `postgres://`/`postgresql://` → PostgreSQL, `sqlite:` or a
/// bare path → SQLite, anything else with a scheme is refused.
pub fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite:") || !url.contains("://") {
        if url.is_empty() {
            return Err(StoreError::UnsupportedUrl(String::new()));
        }
        Ok(Backend::Sqlite)
    } else {
        Err(StoreError::UnsupportedUrl(redact(url)))
    }
}

/// The URL with any password replaced by `***`, for messages and logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Converts a count the API exposes as `u64` into the `BIGINT` both backends store.
pub(crate) fn to_i64(what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} is too large")))
}

/// Converts a stored `BIGINT` back, refusing negatives (which this crate never writes).
pub(crate) fn to_u64(what: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} is negative ({v})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_backends() {
        assert_eq!(backend_of("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(
            backend_of("/var/lib/djinn/djinn.db").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(backend_of("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(
            backend_of("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(matches!(
            backend_of("mysql://u:pw@h/db"),
            Err(StoreError::UnsupportedUrl(u)) if u == "mysql://u:***@h/db"
        ));
        assert!(backend_of("").is_err());
    }

    #[tokio::test]
    async fn in_memory_sqlite_works() {
        use crate::{AuditKind, KvStore, Namespace, NewAuditRecord};
        let store = Store::open("sqlite::memory:").await.unwrap();
        let ns = Namespace::new("p");
        store.kv().set(&ns, "k", b"v", 10).await.unwrap();
        let clone = store.clone();
        assert_eq!(clone.kv().get(&ns, "k").await.unwrap(), Some(b"v".to_vec()));
        let audit = store.audit();
        audit
            .append(NewAuditRecord::new(
                AuditKind::Question,
                "t",
                serde_json::json!({}),
            ))
            .await
            .unwrap();
        assert!(audit.verify().await.unwrap().is_intact());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://a.db"), "sqlite://a.db");
    }
}
