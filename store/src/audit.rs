//! The hash-chained audit log.
//!
//! Every record carries `prev_hash` (the previous record's `hash`; 64 zeros for seq 1)
//! and `hash` = hex SHA-256 of the canonical encoding below, so editing, deleting or
//! reordering any record breaks the chain at that record and [`AuditLog::verify`] says
//! where. The `audit_head` row holds the last seq and hash, so deleting the newest
//! records is caught too. The chain proves integrity against edits through the
//! database, not against someone who rewrites the whole chain: ship the head hash
//! elsewhere (logs, a ticket) when that matters.
//!
//! # Canonical encoding
//!
//! The hashed bytes are the UTF-8 JSON array, with no whitespace,
//! `[seq, time, kind, actor, plugin, correlation, detail, prev_hash]`, where `seq` is a
//! number, `plugin`/`correlation` are strings or `null`, `time` is the stored RFC 3339
//! UTC text (`2026-01-02T03:04:05.123456Z`, always microseconds), and `detail` is the
//! detail object as canonical JSON (object keys sorted by byte order, no whitespace,
//! strings escaped as `serde_json` does) embedded as a JSON value. The stored `detail`
//! column is exactly that canonical text, so verification rehashes stored text
//! without reparsing. See [`chain_hash`].
//!
//! # Why appends cannot fork the chain
//!
//! An append reads the head, writes records and moves the head in one transaction that
//! first takes a lock every appender must take:
//! - **SQLite**: the transaction starts with `BEGIN IMMEDIATE`, which takes the
//!   database's single write lock before the head is read. Other connections and other
//!   processes wait (busy timeout) instead of reading a stale head.
//! - **PostgreSQL**: the head row is read with `SELECT … FOR UPDATE`. That row lock
//!   lives in the database, so appenders in different host processes queue on it; the
//!   next one reads the head only after the previous commit. (We lock the head row
//!   rather than a `pg_advisory_xact_lock` key because the row is per schema, needs no
//!   agreed-upon magic number, and is the very data being protected.)
//!
//! `seq` is also the primary key, so even a bug in the locking would fail an append
//! rather than fork the chain.
//!
//! [`AuditLog::append_batch`] writes many records under one lock and one commit, which
//! is how callers reach thousands of appends per second on SQLite with `synchronous=FULL`;
//! [`AuditLog::batcher`] does that batching for many concurrent single appends.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::store::{Db, StoreError, on_pool, to_i64, to_u64};

mod batcher;
pub use batcher::AuditBatcher;

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Records read per query while verifying.
const VERIFY_PAGE: i64 = 1000;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Question,
    Message,
    PolicyVerdict,
    PluginFault,
    PluginLoaded,
    PluginReplaced,
    PluginRemoved,
    PluginState,
    LlmDenial,
    AuthFailure,
}

impl AuditKind {
    pub const ALL: [AuditKind; 10] = [
        Self::Question,
        Self::Message,
        Self::PolicyVerdict,
        Self::PluginFault,
        Self::PluginLoaded,
        Self::PluginReplaced,
        Self::PluginRemoved,
        Self::PluginState,
        Self::LlmDenial,
        Self::AuthFailure,
    ];

    /// The stored (and hashed) name, e.g. `policy_verdict`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Question => "question",
            Self::Message => "message",
            Self::PolicyVerdict => "policy_verdict",
            Self::PluginFault => "plugin_fault",
            Self::PluginLoaded => "plugin_loaded",
            Self::PluginReplaced => "plugin_replaced",
            Self::PluginRemoved => "plugin_removed",
            Self::PluginState => "plugin_state",
            Self::LlmDenial => "llm_denial",
            Self::AuthFailure => "auth_failure",
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| StoreError::Invalid(format!("unknown audit kind `{s}`")))
    }
}

/// A record to append; seq, time and hashes are assigned by the log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditRecord {
    pub kind: AuditKind,
    /// Who acted: `"host"`, `"api:<token name>"`, a plugin id, ...
    pub actor: String,
    pub plugin: Option<String>,
    pub correlation: Option<String>,
    /// Free-form JSON (an object by convention).
    pub detail: Value,
}

