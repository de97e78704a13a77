//! The station: what stands between the engine and everything that listens to it.
//!
//! It owns the live parameters and their persistence ([`store`]), one typed event stream
//! ([`Event`]), the ticks ([`Pacer`]: 100 ms of audio on the wall clock, handed to a
//! [`TickSink`]), the audience ([`Seat`], [`Presence`]) and one status [`Snapshot`]. The
//! outputs (`stream/`, the control socket, systemd's `STATUS=`, the journal) are told
//! everything through it and import nothing of music, engine, config or the state file.
//!
//! One station today; nothing in it is global, so a config could list several, each with
//! its engine, pacer and outputs, without changing the outputs.

pub mod audience;
pub mod counters;
pub mod event;
mod held;
mod journal;
pub mod pacer;
pub mod status;
pub mod store;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ambientctl::{Param, ParamChanges, SynthesisParameters};
use tokio::sync::broadcast;

use self::audience::Places;
pub use self::audience::{Presence, Seat};
use self::counters::{ReloadRecord, TickCounters};
pub use self::event::{Event, PhraseStart, Underrun};
use self::held::Held;
use self::journal::Journal;
pub use self::pacer::{Broadcast, Pacer, TICK, TickSink};
pub use self::status::{ReloadFigures, RenderFigures, Snapshot};
use self::store::{ParamsSaver, ParamsStore};
use crate::audio::{CHANNELS, SAMPLE_RATE};
pub use crate::engine::EngineError;
use crate::engine::ring::RING_SAMPLES;
use crate::engine::{AudioSource, Command, Engine};
use crate::synth::BackendChoice;

/// How long the generator or the pacer may go without progress before the station is
/// unhealthy (`/healthz` 503, no `WATCHDOG=1`).
pub const HEALTH_WINDOW: Duration = Duration::from_secs(2);
/// Events a slow reader of [`Station::subscribe`] may fall behind before it skips ahead.
const EVENT_BACKLOG: usize = 256;

/// The running station. Shared (`Arc`) by the pacer and every output.
#[derive(Debug)]
pub struct Station {
    /// The generation thread.
    engine: Engine,
    /// The parameters most recently set. Held while a change is applied and queued for
    /// saving, so concurrent relative changes (`+5` twice) never lose one and the file keeps
    /// the last.
    params: Mutex<SynthesisParameters>,
    /// The config file's values (built-in defaults where it is silent): what the run-time
    /// changes are measured from, saved as, and reset to. Locked after `params`.
    config: Mutex<SynthesisParameters>,
    /// An accepted change the engine's command queue had no room for (a flood of `set`s):
    /// the latest one, handed over by the pacer at its next tick. Guarded by `params`'s
    /// lock order: taken only while `params` is held.
    unsent: Mutex<Option<SynthesisParameters>>,
    /// Saves accepted parameter changes off the async runtime; `None`: nowhere.
    saver: Option<ParamsSaver>,
    /// Changes listeners hear of only once saved (their `params` answers a `set`). Locked
    /// after `params`.
    held: Held,
    /// Every event, for whoever subscribed (control-socket watchers).
    events: broadcast::Sender<Event>,
    /// Events published since the last tick that go out with the next one.
    pending: Mutex<Vec<Event>>,
    /// The pacer's counters.
    counters: TickCounters,
    /// Listener places taken.
    places: Places,
    /// Engine failures already reported: (panics, stage failures).
    reported: Mutex<(u64, u64)>,
    /// When the station started.
    started: Instant,
    /// Logs events, listener churn summarised.
    journal: Journal,
    /// The phrase playing now (the latest that started), for `status`.
    now_playing: Mutex<Option<PhraseStart>>,
    /// Config reloads and their outcomes.
    reloads: ReloadRecord,
}

