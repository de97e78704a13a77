// app.js — the page: wires the connection, the player and the visual to the DOM, shows what the
// daemon says (hello / params / phrase / underrun / error), offers the controls when the daemon
// allows web control, and exposes `window.ambient` for tests and the curious.

import { Connection } from './connection.js';
import { Controls, fmtIntensity } from './controls.js';
import { setPlaybackState, setupMediaSession, showOnLockScreen } from './media-session.js';
import { OpusChunkDecoder, opusDecoderKind } from './opus.js';
import { WasmOpusChunkDecoder } from './opus-wasm.js';
import { Player } from './player.js';
import { Visualizer } from './visualizer.js';

// Page options: the page takes Opus (~12 kB/s), decoded by WebCodecs where the browser has it
// and by libopus in WebAssembly elsewhere (?opus=wasm forces that), else binary PCM;
// ?encoding=binary|json|opus forces one (json: the seed's base64 AudioChunk messages). ?channels=1 asks for mono PCM (Opus is stereo). ?engine=script forces the
// ScriptProcessor fallback (used automatically where AudioWorklet is missing).
const options = new URLSearchParams(location.search);
const ASKED_ENCODING = ['json', 'binary', 'opus'].includes(options.get('encoding')) ? options.get('encoding') : null;
const OPUS_ASKED = ['webcodecs', 'wasm'].includes(options.get('opus')) ? options.get('opus') : null;
const OPUS_DECODER = await opusDecoderKind(OPUS_ASKED); // 'webcodecs' | 'wasm' | null
const OPUS_OK = OPUS_DECODER !== null;
// Opus only from a daemon that says it has it (/api/status "opus"); else PCM.
const OPUS_OFFERED = ASKED_ENCODING === null && OPUS_OK ? await opusOffered() : false;
let ENCODING = ASKED_ENCODING ?? (OPUS_OFFERED && options.get('channels') !== '1' ? 'opus' : 'binary');
if (ENCODING === 'opus' && !OPUS_OK) ENCODING = 'binary';
const CHANNELS = ENCODING === 'opus' ? 2 : options.get('channels') === '1' ? 1 : 2;
const OPUS_RATE = 48000;

