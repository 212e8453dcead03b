//! The SQL of each store operation. Every function runs inside the store thread's open
//! transaction; none commits.

use super::store::{Claimed, Delivery, TopicGroup};
use crate::BrokerMessage;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeSet, HashMap};

/// Runs `work` all-or-nothing inside the batch's transaction, so one failing command does not
/// leave half its writes in a batch that otherwise commits.
pub(super) fn atomically<T>(conn: &Connection, work: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    conn.execute_batch("SAVEPOINT command")?;
    match work(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE command")?;
            Ok(value)
        }
        Err(err) => {
            conn.execute_batch("ROLLBACK TO command; RELEASE command")?;
            Err(err)
        }
    }
}

pub(super) fn insert_message(conn: &Connection, topic: &str, data: &[u8], metadata: &str, now: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO messages (topic, data, metadata, created_ms) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![topic, data, metadata, now])?;
    Ok(())
}

/// The doorbells to ring for `topics`: (port, topic), each pair once.
pub(super) fn listener_ports(conn: &Connection, topics: &BTreeSet<String>) -> rusqlite::Result<Vec<(u16, String)>> {
    let mut select = conn.prepare_cached("SELECT DISTINCT port FROM listeners WHERE topic = ?1")?;
    let mut rings = Vec::new();
    for topic in topics {
        for port in select.query_map([topic], |row| row.get::<_, u16>(0))? {
            rings.push((port?, topic.clone()));
        }
    }
    Ok(rings)
}

pub(super) fn join(conn: &Connection, key: &TopicGroup, port: u16, subscription: u64, pid: u32) -> rusqlite::Result<()> {
    // Cursor 0: a new group starts at the oldest retained message (like XGROUP CREATE ... 0).
    conn.prepare_cached("INSERT OR IGNORE INTO consumer_groups (topic, grp, cursor) VALUES (?1, ?2, 0)")?
        .execute(params![key.topic, key.group])?;
    conn.prepare_cached("INSERT OR REPLACE INTO listeners (topic, port, subscription, pid) VALUES (?1, ?2, ?3, ?4)")?.execute(params![
        key.topic,
        port,
        subscription as i64,
        pid
    ])?;
    Ok(())
}

pub(super) fn leave(conn: &Connection, key: &TopicGroup, port: u16, subscription: u64) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM listeners WHERE topic = ?1 AND port = ?2 AND subscription = ?3")?.execute(params![
        key.topic,
        port,
        subscription as i64
    ])?;
    Ok(())
}

/// Removes every listener row of one instance (its doorbell port in this process).
pub(super) fn forget_listeners(conn: &Connection, port: u16, pid: u32) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM listeners WHERE port = ?1 AND pid = ?2")?.execute(params![port, pid])?;
    Ok(())
}

fn message(topic: &str, data: Vec<u8>, metadata: &str) -> BrokerMessage {
    let metadata = serde_json::from_str::<HashMap<String, String>>(metadata).unwrap_or_else(|err| {
        tracing::warn!(%topic, %err, "pubsub.sqlite found unreadable metadata; delivering without it");
        HashMap::new()
    });
    BrokerMessage { topic: topic.to_owned(), data: Bytes::from(data), metadata }
}