impl Station {
    /// Starts the engine on `params` with the voice stage `backend` asks for; accepted
    /// changes (the values that differ from `config`'s) are saved in `store`. Returns the
    /// station and the audio its pacer reads.
    pub fn start(
        params: SynthesisParameters,
        config: SynthesisParameters,
        backend: BackendChoice,
        store: Option<ParamsStore>,
    ) -> Result<(Arc<Station>, AudioSource), EngineError> {
        let (engine, source) = Engine::start(params, backend)?;
        tracing::info!(
            backend = engine.backend(),
            reason = engine.backend_reason(),
            "voice stage chosen"
        );
        let saver = store.and_then(|store| {
            ParamsSaver::start(store)
                .inspect_err(|error| {
                    tracing::error!(%error, "cannot start the saving thread; changes will not survive a restart");
                })
                .ok()
        });
        let station = Station {
            engine,
            params: Mutex::new(params),
            config: Mutex::new(config),
            unsent: Mutex::default(),
            saver,
            held: Held::default(),
            events: broadcast::channel(EVENT_BACKLOG).0,
            pending: Mutex::default(),
            counters: TickCounters::default(),
            places: Places::default(),
            reported: Mutex::default(),
            started: Instant::now(),
            journal: Journal::default(),
            now_playing: Mutex::default(),
            reloads: ReloadRecord::default(),
        };
        station
            .reloads
            .last_success_unix_ms
            .store(crate::clock::unix_ms(), Ordering::Relaxed);
        Ok((Arc::new(station), source))
    }

    /// The parameters most recently set.
    pub fn params(&self) -> SynthesisParameters {
        *lock(&self.params)
    }

    /// Changes the parameters to what `change` makes of the current ones: the engine takes
    /// them at the next bar line, they are saved (on the saving thread), and
    /// [`Event::Params`] is published: to subscribers at once, to listeners with the first
    /// tick after the save (so their `params` answers a `set` only once it is durable). A
    /// refusal from `change` (e.g. [`ambientctl::apply_set`]'s out-of-range message) changes
    /// nothing. A failed save is not refused here: the music changed, only its memory did
    /// not ([`Self::until_saved`] tells whoever waits for it).
    pub fn update_params<E: std::fmt::Display>(
        &self,
        change: impl FnOnce(&SynthesisParameters) -> Result<SynthesisParameters, E>,
    ) -> Result<SynthesisParameters, String> {
        let mut current = lock(&self.params);
        let next = change(&current).map_err(|e| e.to_string())?;
        if next == *current {
            return Ok(next);
        }
        let mut unsent = lock(&self.unsent);
        // A change waiting for room goes first; the latest one replaces it (latest wins).
        if unsent.is_some() {
            *unsent = Some(next);
        } else {
            match self.engine.send(Command::SetParams(next)) {
                Ok(()) => {}
                Err(EngineError::Busy) => *unsent = Some(next),
                Err(error) => return Err(error.to_string()),
            }
        }
        drop(unsent);
        *current = next;
        // Queued under the lock, so the file ends with the last change applied.
        let saving = self
            .saver
            .as_ref()
            .and_then(|saver| saver.save(ParamChanges::between(&lock(&self.config), &next)));
        match saving {
            Some(number) => {
                self.held.hold(number, next);
                drop(current);
                self.tell(Event::Params(next));
            }
            None => {
                drop(current);
                self.publish(Event::Params(next));
            }
        }
        Ok(next)
    }

    /// Waits until every change accepted so far is on disk; `Err` is the refusal to show
    /// the one who asked for the change ("applied but not saved: ..., it plays now but is
    /// lost at the next restart"). `Ok` at once without a state directory (nothing is saved
    /// then, as the start-up log says).
    pub async fn until_saved(&self) -> Result<(), String> {
        match &self.saver {
            Some(saver) => saver.until_saved().await.map_err(|error| {
                format!(
                    "applied but not saved: {error}; it plays now but is lost at the next restart"
                )
            }),
            None => Ok(()),
        }
    }

    /// Why the last save of the parameters failed, until a later one succeeds.
    pub fn save_error(&self) -> Option<String> {
        self.saver.as_ref().and_then(ParamsSaver::last_error)
    }

