//! `/ws`'s query string: the listener's format, where to resume, and the web-control token.

use super::encode::{Encoding, Format};

/// What `/ws` accepts in its query string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WsQuery {
    /// Channels and encoding.
    pub format: Format,
    /// Resume after this sequence.
    pub resume: Option<u64>,
    /// The web-control token, if the client gave one.
    pub token: Option<String>,
}

/// The names `/ws` knows.
const KNOWN: [&str; 4] = ["channels", "encoding", "resume", "token"];

/// Parses `/ws`'s query; the error is one line naming the field and the allowed values.
/// Names and values are percent-decoded (a token may hold any character); a name given twice
/// is an error rather than a silent choice of one of them.
pub fn parse_ws_query(query: Option<&str>) -> Result<WsQuery, String> {
    let mut parsed = WsQuery::default();
    let mut seen: Vec<String> = Vec::new();
    let mut channels_given = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode("query parameter name", name)?;
        // Unknown names first, quoted: a decoded name may hold anything (a newline, say),
        // and the error must stay one line.
        if !KNOWN.contains(&name.as_str()) {
            return Err(format!(
                "unknown query parameter {name:?} (allowed: channels, encoding, resume, token)"
            ));
        }
        let value = decode(&name, value)?;
        if seen.contains(&name) {
            return Err(format!("{name}: given more than once (give it once)"));
        }
        seen.push(name.clone());
        let value = value.as_str();
        match name.as_str() {
            "channels" => {
                channels_given = true;
                parsed.format.channels = match value {
                    "1" => 1,
                    "2" => 2,
                    _ => {
                        return Err(format!(
                            "channels: {value:?} is not allowed (allowed: 1, 2)"
                        ));
                    }
                }
            }
            "encoding" => {
                let encodings = websocket_encodings();
                parsed.format.encoding = encodings
                    .iter()
                    .copied()
                    .find(|encoding| encoding.name() == value)
                    .ok_or_else(|| {
                        let allowed: Vec<_> = encodings.iter().map(|e| e.name()).collect();
                        format!(
                            "encoding: {value:?} is not allowed (allowed: {})",
                            allowed.join(", ")
                        )
                    })?
            }
            "resume" => {
                parsed.resume = Some(value.parse().map_err(|_| {
                    format!("resume: {value:?} is not a sequence number (allowed: 0..=2^64-1)")
                })?)
            }
            "token" => parsed.token = Some(value.to_string()),
            _ => {
                return Err(format!(
                    "unknown query parameter {name:?} (allowed: channels, encoding, resume, token)"
                ));
            }
        }
    }
    // Opus is stereo only: stereo unless asked otherwise, and mono refused by name.
    if parsed.format.encoding == Encoding::Opus {
        if channels_given && parsed.format.channels != 2 {
            return Err(format!(
                "channels: \"{}\" is not allowed with encoding=opus (allowed: 2)",
                parsed.format.channels
            ));
        }
        parsed.format.channels = 2;
    }
    debug_assert!(parsed.format.is_registered());
    Ok(parsed)
}

/// The encodings a WebSocket listener may ask for: every registered one but the bare PCM
/// of `/stream.wav` and the Ogg pages of `/stream.opus` (which carry no sequence), in
/// registry order, each once.
fn websocket_encodings() -> Vec<Encoding> {
    let mut encodings = Vec::new();
    for encoding in Format::all().map(|format| format.encoding) {
        let http_only = matches!(encoding, Encoding::Raw | Encoding::Ogg);
        if !http_only && !encodings.contains(&encoding) {
            encodings.push(encoding);
        }
    }
    encodings
}

/// `text` percent-decoded, as UTF-8; the error names `what`.
fn decode(what: &str, text: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| format!("{what}: not UTF-8 once percent-decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_and_errors_name_field_and_allowed_values() {
        let q = parse_ws_query(Some("channels=2&encoding=binary&resume=41")).unwrap();
        assert_eq!(q.format.channels, 2);
        assert_eq!(q.format.encoding, Encoding::Binary);
        assert_eq!(q.resume, Some(41));
        assert_eq!(parse_ws_query(None).unwrap(), WsQuery::default());
        let err = parse_ws_query(Some("channels=3")).unwrap_err();
        assert!(
            err.starts_with("channels:") && err.contains("1, 2"),
            "{err}"
        );
        let err = parse_ws_query(Some("encoding=ogg")).unwrap_err();
        assert!(
            err.starts_with("encoding:") && err.contains("json, binary, opus"),
            "{err}"
        );
        let q = parse_ws_query(Some("encoding=opus")).unwrap();
        assert_eq!(q.format, crate::stream::encode::OPUS, "Opus is stereo");
        let err = parse_ws_query(Some("encoding=opus&channels=1")).unwrap_err();
        assert_eq!(
            err,
            "channels: \"1\" is not allowed with encoding=opus (allowed: 2)"
        );
        let err = parse_ws_query(Some("resume=soon")).unwrap_err();
        assert!(err.starts_with("resume:"), "{err}");
        let err = parse_ws_query(Some("token=wrong&token=right")).unwrap_err();
        assert_eq!(err, "token: given more than once (give it once)");
        let q = parse_ws_query(Some("token=s3%20cr%26t%3D&chann%65ls=2")).unwrap();
        assert_eq!(
            q.token.as_deref(),
            Some("s3 cr&t="),
            "values are percent-decoded"
        );
        assert_eq!(q.format.channels, 2, "names too");
        let err = parse_ws_query(Some("token=%ff")).unwrap_err();
        assert!(err.starts_with("token: not UTF-8"), "{err}");
        // Found by fuzzing: a percent-encoded newline in a name split the error in two.
        let err = parse_ws_query(Some("%0A=%ff")).unwrap_err();
        assert_eq!(
            err,
            r#"unknown query parameter "\n" (allowed: channels, encoding, resume, token)"#
        );
        let err = parse_ws_query(Some("volume=11")).unwrap_err();
        assert!(
            err.contains("volume") && err.contains("channels, encoding, resume, token"),
            "{err}"
        );
    }
}
