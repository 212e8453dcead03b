//! The one rule for a handler call, applied by every component: a panic is the handler saying no
//! (never a crash of the reader), a call past its time limit is given up, and a call still running
//! when the shutdown grace runs out is abandoned. What a component then does with its broker
//! (ack, nack, release, leave unacknowledged) is its own.

use super::{BrokerMessage, MessageHandler, NotProcessed};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What became of one handler call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Handled {
    /// The handler took the message: acknowledge it.
    Processed,
    /// The handler said no, or panicked: leave it for redelivery.
    NotProcessed,
    /// It ran past its limit: past it the message is anyone's again.
    TimedOut,
    /// The shutdown grace ran out while it ran: hand the message back.
    Abandoned,
}

/// Calls `handler` once with `message`, bounded by `limit` and by `abandon` (either may be
/// absent), and logs what went wrong under the component's name and the topic.
pub(crate) async fn call_handler(
    component: &str,
    handler: &dyn MessageHandler,
    message: BrokerMessage,
    limit: Option<Duration>,
    abandon: Option<&CancellationToken>,
) -> Handled {
    let topic = message.topic.clone();
    let call = AssertUnwindSafe(handler.handle(message)).catch_unwind();
    let limited = async {
        match limit {
            Some(limit) => tokio::time::timeout(limit, call).await.ok(),
            None => Some(call.await),
        }
    };
    let outcome = match abandon {
        Some(abandon) => tokio::select! {
            () = abandon.cancelled() => {
                tracing::debug!(%topic, "{component}: shutdown grace ran out; the message goes back to the broker");
                return Handled::Abandoned;
            }
            outcome = limited => outcome,
        },
        None => limited.await,
    };
    match outcome {
        Some(Ok(Ok(()))) => Handled::Processed,
        Some(Ok(Err(NotProcessed(reason)))) => {
            tracing::debug!(%topic, %reason, "{component}: message not processed; will redeliver");
            Handled::NotProcessed
        }
        Some(Err(_)) => {
            tracing::warn!(%topic, "{component}: message handler panicked; will redeliver");
            Handled::NotProcessed
        }
        None => {
            tracing::warn!(%topic, ?limit, "{component}: message handler timed out; will redeliver");
            Handled::TimedOut
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    struct Behaves(&'static str);

    #[async_trait]
    impl MessageHandler for Behaves {
        async fn handle(&self, _msg: BrokerMessage) -> Result<(), NotProcessed> {
            match self.0 {
                "ok" => Ok(()),
                "no" => Err(NotProcessed("no".into())),
                "panic" => panic!("a handler bug"),
                _ => futures::future::pending().await,
            }
        }
    }

    async fn call(behaviour: &'static str, limit: Option<Duration>, abandon: Option<&CancellationToken>) -> Handled {
        call_handler("pubsub.test", &Behaves(behaviour), BrokerMessage::default(), limit, abandon).await
    }

    #[tokio::test]
    async fn answers_panics_limits_and_abandons_map_to_one_outcome_each() {
        assert_eq!(call("ok", None, None).await, Handled::Processed);
        assert_eq!(call("no", None, None).await, Handled::NotProcessed);
        assert_eq!(call("panic", None, None).await, Handled::NotProcessed);
        assert_eq!(call("hang", Some(Duration::from_millis(10)), None).await, Handled::TimedOut);
        let abandon = CancellationToken::new();
        abandon.cancel();
        assert_eq!(call("hang", None, Some(&abandon)).await, Handled::Abandoned);
    }
}
