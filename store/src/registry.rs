//! The plugin registry: which components the host runs, in which version and state.
//!
//! One row per plugin id. Uploading a plugin whose id exists replaces it (the new
//! version wins; the old bytes are not kept) and keeps its enabled/disabled state and
//! creation time. The sha256 is computed here from the component bytes, so the stored
//! digest always matches the stored bytes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::audit::format_time;
use crate::store::{Db, StoreError, on_pool};

/// Whether the host should serve a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    Enabled,
    Disabled,
}

impl PluginState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }
}

impl fmt::Display for PluginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PluginState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "enabled" => Ok(Self::Enabled),
            "disabled" => Ok(Self::Disabled),
            other => Err(StoreError::Invalid(format!(
                "unknown plugin state `{other}`; expected `enabled` or `disabled`"
            ))),
        }
    }
}

/// A plugin to store: what an operator uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginUpload {
    pub id: String,
    pub version: String,
    /// The manifest (`djinn.toml`) as TOML text.
    pub manifest: String,
    /// The WebAssembly component bytes.
    pub component: Vec<u8>,
}

/// A registry row without the component bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginSummary {
    pub id: String,
    pub version: String,
    /// Hex SHA-256 of the component bytes.
    pub sha256: String,
    pub state: PluginState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A full registry row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRecord {
    pub summary: PluginSummary,
    pub manifest: String,
    pub component: Vec<u8>,
}

/// What [`Registry::upsert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    pub now: PluginSummary,
    /// The row it replaced, if the id existed.
    pub previous: Option<PluginSummary>,
}

/// The plugin registry; obtain one with [`crate::Store::registry`].
#[derive(Debug, Clone)]
pub struct Registry {
    db: Db,
}

const SUMMARY_COLUMNS: &str = "id, version, sha256, state, created_at, updated_at";

impl Registry {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }

    /// Stores `upload`, replacing any plugin with the same id. A new plugin starts
    /// enabled; a replaced one keeps its state and creation time.
    pub async fn upsert(&self, upload: PluginUpload) -> Result<Upserted, StoreError> {
        if upload.id.is_empty() {
            return Err(StoreError::Invalid("plugin id is empty".into()));
        }
        let sha256 = hex::encode(Sha256::digest(&upload.component));
        let now =
            DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap_or_else(Utc::now);
        let now_text = format_time(&now);
        let select = format!("SELECT {SUMMARY_COLUMNS} FROM plugins WHERE id = $1");
        macro_rules! upsert_in {
            ($tx:ident, $select:expr) => {{
                let previous = match sqlx::query(&$select)
                    .bind(&upload.id)
                    .fetch_optional(&mut *$tx)
                    .await?
                {
                    Some(row) => Some(summary_from(
                        row.try_get("id")?,
                        row.try_get("version")?,
                        row.try_get("sha256")?,
                        row.try_get("state")?,
                        row.try_get("created_at")?,
                        row.try_get("updated_at")?,
                    )?),
                    None => None,
                };
                let state = previous.as_ref().map_or(PluginState::Enabled, |p| p.state);
                let created_at = previous.as_ref().map_or(now, |p| p.created_at);
                sqlx::query(
                    "INSERT INTO plugins (id, version, sha256, manifest, component, state, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (id) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256, \
                       manifest = excluded.manifest, component = excluded.component, \
                       updated_at = excluded.updated_at",
                )
                .bind(&upload.id)
                .bind(&upload.version)
                .bind(&sha256)
                .bind(&upload.manifest)
                .bind(&upload.component)
                .bind(state.as_str())
                .bind(format_time(&created_at))
                .bind(&now_text)
                .execute(&mut *$tx)
                .await?;
                $tx.commit().await?;
                Ok(Upserted {
                    now: PluginSummary {
                        id: upload.id,
                        version: upload.version,
                        sha256,
                        state,
                        created_at,
                        updated_at: now,
                    },
                    previous,
                })
            }};
        }
        match &self.db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                upsert_in!(tx, select)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                upsert_in!(tx, format!("{select} FOR UPDATE"))
            }
        }
    }

    /// Enables or disables a plugin. Errors with [`StoreError::NotFound`] for an unknown id.
    pub async fn set_state(&self, id: &str, state: PluginState) -> Result<(), StoreError> {
        let now = format_time(&Utc::now());
        let done = on_pool!(&self.db, pool => {
            sqlx::query("UPDATE plugins SET state = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(state.as_str())
                .bind(&now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound {
                what: "plugin",
                id: id.to_owned(),
            });
        }
        Ok(())
    }

    /// Removes a plugin; returns whether it existed.
    pub async fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let done = on_pool!(&self.db, pool => {
            sqlx::query("DELETE FROM plugins WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// The plugin with its manifest and component bytes.
    pub async fn get(&self, id: &str) -> Result<Option<PluginRecord>, StoreError> {
        on_pool!(&self.db, pool => {
            let row = sqlx::query(&format!(
                "SELECT {SUMMARY_COLUMNS}, manifest, component FROM plugins WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?;
            match row {
                None => Ok(None),
                Some(row) => Ok(Some(PluginRecord {
                    summary: summary_from(
                        row.try_get("id")?,
                        row.try_get("version")?,
                        row.try_get("sha256")?,
                        row.try_get("state")?,
                        row.try_get("created_at")?,
                        row.try_get("updated_at")?,
                    )?,
                    manifest: row.try_get("manifest")?,
                    component: row.try_get("component")?,
                })),
            }
        })
    }

    /// Every plugin, by id, without component bytes.
    pub async fn list(&self) -> Result<Vec<PluginSummary>, StoreError> {
        on_pool!(&self.db, pool => {
            sqlx::query(&format!("SELECT {SUMMARY_COLUMNS} FROM plugins ORDER BY id"))
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| {
                    summary_from(
                        row.try_get("id")?,
                        row.try_get("version")?,
                        row.try_get("sha256")?,
                        row.try_get("state")?,
                        row.try_get("created_at")?,
                        row.try_get("updated_at")?,
                    )
                })
                .collect()
        })
    }
}

fn summary_from(
    id: String,
    version: String,
    sha256: String,
    state: String,
    created_at: String,
    updated_at: String,
) -> Result<PluginSummary, StoreError> {
    let time = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| StoreError::Corrupt(format!("plugin `{id}`: time `{t}`: {e}")))
    };
    Ok(PluginSummary {
        created_at: time(&created_at)?,
        updated_at: time(&updated_at)?,
        state: state.parse()?,
        id,
        version,
        sha256,
    })
}
