//! The web client's files, compiled into the binary so the daemon serves its own page with no
//! install step: `/` is `web/index.html`, and every other file of `web/` is served at its name.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Request path.
    pub path: &'static str,
    /// The file's bytes.
    pub body: &'static str,
    /// Its `Content-Type`. Module scripts and the AudioWorklet are refused by browsers unless
    /// served as JavaScript.
    pub content_type: &'static str,
}

macro_rules! asset {
    ($path:literal, $file:literal, $type:expr) => {
        Asset {
            path: $path,
            body: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $file)),
            content_type: $type,
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the page.
pub const ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML),
    asset!("/index.html", "index.html", HTML),
    asset!("/style.css", "style.css", "text/css; charset=utf-8"),
    asset!("/app.js", "app.js", JS),
    asset!("/connection.js", "connection.js", JS),
    asset!("/controls.js", "controls.js", JS),
    asset!("/media-session.js", "media-session.js", JS),
    asset!("/opus.js", "opus.js", JS),
    asset!("/opus-wasm.js", "opus-wasm.js", JS),
    // libopus in WebAssembly for browsers without WebCodecs (npm `opus-decoder` 0.7.12, MIT;
    // see web/README.md), fetched only by those.
    asset!("/opus-decoder.min.js", "opus-decoder.min.js", JS),
    asset!("/player.js", "player.js", JS),
    asset!("/visualizer.js", "visualizer.js", JS),
    asset!("/worklet.js", "worklet.js", JS),
];

/// The embedded file served at `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        let index = find("/").unwrap();
        assert_eq!(index.content_type, HTML);
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            assert_eq!(asset.content_type, JS);
            for line in asset
                .body
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
            {
                let Some(from) = line.split(['\'', '"']).nth(1) else {
                    continue;
                };
                let path = from.trim_start_matches('.');
                assert!(
                    find(path).is_some(),
                    "{} imports {from}, which is not embedded",
                    asset.path
                );
            }
        }
        for referenced in ["style.css", "app.js"] {
            assert!(
                index.body.contains(referenced),
                "index.html no longer loads {referenced}"
            );
        }
    }
}
