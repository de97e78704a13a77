//! What an operator relies on, through the control socket of a real daemon: status says where
//! each value comes from and which chord plays, `reset` puts the config's values back, a
//! restart keeps only the changes made at run time (an edited config is not beaten by an old
//! saved value nobody changed), and a reload says what it changed.

mod daemon_support;

use std::path::Path;

use ambientctl::{Param, Request, Response, Source, Status};
use ambientd::config::Config;
use daemon_support::steer::*;
use daemon_support::*;

async fn status(socket: &Path) -> Status {
    match call(socket, Request::Status).await {
        Ok(Response::Status(status)) => status,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_each_source_and_reset_puts_the_config_back_across_restarts() {
    let state = tempfile::tempdir().unwrap();
    let mut config = test_config();
    config.state.dir = state.path().to_path_buf();
    config.music.bpm = 72;
    let daemon = TestDaemon::with_config(config.clone()).await;
    call(&daemon.socket, set(Param::Bpm, "80")).await.unwrap();
    let now = status(&daemon.socket).await;
    let sources = now.sources.expect("sources");
    assert_eq!(
        (sources.key, sources.bpm, sources.seed),
        (Source::Default, Source::Changed, Source::Config)
    );
    assert_eq!(now.config.map(|c| c.bpm()), Some(72));
    // The chord playing is one of the phrase's, at the bar the status names.
    wait_until_async(|| async { status(&daemon.socket).await.bar.is_some() }).await;
    let playing = status(&daemon.socket).await;
    assert!(
        (playing.bar.unwrap() as usize) < playing.chords.len() && playing.chords.len() >= 2,
        "{playing:?}"
    );
    daemon.stop().await;

    // Edit the config's key while stopped: the run-time bpm stays, the new key plays (the
    // saved file holds only the change, not a stale copy of every value).
    config.music.key = "E minor".parse().unwrap();
    let daemon = TestDaemon::with_config(config.clone()).await;
    let restored = params(&daemon.socket).await;
    assert_eq!(
        (restored.key().to_string().as_str(), restored.bpm()),
        ("E minor", 80)
    );

    let Ok(Response::Params(reset)) = call(
        &daemon.socket,
        Request::Reset {
            param: Some(Param::Bpm),
        },
    )
    .await
    else {
        panic!("reset")
    };
    assert_eq!(reset.bpm(), 72);
    let sources = status(&daemon.socket).await.sources.unwrap();
    assert_eq!(sources.bpm, Source::Config);
    daemon.stop().await;

    // After a reset the config's value is what a restart plays, even once edited again.
    config.music.bpm = 64;
    let daemon = TestDaemon::with_config(config).await;
    assert_eq!(params(&daemon.socket).await.bpm(), 64);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_says_what_it_changed_and_what_needs_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ambientd.toml");
    // The state directory named in the file, as the harness would otherwise pick one.
    let state = format!("[state]\ndir = {:?}\n", dir.path().join("state"));
    let write = |text: &str| std::fs::write(&path, format!("{state}{text}")).unwrap();
    write("[synth]\nbackend = \"cpu\"\n[music]\nseed = 7\nbpm = 70\n");
    let hooks = ambientd::Hooks {
        config_path: Some(path.clone()),
        ..Default::default()
    };
    let daemon = TestDaemon::launch(Config::load(&path).unwrap(), dir, hooks).await;
    let socket = daemon.socket.clone();
    call(&socket, set(Param::Bpm, "90")).await.unwrap();
    call(&socket, set(Param::Intensity, "0.2")).await.unwrap();

    // bpm edited in the file replaces the run-time 90; the run-time intensity stays.
    write(
        "[synth]\nbackend = \"cpu\"\n[music]\nseed = 7\nbpm = 100\n\
         [server]\nlisten = \"127.0.0.1:1\"\n",
    );
    let Ok(Response::Reloaded { changes }) = call(&socket, Request::Reload).await else {
        panic!("reload")
    };
    assert_eq!(
        changes,
        [
            "server.listen changed: takes effect at the next restart",
            "bpm 90 -> 100: edited in the config file (replaces the value changed at run time)",
        ]
    );
    let now = params(&socket).await;
    assert_eq!((now.bpm(), now.intensity()), (100, 0.2));

    // Nothing edited: nothing to say.
    let Ok(Response::Reloaded { changes }) = call(&socket, Request::Reload).await else {
        panic!("reload")
    };
    assert!(changes.is_empty(), "{changes:?}");
    daemon.stop().await;
}
