//! [`KvStore`] on the SQL store.
//!
//! The namespace is its own column, filled from the [`Namespace`] the host built from the
//! plugin's identity; keys are stored as bytes and matched by equality or byte range,
//! never by `LIKE`, so no key (`%`, `_`, `../other`) can reach another namespace.
//!
//! The quota check and the write happen in one transaction with the namespace's usage
//! row: on SQLite under `BEGIN IMMEDIATE` (the database write lock, taken before reading,
//! so no other writer can slip in between check and write), on PostgreSQL by locking the
//! `kv_usage` row with `SELECT … FOR UPDATE`, so concurrent writers of one namespace —
//! even from different host processes — take turns. Any error rolls the whole
//! transaction back: nothing partial is ever written.

use async_trait::async_trait;
use sqlx::Row;

use super::{KvError, KvStore, Namespace, entry_size, validate};
use crate::store::{Db, StoreError, on_pool};

/// Key-value storage in the `kv` table; obtain one with [`crate::Store::kv`].
#[derive(Debug, Clone)]
pub struct SqlKv {
    db: Db,
}

const ENSURE_USAGE: &str = "INSERT INTO kv_usage (namespace, used_bytes) VALUES ($1, 0) ON CONFLICT (namespace) DO NOTHING";
const USAGE_SQLITE: &str = "SELECT used_bytes FROM kv_usage WHERE namespace = $1";
const USAGE_PG: &str = "SELECT used_bytes FROM kv_usage WHERE namespace = $1 FOR UPDATE";
const OLD_LEN_SQLITE: &str = "SELECT length(value) FROM kv WHERE namespace = $1 AND key = $2";
const OLD_LEN_PG: &str =
    "SELECT octet_length(value)::BIGINT FROM kv WHERE namespace = $1 AND key = $2";
const UPSERT: &str = "INSERT INTO kv (namespace, key, value) VALUES ($1, $2, $3) \
     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value";
const SET_USAGE: &str = "UPDATE kv_usage SET used_bytes = $2 WHERE namespace = $1";
const DELETE_SQLITE: &str =
    "DELETE FROM kv WHERE namespace = $1 AND key = $2 RETURNING length(value)";
const DELETE_PG: &str =
    "DELETE FROM kv WHERE namespace = $1 AND key = $2 RETURNING octet_length(value)::BIGINT";

impl SqlKv {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

fn failed(e: impl Into<StoreError>) -> KvError {
    KvError::Failed(e.into().to_string())
}

/// The smallest byte string greater than every string starting with `prefix`, or `None`
/// when there is none (empty prefix or all `0xFF`).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[async_trait]
impl KvStore for SqlKv {
    async fn get(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        validate(key, None)?;
        on_pool!(&self.db, pool => {
            sqlx::query_scalar::<_, Vec<u8>>("SELECT value FROM kv WHERE namespace = $1 AND key = $2")
                .bind(ns.as_str())
                .bind(key.as_bytes())
                .fetch_optional(pool)
                .await
                .map_err(failed)
        })
    }