    /// The config file's values: what `reset` puts back.
    pub fn config_params(&self) -> SynthesisParameters {
        *lock(&self.config)
    }

    /// Puts `param` (or every parameter) back to the config's value; see [`Self::update_params`].
    pub fn reset(&self, param: Option<Param>) -> Result<SynthesisParameters, String> {
        let config = self.config_params();
        self.update_params(|current| {
            Ok::<_, String>(ambientctl::sources::reset(current, &config, param))
        })
    }

    /// A reloaded config's values: each parameter the file changes (from `old` to `new`) is
    /// played now, replacing a run-time change of it; the others keep what plays. Returns
    /// one line per parameter changed, saying so.
    pub fn reload_config(&self, new: SynthesisParameters) -> Result<Vec<String>, String> {
        let old = std::mem::replace(&mut *lock(&self.config), new);
        let edited: Vec<Param> = Param::ALL
            .into_iter()
            .filter(|&p| old.get_as_string(p) != new.get_as_string(p))
            .collect();
        let before = self.params();
        let after = self.update_params(|current| {
            let mut next = *current;
            for &param in &edited {
                next = ambientctl::sources::reset(&next, &new, Some(param));
            }
            Ok::<_, String>(next)
        })?;
        Ok(edited
            .into_iter()
            .map(|param| {
                let (was, now) = (before.get_as_string(param), after.get_as_string(param));
                let replaced = if was == old.get_as_string(param) {
                    String::new()
                } else {
                    " (replaces the value changed at run time)".to_string()
                };
                format!("{param} {was} -> {now}: edited in the config file{replaced}")
            })
            .collect())
    }

    /// Hands the engine a change its queue had no room for (the pacer calls it every tick).
    fn hand_over_unsent(&self) {
        let _params = lock(&self.params);
        let mut unsent = lock(&self.unsent);
        if let Some(next) = *unsent
            && self.engine.send(Command::SetParams(next)).is_ok()
        {
            *unsent = None;
        }
    }

    /// Starts a new phrase at the next bar line.
    pub fn skip(&self) -> Result<(), EngineError> {
        self.engine.send(Command::Skip)
    }

    /// Every event from now on. A reader that falls [`EVENT_BACKLOG`] behind skips ahead.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Logs `event`, hands it to subscribers and, if listeners hear of it, queues it for
    /// the next tick. Parameter changes are coalesced there: whatever arrives between two
    /// ticks, listeners get at most one `params`, with the values then in force (a flood of
    /// `set`s cannot crowd out their audio).
    pub fn publish(&self, event: Event) {
        if event.rides_the_tick() {
            let mut pending = lock(&self.pending);
            if matches!(event, Event::Params(_)) {
                pending.retain(|queued| !matches!(queued, Event::Params(_)));
            }
            pending.push(event.clone());
        }
        self.tell(event);
    }

