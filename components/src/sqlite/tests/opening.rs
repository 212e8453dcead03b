//! Opening a component: bad metadata is a config error naming the key, an unopenable path names it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_metadata_is_a_config_error_naming_the_key() {
    let dir = TempDir::new().unwrap();
    for (key, value) in [("processingTimeout", "soon"), ("redeliverInterval", "0"), ("retention", "-1h")] {
        match SqlitePubSub::open(&config(&dir, "app", &[(key, value)])).await {
            Err(BrokerError::Config(message)) => assert!(message.contains(key), "{message}"),
            Err(other) => panic!("{key}: expected a Config error, got {other}"),
            Ok(_) => panic!("{key}={value} was accepted"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unopenable_path_is_unavailable_and_names_it() {
    let dir = TempDir::new().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let path = blocker.join("pubsub.db");
    let mut config = config(&dir, "app", &[]);
    config.metadata.insert("path".into(), path.display().to_string());
    match SqlitePubSub::open(&config).await {
        Err(BrokerError::Unavailable(message)) => assert!(message.contains(&*blocker.display().to_string()), "{message}"),
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("opened a database under a file"),
    }
}

/// A statement with `LIMIT ?` run with one limit, then another, as claims are: SQLite would plan
/// each limit anew and prepare the statement again each time the value changed, unless the
/// connection fixes plans when they are prepared.
#[test]
fn a_statement_is_not_prepared_again_when_its_limit_changes() {
    let dir = TempDir::new().unwrap();
    let conn = schema::open(&dir.path().join("pubsub.db")).unwrap();
    let mut select = conn.prepare("SELECT seq FROM messages WHERE topic = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3").unwrap();
    for limit in [1, 7, 100, 3] {
        select.query_map(rusqlite::params!["orders", 0, limit], |r| r.get::<_, i64>(0)).unwrap().for_each(drop);
    }
    assert_eq!(select.get_status(rusqlite::StatementStatus::RePrepare), 0);
}
