//! Where one Icecast source output streams to: the server, the mount, the credentials and
//! the stream's ice-* descriptions, checked once (a bad URL or header value is refused before
//! anything connects).

use std::fmt;

/// `http://host[:port]/mount`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address (IPv6 without its brackets).
    pub host: String,
    /// TCP port (80 when the URL names none, as for any `http://` URL).
    pub port: u16,
    /// The mount point, starting with `/` (e.g. `/ambient.opus`).
    pub mount: String,
}

impl Endpoint {
    /// Parses `http://host[:port]/mount`. Refuses another scheme (Icecast's source protocol
    /// here is plain HTTP), credentials in the URL (they would end up in logs: use
    /// `password`/`password_file`), a query or fragment, and a missing mount.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        const SHAPE: &str = "expected http://host:port/mount";
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "url: scheme {scheme:?} is not supported ({SHAPE}; Icecast sources speak plain http)"
                ));
            }
            None => return Err(format!("url: {url:?} has no scheme ({SHAPE})")),
        };
        if rest.contains(['?', '#']) {
            return Err(format!("url: {url:?} has a query or fragment ({SHAPE})"));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(
                "url: credentials in the URL are not allowed (they would be logged); \
                 use user and password or password_file"
                    .to_string(),
            );
        }
        let mount = path.trim_end_matches('/');
        if mount.is_empty() {
            return Err(format!("url: {url:?} names no mount ({SHAPE})"));
        }
        if mount.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err(format!(
                "url: the mount {mount:?} contains spaces or control characters"
            ));
        }
        let (host, port) = split_host_port(authority).map_err(|e| format!("url: {e} ({SHAPE})"))?;
        Ok(Endpoint {
            host,
            port,
            mount: mount.to_string(),
        })
    }

    /// `host:port` as a socket address string (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    /// The URL without credentials, as logs and status show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.mount)
    }
}

fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(inside) = authority.strip_prefix('[') {
        let (host, after) = inside
            .split_once(']')
            .ok_or_else(|| format!("{authority:?} is not a host"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err(format!("{authority:?} has no valid host"));
    }
    let port = match port {
        None => 80,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("port {port:?} is not 1..=65535"))?,
    };
    Ok((host.to_string(), port))
}

/// A source password: compared and sent, never shown (its `Debug` prints `"<hidden>"`).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps `secret`; refuses an empty one and one with control characters (it could not
    /// be typed into an Icecast config either).
    pub fn new(secret: String) -> Result<Password, String> {
        if secret.is_empty() {
            return Err("the password is empty".to_string());
        }
        if secret.chars().any(|c| c.is_control()) {
            return Err("the password contains control characters".to_string());
        }
        Ok(Password(secret))
    }

    /// The secret itself, for the `Authorization` header only.
    pub(super) fn expose(&self) -> &str {
        &self.0
    }

    /// The secret, for tests that check where it came from.
    #[cfg(test)]
    pub fn expose_for_test(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<hidden>\"")
    }
}

/// One Icecast source output, as the config describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Server and mount.
    pub endpoint: Endpoint,
    /// The source user (Icecast's default is `source`).
    pub user: String,
    /// The source password.
    pub password: Password,
    /// `ice-name`, if any.
    pub name: Option<String>,
    /// `ice-description`, if any.
    pub description: Option<String>,
    /// `ice-genre`, if any.
    pub genre: Option<String>,
}

/// Checks a value that goes into an HTTP header (`user`, `name`, ...): no line breaks or
/// other control characters, which would end the header early or inject another.
pub fn header_value(field: &str, value: &str) -> Result<(), String> {
    if value.chars().any(|c| c.is_control()) {
        return Err(format!(
            "{field}: contains a line break or another control character (allowed: printable text)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_host_port_and_mount() {
        let e = Endpoint::parse("http://icecast.example:8000/ambient.opus").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.mount.as_str()),
            ("icecast.example", 8000, "/ambient.opus")
        );
        assert_eq!(e.to_string(), "http://icecast.example:8000/ambient.opus");
        let e = Endpoint::parse("http://[::1]/a/b/").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.mount.as_str()),
            ("::1", 80, "/a/b")
        );
        assert_eq!(e.authority(), "[::1]:80");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, expected) in [
            ("icecast:8000/m", "no scheme"),
            ("https://h:8000/m", "\"https\" is not supported"),
            ("http://h:8000", "no mount"),
            ("http://h:8000/", "no mount"),
            ("http://u:p@h:8000/m", "credentials"),
            ("http://h:0/m", "1..=65535"),
            ("http://h:port/m", "1..=65535"),
            ("http://:8000/m", "no valid host"),
            ("http://h/m?x=1", "query"),
        ] {
            let error = Endpoint::parse(url).unwrap_err();
            assert!(error.contains(expected), "{url}: {error}");
            assert!(error.starts_with("url: "), "{error}");
        }
    }

    #[test]
    fn a_password_never_shows() {
        let password = Password::new("hunter2".to_string()).unwrap();
        assert_eq!(format!("{password:?}"), "\"<hidden>\"");
        assert!(Password::new(String::new()).is_err());
        assert!(Password::new("a\nb".to_string()).is_err());
    }
}
