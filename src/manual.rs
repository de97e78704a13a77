//! The man pages' hand-written parts: ambientd(1)'s FILES, ENVIRONMENT, SIGNALS and EXIT
//! STATUS sections, and ambientd.toml(5), generated from the shipped `etc/ambientd.toml` so
//! it documents every key, at its default, in the file's own words.

use std::fmt::Write as _;

/// The shipped configuration file (every key at its default, each with its comment).
pub const SHIPPED_CONFIG: &str = include_str!("../etc/ambientd.toml");

/// ambientd(1)'s sections after the options and commands, in roff.
pub const AMBIENTD_SECTIONS: &str = r#".SH FILES
.TP
\fI/etc/ambientd/ambientd.toml\fR
The configuration read with \fB\-\-config\fR (the packaged unit passes it); see
\fBambientd.toml\fR(5). Without \fB\-\-config\fR the built-in defaults serve.
.TP
\fI/var/lib/ambientd/params.toml\fR
The changes made at run time (\fBambientctl set\fR, the web page), saved and laid over the
config's [music] at start; \fBambientctl reset\fR forgets them. Outside systemd:
\fI$XDG_STATE_HOME/ambientd\fR or \fI~/.local/state/ambientd\fR.
.TP
\fI/run/ambientd/control.sock\fR
The control socket \fBambientctl\fR(1) talks to (mode 0660, group ambientd).
.TP
\fI/var/cache/ambientd/cuda\fR
The CUDA driver's kernel cache.
.SH ENVIRONMENT
.TP
\fBRUST_LOG\fR
Overrides [log] level (e.g. \fBRUST_LOG=debug\fR).
.TP
\fBRUNTIME_DIRECTORY\fR, \fBXDG_RUNTIME_DIR\fR
Where the control socket goes when [control] socket is empty.
.TP
\fBSTATE_DIRECTORY\fR, \fBXDG_STATE_HOME\fR
Where run-time changes are saved when [state] dir is empty.
.TP
\fBNOTIFY_SOCKET\fR, \fBWATCHDOG_USEC\fR, \fBLISTEN_FDS\fR, \fBJOURNAL_STREAM\fR
Set by systemd: readiness and watchdog notifications, socket activation, logging to the
journal.
.TP
\fBNO_COLOR\fR
No colours in the log even on a terminal (there are none when stderr is not a terminal).
.SH SIGNALS
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Stop: listeners get a last message, the pending parameter change is saved, exit 0.
.TP
\fBSIGHUP\fR
Reload the configuration file, like \fBambientctl reload\fR; an invalid file keeps the
running configuration (the reason is logged and shown in the status).
.SH EXIT STATUS
.TP
\fB0\fR
Stopped by a signal, or the command (render, check\-config, ...) succeeded.
.TP
\fB1\fR
It could not start or run (invalid configuration, address in use, another ambientd on the
control socket, ...), check\-config found the file invalid, or render could not write all
of its output (a full disk, or the reader of \fB\-\-out \-\fR closed the pipe); the reason is
one line on stderr (and in the journal under systemd).
.TP
\fB2\fR
Bad command line.
.SH SEE ALSO
\fBambientctl\fR(1), \fBambientd.toml\fR(5), \fBsystemctl\fR(1), \fBjournalctl\fR(1)
"#;

/// ambientd.toml(5), in roff: the shipped file's header as the description, each section a
/// subsection, each key with its default and the comment above it.
pub fn config_page(version: &str) -> String {
    let mut page = format!(
        ".TH AMBIENTD.TOML 5 \"\" \"ambientd {version}\" \"File Formats\"\n\
         .SH NAME\nambientd.toml \\- configuration of ambientd\n\
         .SH SYNOPSIS\n\\fI/etc/ambientd/ambientd.toml\\fR\n.SH DESCRIPTION\n"
    );
    let mut comment: Vec<&str> = Vec::new();
    let mut in_sections = false;
    for line in SHIPPED_CONFIG.lines() {
        let line = line.trim_end();
        if let Some(text) = line.strip_prefix('#') {
            comment.push(text.strip_prefix(' ').unwrap_or(text));
        } else if line.starts_with('[') {
            flush(&mut page, &mut comment);
            if !in_sections {
                page.push_str(".SH KEYS\n");
                in_sections = true;
            }
            let _ = writeln!(page, ".SS {}", escape(line));
        } else if let Some((key, value)) = line.split_once(" = ") {
            let _ = writeln!(
                page,
                ".TP\n\\fB{}\\fR = {}",
                escape(key.trim()),
                escape(value.trim())
            );
            flush(&mut page, &mut comment);
        } else {
            flush(&mut page, &mut comment);
        }
    }
    if !comment.is_empty() {
        page.push_str(".SH RELOADING\n");
        flush(&mut page, &mut comment);
    }
    page.push_str(".SH SEE ALSO\n\\fBambientd\\fR(1), \\fBambientctl\\fR(1)\n");
    page
}

/// Writes the comment lines gathered so far as one paragraph. A line indented by two spaces
/// starts a list item on a line of its own; deeper ones continue the item.
fn flush(page: &mut String, comment: &mut Vec<&str>) {
    if comment.is_empty() {
        return;
    }
    for line in comment.drain(..) {
        let indent = line.len() - line.trim_start().len();
        if (1..4).contains(&indent) {
            let _ = writeln!(page, ".br\n{}", escape(line.trim_start()));
        } else if indent >= 4 {
            let _ = writeln!(page, "{}", escape(line.trim_start()));
        } else {
            let _ = writeln!(page, "{}", escape(line));
        }
    }
    page.push_str(".PP\n");
}

/// Text safe in roff: backslashes and hyphens escaped, no line starting with a control
/// character.
fn escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_page_lists_every_key_of_the_shipped_file() {
        let page = config_page("0.0.0");
        for line in SHIPPED_CONFIG.lines() {
            if let Some((key, _)) = line.split_once(" = ")
                && !line.starts_with('#')
            {
                let entry = format!("\\fB{}\\fR = ", escape(key.trim()));
                assert!(page.contains(&entry), "{key} missing from ambientd.toml(5)");
            }
        }
        assert!(page.contains(".SS [server]\n") && page.contains(".SH RELOADING\n"));
        assert!(
            !page.lines().any(|l| l.starts_with('\'')),
            "no line may start with a quote"
        );
    }
}
