//! The [`Subscription`] of components whose subscription is a set of tasks: a stop token, a
//! token that gives up the handler calls still running once the grace period is over, and the
//! tasks themselves.

use super::Subscription;
use async_trait::async_trait;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Default)]
pub(crate) struct TaskSubscription {
    /// Stops taking new messages.
    pub stop: CancellationToken,
    /// Cancelled when the grace period ran out: handler calls still running are given up.
    pub abandon: CancellationToken,
    pub tasks: TaskTracker,
}

#[async_trait]
impl Subscription for TaskSubscription {
    async fn stop(&self, grace: Duration) {
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            self.abandon.cancel();
            self.tasks.wait().await;
        }
    }
}
