//! The real `ambientctl` binary against a fake daemon on a real Unix socket: every command,
//! `--json`, every bad-input path (exit code, one-line message, nothing sent).

mod common;

use std::path::Path;

use ambientctl::{Event, Param, Request, Response, decode_event};
use common::{Behaviour, FakeDaemon, ctl};

fn set(param: Param, value: &str) -> Request {
    Request::Set {
        param,
        value: value.into(),
    }
}

#[test]
fn status_shows_every_field_in_aligned_lines() {
    let daemon = FakeDaemon::start();
    let run = daemon.ctl(&["status"]);
    assert_eq!(
        run.ok(),
        "key        A minor\n\
         bpm        70\n\
         intensity  0.5\n\
         seed       0\n\
         backend    cpu (no CUDA device)\n\
         listen     http://127.0.0.1:8700/\n\
         listeners  2\n\
         ring       50% of 2.0 s\n\
         underruns  3\n\
         sequence   1234\n\
         uptime     1h 02m 03s\n"
    );
    assert_eq!(daemon.requests(), [Request::Status]);
}

#[test]
fn json_output_is_one_parseable_object_per_command() {
    let daemon = FakeDaemon::start();
    for args in [
        &["status", "--json"][..],
        &["--json", "get"],
        &["get", "key", "--json"],
        &["set", "bpm", "80", "--json"],
        &["skip", "--json"],
        &["reload", "--json"],
    ] {
        let run = daemon.ctl(args);
        assert_eq!(run.ok().lines().count(), 1, "{args:?}: {}", run.stdout);
        let response: Response = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.stdout));
        match args {
            ["status", ..] => assert!(matches!(response, Response::Status(_))),
            ["get", "key", ..] => assert_eq!(
                run.stdout,
                "{\"type\":\"value\",\"param\":\"key\",\"value\":\"A minor\"}\n"
            ),
            ["set", ..] => assert!(matches!(response, Response::Params(p) if p.bpm() == 80)),
            ["skip", ..] => assert_eq!(response, Response::Done),
            ["reload", ..] => assert_eq!(response, Response::Reloaded { changes: vec![] }),
            _ => assert!(matches!(response, Response::Params(_))),
        }
    }
    let version: serde_json::Value =
        serde_json::from_str(daemon.ctl(&["version", "--json"]).ok()).unwrap();
    assert_eq!(version["ambientd"]["protocol"], 1);
    assert_eq!(version["ambientctl"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn get_shows_all_parameters_or_just_one_value() {
    let daemon = FakeDaemon::start();
    assert_eq!(
        daemon.ctl(&["get"]).ok(),
        "key        A minor\nbpm        70\nintensity  0.5\nseed       0\n"
    );
    assert_eq!(daemon.ctl(&["get", "bpm"]).ok(), "70\n");
    assert_eq!(daemon.ctl(&["get", "KEY"]).ok(), "A minor\n");
    assert_eq!(
        daemon.requests(),
        [
            Request::Get { param: None },
            Request::Get {
                param: Some(Param::Bpm)
            },
            Request::Get {
                param: Some(Param::Key)
            },
        ]
    );
}

#[test]
fn set_sends_the_value_as_typed_and_shows_the_result() {
    let daemon = FakeDaemon::start();
    assert_eq!(daemon.ctl(&["set", "bpm", "80"]).ok(), "bpm        80\n");
    assert_eq!(
        daemon.ctl(&["set", "key", "D minor"]).ok(),
        "key        D minor\n"
    );
    assert_eq!(
        daemon.ctl(&["set", "intensity", "0.3"]).ok(),
        "intensity  0.3\n"
    );
    assert_eq!(daemon.ctl(&["set", "seed", "42"]).ok(), "seed       42\n");
    assert_eq!(daemon.ctl(&["get", "key"]).ok(), "D minor\n");
    let params = daemon.params();
    assert_eq!(
        (params.bpm(), params.intensity(), params.seed()),
        (80, 0.3, 42)
    );
    assert_eq!(
        daemon.requests()[..4],
        [
            set(Param::Bpm, "80"),
            set(Param::Key, "D minor"),
            set(Param::Intensity, "0.3"),
            set(Param::Seed, "42"),
        ]
    );
}

#[test]
fn relative_steps_travel_as_typed_after_a_range_check() {
    let daemon = FakeDaemon::start();
    assert_eq!(daemon.ctl(&["set", "bpm", "+5"]).ok(), "bpm        75\n");
    assert_eq!(daemon.ctl(&["set", "bpm", "-10"]).ok(), "bpm        65\n");
    assert_eq!(
        daemon.ctl(&["set", "intensity", "+0.1"]).ok(),
        "intensity  0.6\n"
    );
    let all = Request::Get { param: None };
    assert_eq!(
        daemon.requests(),
        [
            all.clone(),
            set(Param::Bpm, "+5"),
            all.clone(),
            set(Param::Bpm, "-10"),
            all,
            set(Param::Intensity, "+0.1"),
        ]
    );
}

#[test]
fn a_step_out_of_range_is_bad_input_and_changes_nothing() {
    let daemon = FakeDaemon::start();
    let run = daemon.ctl(&["set", "bpm", "+100"]);
    assert_eq!(
        run.fails(2),
        "ambientctl: bpm: 170 (70+100) is out of range (allowed 40..=120)"
    );
    assert_eq!(
        daemon.requests(),
        [Request::Get { param: None }],
        "read, never set"
    );
    assert_eq!(daemon.params().bpm(), 70);
}

/// With `--json`, an error is a JSON object on stdout (what a script parses), with the same
/// exit codes.
#[test]
fn json_errors_are_json() {
    let daemon = FakeDaemon::start();
    let run = daemon.ctl(&["--json", "set", "bpm", "200"]);
    assert_eq!(run.code, 2, "{run:?}");
    let value: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(
        value["error"], "bpm: 200 is out of range (allowed 40..=120)",
        "{run:?}"
    );
    assert!(run.stderr.is_empty(), "{run:?}");
}

#[test]
fn bad_values_are_one_line_errors_naming_the_field_and_nothing_is_sent() {
    let daemon = FakeDaemon::start();
    let cases = [
        (
            &["set", "bpm", "200"][..],
            "ambientctl: bpm: 200 is out of range (allowed 40..=120)",
        ),
        (
            &["set", "bpm", "fast"],
            "ambientctl: bpm: \"fast\" is not a whole number (allowed 40..=120)",
        ),
        (
            &["set", "intensity", "1.5"],
            "ambientctl: intensity: 1.5 is out of range (allowed 0.0..=1.0)",
        ),
        (
            &["set", "seed", "+0.5"],
            "ambientctl: seed: \"+0.5\" is not a whole number in digits (allowed 0..=18446744073709551615)",
        ),
        (
            &["set", "tempo", "80"],
            "ambientctl: unknown parameter \"tempo\" (allowed: key, bpm, intensity, seed)",
        ),
        (
            &["get", "tempo"],
            "ambientctl: unknown parameter \"tempo\" (allowed: key, bpm, intensity, seed)",
        ),
        (
            &["completions", "tcsh"],
            "ambientctl: <SHELL>: invalid value \"tcsh\" (allowed: bash, elvish, fish, powershell, zsh)",
        ),
    ];
    for (args, message) in cases {
        assert_eq!(daemon.ctl(args).fails(2), message, "{args:?}");
    }
    let key = daemon.ctl(&["set", "key", "H minor"]);
    assert!(
        key.fails(2)
            .starts_with("ambientctl: key: \"H minor\" is not a key (allowed: tonic A-G"),
        "{}",
        key.stderr
    );
    assert_eq!(daemon.requests(), [], "nothing reached the daemon");
    // Missing arguments are usage errors too (clap's usage text, same exit code).
    assert_eq!(daemon.ctl(&["set", "bpm"]).code, 2);
    assert_eq!(daemon.ctl(&["dance"]).code, 2);
}

#[test]
fn skip_and_reload_say_what_happened() {
    let daemon = FakeDaemon::start();
    assert_eq!(
        daemon.ctl(&["skip"]).ok(),
        "skipping: a new phrase starts at the next bar\n"
    );
    assert_eq!(
        daemon.ctl(&["reload"]).ok(),
        "reloaded the configuration: nothing changed\n"
    );
    assert_eq!(daemon.requests(), [Request::Skip, Request::Reload]);
    let changed = FakeDaemon::with(Behaviour {
        reload_changes: vec![
            "bpm 70 -> 90: edited in the config file".into(),
            "server.listen changed: takes effect at the next restart".into(),
        ],
        ..Behaviour::default()
    });
    assert_eq!(
        changed.ctl(&["reload"]).ok(),
        "reloaded the configuration:\n  bpm 70 -> 90: edited in the config file\n  \
         server.listen changed: takes effect at the next restart\n"
    );
}

#[test]
fn bare_ambientctl_shows_the_status_and_next_is_skip() {
    let daemon = FakeDaemon::start();
    let run = daemon.ctl(&[]);
    assert!(
        run.ok().starts_with("key        A minor\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("listeners  2\n"), "{}", run.stdout);
    daemon.ctl(&["next"]).ok();
    daemon.ctl(&["reset", "bpm"]).ok();
    assert_eq!(
        daemon.requests(),
        [
            Request::Status,
            Request::Skip,
            Request::Reset {
                param: Some(ambientctl::Param::Bpm)
            }
        ]
    );
}

#[test]
fn a_refusal_is_the_daemons_one_line_reason_and_exit_1() {
    let reason = "config /etc/ambientd/ambientd.toml: unknown key `bmp` at line 3 (kept the running configuration)";
    let daemon = FakeDaemon::with(Behaviour {
        reload_error: Some(reason.into()),
        ..Behaviour::default()
    });
    let run = daemon.ctl(&["reload"]);
    assert_eq!(
        run.fails(1),
        format!("ambientctl: ambientd refused: {reason}")
    );
}

#[test]
fn version_prints_both_sides_and_warns_only_on_a_mismatch() {
    let daemon = FakeDaemon::start();
    let mine = env!("CARGO_PKG_VERSION");
    let run = daemon.ctl(&["version"]);
    assert_eq!(
        run.ok(),
        format!("ambientctl  {mine} (protocol 1)\nambientd    {mine} (protocol 1)\n")
    );
    assert_eq!(run.stderr, "");

    let newer = FakeDaemon::with(Behaviour {
        version: "9.0.0".into(),
        protocol: 2,
        ..Behaviour::default()
    });
    let run = newer.ctl(&["version"]);
    assert!(run.ok().contains("ambientd    9.0.0 (protocol 2)"));
    assert_eq!(
        run.stderr,
        "ambientctl: warning: ambientd speaks protocol 2, this ambientctl 1; some commands \
         may fail (install matching versions)\n"
    );
    let patch = FakeDaemon::with(Behaviour {
        version: "0.1.99".into(),
        ..Behaviour::default()
    });
    let run = patch.ctl(&["version"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr.contains("ambientd is version 0.1.99"),
        "{}",
        run.stderr
    );
}

#[test]
fn watch_prints_each_event_until_the_daemon_stops() {
    let daemon = FakeDaemon::start();
    assert_eq!(
        daemon.ctl(&["watch", "--no-time"]).ok(),
        "params     key A minor, bpm 70, intensity 0.5, seed 0\n\
         phrase     i iv V i\n\
         underrun   chunk 77\n\
         joined     192.0.2.7:5000 (1 listening)\n\
         left       192.0.2.7:5000 (0 listening, too slow)\n\
         stopping   ambientd is shutting down\n"
    );
    let run = daemon.ctl(&["watch", "--json"]);
    let events: Vec<Event> = run.ok().lines().map(|l| decode_event(l).unwrap()).collect();
    assert_eq!(events.len(), 7, "every line, unknown kinds included");
    assert_eq!(events[3], Event::Unknown);
    assert!(
        run.stdout
            .contains("{\"type\":\"gpu_hot\",\"celsius\":90}\n")
    );
    assert_eq!(events[6], Event::Stopping);
    assert_eq!(daemon.requests(), [Request::Watch, Request::Watch]);
}

#[test]
fn watch_stamps_each_line_with_the_time_and_filters_by_kind() {
    let daemon = FakeDaemon::start();
    let run = daemon.ctl(&["watch", "--only", "phrase,listeners"]);
    let lines: Vec<&str> = run.ok().lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    for line in &lines {
        let (time, event) = line.split_once("  ").unwrap();
        let parts: Vec<&str> = time.split(':').collect();
        assert!(
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| p.len() == 2 && p.parse::<u8>().is_ok()),
            "{line}"
        );
        assert!(
            ["phrase ", "joined ", "left ", "stopping "]
                .iter()
                .any(|kind| event.starts_with(kind)),
            "{line}"
        );
    }
    let bad = daemon.ctl(&["watch", "--only", "gossip"]);
    assert!(bad.fails(2).contains("gossip"), "{}", bad.stderr);
}

#[test]
fn a_watch_cut_off_without_stopping_is_an_error() {
    let daemon = FakeDaemon::with(Behaviour {
        watch_says_stopping: false,
        ..Behaviour::default()
    });
    let run = daemon.ctl(&["watch"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("left       192.0.2.7:5000"));
    assert_eq!(
        run.stderr,
        format!(
            "ambientctl: ambientd at {} closed the watch without saying it was stopping\n",
            daemon.socket.display()
        )
    );
}

#[test]
fn an_unreachable_daemon_names_the_socket_tried() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("control.sock");
    let run = ctl(&["--socket", missing.to_str().unwrap(), "status"], &[]);
    assert_eq!(
        run.fails(3),
        format!(
            "ambientctl: cannot reach ambientd at {}: No such file or directory \
             (is the daemon running? set --socket or AMBIENTD_SOCKET)",
            missing.display()
        )
    );
    // A socket file nobody listens on: refused, same exit code.
    drop(std::os::unix::net::UnixListener::bind(&missing).unwrap());
    let run = ctl(&["--socket", missing.to_str().unwrap(), "get"], &[]);
    assert!(
        run.fails(3)
            .contains(": Connection refused (is the daemon running?")
    );
    // From the default path in a user session.
    let run = ctl(&["status"], &[("XDG_RUNTIME_DIR", dir.path())]);
    if !Path::new(ambientctl::SYSTEM_SOCKET_PATH).exists() {
        let tried = dir.path().join("ambientd/control.sock");
        assert!(run.fails(3).contains(&format!("at {}:", tried.display())));
    }
}

#[test]
fn the_environment_picks_the_socket_and_the_flag_wins() {
    let daemon = FakeDaemon::start();
    let env_socket = [("AMBIENTD_SOCKET", daemon.socket.as_path())];
    assert_eq!(ctl(&["get", "bpm"], &env_socket).ok(), "70\n");

    // Empty counts as unset: the default path is tried.
    let dir = tempfile::tempdir().unwrap();
    let empty = [
        ("AMBIENTD_SOCKET", Path::new("")),
        ("XDG_RUNTIME_DIR", dir.path()),
    ];
    if !Path::new(ambientctl::SYSTEM_SOCKET_PATH).exists() {
        let run = ctl(&["get"], &empty);
        assert!(
            run.fails(3).contains("ambientd/control.sock:"),
            "{}",
            run.stderr
        );
    }

    let elsewhere = tempfile::tempdir().unwrap();
    let flag = elsewhere.path().join("control.sock");
    let run = ctl(&["--socket", flag.to_str().unwrap(), "get"], &env_socket);
    assert!(run.fails(3).contains(&flag.display().to_string()));

    // systemd's RUNTIME_DIRECTORY, then the user session's XDG_RUNTIME_DIR.
    let runtime = FakeDaemon::start();
    let run = ctl(
        &["get", "bpm"],
        &[("RUNTIME_DIRECTORY", runtime.dir.path())],
    );
    assert_eq!(run.ok(), "70\n");
    let session = FakeDaemon::at(
        tempfile::tempdir().unwrap(),
        Path::new("ambientd/control.sock"),
        Behaviour::default(),
    );
    let run = ctl(&["get", "seed"], &[("XDG_RUNTIME_DIR", session.dir.path())]);
    assert_eq!(run.ok(), "0\n");
    assert_eq!(runtime.requests().len(), 1);
    assert_eq!(session.requests().len(), 1);
}

#[test]
fn completions_and_the_man_page_come_from_the_command_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let run = ctl(&["completions", shell], &[]);
        assert!(run.ok().contains("ambientctl"), "{shell}");
        if shell != "fish" {
            // clap_complete's fish script completes options and verbs only.
            assert!(
                run.stdout.contains("intensity"),
                "{shell}: parameter names complete"
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    ctl(&["manpage", "--out-dir", dir.path().to_str().unwrap()], &[]).ok();
    for page in ["ambientctl.1", "ambientctl-set.1", "ambientctl-watch.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
    let man = ctl(&["manpage"], &[]);
    assert!(man.ok().starts_with(".ie"), "roff");
    for word in [
        "ambientctl",
        "watch",
        "AMBIENTD_SOCKET",
        ".SH ENVIRONMENT",
        ".SH EXIT STATUS",
        ".SH FILES",
    ] {
        assert!(man.stdout.contains(word), "{word}");
    }
}