/** Whether /api/status says the daemon streams Opus (false on any doubt, within 1 s). */
async function opusOffered() {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 1000);
  try {
    const response = await fetch('/api/status', { signal: abort.signal, cache: 'no-store' });
    return response.ok && (await response.json())?.opus?.available === true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
// Ask for this much of the daemon's recent history on play, so the buffer fills at once
// instead of waiting for live chunks (the jitter buffer starts at its target, not earlier).
const START_BACKLOG_CHUNKS = 4;

const $ = (id) => document.getElementById(id);
const ui = {
  conn: $('conn'), connText: $('conn-text'), status: $('status'), play: $('play'), volume: $('volume'),
  key: $('key'), bpm: $('bpm'), intensity: $('intensity'), chords: $('chords'), about: $('about'),
  buffer: $('stat-buffer'), latency: $('stat-latency'), underruns: $('stat-underruns'), seq: $('stat-seq'),
  controls: $('controls'), ctlKey: $('ctl-key'), ctlBpm: $('ctl-bpm'), ctlBpmOut: $('ctl-bpm-out'),
  ctlIntensity: $('ctl-intensity'), ctlIntensityOut: $('ctl-intensity-out'), ctlError: $('ctl-error'),
};

const player = new Player({ engine: options.get('engine') });
const visual = new Visualizer($('scope'), player);
const controls = new Controls(ui, sendSet);
let conn = null;
let opus = null; // the Opus decoder of the current connection (encoding=opus)

const model = {
  playing: false,
  params: {}, // key, bpm, intensity, seed …
  chords: [],
  phrase: null, // { sequence, offsetFrames, bpm } of the phrase whose chords are shown
  phraseAt: 0, // performance.now() when the phrase's first bar reaches the speakers (fallback)
  webControl: false,
  backend: '',
  version: '',
  format: { sample_rate: ENCODING === 'opus' ? OPUS_RATE : 44100, channels: CHANNELS },
  playPressedAt: 0,
  firstSoundMs: null,
  serverUnderruns: 0,
  received: 0,
  lastError: '',
  events: [], // recent notable events, for tests and debugging
};

function logEvent(type, detail = {}) {
  model.events.push({ ...detail, t: Math.round(performance.now()), type });
  if (model.events.length > 200) model.events.shift();
}

// ---- playback ------------------------------------------------------------------------

async function play() {
  if (model.playing) return;
  model.playing = true;
  model.playPressedAt = performance.now();
  model.firstSoundMs = null;
  ui.play.dataset.playing = 'true';
  ui.play.setAttribute('aria-label', 'Stop');
  setStatus('Connecting…');
  const live = liveSequence(); // in parallel with building the audio graph
  try {
    await player.start({ sampleRate: model.format.sample_rate || 44100, channels: CHANNELS });
  } catch (err) {
    model.playing = false;
    ui.play.dataset.playing = 'false';
    ui.play.setAttribute('aria-label', 'Play');
    setStatus(`This browser could not start audio (${err.message || err}).`, 'warn');
    logEvent('audio-failed', { message: String(err) });
    return;
  }
  if (!model.playing) return; // stopped while the audio graph was being built
  conn = new Connection({ channels: CHANNELS, encoding: ENCODING });
  if (ENCODING === 'opus') {
    const onChunk = (seq, timestamp, pcm) => player.push(seq, timestamp, pcm, 0, CHANNELS);
    opus = OPUS_DECODER === 'wasm' ? new WasmOpusChunkDecoder(onChunk) : new OpusChunkDecoder(onChunk);
  }
  const next = await live;
  if (next !== null && next > START_BACKLOG_CHUNKS) conn.resumeAfter(next - 1 - START_BACKLOG_CHUNKS);
  conn.onAudio = onAudio;
  conn.onMessage = onMessage;
  conn.onState = onConnectionState;
  conn.start();
  visual.start();
  setPlaybackState(true);
  logEvent('play');
}

async function stop() {
  if (!model.playing) return;
  model.playing = false;
  ui.play.dataset.playing = 'false';
  ui.play.setAttribute('aria-label', 'Play');
  conn?.stop();
  conn = null;
  opus?.close();
  opus = null;
  visual.stop();
  setStatus('Stopped.');
  setPlaybackState(false);
  logEvent('stop');
  await player.stop();
}

/** The daemon's next live sequence from /api/status, or null (then we simply start live). */
async function liveSequence() {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 700);
  try {
    const response = await fetch('/api/status', { signal: abort.signal, cache: 'no-store' });
    if (!response.ok) return null;
    const next = Number((await response.json()).next_sequence);
    return Number.isSafeInteger(next) ? next : null;
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

function onAudio(seq, timestamp, buffer, offset, channels, restarted) {
  model.received++;
  if (restarted) {
    // The daemon restarted and its sequence began again: drop what belongs to the old stream.
    player.reset();
    opus?.reset();
    logEvent('stream-restarted', { seq });
  }
  if (opus) opus.decode(seq, timestamp, buffer, offset);
  else player.push(seq, timestamp, buffer, offset, channels);
}

// ---- server messages -------------------------------------------------------------------

function onMessage(msg) {
  switch (msg.type) {
    case 'hello': {
      model.version = msg.version || '';
      // The daemon sends {name, reason}; a plain string is accepted too.
      model.backend = typeof msg.backend === 'object' && msg.backend ? String(msg.backend.name ?? '') : String(msg.backend ?? '');
      model.webControl = msg.web_control === true;
      const fmt = msg.format && typeof msg.format === 'object' ? msg.format : msg;
      if (fmt.sample_rate) {
        model.format = { sample_rate: Number(fmt.sample_rate), chunk_frames: Number(fmt.chunk_frames) || 0, channels: CHANNELS };
        player.configure({ sampleRate: model.format.sample_rate, channels: CHANNELS });
      }
      if (msg.params) applyParams(msg.params);
      if (msg.phrase) applyPhrase(msg.phrase);
      controls.show(model.webControl);
      controls.sync(model.params);
      renderAbout();
      logEvent('hello', { webControl: model.webControl });
      break;
    }
    case 'params':
      applyParams(msg.params && typeof msg.params === 'object' ? msg.params : msg);
      break;
    case 'phrase':
      applyPhrase(msg);
      break;
    case 'underrun':
      model.serverUnderruns++;
      logEvent('server-underrun');
      break;
    case 'error':
      showControlError(msg.message || 'The daemon refused that.');
      logEvent('error', { message: msg.message });
      break;
    default:
      break;
  }
}

function applyParams(params) {
  const next = { ...model.params };
  for (const name of ['key', 'bpm', 'intensity', 'seed']) if (params[name] !== undefined) next[name] = params[name];
  model.params = next;
  renderNowPlaying();
  controls.sync(model.params);
}

function applyPhrase(phrase) {
  const chords = phrase.chords || phrase.progression || [];
  model.chords = chords.map(chordName);
  // The daemon tags a phrase with the chunk (and frame in it) where it starts, so the shown bar
  // can follow what is heard; without that, assume it starts one buffer from now.
  model.phrase = Number.isFinite(phrase.sequence)
    ? { sequence: phrase.sequence, offsetFrames: Number(phrase.offset_frames) || 0, bpm: Number(phrase.bpm) || 0 }
    : null;
  model.phraseAt = performance.now() + currentLatencyMs();
  if (phrase.key || phrase.bpm) applyParams({ key: phrase.key, bpm: phrase.bpm });
  renderChords();
}

/** Milliseconds since the shown phrase started sounding (negative: not yet). */
function phraseElapsedMs() {
  const s = player.stats;
  const p = model.phrase;
  if (!p || !s || s.readSeq < 0) return performance.now() - model.phraseAt;
  const rate = model.format.sample_rate || 44100;
  const chunkFrames = model.format.chunk_frames || rate / 10;
  const frames = (s.readSeq - p.sequence) * chunkFrames + (s.readPos || 0) - p.offsetFrames;
  return (frames / rate) * 1000 + (performance.now() - s.receivedAtPerf) - player.deviceLatencyMs();
}

function chordName(chord) {
  if (typeof chord === 'string') return chord;
  if (chord && typeof chord === 'object') return String(chord.symbol ?? chord.name ?? chord.roman ?? chord.degree ?? '?');
  return String(chord);
}

// ---- rendering -------------------------------------------------------------------------

function renderNowPlaying() {
  const p = model.params;
  ui.key.textContent = p.key ?? '—';
  ui.bpm.textContent = `${p.bpm ?? '—'} bpm`;
  ui.intensity.textContent = `intensity ${fmtIntensity(p.intensity)}`;
  showOnLockScreen(p);
}

function renderChords() {
  // Until the first phrase arrives, eight quiet placeholders keep the layout still.
  const names = model.chords.length ? model.chords : Array(8).fill('·');
  ui.chords.replaceChildren(
    ...names.map((name) => {
      const li = document.createElement('li');
      li.textContent = name;
      return li;
    }),
  );
  highlightBar();
}

function highlightBar() {
  const bpm = model.phrase?.bpm || Number(model.params.bpm) || 70;
  const barMs = (4 * 60000) / bpm;
  const bar = Math.floor(phraseElapsedMs() / barMs);
  [...ui.chords.children].forEach((li, i) => li.classList.toggle('current', model.playing && i === bar));
}

function renderAbout() {
  const parts = [];
  if (model.version) parts.push(`ambientd ${model.version}`);
  if (model.backend) parts.push(`${model.backend} synthesis`);
  parts.push(`${model.format.sample_rate / 1000} kHz ${CHANNELS === 1 ? 'mono' : 'stereo'}`);
  const decodedBy = OPUS_DECODER === 'wasm' ? 'WebAssembly' : 'the browser';
  parts.push(ENCODING === 'opus' ? `Opus (decoded by ${decodedBy})` : `PCM${OPUS_OK ? '' : ' (this browser cannot decode Opus)'}`);
  if (player.engine === 'script') parts.push('compatibility audio (no AudioWorklet here)');
  ui.about.textContent = parts.join(' · ');
}

function currentLatencyMs() {
  const s = player.stats;
  return s ? s.depthMs + player.deviceLatencyMs() : 0;
}

function renderStats() {
  const s = player.stats;
  if (!s || document.hidden) return; // nobody is looking; the test hook reads player.stats directly
  ui.buffer.textContent = `${Math.round(s.depthMs)} ms`;
  ui.buffer.title = `target ${Math.round(s.targetMs)} ms, rate ×${s.rate.toFixed(4)}`;
  ui.latency.textContent = model.playing ? `${Math.round(currentLatencyMs())} ms` : '—';
  ui.underruns.textContent = String(s.underruns);
  ui.seq.textContent = s.lastSeq >= 0 ? `#${s.lastSeq}` : '—';
  if (model.playing && conn?.state === 'open' && performance.now() > statusHeldUntil) {
    setStatus(s.state === 'buffering' ? 'Buffering…' : 'Playing.');
  }
  highlightBar();
}

let statusHeldUntil = 0; // a message the listener must get to read is not overwritten at once

function setStatus(text, tone = '') {
  if (ui.status.textContent !== text) ui.status.textContent = text;
  ui.status.dataset.tone = tone;
}

// ---- connection state ------------------------------------------------------------------

let countdownTimer = 0;

function onConnectionState(state, detail) {
  if (ENCODING === 'opus' && String(detail.reason || '').startsWith('encoding=opus is unavailable')) {
    // A daemon without an Opus encoder: play PCM instead, from now on.
    logEvent('opus-unavailable', { reason: detail.reason });
    ENCODING = 'binary';
    model.format.sample_rate = 44100;
    stop().then(play);
    return;
  }
  ui.conn.dataset.state = state;
  player.setLink(state === 'open');
  clearInterval(countdownTimer);
  logEvent(`conn-${state}`, detail);
  switch (state) {
    case 'connecting':
      ui.connText.textContent = 'Connecting';
      if (detail.attempt) setStatus(`Reconnecting (attempt ${detail.attempt + 1})…`, 'warn');
      break;
    case 'open':
      ui.connText.textContent = 'Connected';
      setStatus(detail.resumed ? 'Reconnected — resuming.' : 'Buffering…');
      break;
    case 'waiting':
    case 'offline': {
      ui.connText.textContent = state === 'offline' ? 'Offline' : 'Reconnecting';
      const tick = () => {
        const left = Math.max(0, Math.ceil((conn?.retryAt - performance.now()) / 1000));
        const why = detail.reason ? `: ${detail.reason}` : '';
        setStatus(`Connection lost${why}. Retrying in ${left} s — attempt ${detail.attempt}.`, 'warn');
      };
      tick();
      countdownTimer = setInterval(tick, 1000);
      break;
    }
    default:
      ui.connText.textContent = 'Not connected';
  }
}

// ---- controls (only when the daemon allows web control) ---------------------------------

function sendSet(param, value) {
  ui.ctlError.hidden = true;
  if (!conn || !conn.send({ type: 'set', param, value: String(value) })) {
    showControlError('Not connected: press play first.');
    return;
  }
  logEvent('set', { param, value: String(value) });
}

let errorTimer = 0;
function showControlError(message) {
  model.lastError = message;
  if (!controls.visible) {
    setStatus(message, 'warn'); // no controls on screen to put it under
    statusHeldUntil = performance.now() + 6000;
    return;
  }
  ui.ctlError.textContent = message;
  ui.ctlError.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => {
    ui.ctlError.hidden = true;
  }, 8000);
}

// ---- wiring ------------------------------------------------------------------------------

player.onStats = renderStats;
player.onEvent = (msg) => {
  if (msg.type === 'started' && model.firstSoundMs === null) {
    model.firstSoundMs = performance.now() - model.playPressedAt + player.deviceLatencyMs();
  }
  if (msg.type === 'context' && model.playing && msg.state !== 'running' && msg.state !== 'closed') {
    // The browser paused us (phone call, iOS 'interrupted', background): try again, and say so.
    player.wake();
    setStatus('Audio paused by the browser. Tap anywhere to resume.', 'warn');
  }
  logEvent(`worklet-${msg.type}`, msg);
};

// Mobile browsers only resume a suspended context from a gesture; any tap will do.
document.addEventListener('pointerdown', () => {
  if (model.playing && !player.running) player.wake();
});

ui.play.addEventListener('click', () => (model.playing ? stop() : play()));
ui.volume.addEventListener('input', () => player.setVolume(Number(ui.volume.value)));

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && model.playing) {
    player.wake();
    conn?.connectSoon();
  }
});

