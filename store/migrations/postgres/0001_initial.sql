-- djinn-store schema, PostgreSQL flavour. Keep in step with ../sqlite/0001_initial.sql:
-- same tables, same columns, same meaning.

-- Plugin registry: one row per plugin id; replacing a plugin overwrites the row.
CREATE TABLE plugins (
    id          TEXT    NOT NULL PRIMARY KEY,
    version     TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    manifest    TEXT    NOT NULL,
    component   BYTEA   NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('enabled', 'disabled')),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

-- Key-value: keys are bytes so ordering and prefix ranges are byte order on both backends
-- (a TEXT key would sort by the database collation and could not hold NUL).
CREATE TABLE kv (
    namespace   TEXT    NOT NULL,
    key         BYTEA   NOT NULL,
    value       BYTEA   NOT NULL,
    PRIMARY KEY (namespace, key)
);

-- Bytes used per namespace (key + value bytes). Writers lock this row
-- (SELECT ... FOR UPDATE) so concurrent writers of one namespace cannot both pass the quota.
CREATE TABLE kv_usage (
    namespace   TEXT    NOT NULL PRIMARY KEY,
    used_bytes  BIGINT  NOT NULL CHECK (used_bytes >= 0)
);

-- Hash-chained audit log. Append-only by convention of this crate's API.
-- time and detail are TEXT, not TIMESTAMPTZ/JSONB: the hash covers their exact text.
CREATE TABLE audit (
    seq             BIGINT  NOT NULL PRIMARY KEY CHECK (seq >= 1),
    time            TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    plugin          TEXT,
    correlation     TEXT,
    detail          TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL
);
CREATE INDEX audit_plugin ON audit (plugin, seq);
CREATE INDEX audit_correlation ON audit (correlation, seq);
CREATE INDEX audit_kind ON audit (kind, seq);
CREATE INDEX audit_time ON audit (time);

-- The chain head (last seq and hash). Appends lock this row FOR UPDATE, which serializes
-- appenders across every process sharing the database, and update it in the same
-- transaction, so a deleted tail record is detected by verify.
CREATE TABLE audit_head (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq     BIGINT  NOT NULL,
    hash    TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- LLM usage per plugin per UTC day (day = 'YYYY-MM-DD').
CREATE TABLE usage (
    plugin          TEXT    NOT NULL,
    day             TEXT    NOT NULL,
    tokens_in       BIGINT  NOT NULL DEFAULT 0,
    tokens_out      BIGINT  NOT NULL DEFAULT 0,
    cost_micros     BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (plugin, day)
);
