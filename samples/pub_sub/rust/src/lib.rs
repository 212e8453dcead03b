//! What the quickstart's two programs share: the component and topic they use, the order they
//! exchange, and how they read their settings and show the SDK's own log lines.

use serde::{Deserialize, Serialize};
use std::io::IsTerminal;

/// The pubsub component's `metadata.name` in the resources dir (samples/components/pubsub.yaml).
pub const PUBSUB_NAME: &str = "order_pub_sub";
pub const TOPIC_NAME: &str = "orders";

/// One order, as JSON: `{"orderId":1}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: u64,
}

/// An order as any publisher of the quickstart sends it: `{"orderId":1}` (this one, Python's async
/// publisher) or its bare number (Dapr's quickstart in Python, JavaScript and C#), since every
/// language's subscriber is app id `checkout`, one consumer group.
pub fn parse_order(data: &[u8]) -> Result<Order, serde_json::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Sent {
        Order(Order),
        Number(u64),
    }
    Ok(match serde_json::from_slice(data)? {
        Sent::Order(order) => order,
        Sent::Number(order_id) => Order { order_id },
    })
}

/// The number in environment variable `name`, or `default` when it is unset or empty.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value.trim().parse().map_err(|_| format!("{name}={value:?} is not a number in range")),
        _ => Ok(default),
    }
}

/// Prints dapr-rs' own log lines (the app server listening, a handler's failure) to stderr:
/// `info` and up, or what `RUST_LOG` says.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // Colours only on a terminal: under `dapr-rs run` the output is a pipe.
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_is_the_quickstarts_json() {
        assert_eq!(serde_json::to_string(&Order { order_id: 7 }).unwrap(), r#"{"orderId":7}"#);
        assert_eq!(serde_json::from_str::<Order>(r#"{"orderId": 7}"#).unwrap(), Order { order_id: 7 });
    }

    #[test]
    fn an_order_is_read_as_any_quickstart_publishes_it() {
        assert_eq!(parse_order(br#"{"orderId":7}"#).unwrap(), Order { order_id: 7 });
        assert_eq!(parse_order(b"7").unwrap(), Order { order_id: 7 });
        for not_an_order in [&b"\"seven\""[..], b"{}", b"-7", b"{\"orderId\":"] {
            assert!(parse_order(not_an_order).is_err(), "{}", String::from_utf8_lossy(not_an_order));
        }
    }
}
