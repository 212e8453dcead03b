//! Credentials inside broker URLs (`scheme://user:secret@host/...`): the one place that hides them
//! from logs and error messages, and takes them out of a URL for clients that would print it.

/// `amqp://user:secret@host/vhost` → `amqp://user:***@host/vhost`; any URL without a password
/// comes back as it was.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_owned(),
    };
    match path {
        Some(path) => format!("{scheme}://{authority}/{path}"),
        None => format!("{scheme}://{authority}"),
    }
}

/// The user and password (percent-decoded) a URL carries, and the URL without them.
pub fn split(url: &str) -> (String, Option<(String, Option<String>)>) {
    let Some((scheme, rest)) = url.split_once("://") else { return (url.to_owned(), None) };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let Some((user_info, host)) = authority.rsplit_once('@') else { return (url.to_owned(), None) };
    let credentials = match user_info.split_once(':') {
        Some((user, password)) => (unescape(user), Some(unescape(password))),
        None => (unescape(user_info), None),
    };
    let bare = match path {
        Some(path) => format!("{scheme}://{host}/{path}"),
        None => format!("{scheme}://{host}"),
    };
    (bare, Some(credentials))
}

/// Percent-decoding of a URL's user-info part (`s%40cret` → `s@cret`).
pub fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_and_the_rest_kept() {
        assert_eq!(redact("amqp://app:s3cret@rabbit:5673/%2f"), "amqp://app:***@rabbit:5673/%2f");
        assert_eq!(redact("nats://u:p@a:b@nats:4222"), "nats://u:***@nats:4222");
        assert_eq!(redact("tcp://host:1883"), "tcp://host:1883");
        assert_eq!(redact("nats://token@host"), "nats://token@host");
        assert_eq!(redact("no scheme:secret@x"), "no scheme:secret@x");
    }

    #[test]
    fn credentials_come_out_decoded_and_the_url_without_them() {
        assert_eq!(split("nats://app:s%40cret@nats:4222"), ("nats://nats:4222".into(), Some(("app".into(), Some("s@cret".into())))));
        assert_eq!(split("nats://tok@nats:4222/x"), ("nats://nats:4222/x".into(), Some(("tok".into(), None))));
        assert_eq!(split("nats://nats:4222"), ("nats://nats:4222".into(), None));
        // "%4" is cut short: kept as written, never a panic.
        assert_eq!(unescape("a%4"), "a%4");
    }
}