impl NewAuditRecord {
    pub fn new(kind: AuditKind, actor: impl Into<String>, detail: Value) -> Self {
        Self {
            kind,
            actor: actor.into(),
            plugin: None,
            correlation: None,
            detail,
        }
    }

    pub fn plugin(mut self, plugin: impl Into<String>) -> Self {
        self.plugin = Some(plugin.into());
        self
    }

    pub fn correlation(mut self, correlation: impl Into<String>) -> Self {
        self.correlation = Some(correlation.into());
        self
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub kind: AuditKind,
    pub actor: String,
    pub plugin: Option<String>,
    pub correlation: Option<String>,
    pub detail: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// Filters for [`AuditLog::query`]; every `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub plugin: Option<String>,
    pub kind: Option<AuditKind>,
    pub correlation: Option<String>,
    /// Records at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// At most this many (the newest matching); `0` means 100.
    pub limit: u32,
}

/// Where and how the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// A record's hash does not match its contents (edited).
    HashMismatch {
        seq: u64,
        expected: String,
        stored: String,
    },
    /// A record does not point at its predecessor's hash (edited predecessor hash,
    /// reordered or substituted records).
    PrevHashMismatch {
        seq: u64,
        expected: String,
        stored: String,
    },
    /// Records are missing: the next stored seq is not the one expected.
    Gap { expected_seq: u64, found_seq: u64 },
    /// The newest records are missing: the chain ends before the recorded head.
    Truncated { last_seq: u64, head_seq: u64 },
    /// The chain's last hash differs from the recorded head hash.
    HeadMismatch {
        seq: u64,
        head_hash: String,
        last_hash: String,
    },
}

impl ChainBreak {
    /// The first seq at which the chain is wrong.
    pub fn seq(&self) -> u64 {
        match self {
            Self::HashMismatch { seq, .. }
            | Self::PrevHashMismatch { seq, .. }
            | Self::HeadMismatch { seq, .. } => *seq,
            Self::Gap { expected_seq, .. } => *expected_seq,
            Self::Truncated { last_seq, .. } => last_seq + 1,
        }
    }
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HashMismatch {
                seq,
                expected,
                stored,
            } => write!(
                f,
                "record {seq} was altered: its contents hash to {expected} but it stores {stored}"
            ),
            Self::PrevHashMismatch {
                seq,
                expected,
                stored,
            } => write!(
                f,
                "record {seq} does not follow its predecessor: prev_hash should be {expected} but is {stored}"
            ),
            Self::Gap {
                expected_seq,
                found_seq,
            } => write!(
                f,
                "record {expected_seq} is missing (next stored record is {found_seq})"
            ),
            Self::Truncated { last_seq, head_seq } => write!(
                f,
                "records {}..={head_seq} are missing: the chain ends at {last_seq}",
                last_seq + 1
            ),
            Self::HeadMismatch {
                seq,
                head_hash,
                last_hash,
            } => write!(
                f,
                "record {seq} hashes to {last_hash} but the chain head records {head_hash}"
            ),
        }
    }
}

/// The result of [`AuditLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked (up to the first break).
    pub checked: u64,
    /// The head (last seq and hash) when verification started.
    pub head_seq: u64,
    pub head_hash: String,
    /// The first problem found, if any.
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// The audit log; obtain one with [`crate::Store::audit`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    db: Db,
}

const HEAD_SQLITE: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";
const HEAD_PG: &str = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE";
const INSERT_PREFIX: &str =
    "INSERT INTO audit (seq, time, kind, actor, plugin, correlation, detail, prev_hash, hash) ";
/// Records per INSERT statement: 9 binds each stays far below SQLite's 32766 and
/// PostgreSQL's 65535 bind limits.
const INSERT_CHUNK: usize = 200;
const SET_HEAD: &str = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1";
const COLUMNS: &str = "seq, time, kind, actor, plugin, correlation, detail, prev_hash, hash";

