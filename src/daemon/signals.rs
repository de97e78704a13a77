//! Signals, through signal-hook: SIGTERM and SIGINT stop the daemon gracefully, a second one
//! ends the process at once; SIGHUP asks for a config reload. A plain thread waits for them
//! and forwards them to the async side as data (a stop future, a reload channel).

use std::future::Future;
use std::io;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tokio::sync::{mpsc, watch};

/// The exit status after a second termination signal (128 + SIGINT, as shells report it).
pub const FORCED_EXIT: i32 = 130;

/// What the signal thread hands over.
#[derive(Debug)]
pub struct SignalInputs {
    /// Completes at the first SIGTERM or SIGINT.
    pub stop: watch::Receiver<bool>,
    /// One message per SIGHUP.
    pub reloads: mpsc::UnboundedReceiver<()>,
}

impl SignalInputs {
    /// The shutdown future for [`super::run`].
    pub fn stop_future(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stop = self.stop.clone();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
    }
}

/// Installs the handlers and starts the thread that forwards them.
pub fn install() -> io::Result<SignalInputs> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let (stop_tx, stop) = watch::channel(false);
    let (reload_tx, reloads) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("ambientd-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match signal {
                    SIGHUP => {
                        tracing::info!("SIGHUP: reloading the configuration");
                        let _ = reload_tx.send(());
                    }
                    _ if *stop_tx.borrow() => {
                        tracing::warn!(signal, "second termination signal: exiting now");
                        std::process::exit(FORCED_EXIT);
                    }
                    _ => {
                        tracing::info!(signal, "termination signal: stopping");
                        let _ = stop_tx.send(true);
                    }
                }
            }
        })?;
    Ok(SignalInputs { stop, reloads })
}