    /// Logs `event` and hands it to subscribers (the pacer puts its own on the tick).
    fn tell(&self, event: Event) {
        if let Event::Phrase(phrase) = &event {
            *lock(&self.now_playing) = Some(phrase.clone());
        }
        self.journal.log(&event);
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(event);
        }
    }

    /// Moves the events waiting for a tick into `out`, with the latest parameter change
    /// saved since the last tick (coalesced like any `params`).
    fn take_pending(&self, out: &mut Vec<Event>) {
        let saved = self.saver.as_ref().map_or(0, ParamsSaver::saved_through);
        let mut pending = lock(&self.pending);
        if let Some(params) = self.held.release(saved) {
            pending.retain(|queued| !matches!(queued, Event::Params(_)));
            pending.push(Event::Params(params));
        }
        out.append(&mut pending);
    }

    /// Once per tick: closes the journal's listener-churn window when it is over.
    pub(crate) fn journal_tick(&self) {
        self.journal.tick();
    }

    /// Counts a config reload and its outcome (the daemon reads the file; the station keeps
    /// the figures every output reports).
    pub fn record_reload(&self, ok: bool) {
        self.reloads.record(ok);
    }

    /// The pacer's counters.
    pub fn counters(&self) -> &TickCounters {
        &self.counters
    }

    /// The voice stage chosen at start.
    pub fn backend(&self) -> &'static str {
        self.engine.backend()
    }

    /// The station as it stands now.
    pub fn snapshot(&self) -> Snapshot {
        let stats = self.engine.stats();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let frames = load(&stats.frames_rendered) as f64;
        let nanos = load(&stats.render_nanos) as f64;
        Snapshot {
            params: self.params(),
            backend: self.engine.backend(),
            backend_reason: self.engine.backend_reason().to_string(),
            fallbacks: load(&stats.stage_failures),
            panics: load(&stats.panics),
            listeners: self.listeners(),
            ring_fill: load(&self.counters.ring_samples) as f64 / RING_SAMPLES as f64,
            ring_capacity_ms: (RING_SAMPLES / CHANNELS * 1000 / SAMPLE_RATE as usize) as u32,
            underruns: self.counters.underruns.get(),
            chunks: self.counters.chunks.get(),
            next_sequence: load(&self.counters.next_sequence),
            uptime: self.started.elapsed(),
            unhealthy: self.unhealthy(),
            phrase: lock(&self.now_playing).clone(),
            reloads: ReloadFigures {
                succeeded: self.reloads.succeeded.get(),
                failed: self.reloads.failed.get(),
                last_failed: load(&self.reloads.last_failed) != 0,
                last_success_unix_ms: load(&self.reloads.last_success_unix_ms),
            },
            render: RenderFigures {
                blocks: load(&stats.blocks_rendered),
                seconds: nanos / 1e9,
                last_block_seconds: load(&stats.last_render_nanos) as f64 / 1e9,
                realtime_factor: if nanos == 0.0 {
                    0.0
                } else {
                    (frames / f64::from(SAMPLE_RATE)) / (nanos / 1e9)
                },
            },
        }
    }

    /// `None` when the generator and the pacer are making progress, else why not.
    pub fn unhealthy(&self) -> Option<&'static str> {
        if !self.engine.is_alive(HEALTH_WINDOW) {
            return Some("the generation thread is not making progress");
        }
        let last_tick = self.counters.last_tick_unix_ms.load(Ordering::Relaxed);
        let window = HEALTH_WINDOW.as_millis() as u64;
        // Just started: the pacer's first tick may not have run yet.
        let starting = last_tick == 0 && self.started.elapsed() < HEALTH_WINDOW;
        if !starting && crate::clock::unix_ms().saturating_sub(last_tick) > window {
            return Some("the pacer is not ticking");
        }
        None
    }

    /// Reports what the generation thread may not report itself (panics, voice-stage
    /// fallbacks) since the last call; the daemon calls it every second.
    pub fn check_engine(&self) {
        let stats = self.engine.stats();
        let mut reported = lock(&self.reported);
        let panics = stats.panics.load(Ordering::Relaxed);
        if panics > reported.0 {
            tracing::error!(
                total = panics,
                "the generator panicked; replaced the chunk with silence and started a new phrase"
            );
            reported.0 = panics;
        }
        let failures = stats.stage_failures.load(Ordering::Relaxed);
        if failures > reported.1 {
            reported.1 = failures;
            drop(reported);
            let error = self
                .engine
                .take_failed_stage()
                .and_then(|stage| stage.last_error())
                .unwrap_or_else(|| "no detail".into());
            self.publish(Event::BackendFellBack {
                backend: self.engine.backend(),
                error,
            });
        }
    }

    /// Writes any parameter change not yet saved and stops saving, then stops and joins
    /// the generation thread (shutdown, after the pacer has stopped).
    pub fn stop(&self) {
        self.journal.flush();
        if let Some(saver) = &self.saver {
            saver.finish();
        }
        self.engine.shutdown();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The critical sections never panic halfway; a poisoned lock still holds sound data.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
