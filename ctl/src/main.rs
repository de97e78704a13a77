//! `ambientctl`: the command-line client for ambientd's control socket. Flags → one request
//! → the reply printed as aligned text or `--json`; errors as one line and an exit code.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ambientctl::{
    Client, ClientError, Event, PROTOCOL_VERSION, ParamError, Request, Response, apply_set,
    check_set_value, display, is_relative, resolve_socket_path,
};
use anyhow::{Context, bail};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser, Subcommand};

/// The environment and exit codes, documented in `--help` and the man page.
const AFTER_HELP: &str = "\
Environment:
  AMBIENTD_SOCKET  the control socket, when --socket is not given

Exit status:
  0  success
  1  ambientd refused the request, sent something unreadable, or a watch was cut off
  2  bad input: unknown command or parameter, or a value out of range (nothing was changed)
  3  ambientd could not be reached (no socket, connection refused, permission denied)";

/// Steer a running ambientd: show and change the music it plays.
#[derive(Debug, Parser)]
#[command(name = "ambientctl", version, after_help = AFTER_HELP)]
struct Cli {
    /// Print the reply as JSON (one object per line) instead of aligned text; an error then
    /// comes as {"error":"..."} on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// The control socket [default: $RUNTIME_DIRECTORY/control.sock, else
    /// $XDG_RUNTIME_DIR/ambientd/control.sock, else /run/ambientd/control.sock]
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = ambientctl::SOCKET_ENV,
        value_parser = clap::value_parser!(OsString)
    )]
    socket: Option<OsString>,
    /// Without a command: `status`, as mpc does.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Requests sent to the daemon: the protocol's own enum, so a new verb appears here too.
    #[command(flatten)]
    Control(Request),
    /// Print events as they happen (parameter changes, phrases, underruns, listeners), each
    /// with the local time it arrived.
    ///
    /// Runs until the daemon stops (exit 0) or the connection drops (exit 1).
    Watch {
        /// Only these kinds of event (comma-separated); all of them when left out.
        #[arg(long, value_delimiter = ',', value_name = "KIND")]
        only: Vec<display::EventKind>,
        /// Leave out the time in front of each line (`--json` lines never carry it).
        #[arg(long)]
        no_time: bool,
    },
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout, or write one page per command into a directory.
    Manpage {
        /// Write ambientctl.1 and ambientctl-<command>.1 here instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// Why the command failed, as the exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Refused = 1,
    BadInput = 2,
    Unreachable = 3,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // With --json a script reads stdout: the error comes as the protocol writes one.
            if json {
                println!("{}", serde_json::json!({ "error": message(&err) }));
            } else {
                eprintln!("ambientctl: {}", message(&err));
            }
            ExitCode::from(classify(&err) as u8)
        }
    }
}

/// The error and its causes as one line, skipping a cause whose text the message above it
/// already includes (the library's errors spell out their sources).
fn message(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let cause = cause.to_string();
        // io::Error appends " (os error N)"; the library's messages quote it without that.
        let core = cause.split(" (os error ").next().unwrap_or(&cause);
        if !text.contains(core) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    ambientctl::protocol::one_line(&text)
}

/// The exit code for an error, from the typed error inside it.
fn classify(err: &anyhow::Error) -> Failure {
    if err.downcast_ref::<ParamError>().is_some() {
        return Failure::BadInput;
    }
    match err.downcast_ref::<ClientError>() {
        Some(ClientError::Connect { .. }) => Failure::Unreachable,
        _ => Failure::Refused,
    }
}

