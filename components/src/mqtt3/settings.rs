//! The component's metadata, with the key names and code defaults of Dapr's `pubsub.mqtt3`
//! (components-contrib `pubsub/mqtt3/metadata.go`): where the broker is, the QoS of publishes and
//! subscriptions, `retain`, `cleanSession`, and the client id (`consumerID`).

use crate::{BrokerError, ComponentConfig, url_credentials};
use rumqttc::QoS;
use std::time::Duration;

const KEY_URL: &str = "url";
const KEY_QOS: &str = "qos";
const KEY_RETAIN: &str = "retain";
const KEY_CLEAN_SESSION: &str = "cleanSession";
const KEY_CA_CERT: &str = "caCert";
const KEY_CLIENT_CERT: &str = "clientCert";
const KEY_CLIENT_KEY: &str = "clientKey";

const PLAIN_PORT: u16 = 1883;
const TLS_PORT: u16 = 8883;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Dapr's `defaultWait`: how long a publish or a subscribe may wait for the broker's answer.
const DEFAULT_WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Settings {
    /// The URL as given, without its password: for messages and logs.
    pub address: String,
    pub host: String,
    pub port: u16,
    pub tls: Option<Tls>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub qos: QoS,
    pub retain: bool,
    /// `false` (Dapr's default): the broker keeps the session, its subscriptions and what is
    /// published for them while the sidecar is away, under the client id `consumerID`.
    /// `true`: the session ends with the connection; every instance connects under a client id
    /// of its own and instances of one app id share messages through `$share/{consumerID}/…`.
    pub clean_session: bool,
    pub consumer_id: String,
    pub connect_timeout: Duration,
    pub wait: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tls {
    /// PEM: the authority the broker's certificate must chain to (Dapr requires it for TLS).
    pub ca_cert: String,
    /// PEM certificate and key.
    pub client_auth: Option<(String, String)>,
}

impl Settings {
    pub fn from_config(config: &ComponentConfig) -> Result<Self, BrokerError> {
        let Some(url) = config.value(KEY_URL) else {
            return Err(BrokerError::Config(format!("{KEY_URL}: missing (the broker's address, e.g. \"tcp://localhost:1883\")")));
        };
        let bad_url = |why: &str| BrokerError::Config(format!("{KEY_URL}: {:?} {why}", url_credentials::redact(url)));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad_url("is not a URL such as \"tcp://localhost:1883\""))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "tcp" | "mqtt" => false,
            "ssl" | "tls" | "mqtts" | "tcps" => true,
            _ => return Err(bad_url("has an unknown scheme (use tcp://, mqtt://, ssl://, mqtts://)")),
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let (user_info, host_port) = match authority.rsplit_once('@') {
            Some((user_info, host_port)) => (Some(user_info), host_port),
            None => (None, authority),
        };
        let (username, password) = match user_info {
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (Some(url_credentials::unescape(user)), Some(url_credentials::unescape(password))),
                None => (Some(url_credentials::unescape(info)), None),
            },
            None => (None, None),
        };
        // `host`, `host:port`, `[v6]` or `[v6]:port`.
        let (host, port) = match host_port.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            },
        };
        let port = match port {
            Some(port) => {
                port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad_url("has a port that is not a number from 1 to 65535"))?
            }
            None if tls => TLS_PORT,
            None => PLAIN_PORT,
        };
        if host.is_empty() {
            return Err(bad_url("names no host"));
        }
        let qos = match config.value(KEY_QOS) {
            None => QoS::AtLeastOnce,
            Some("0") => QoS::AtMostOnce,
            Some("1") => QoS::AtLeastOnce,
            Some("2") => QoS::ExactlyOnce,
            Some(raw) => return Err(BrokerError::Config(format!("{KEY_QOS}: {raw:?} is not 0, 1 or 2"))),
        };
        let client_auth = match (config.value(KEY_CLIENT_CERT), config.value(KEY_CLIENT_KEY)) {
            (Some(cert), Some(key)) => Some((cert.to_owned(), key.to_owned())),
            (None, None) => None,
            _ => return Err(BrokerError::Config(format!("{KEY_CLIENT_CERT} and {KEY_CLIENT_KEY} go together: set both or neither"))),
        };
        let ca_cert = config.value(KEY_CA_CERT).map(str::to_owned);
        let tls = if tls {
            let Some(ca_cert) = ca_cert else {
                return Err(BrokerError::Config(format!(
                    "{KEY_CA_CERT}: missing; {:?} uses TLS and needs the broker's CA certificate (PEM)",
                    url_credentials::redact(url)
                )));
            };
            Some(Tls { ca_cert, client_auth })
        } else if ca_cert.is_some() || client_auth.is_some() {
            return Err(bad_url("is not ssl:// although caCert/clientCert are set"));
        } else {
            None
        };
        Ok(Self {
            address: url_credentials::redact(url),
            host: host.to_owned(),
            port,
            tls,
            username,
            password,
            qos,
            retain: config.flag(KEY_RETAIN)?,
            clean_session: config.flag(KEY_CLEAN_SESSION)?,
            consumer_id: config.consumer_id(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            wait: DEFAULT_WAIT,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> ComponentConfig {
        ComponentConfig {
            name: "events".into(),
            component_type: "pubsub.mqtt3".into(),
            metadata: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            app_id: "checkout".into(),
        }
    }

    #[test]
    fn defaults_are_daprs() {
        let s = Settings::from_config(&config(&[("url", "tcp://localhost")])).unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls.is_none()), ("localhost", 1883, true));
        assert_eq!((s.qos, s.retain, s.clean_session, s.consumer_id.as_str()), (QoS::AtLeastOnce, false, false, "checkout"));
    }

    #[test]
    fn urls_of_every_scheme_are_read_and_the_password_is_never_shown() {
        let s = Settings::from_config(&config(&[("url", "mqtt://app:s%40cret@broker:1884")])).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("broker", 1884));
        assert_eq!((s.username.as_deref(), s.password.as_deref()), (Some("app"), Some("s@cret")));
        assert_eq!(s.address, "mqtt://app:***@broker:1884");
        let s = Settings::from_config(&config(&[("url", "ssl://broker"), ("caCert", "PEM")])).unwrap();
        assert_eq!((s.port, s.tls.unwrap().ca_cert.as_str()), (8883, "PEM"));
    }

    #[test]
    fn values_are_read() {
        let s = Settings::from_config(&config(&[
            ("url", "tcp://127.0.0.1:1883"),
            ("qos", "2"),
            ("retain", "true"),
            ("cleanSession", "true"),
            ("consumerID", "orders-app"),
        ]))
        .unwrap();
        assert_eq!((s.qos, s.retain, s.clean_session, s.consumer_id.as_str()), (QoS::ExactlyOnce, true, true, "orders-app"));
    }

    #[test]
    fn bad_values_name_key_and_value() {
        for (key, value) in [
            ("qos", "3"),
            ("retain", "perhaps"),
            ("cleanSession", "yes please"),
            ("url", "http://localhost:1883"),
            ("url", "tcp://localhost:port"),
            ("url", "localhost"),
        ] {
            let mut pairs = vec![(key, value)];
            if key != "url" {
                pairs.push(("url", "tcp://localhost:1883"));
            }
            let err = Settings::from_config(&config(&pairs)).expect_err(&format!("{key}={value} is refused"));
            let text = err.to_string();
            assert!(text.contains(key) && text.contains(value), "{key}={value}: {text}");
        }
        let err = Settings::from_config(&config(&[])).expect_err("url is required");
        assert!(err.to_string().contains("url"), "{err}");
    }
}
