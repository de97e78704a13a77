//! The control socket's server: `ambientctl` requests ([`ambientctl::Request`]) in, replies
//! and watch events out, as the `ctl` crate documents. It only translates: parameters go
//! through [`StreamState::update_params`](crate::stream::StreamState::update_params) (engine,
//! state file, listeners, watchers), reloads through [`Core::reload`] like SIGHUP.

use std::sync::Arc;

use ambientctl::{
    Event, MAX_LINE_BYTES, PROTOCOL_VERSION, Reply, Request, Response, apply_set, encode_event,
    encode_reply, handle_line,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, watch};

use crate::daemon::Core;
use crate::shutdown::stopped;
use crate::stream::pacer::TICK;

/// Accepts control connections until `stop` turns true. Each connection task holds a clone
/// of `tracker`, so shutdown can wait for them.
pub async fn serve(
    listener: UnixListener,
    core: Arc<Core>,
    mut stop: watch::Receiver<bool>,
    tracker: mpsc::Sender<()>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, core.clone(), stop.clone(), tracker.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "control socket: accept failed; retrying");
                    tokio::time::sleep(TICK).await;
                }
            },
            () = stopped(&mut stop) => return,
        }
    }
}

/// Serves one client: requests in order until it closes, or a watch until either side stops.
async fn connection(
    stream: UnixStream,
    core: Arc<Core>,
    mut stop: watch::Receiver<bool>,
    _tracker: mpsc::Sender<()>,
) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        let limited = (&mut reader).take(MAX_LINE_BYTES as u64 + 1);
        let read = tokio::select! {
            read = read_line(limited, &mut line) => read,
            () = stopped(&mut stop) => return,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = match std::str::from_utf8(&line) {
            Ok(_) if line.len() > MAX_LINE_BYTES => {
                let reason = format!("bad request: longer than {MAX_LINE_BYTES} bytes");
                let _ = writer
                    .write_all(encode_reply(&Err(reason)).as_bytes())
                    .await;
                return;
            }
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => text,
            Err(_) => {
                let reason = "bad request: not UTF-8".to_string();
                let _ = writer
                    .write_all(encode_reply(&Err(reason)).as_bytes())
                    .await;
                return;
            }
        };
        let mut watching = false;
        let reply = handle_line(text, &mut |request| {
            let wants_watch = request == Request::Watch;
            let reply = answer(&core, request);
            watching = wants_watch && reply.is_ok();
            reply
        });
        // Subscribed before the reply goes out, so no event after it is missed.
        let events = watching.then(|| core.stream.watchers.subscribe());
        if writer.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
        if let Some(events) = events {
            watch_events(writer, events, &core, stop).await;
            return;
        }
    }
}

async fn read_line(
    mut reader: impl tokio::io::AsyncBufRead + Unpin,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    reader.read_until(b'\n', line).await
}

/// The reply to one request.
fn answer(core: &Core, request: Request) -> Reply {
    match request {
        Request::Version => Ok(Response::Version {
            version: env!("CARGO_PKG_VERSION").into(),
            protocol: PROTOCOL_VERSION,
        }),
        Request::Status => Ok(Response::Status(core.status())),
        Request::Get { param } => Ok(Response::for_get(&core.stream.params(), param)),
        Request::Set { param, value } => core
            .stream
            .update_params(|current| apply_set(current, param, &value))
            .map(Response::Params),
        Request::Skip => {
            core.stream.skip().map_err(|e| e.to_string())?;
            tracing::info!("skip: a new phrase from the next bar");
            Ok(Response::Done)
        }
        Request::Watch => Ok(Response::Done),
        Request::Reload => core.reload().map(|()| Response::Done),
    }
}

/// Streams events to a watcher: the parameters in force first, then each event, until the
/// client goes away or the daemon stops (`stopping` is the last line then).
async fn watch_events(
    mut writer: OwnedWriteHalf,
    mut events: broadcast::Receiver<Event>,
    core: &Core,
    mut stop: watch::Receiver<bool>,
) {
    let first = encode_event(&Event::Params(core.stream.params()));
    if writer.write_all(first.as_bytes()).await.is_err() {
        return;
    }
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Ok(event) => event,
                // Events are news, not state: a watcher that fell behind skips to the present.
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a control watcher fell behind");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => Event::Stopping,
            },
            () = stopped(&mut stop) => Event::Stopping,
        };
        let last = event == Event::Stopping;
        if writer
            .write_all(encode_event(&event).as_bytes())
            .await
            .is_err()
            || last
        {
            return;
        }
    }
}
