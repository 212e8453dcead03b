//! WAL checkpoints off the commit path. Left to SQLite's auto-checkpoint, a checkpoint (which
//! fsyncs) runs inside whichever COMMIT crosses the threshold. So store connections turn
//! auto-checkpoint off and this thread, on its own connection, checkpoints in the background.
//!
//! Under a steady stream of commits a PASSIVE checkpoint (which never blocks writers) never
//! catches up, and the WAL only stops growing when it restarts, which needs every frame
//! checkpointed. So every few seconds of activity: a PASSIVE checkpoint copies the bulk, then a
//! RESTART checkpoint copies the rest while briefly holding writers back (a few ms). On an idle
//! database the PASSIVE one alone is enough.

use super::schema;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How often the WAL file is looked at; unchanged since the last look means idle.
const POLL: Duration = Duration::from_millis(250);
/// The least time between checkpoints: each costs fsyncs, and the WAL written meanwhile is small.
const INTERVAL: Duration = Duration::from_secs(2);

/// The running checkpoint thread; dropping it stops the thread and waits for it.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(path: PathBuf) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("pubsub-sqlite-checkpoint".into()).spawn(move || {
            let conn = match schema::connect(&path) {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::warn!(path = %path.display(), %err, "pubsub.sqlite cannot checkpoint; the WAL file will grow");
                    return;
                }
            };
            let wal = wal_path(&path);
            let mut last_checkpoint = Instant::now();
            let mut last_seen: Option<SystemTime> = None;
            // The WAL's modification time as of the last checkpoint: equal means nothing new.
            let mut checkpointed: Option<SystemTime> = None;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(POLL) {
                let modified = std::fs::metadata(&wal).and_then(|m| m.modified()).ok();
                let idle = modified == last_seen;
                last_seen = modified;
                if modified.is_none() || modified == checkpointed || last_checkpoint.elapsed() < INTERVAL {
                    continue;
                }
                last_checkpoint = Instant::now();
                checkpointed = modified;
                let mut result = checkpoint(&conn, "PASSIVE");
                if !idle {
                    result = result.and_then(|()| checkpoint(&conn, "RESTART"));
                }
                if let Err(err) = result {
                    tracing::debug!(path = %path.display(), %err, "pubsub.sqlite checkpoint failed; will retry");
                }
            }
        });
        if let Err(err) = &thread {
            tracing::warn!(%err, "pubsub.sqlite cannot start its checkpoint thread; the WAL file will grow");
        }
        Self { stop: Some(stop), thread: thread.ok() }
    }
}

/// Another instance's checkpoint running at the same time makes this one a no-op, which is fine.
fn checkpoint(conn: &rusqlite::Connection, mode: &str) -> rusqlite::Result<()> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
}

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
