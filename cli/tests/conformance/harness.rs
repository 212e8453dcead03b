//! One conformance case's world: a temporary resources directory holding the component under test
//! (named `pubsub`), names unique to the case, subscriber apps (core's `AppServer`) each with their
//! own `dapr-rs` sidecar, and a publisher.

use super::brokers::{Broker, Guarantee};
use super::leftovers::Names;
use crate::common::inbox::serve;
use crate::common::{Sidecar, SidecarBuilder, component};
use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{DaprClient, Subscription};
use std::sync::Mutex;
use std::time::Duration;
use tempfile::TempDir;

pub const PUBSUB: &str = "pubsub";

pub struct Case {
    pub broker: &'static Broker,
    dir: TempDir,
    suffix: String,
    /// A sidecar with no app, for brokers that sidecars share.
    publisher: Option<Sidecar>,
    /// What the case made, for the broker's `leftovers` once it is done.
    made: Mutex<Names>,
}

/// A subscriber app and its sidecar.
pub struct App {
    pub server: AppServer,
    /// `None` while stopped.
    sidecar: Option<Sidecar>,
    app_id: String,
    args: Vec<String>,
}

impl Case {
    pub fn new(broker: &'static Broker) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let metadata = (broker.metadata)(dir.path());
        let pairs: Vec<(&str, &str)> = metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        component(dir.path(), PUBSUB, broker.component_type, &pairs);
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        Self { broker, dir, suffix, publisher: None, made: Mutex::default() }
    }

    /// `base` made unique to this case: app ids (hence consumer groups) and topics never meet
    /// those of another run on a shared broker.
    pub fn name(&self, base: &str) -> String {
        let name = format!("{base}-{}", self.suffix);
        self.made.lock().unwrap().names.push(name.clone());
        name
    }

    /// Says so (in the test output) when the broker does not promise what a case checks.
    pub fn unless_promised(&self, guarantee: Guarantee) -> bool {
        if self.broker.promises(guarantee) {
            return false;
        }
        eprintln!("conformance: {} does not promise {guarantee:?}; this case checks nothing for it", self.broker.component_type);
        true
    }

    /// Serves `subscriptions` and starts the app's sidecar, waiting until its subscriptions are in place.
    pub async fn app(&self, app_id: &str, subscriptions: Vec<Subscription>, args: &[&str]) -> App {
        let server = serve(AppProtocol::Grpc, subscriptions).await;
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let sidecar = self.sidecar_for(app_id, &server, &args);
        self.made.lock().unwrap().app_ids.push(app_id.to_owned());
        App { server, sidecar: Some(sidecar), app_id: app_id.to_owned(), args }
    }

    fn sidecar_for(&self, app_id: &str, server: &AppServer, args: &[String]) -> Sidecar {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut sidecar = SidecarBuilder::new(app_id, self.dir.path()).app(server.local_addr().port(), "grpc").args(&args).start();
        sidecar.wait_http("/v1.0/healthz", 204, Duration::from_secs(20));
        sidecar
    }

    /// Stops the app's sidecar gracefully (SIGTERM), failing if it takes longer than `limit`; the
    /// app keeps running. How long it took.
    pub fn stop_sidecar_within(&self, app: &mut App, limit: Duration) -> Duration {
        let started = std::time::Instant::now();
        let code = app.sidecar.take().expect("the sidecar runs").stop_within(limit);
        assert_eq!(code, Some(0), "a graceful stop exits 0");
        started.elapsed()
    }

    /// Kills the app's sidecar (SIGKILL): whatever it had in flight is left to the broker.
    pub fn kill_sidecar(&self, app: &mut App) {
        drop(app.sidecar.take().expect("the sidecar runs"));
    }

    /// Starts the app's sidecar again, as after a restart.
    pub fn start_sidecar(&self, app: &mut App) {
        assert!(app.sidecar.is_none(), "the sidecar is already running");
        app.sidecar = Some(self.sidecar_for(&app.app_id, &app.server, &app.args));
    }

    /// Who publishes in this case: a sidecar of its own where sidecars share the broker, else the
    /// subscriber's own sidecar (an in-memory broker lives in one process).
    pub async fn publisher(&mut self, subscriber: &App) -> DaprClient {
        let client = if self.broker.promises(Guarantee::SharedBetweenSidecars) {
            let name = self.name("publisher");
            self.made.lock().unwrap().app_ids.push(name.clone());
            let dir = self.dir.path().to_owned();
            self.publisher.get_or_insert_with(|| SidecarBuilder::new(&name, &dir).start()).client()
        } else {
            subscriber.sidecar.as_ref().expect("the subscriber's sidecar runs").client()
        };
        client.wait_for_sidecar(Duration::from_secs(10)).await.unwrap();
        client
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        // Sidecars first: they must not hold what is removed.
        self.publisher.take();
        if let Some(leftovers) = self.broker.leftovers {
            let mut made = std::mem::take(&mut *self.made.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            made.app_ids.sort();
            made.app_ids.dedup();
            leftovers(&made);
        }
    }
}