impl AuditLog {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }

    /// Appends one record and returns it as stored.
    pub async fn append(&self, record: NewAuditRecord) -> Result<AuditRecord, StoreError> {
        let mut out = self.append_batch(vec![record]).await?;
        out.pop()
            .ok_or_else(|| StoreError::Corrupt("append returned no record".into()))
    }

    /// Appends `records` in order in one transaction: all or none are stored, with
    /// consecutive seqs. Much faster per record than [`AuditLog::append`].
    pub async fn append_batch(
        &self,
        records: Vec<NewAuditRecord>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        // Canonicalize outside the lock.
        let prepared: Vec<(NewAuditRecord, String)> = records
            .into_iter()
            .map(|r| {
                let detail = canonical_json(&r.detail);
                (r, detail)
            })
            .collect();
        macro_rules! append_in {
            ($tx:ident, $head_sql:expr) => {{
                let head = sqlx::query($head_sql).fetch_one(&mut *$tx).await?;
                let mut seq = to_u64("audit head seq", head.try_get::<i64, _>(0)?)?;
                let mut prev_hash: String = head.try_get(1)?;
                // Taken under the lock so time never goes backwards along the chain
                // (on one clock).
                let now = now_micros();
                let time_text = format_time(&now);
                let mut out = Vec::with_capacity(prepared.len());
                let mut details = Vec::with_capacity(prepared.len());
                for (r, detail_text) in prepared {
                    seq += 1;
                    let hash = chain_hash(
                        seq,
                        &time_text,
                        r.kind.as_str(),
                        &r.actor,
                        r.plugin.as_deref(),
                        r.correlation.as_deref(),
                        &detail_text,
                        &prev_hash,
                    );
                    to_i64("seq", seq)?;
                    details.push(detail_text);
                    out.push(AuditRecord {
                        seq,
                        time: now,
                        kind: r.kind,
                        actor: r.actor,
                        plugin: r.plugin,
                        correlation: r.correlation,
                        detail: r.detail,
                        prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
                        hash,
                    });
                }
                // Multi-row INSERTs: one statement per INSERT_CHUNK records instead of
                // one per record, which is most of the cost of a batch.
                for (records, details) in out.chunks(INSERT_CHUNK).zip(details.chunks(INSERT_CHUNK))
                {
                    let mut qb = sqlx::QueryBuilder::new(INSERT_PREFIX);
                    qb.push_values(records.iter().zip(details), |mut b, (r, detail)| {
                        b.push_bind(r.seq as i64)
                            .push_bind(time_text.as_str())
                            .push_bind(r.kind.as_str())
                            .push_bind(r.actor.as_str())
                            .push_bind(r.plugin.as_deref())
                            .push_bind(r.correlation.as_deref())
                            .push_bind(detail.as_str())
                            .push_bind(r.prev_hash.as_str())
                            .push_bind(r.hash.as_str());
                    });
                    qb.build().execute(&mut *$tx).await?;
                }
                sqlx::query(SET_HEAD)
                    .bind(to_i64("seq", seq)?)
                    .bind(&prev_hash)
                    .execute(&mut *$tx)
                    .await?;
                $tx.commit().await?;
                Ok(out)
            }};
        }
        match &self.db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                append_in!(tx, HEAD_SQLITE)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                append_in!(tx, HEAD_PG)
            }
        }
    }

    /// A group-commit front end for this log (see [`AuditBatcher`]); spawns its writer task
    /// on the current tokio runtime.
    pub fn batcher(&self, max_batch: usize) -> AuditBatcher {
        AuditBatcher::spawn(self.clone(), max_batch)
    }

    /// The last seq and hash (`0` and [`GENESIS_HASH`] for an empty log).
    pub async fn head(&self) -> Result<(u64, String), StoreError> {
        let (seq, hash): (i64, String) = on_pool!(&self.db, pool => {
            sqlx::query_as(HEAD_SQLITE).fetch_one(pool).await?
        });
        Ok((to_u64("audit head seq", seq)?, hash))
    }

    /// Walks the chain from seq 1 to the head and reports the first broken record.
    ///
    /// Records appended while verification runs are not checked. `Err` means the
    /// database could not be read, not that the chain is broken.
    pub async fn verify(&self) -> Result<VerifyReport, StoreError> {
        let (head_seq, head_hash) = self.head().await?;
        let mut report = VerifyReport {
            checked: 0,
            head_seq,
            head_hash: head_hash.clone(),
            first_break: None,
        };
        let mut last_seq = 0u64;
        let mut last_hash = GENESIS_HASH.to_owned();
        'pages: while last_seq < head_seq {
            let rows = on_pool!(&self.db, pool => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM audit WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
                ))
                .bind(to_i64("seq", last_seq)?)
                .bind(to_i64("seq", head_seq)?)
                .bind(VERIFY_PAGE)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| RawRecord::from_row(&row))
                .collect::<Result<Vec<_>, _>>()?
            });
            if rows.is_empty() {
                break;
            }
            for raw in rows {
                let seq = to_u64("seq", raw.seq)?;
                if seq != last_seq + 1 {
                    report.first_break = Some(ChainBreak::Gap {
                        expected_seq: last_seq + 1,
                        found_seq: seq,
                    });
                    break 'pages;
                }
                if raw.prev_hash != last_hash {
                    report.first_break = Some(ChainBreak::PrevHashMismatch {
                        seq,
                        expected: last_hash.clone(),
                        stored: raw.prev_hash,
                    });
                    break 'pages;
                }
                let expected = raw.recompute_hash(seq);
                if expected != raw.hash {
                    report.first_break = Some(ChainBreak::HashMismatch {
                        seq,
                        expected,
                        stored: raw.hash,
                    });
                    break 'pages;
                }
                report.checked += 1;
                last_seq = seq;
                last_hash = raw.hash;
            }
        }
        if report.first_break.is_none() {
            if last_seq < head_seq {
                report.first_break = Some(ChainBreak::Truncated { last_seq, head_seq });
            } else if last_hash != head_hash {
                report.first_break = Some(ChainBreak::HeadMismatch {
                    seq: last_seq,
                    head_hash,
                    last_hash,
                });
            }
        }
        Ok(report)
    }

    /// The newest `n` records, oldest first.
    pub async fn tail(&self, n: u32) -> Result<Vec<AuditRecord>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        self.query(&AuditQuery {
            limit: n,
            ..AuditQuery::default()
        })
        .await
    }

    /// The newest records matching every given filter, oldest first.
    pub async fn query(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = if q.limit == 0 { 100 } else { q.limit };
        let since = q.since.map(|t| format_time(&t));
        let sql = format!(
            "SELECT {COLUMNS} FROM audit \
             WHERE ($1 IS NULL OR plugin = $1) AND ($2 IS NULL OR kind = $2) \
               AND ($3 IS NULL OR correlation = $3) AND ($4 IS NULL OR time >= $4) \
             ORDER BY seq DESC LIMIT $5"
        );
        let raws = on_pool!(&self.db, pool => {
            sqlx::query(&sql)
                .bind(q.plugin.as_deref())
                .bind(q.kind.map(AuditKind::as_str))
                .bind(q.correlation.as_deref())
                .bind(since.as_deref())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| RawRecord::from_row(&row))
                .collect::<Result<Vec<_>, _>>()?
        });
        let mut out = raws
            .into_iter()
            .map(RawRecord::into_record)
            .collect::<Result<Vec<_>, _>>()?;
        out.reverse();
        Ok(out)
    }
}