renderChords();
setupMediaSession({ play, pause: stop, stop }, model.params);
renderAbout();
player.setVolume(Number(ui.volume.value));

// Show what is playing before the listener presses play (best effort; the stream says it too).
fetch('/api/status', { headers: { accept: 'application/json' } })
  .then((r) => (r.ok ? r.json() : null))
  .then((status) => {
    if (!status || model.params.key) return;
    const params = status.params && typeof status.params === 'object' ? status.params : status;
    applyParams(params);
  })
  .catch(() => {});

// Test hook: read-only views of the page's state.
window.ambient = {
  state: () => ({
    playing: model.playing,
    connection: conn ? conn.state : 'idle',
    audio: player.ctx ? player.ctx.state : 'none',
    engine: player.engine,
    params: { ...model.params },
    chords: [...model.chords],
    webControl: model.webControl,
    controlsVisible: controls.visible,
    backend: model.backend,
    version: model.version,
    status: ui.status.textContent,
    lastError: model.lastError,
    reconnects: conn ? conn.reconnects : 0,
    encoding: ENCODING,
    opusSupported: OPUS_OK,
    opusDecoder: ENCODING === 'opus' ? OPUS_DECODER : null,
    about: ui.about.textContent,
    events: model.events.slice(-50),
  }),
  stats: () => {
    const s = player.stats || {};
    return {
      ...s,
      mainReceived: model.received,
      bytesReceived: conn ? conn.bytesReceived : 0,
      opusErrors: opus ? opus.errors : 0,
      energy: player.energy(),
      latencyMs: currentLatencyMs(),
      // How long ago the daemon sent the chunk heard now (needs agreeing clocks).
      endToEndMs: s.playingTimestamp ? s.receivedAt - s.playingTimestamp + player.deviceLatencyMs() : null,
      deviceLatencyMs: player.deviceLatencyMs(),
      firstSoundMs: model.firstSoundMs,
      serverUnderruns: model.serverUnderruns,
      sampleRate: player.ctx ? player.ctx.sampleRate : 0,
    };
  },
  play,
  stop,
  /** The same path as the controls: sends {"type":"set"} and shows the daemon's reply. */
  set: (param, value) => sendSet(param, value),
};
