//! The tables one SQLite file holds for every sidecar that shares it, and how a connection to it is
//! set up (WAL, so readers never block the one writer; a busy handler, so writers take turns).

use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// Bumped when the tables change shape; a file written by a newer version is refused.
const SCHEMA_VERSION: i32 = 1;

// `seq` is AUTOINCREMENT so a deleted tail is never reused: group cursors point into it.
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT    NOT NULL,
    data       BLOB    NOT NULL,
    metadata   TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_topic ON messages (topic, seq);

-- One row per (topic, consumer group): every message with seq > cursor is still to be claimed.
CREATE TABLE IF NOT EXISTS consumer_groups (
    topic  TEXT    NOT NULL,
    grp    TEXT    NOT NULL,
    cursor INTEGER NOT NULL,
    PRIMARY KEY (topic, grp)
) WITHOUT ROWID;

-- Claimed but not yet acknowledged; claimable again once lease_until_ms has passed. A group has
-- few rows here (its messages in flight), so leases are found by scanning the group's range: no
-- second index, whose page would be written by every claim and every ack.
CREATE TABLE IF NOT EXISTS pending (
    topic          TEXT    NOT NULL,
    grp            TEXT    NOT NULL,
    seq            INTEGER NOT NULL,
    lease_until_ms INTEGER NOT NULL,
    deliveries     INTEGER NOT NULL,
    PRIMARY KEY (topic, grp, seq)
) WITHOUT ROWID;

-- Doorbells: the UDP port on 127.0.0.1 of every live subscription, by topic.
CREATE TABLE IF NOT EXISTS listeners (
    topic        TEXT    NOT NULL,
    port         INTEGER NOT NULL,
    subscription INTEGER NOT NULL,
    pid          INTEGER NOT NULL,
    PRIMARY KEY (topic, port, subscription)
) WITHOUT ROWID;
";

/// Opens (creating if needed) the shared database and its tables.
pub(super) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = connect(path)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i32 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!("database schema version {version} is newer than this sidecar's {SCHEMA_VERSION}")),
        ));
    }
    tx.execute_batch(TABLES)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(conn)
}

/// Opens a connection with this component's settings, without touching the tables.
pub(super) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_handler(Some(wait_for_writer))?;
    conn.set_prepared_statement_cache_capacity(64);
    // Plans fixed at prepare time. Without this, SQLite plans a `LIMIT ?` with the value bound
    // then and prepares the statement again whenever another value is bound: a claim's LIMITs
    // change with the room left, and re-preparing two statements cost more than the claim.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // Small pages for a new file: every commit writes each page it touched whole into the WAL, and
    // a commit here touches a few pages to store a message of a few hundred bytes. (Ignored once
    // the file exists in WAL mode.)
    conn.pragma_update(None, "page_size", 1024)?;
    // The first opener of a new file switches it to WAL; the mode is persistent afterwards.
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), %mode, "pubsub.sqlite could not switch the database to WAL mode");
    }
    // In WAL mode NORMAL stays consistent after a crash; only a power loss can drop the last commits.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Checkpoints (which fsync) run on their own thread, never in a commit: see checkpoint.rs.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // Trim the WAL file after a spike, but leave it room: on a filesystem mounted with `discard`,
    // truncating a large file inside a commit stalls every writer.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(conn)
}

/// Busy handler: while another process holds the write lock, retry after short sleeps (SQLite's
/// own busy_timeout sleeps in steps of up to 100 ms, which would wreck delivery latency).
/// Gives up, returning SQLITE_BUSY, after about five seconds.
fn wait_for_writer(attempt: i32) -> bool {
    let pause = match attempt {
        0..20 => Duration::from_micros(50),
        20..100 => Duration::from_micros(500),
        100..2_550 => Duration::from_millis(2),
        _ => return false,
    };
    std::thread::sleep(pause);
    true
}

pub(super) fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}