    async fn set(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        quota: u64,
    ) -> Result<(), KvError> {
        validate(key, Some(value))?;
        let new_size = entry_size(key, value);
        // The body is the same on both backends; only the locking statements differ.
        macro_rules! set_in {
            ($tx:ident, $usage_sql:expr, $old_len_sql:expr) => {{
                sqlx::query(ENSURE_USAGE)
                    .bind(ns.as_str())
                    .execute(&mut *$tx)
                    .await
                    .map_err(failed)?;
                let used: i64 = sqlx::query_scalar($usage_sql)
                    .bind(ns.as_str())
                    .fetch_one(&mut *$tx)
                    .await
                    .map_err(failed)?;
                let old_len: Option<i64> = sqlx::query_scalar($old_len_sql)
                    .bind(ns.as_str())
                    .bind(key.as_bytes())
                    .fetch_optional(&mut *$tx)
                    .await
                    .map_err(failed)?;
                let used =
                    u64::try_from(used).map_err(|_| KvError::Failed("negative usage".into()))?;
                let old = old_len.map_or(0, |n| key.len() as u64 + n.max(0) as u64);
                let would_use = used.saturating_sub(old) + new_size;
                if would_use > quota {
                    // Dropping the transaction rolls it back.
                    return Err(KvError::QuotaExceeded {
                        namespace: ns.as_str().to_owned(),
                        would_use,
                        quota,
                    });
                }
                sqlx::query(UPSERT)
                    .bind(ns.as_str())
                    .bind(key.as_bytes())
                    .bind(value)
                    .execute(&mut *$tx)
                    .await
                    .map_err(failed)?;
                sqlx::query(SET_USAGE)
                    .bind(ns.as_str())
                    .bind(would_use as i64)
                    .execute(&mut *$tx)
                    .await
                    .map_err(failed)?;
                $tx.commit().await.map_err(failed)
            }};
        }
        match &self.db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(failed)?;
                set_in!(tx, USAGE_SQLITE, OLD_LEN_SQLITE)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(failed)?;
                set_in!(tx, USAGE_PG, OLD_LEN_PG)
            }
        }
    }

    async fn delete(&self, ns: &Namespace, key: &str) -> Result<(), KvError> {
        validate(key, None)?;
        macro_rules! delete_in {
            ($tx:ident, $usage_sql:expr, $delete_sql:expr) => {{
                sqlx::query(ENSURE_USAGE)
                    .bind(ns.as_str())
                    .execute(&mut *$tx)
                    .await
                    .map_err(failed)?;
                let used: i64 = sqlx::query_scalar($usage_sql)
                    .bind(ns.as_str())
                    .fetch_one(&mut *$tx)
                    .await
                    .map_err(failed)?;
                let removed: Option<i64> = sqlx::query_scalar($delete_sql)
                    .bind(ns.as_str())
                    .bind(key.as_bytes())
                    .fetch_optional(&mut *$tx)
                    .await
                    .map_err(failed)?;
                if let Some(len) = removed {
                    let freed = key.len() as i64 + len;
                    sqlx::query(SET_USAGE)
                        .bind(ns.as_str())
                        .bind((used - freed).max(0))
                        .execute(&mut *$tx)
                        .await
                        .map_err(failed)?;
                }
                $tx.commit().await.map_err(failed)
            }};
        }
        match &self.db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(failed)?;
                delete_in!(tx, USAGE_SQLITE, DELETE_SQLITE)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(failed)?;
                delete_in!(tx, USAGE_PG, DELETE_PG)
            }
        }
    }

    async fn list_keys(&self, ns: &Namespace, prefix: &str) -> Result<Vec<String>, KvError> {
        let start = prefix.as_bytes();
        let end = prefix_end(start);
        let rows = on_pool!(&self.db, pool => {
            sqlx::query(
                "SELECT key FROM kv WHERE namespace = $1 AND key >= $2 AND ($3 IS NULL OR key < $3) ORDER BY key",
            )
            .bind(ns.as_str())
            .bind(start)
            .bind(end.as_deref())
            .fetch_all(pool)
            .await
            .map_err(failed)?
            .into_iter()
            .map(|row| row.try_get::<Vec<u8>, _>(0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?
        });
        rows.into_iter()
            .map(|k| {
                String::from_utf8(k).map_err(|_| KvError::Failed("stored key is not UTF-8".into()))
            })
            .collect()
    }
}

impl SqlKv {
    /// Bytes the namespace currently uses (keys plus values), as counted against its quota.
    pub async fn used_bytes(&self, ns: &Namespace) -> Result<u64, KvError> {
        let used: Option<i64> = on_pool!(&self.db, pool => {
            sqlx::query_scalar("SELECT used_bytes FROM kv_usage WHERE namespace = $1")
                .bind(ns.as_str())
                .fetch_optional(pool)
                .await
                .map_err(failed)?
        });
        Ok(used.unwrap_or(0).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_is_the_next_byte_string() {
        assert_eq!(prefix_end(b""), None);
        assert_eq!(prefix_end(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }
}
