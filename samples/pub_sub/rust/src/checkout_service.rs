//! The quickstart's subscriber (app id `checkout`): serves the sidecar's deliveries of topic
//! `orders` on APP_PORT (default 6002) and prints each order. With EXPECTED_ORDERS=n it exits once
//! n orders have arrived; otherwise it runs until Ctrl-C or SIGTERM.

use dapr_rs_core::app::{AppProtocol, AppServer};
use dapr_rs_core::{Subscription, TopicEvent, TopicEventStatus, handler_fn};
use dapr_rs_pubsub_quickstart::{PUBSUB_NAME, TOPIC_NAME, env_number, init_logging, parse_order};
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("checkout-service: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let port: u16 = env_number("APP_PORT", 6002)?;
    let expected_orders: u64 = env_number("EXPECTED_ORDERS", 0)?;
    // Serve the protocol the sidecar will call with: `dapr-rs run --app-protocol` exports it.
    let protocol: AppProtocol = std::env::var("APP_PROTOCOL").unwrap_or_else(|_| "grpc".into()).parse()?;

    let received = Arc::new(AtomicU64::new(0));
    let all_received = Arc::new(Notify::new());
    let handler = handler_fn({
        let all_received = all_received.clone();
        move |event: TopicEvent| {
            let (received, all_received) = (received.clone(), all_received.clone());
            async move {
                let order = match parse_order(&event.data) {
                    Ok(order) => order,
                    // It will never be an order: drop it (to the dead-letter topic, if one is set)
                    // instead of having it redelivered forever.
                    Err(err) => {
                        eprintln!("checkout-service: event {} is not an order ({err}); dropped", event.id);
                        return Ok(TopicEventStatus::Drop);
                    }
                };
                println!("Subscriber received: {}", serde_json::to_string(&order)?);
                if received.fetch_add(1, Ordering::SeqCst) + 1 == expected_orders {
                    all_received.notify_one();
                }
                Ok(TopicEventStatus::Success)
            }
        }
    });

    // Every interface, as the official SDKs' servers: the sidecar may use any --app-channel-address.
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let mut server = AppServer::start(protocol, addr, vec![Subscription::new(PUBSUB_NAME, TOPIC_NAME, handler)]).await?;
    let stop = server.take_stop_handle().ok_or("the app server gave no stop handle")?;
    let mut sigterm = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            () = all_received.notified(), if expected_orders > 0 => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
        }
        let _ = stop.send(());
    });
    // Ends once stopped (deliveries in flight get the server's grace period to finish) or when the
    // server fails.
    server.wait().await?;
    Ok(())
}