/// Leases up to `max` messages until `lease_until`: the group's expired leases first (a stopped or
/// crashed instance's, and retries that are due), then messages after the group's cursor.
pub(super) fn claim(conn: &Connection, key: &TopicGroup, max: usize, now: i64, lease_until: i64) -> rusqlite::Result<Claimed> {
    let mut deliveries = Vec::new();
    // (seq, deliveries so far, data, metadata); the message is missing if retention removed it.
    type ExpiredLease = (i64, i64, Option<Vec<u8>>, Option<String>);
    let expired: Vec<ExpiredLease> = conn
        .prepare_cached(
            "SELECT p.seq, p.deliveries, m.data, m.metadata FROM pending p LEFT JOIN messages m ON m.seq = p.seq
             WHERE p.topic = ?1 AND p.grp = ?2 AND p.lease_until_ms <= ?3 ORDER BY p.seq LIMIT ?4",
        )?
        .query_map(params![key.topic, key.group, now, max as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    for (seq, delivered, data, metadata) in expired {
        let (Some(data), Some(metadata)) = (data, metadata) else {
            // The message outlived its retention while leased: nothing left to deliver.
            conn.prepare_cached("DELETE FROM pending WHERE topic = ?1 AND grp = ?3 AND seq = ?2")?
                .execute(params![key.topic, seq, key.group])?;
            continue;
        };
        conn.prepare_cached(
            "UPDATE pending SET lease_until_ms = ?4, deliveries = deliveries + 1 WHERE topic = ?1 AND grp = ?3 AND seq = ?2",
        )?
        .execute(params![key.topic, seq, key.group, lease_until])?;
        let deliveries_so_far = u32::try_from(delivered + 1).unwrap_or(u32::MAX);
        deliveries.push(Delivery { seq, deliveries: deliveries_so_far, message: message(&key.topic, data, &metadata) });
    }

    let room = max.saturating_sub(deliveries.len());
    if room > 0 {
        let cursor: i64 = conn
            .prepare_cached("SELECT cursor FROM consumer_groups WHERE topic = ?1 AND grp = ?2")?
            .query_row(params![key.topic, key.group], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        let fresh: Vec<(i64, Vec<u8>, String)> = conn
            .prepare_cached("SELECT seq, data, metadata FROM messages WHERE topic = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")?
            .query_map(params![key.topic, cursor, room as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        if let Some((last, _, _)) = fresh.last() {
            conn.prepare_cached(
                "INSERT INTO consumer_groups (topic, grp, cursor) VALUES (?1, ?2, ?3)
                 ON CONFLICT (topic, grp) DO UPDATE SET cursor = excluded.cursor",
            )?
            .execute(params![key.topic, key.group, last])?;
        }
        let mut lease =
            conn.prepare_cached("INSERT OR REPLACE INTO pending (topic, grp, seq, lease_until_ms, deliveries) VALUES (?1, ?3, ?2, ?4, 1)")?;
        for (seq, data, metadata) in fresh {
            lease.execute(params![key.topic, seq, key.group, lease_until])?;
            deliveries.push(Delivery { seq, deliveries: 1, message: message(&key.topic, data, &metadata) });
        }
    }

    let next_lease_ms = conn
        .prepare_cached("SELECT MIN(lease_until_ms) FROM pending WHERE topic = ?1 AND grp = ?2")?
        .query_row(params![key.topic, key.group], |r| r.get(0))?;
    Ok(Claimed { deliveries, next_lease_ms })
}

/// The (topic, group) pairs with something to claim now: an expired lease (a retry that fell due,
/// or an instance that stopped without settling), or a message past the group's cursor.
pub(super) fn claimable_groups(conn: &Connection, now: i64) -> rusqlite::Result<Vec<(String, String)>> {
    conn.prepare_cached(
        "SELECT topic, grp FROM pending WHERE lease_until_ms <= ?1
         UNION
         SELECT topic, grp FROM consumer_groups g
         WHERE EXISTS (SELECT 1 FROM messages m WHERE m.topic = g.topic AND m.seq > g.cursor)",
    )?
    .query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

pub(super) fn ack(conn: &Connection, key: &TopicGroup, seq: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM pending WHERE topic = ?1 AND grp = ?3 AND seq = ?2")?.execute(params![key.topic, seq, key.group])?;
    Ok(())
}

/// Moves the leases of `seqs` to `at`, when they become claimable again.
pub(super) fn retry(conn: &Connection, key: &TopicGroup, seqs: &[i64], at: i64) -> rusqlite::Result<()> {
    let mut update = conn.prepare_cached("UPDATE pending SET lease_until_ms = ?4 WHERE topic = ?1 AND grp = ?3 AND seq = ?2")?;
    for seq in seqs {
        update.execute(params![key.topic, seq, key.group, at])?;
    }
    Ok(())
}

/// Deletes, up to `chunk` rows per rule: messages created before `cutoff`; messages that every
/// group of their topic has claimed and acknowledged (a topic with no group yet keeps its messages,
/// up to retention, for a subscriber that starts later); leases of deleted messages; and doorbells
/// of processes that are gone. Returns `true` when a rule hit `chunk`, so more may remain.
pub(super) fn cleanup(conn: &Connection, cutoff: i64, chunk: usize) -> rusqlite::Result<bool> {
    let chunk = chunk as i64;
    // seq order is (nearly) creation order: everything below the first young message is old, and
    // finding it reads only the old rows instead of the whole table.
    let expired = conn
        .prepare_cached(
            "DELETE FROM messages WHERE seq IN (
                SELECT seq FROM messages
                WHERE seq < COALESCE((SELECT seq FROM messages WHERE created_ms >= ?1 ORDER BY seq LIMIT 1), 9223372036854775807)
                ORDER BY seq LIMIT ?2)",
        )?
        .execute(params![cutoff, chunk])?;
    let mut more = expired as i64 >= chunk;

    // Per topic, everything below every group's cursor and below its oldest unacknowledged message.
    let floors: Vec<(String, i64)> = conn
        .prepare_cached(
            "SELECT topic, MIN(passed, COALESCE(oldest_pending - 1, passed)) FROM (
                SELECT g.topic, MIN(g.cursor) AS passed, (SELECT MIN(p.seq) FROM pending p WHERE p.topic = g.topic) AS oldest_pending
                FROM consumer_groups g GROUP BY g.topic)",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut consumed = conn.prepare_cached(
        "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE topic = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3)",
    )?;
    for (topic, floor) in floors {
        more |= consumed.execute(params![topic, floor, chunk])? as i64 >= chunk;
    }

    conn.prepare_cached("DELETE FROM pending WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.seq = pending.seq)")?.execute([])?;

    let pids: Vec<i64> =
        conn.prepare_cached("SELECT DISTINCT pid FROM listeners")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let mut forget = conn.prepare_cached("DELETE FROM listeners WHERE pid = ?1")?;
    for pid in pids.into_iter().filter(|pid| !process_alive(*pid)) {
        forget.execute([pid])?;
    }
    Ok(more)
}

/// Whether a process with this id still runs on this machine (the file is shared only locally).
#[cfg(unix)]
fn process_alive(pid: i64) -> bool {
    // Not a pid we can check (0 or negative would address process groups): keep the row.
    let Some(pid) = libc::pid_t::try_from(pid).ok().filter(|pid| *pid > 0) else { return true };
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    let found = unsafe { libc::kill(pid, 0) } == 0;
    found || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_alive(_pid: i64) -> bool {
    true
}