/// A reader that went away (`ambientctl watch | head`) is a normal end, not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Clap's errors, with a bad value shortened to the same one line as every other error.
fn usage_error(err: clap::Error) -> ExitCode {
    let value = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    match err.kind() {
        ErrorKind::InvalidValue => {
            let (arg, bad) = (
                value(ContextKind::InvalidArg),
                value(ContextKind::InvalidValue),
            );
            let allowed = match err.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(values)) => values.join(", "),
                _ => String::new(),
            };
            let bad = bad.unwrap_or_default();
            let arg = arg.unwrap_or_default();
            if arg.contains("PARAM") {
                eprintln!("ambientctl: {}", ParamError::UnknownParam(bad));
            } else if allowed.is_empty() {
                eprintln!("ambientctl: {arg}: invalid value {bad:?}");
            } else {
                eprintln!("ambientctl: {arg}: invalid value {bad:?} (allowed: {allowed})");
            }
            ExitCode::from(Failure::BadInput as u8)
        }
        ErrorKind::ValueValidation => {
            let rendered = err.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            eprintln!("ambientctl: {}", first.trim_start_matches("error: "));
            ExitCode::from(Failure::BadInput as u8)
        }
        _ => {
            // Help and --version exit 0; other usage errors print clap's usage and exit 2.
            let _ = err.print();
            ExitCode::from(err.exit_code() as u8)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Control(Request::Status));
    let watch_options = match &command {
        Command::Watch { only, no_time } => Some((only.clone(), !*no_time)),
        _ => None,
    };
    let request = match command {
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "ambientctl", &mut io::stdout());
            return Ok(());
        }
        Command::Manpage { out_dir: None } => {
            man_page(&mut io::stdout()).context("writing the man page")?;
            return Ok(());
        }
        Command::Manpage { out_dir: Some(dir) } => {
            std::fs::create_dir_all(&dir)
                .and_then(|()| clap_mangen::generate_to(Cli::command(), &dir))
                .and_then(|()| man_page(&mut std::fs::File::create(dir.join("ambientctl.1"))?))
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            return Ok(());
        }
        Command::Control(request) => request,
        Command::Watch { .. } => Request::Watch,
    };
    // Catch typos before connecting: nothing is sent for a value that cannot be right.
    if let Request::Set { param, value } = &request {
        check_set_value(*param, value)?;
    }
    // An empty --socket or AMBIENTD_SOCKET counts as unset.
    let flag = cli
        .socket
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(Path::new);
    let path = resolve_socket_path(flag);
    let mut client = Client::connect(&path)?;
    let out = Output { json: cli.json };
    match request {
        Request::Version => version(&mut client, out),
        Request::Watch => {
            let (only, timed) = watch_options.unwrap_or_default();
            watch(client, out, &only, timed)
        }
        Request::Set { param, value } => {
            if is_relative(&value) {
                // Range-check the step against the values now in force, so an out-of-range
                // step is a bad-input error (exit 2) and changes nothing.
                if let Response::Params(current) = client.call(&Request::Get { param: None })? {
                    apply_set(&current, param, &value)?;
                }
            }
            let set = Request::Set { param, value };
            match client.call(&set)? {
                Response::Params(now) if !out.json => out.text(&display::param(&now, param)),
                response => out.response(&response),
            }
        }
        Request::Skip => {
            let response = client.call(&Request::Skip)?;
            if out.json {
                return out.response(&response);
            }
            out.text("skipping: a new phrase starts at the next bar\n")
        }
        request => {
            let response = client.call(&request)?;
            out.response(&response)
        }
    }
}

/// ambientctl(1)'s sections after the commands, in roff (`--help` says the same in
/// [`AFTER_HELP`]).
const MAN_SECTIONS: &str = r#".SH ENVIRONMENT
.TP
\fBAMBIENTD_SOCKET\fR
The control socket, when \fB\-\-socket\fR is not given.
.TP
\fBRUNTIME_DIRECTORY\fR, \fBXDG_RUNTIME_DIR\fR
Where the default socket is looked for: \fI$RUNTIME_DIRECTORY/control.sock\fR, else
\fI$XDG_RUNTIME_DIR/ambientd/control.sock\fR, else \fI/run/ambientd/control.sock\fR.
.SH FILES
.TP
\fI/run/ambientd/control.sock\fR
The packaged daemon's control socket (mode 0660, group ambientd: \fBusermod \-aG ambientd
"$USER"\fR to use ambientctl without sudo).
.SH EXIT STATUS
.TP
\fB0\fR
Success.
.TP
\fB1\fR
ambientd refused the request, sent something unreadable, or a watch was cut off.
.TP
\fB2\fR
Bad input: unknown command or parameter, or a value out of range (nothing was changed).
.TP
\fB3\fR
ambientd could not be reached (no socket, connection refused, permission denied).
.SH SEE ALSO
\fBambientd\fR(1), \fBambientd.toml\fR(5)
"#;

