//! `[[icecast]]`: the Icecast source outputs (any number), each checked whole at load: the
//! URL, exactly one of `password`/`password_file` (the file read now, so an unreadable one
//! is refused with file:line), header-safe names.

use std::path::PathBuf;

use serde::{Deserialize, Serialize, Serializer};

use crate::stream::icecast::{Endpoint, Password, Target, header_value};

/// One `[[icecast]]` entry, as parsed and checked.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "RawIcecast")]
pub struct IcecastConfig {
    /// `url`: `http://host:port/mount`.
    #[serde(serialize_with = "display")]
    pub url: Endpoint,
    /// `user` (default `source`).
    pub user: String,
    /// The password, from `password` or read from `password_file`. Never serialised.
    #[serde(skip_serializing)]
    pub password: Password,
    /// `password_file`, when the password came from one (a reload reads it again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// `name`, `description`, `genre`: the ice-* headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// See `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// See `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genre: Option<String>,
}

/// The entry as written, before the checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIcecast {
    url: String,
    #[serde(default = "default_user")]
    user: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
    name: Option<String>,
    description: Option<String>,
    genre: Option<String>,
}

fn default_user() -> String {
    "source".to_string()
}

fn display<S: Serializer>(value: &Endpoint, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

impl TryFrom<RawIcecast> for IcecastConfig {
    type Error = String;

    fn try_from(raw: RawIcecast) -> Result<IcecastConfig, String> {
        let url = Endpoint::parse(&raw.url).map_err(|e| format!("icecast.{e}"))?;
        if raw.user.is_empty() {
            return Err("icecast.user: empty (Icecast's source user is usually \"source\")".into());
        }
        header_value("icecast.user", &raw.user)?;
        if raw.user.contains(':') {
            return Err("icecast.user: contains ':' (not allowed in HTTP Basic auth)".into());
        }
        for (field, value) in [
            ("icecast.name", &raw.name),
            ("icecast.description", &raw.description),
            ("icecast.genre", &raw.genre),
        ] {
            if let Some(value) = value {
                header_value(field, value)?;
            }
        }
        let secret = match (raw.password, &raw.password_file) {
            (Some(password), None) => password,
            (None, Some(path)) => read_password(path)?,
            (Some(_), Some(_)) => {
                return Err(
                    "icecast: both password and password_file are set (give exactly one)".into(),
                );
            }
            (None, None) => {
                return Err("icecast: no password (give password or password_file)".into());
            }
        };
        let password = Password::new(secret).map_err(|e| match &raw.password_file {
            Some(path) => format!("icecast.password_file: {}: {e}", path.display()),
            None => format!("icecast.password: {e}"),
        })?;
        Ok(IcecastConfig {
            url,
            user: raw.user,
            password,
            password_file: raw.password_file,
            name: raw.name,
            description: raw.description,
            genre: raw.genre,
        })
    }
}

/// The file's first line (a trailing newline, as editors write, is not part of it).
fn read_password(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("icecast.password_file: cannot read {}: {e}", path.display()))?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

impl IcecastConfig {
    /// What the output needs to connect.
    pub fn target(&self) -> Target {
        Target {
            endpoint: self.url.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            genre: self.genre.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};

    fn error_of(text: &str) -> (usize, String) {
        match Config::from_toml(text) {
            Err(ConfigError::Parse { line, message, .. }) => (line, message),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn entries_parse_with_their_defaults() {
        let config = Config::from_toml(
            "[[icecast]]\nurl = \"http://127.0.0.1:8000/a.opus\"\npassword = \"hackme\"\n\
             [[icecast]]\nurl = \"http://relay.example/b\"\nuser = \"me\"\npassword = \"x\"\n\
             name = \"ambientd\"\ngenre = \"ambient\"\n",
        )
        .unwrap();
        assert_eq!(config.icecast.len(), 2);
        let first = config.icecast[0].target();
        assert_eq!(first.user, "source");
        assert_eq!(first.endpoint.to_string(), "http://127.0.0.1:8000/a.opus");
        assert_eq!(first.name, None);
        let second = config.icecast[1].target();
        assert_eq!((second.user.as_str(), second.endpoint.port), ("me", 80));
        assert_eq!(second.genre.as_deref(), Some("ambient"));
        // The password shows nowhere: not in Debug, not when serialised.
        let shown = format!("{config:?}{}", toml::to_string(&config).unwrap());
        assert!(!shown.contains("hackme"), "{shown}");
    }

    #[test]
    fn bad_entries_are_refused_with_their_line() {
        for (entry, expected) in [
            (
                "url = \"127.0.0.1:8000/a\"\npassword = \"p\"",
                "icecast.url: \"127.0.0.1:8000/a\" has no scheme",
            ),
            (
                "url = \"ftp://h/a\"\npassword = \"p\"",
                "icecast.url: scheme \"ftp\"",
            ),
            (
                "url = \"http://h:8000\"\npassword = \"p\"",
                "names no mount",
            ),
            (
                "url = \"http://h/a\"",
                "no password (give password or password_file)",
            ),
            (
                "url = \"http://h/a\"\npassword = \"p\"\npassword_file = \"/x\"",
                "both password and password_file",
            ),
            (
                "url = \"http://h/a\"\npassword = \"p\"\nname = \"a\\r\\nX-Evil: 1\"",
                "icecast.name: contains a line break",
            ),
            (
                "url = \"http://h/a\"\npassword = \"\"",
                "icecast.password: the password is empty",
            ),
            (
                "url = \"http://h/a\"\npassword = \"p\"\npasword = \"q\"",
                "unknown field `pasword`",
            ),
        ] {
            let (line, message) = error_of(&format!("[music]\nbpm = 70\n\n[[icecast]]\n{entry}\n"));
            assert!(message.contains(expected), "{entry}: {message}");
            assert!((4..=7).contains(&line), "{entry}: line {line}: {message}");
        }
    }

    #[test]
    fn the_password_file_is_read_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("icecast.pass");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let config = Config::from_toml(&format!(
            "[[icecast]]\nurl = \"http://h/a\"\npassword_file = \"{}\"\n",
            secret.display()
        ))
        .unwrap();
        assert_eq!(
            config.icecast[0].target().password.expose_for_test(),
            "s3cret"
        );

        let missing = dir.path().join("none.pass");
        let path = dir.path().join("ambientd.toml");
        std::fs::write(
            &path,
            format!(
                "\n[[icecast]]\nurl = \"http://h/a\"\npassword_file = \"{}\"\n",
                missing.display()
            ),
        )
        .unwrap();
        let text = Config::load(&path).unwrap_err().to_string();
        assert!(
            text.starts_with(&format!("{}:2:", path.display())),
            "{text}"
        );
        assert!(
            text.contains("icecast.password_file: cannot read"),
            "{text}"
        );
        assert!(text.contains("none.pass"), "{text}");
    }
}
