//! The quickstart's publisher (app id `orderprocessing`): publishes ORDER_COUNT orders (default
//! 10), `{"orderId":1}` and up, to topic `orders` through its sidecar, one every
//! PUBLISH_INTERVAL_MS (default 200), printing each.

use dapr_rs_core::{ClientOptions, DaprClient, PublishRequest, content_type};
use dapr_rs_pubsub_quickstart::{Order, PUBSUB_NAME, TOPIC_NAME, env_number, init_logging};
use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

/// How long the sidecar `dapr-rs run` starts beside this program may take to come up.
const SIDECAR_WAIT: Duration = Duration::from_secs(60);
/// How long one publish may take when `DAPR_API_TIMEOUT_SECONDS` does not say.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("order-processing-service: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let order_count: u64 = env_number("ORDER_COUNT", 10)?;
    let interval = Duration::from_millis(env_number("PUBLISH_INTERVAL_MS", 200)?);

    // The sidecar's address comes from DAPR_GRPC_PORT, which `dapr-rs run` sets.
    let mut options = ClientOptions::from_env();
    options.timeout.get_or_insert(PUBLISH_TIMEOUT);
    let client = DaprClient::new(options)?;
    client.wait_for_sidecar(SIDECAR_WAIT).await?;

    for order_id in 1..=order_count {
        let order = serde_json::to_string(&Order { order_id })?;
        let request = PublishRequest {
            pubsub_name: PUBSUB_NAME.into(),
            topic: TOPIC_NAME.into(),
            data: order.clone().into(),
            data_content_type: content_type::JSON.into(),
            ..Default::default()
        };
        client.publish_event(request).await.map_err(|err| format!("publishing order {order_id} to {PUBSUB_NAME}/{TOPIC_NAME}: {err}"))?;
        println!("Published data: {order}");
        tokio::time::sleep(interval).await;
    }
    Ok(())
}