/// A row as stored, before parsing: verification hashes exactly these texts.
struct RawRecord {
    seq: i64,
    time: String,
    kind: String,
    actor: String,
    plugin: Option<String>,
    correlation: Option<String>,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl RawRecord {
    fn from_row<R: Row>(row: &R) -> Result<Self, sqlx::Error>
    where
        for<'a> &'a str: sqlx::ColumnIndex<R>,
        i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        Ok(Self {
            seq: row.try_get("seq")?,
            time: row.try_get("time")?,
            kind: row.try_get("kind")?,
            actor: row.try_get("actor")?,
            plugin: row.try_get("plugin")?,
            correlation: row.try_get("correlation")?,
            detail: row.try_get("detail")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }

    fn recompute_hash(&self, seq: u64) -> String {
        chain_hash(
            seq,
            &self.time,
            &self.kind,
            &self.actor,
            self.plugin.as_deref(),
            self.correlation.as_deref(),
            &self.detail,
            &self.prev_hash,
        )
    }

    fn into_record(self) -> Result<AuditRecord, StoreError> {
        let seq = to_u64("seq", self.seq)?;
        let time = DateTime::parse_from_rfc3339(&self.time)
            .map_err(|e| {
                StoreError::Corrupt(format!("audit record {seq}: time `{}`: {e}", self.time))
            })?
            .with_timezone(&Utc);
        let detail = serde_json::from_str(&self.detail)
            .map_err(|e| StoreError::Corrupt(format!("audit record {seq}: detail: {e}")))?;
        Ok(AuditRecord {
            seq,
            time,
            kind: self.kind.parse()?,
            actor: self.actor,
            plugin: self.plugin,
            correlation: self.correlation,
            detail,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Now, truncated to whole microseconds so the stored text round-trips exactly.
fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// The stored time format: RFC 3339, UTC, `Z`, always six fractional digits, so text
/// order is time order.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The record hash: hex SHA-256 of the canonical encoding described in the module docs.
/// `detail` must already be canonical JSON text ([`canonical_json`]).
#[allow(clippy::too_many_arguments)]
pub fn chain_hash(
    seq: u64,
    time: &str,
    kind: &str,
    actor: &str,
    plugin: Option<&str>,
    correlation: Option<&str>,
    detail: &str,
    prev_hash: &str,
) -> String {
    let mut buf = String::with_capacity(256 + detail.len());
    buf.push('[');
    buf.push_str(&seq.to_string());
    for field in [Some(time), Some(kind), Some(actor), plugin, correlation] {
        buf.push(',');
        push_json_str_or_null(&mut buf, field);
    }
    buf.push(',');
    buf.push_str(detail);
    buf.push(',');
    push_json_str_or_null(&mut buf, Some(prev_hash));
    buf.push(']');
    hex::encode(Sha256::digest(buf.as_bytes()))
}

fn push_json_str_or_null(buf: &mut String, s: Option<&str>) {
    match s {
        // Serializing a &str cannot fail.
        Some(s) => buf.push_str(&serde_json::to_string(s).unwrap_or_default()),
        None => buf.push_str("null"),
    }
}

/// `v` as canonical JSON: object keys sorted by byte order, no whitespace. Independent of
/// whether `serde_json`'s `preserve_order` feature is on somewhere in the build.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_str_or_null(out, Some(k));
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        // Scalars have one serde_json rendering.
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let v = json!({"b": 1, "a": {"z": [true, null, {"y": "x", "c": 1.5}], "a": "é\n"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"a":"é\n","z":[true,null,{"c":1.5,"y":"x"}]},"b":1}"#
        );
    }

    #[test]
    fn chain_hash_is_pinned() {
        // Pinned so an accidental change of the encoding is caught: old logs would no
        // longer verify.
        let h = chain_hash(
            1,
            "2026-01-02T03:04:05.000006Z",
            "question",
            "host",
            None,
            Some("c-1"),
            r#"{"q":"hi"}"#,
            GENESIS_HASH,
        );
        let text = r#"[1,"2026-01-02T03:04:05.000006Z","question","host",null,"c-1",{"q":"hi"},"0000000000000000000000000000000000000000000000000000000000000000"]"#;
        assert_eq!(h, hex::encode(Sha256::digest(text.as_bytes())));
        // Each field matters, including null vs empty string.
        assert_ne!(
            h,
            chain_hash(
                1,
                "2026-01-02T03:04:05.000006Z",
                "question",
                "host",
                Some(""),
                Some("c-1"),
                r#"{"q":"hi"}"#,
                GENESIS_HASH
            )
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in AuditKind::ALL {
            assert_eq!(k.as_str().parse::<AuditKind>().unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.as_str()));
        }
        assert!("nope".parse::<AuditKind>().is_err());
    }

    #[test]
    fn time_format_is_fixed_width() {
        let t = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        assert_eq!(format_time(&t), "2023-11-14T22:13:20.000000Z");
    }
}