/// ambientctl(1): clap's sections from the command definition, then [`MAN_SECTIONS`].
fn man_page(out: &mut dyn Write) -> io::Result<()> {
    ambientctl::manpage::write(Cli::command(), MAN_SECTIONS, out)
}

/// Prints responses as text or JSON.
#[derive(Debug, Clone, Copy)]
struct Output {
    json: bool,
}

impl Output {
    fn text(self, text: &str) -> anyhow::Result<()> {
        let mut stdout = io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        stdout.flush()?;
        Ok(())
    }

    fn json(self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        self.text(&format!("{}\n", serde_json::to_string(value)?))
    }

    fn response(self, response: &Response) -> anyhow::Result<()> {
        if self.json {
            return self.json(response);
        }
        match response {
            Response::Status(status) => self.text(&display::status(status)),
            Response::Params(params) => self.text(&display::params(params)),
            Response::Value { value, .. } => match value {
                serde_json::Value::String(text) => self.text(&format!("{text}\n")),
                other => self.text(&format!("{other}\n")),
            },
            Response::Version { version, protocol } => {
                self.text(&format!("ambientd {version} (protocol {protocol})\n"))
            }
            Response::Done => self.text("done\n"),
            Response::Reloaded { changes } => self.text(&display::reloaded(changes)),
        }
    }
}

/// `version`: both sides' versions, and a warning on stderr when they differ.
fn version(client: &mut Client, out: Output) -> anyhow::Result<()> {
    let mine = env!("CARGO_PKG_VERSION");
    let Response::Version { version, protocol } = client.call(&Request::Version)? else {
        bail!("ambientd answered `version` with something else");
    };
    if out.json {
        out.json(&serde_json::json!({
            "ambientctl": {"version": mine, "protocol": PROTOCOL_VERSION},
            "ambientd": {"version": version, "protocol": protocol},
        }))?;
    } else {
        out.text(&format!(
            "ambientctl  {mine} (protocol {PROTOCOL_VERSION})\nambientd    {version} (protocol {protocol})\n"
        ))?;
    }
    if protocol != PROTOCOL_VERSION {
        eprintln!(
            "ambientctl: warning: ambientd speaks protocol {protocol}, this ambientctl \
             {PROTOCOL_VERSION}; some commands may fail (install matching versions)"
        );
    } else if version != mine {
        eprintln!(
            "ambientctl: warning: ambientd is version {version}, this ambientctl {mine} \
             (same protocol, so commands work)"
        );
    }
    Ok(())
}

/// `watch`: print events (of the kinds in `only`, or all) until the daemon stops or the
/// connection drops; in text, each after the local time it arrived when `timed`.
fn watch(
    client: Client,
    out: Output,
    only: &[display::EventKind],
    timed: bool,
) -> anyhow::Result<()> {
    let path = client.path().to_path_buf();
    let mut stopped = false;
    for line in client.watch()? {
        let line = line?;
        stopped |= line.event == Event::Stopping;
        let wanted = line.event == Event::Stopping
            || only.is_empty()
            || only.contains(&display::EventKind::of(&line.event));
        if !wanted {
            continue;
        }
        if out.json {
            out.text(&format!("{}\n", line.json))?;
        } else if let Some(text) = display::event(&line.event) {
            if timed {
                let now = chrono::Local::now().format("%H:%M:%S");
                out.text(&format!("{now}  {text}"))?;
            } else {
                out.text(&text)?;
            }
        }
    }
    if !stopped {
        bail!(
            "ambientd at {} closed the watch without saying it was stopping",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
