#!/usr/bin/env node
// mock-server.mjs — a small stand-in for ambientd's HTTP + WebSocket side, for testing the web
// client without the Rust daemon. It follows /work/shared/DESIGN.md's wire contract:
// serves web/ statically, /api/status and /healthz, and /ws?channels=1|2&encoding=json|binary
// &resume=SEQ with hello / params / phrase / underrun / error messages and one 100 ms chunk of a
// soft chord every 100 ms on an absolute clock. Test-only extras live under /mock/.
//
//   node mock-server.mjs [--port 8765] [--host 127.0.0.1] [--web-control true|false]
//                        [--seq-start 0] [--history 50] [--root ../]
//
// Prints "listening on http://HOST:PORT" once ready. Killing it and starting it again on the same
// port is how tests simulate a daemon restart (the sequence starts again at --seq-start).

import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const SAMPLE_RATE = 44100;
const CHUNK_FRAMES = 4410; // 100 ms
const CHUNK_MS = 100;

function parseArgs(argv) {
  const opts = {
    port: 8765,
    host: '127.0.0.1',
    webControl: true,
    seqStart: 0,
    history: 50,
    root: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'),
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=');
    const value = inline ?? argv[++i];
    switch (flag) {
      case '--port': opts.port = Number(value); break;
      case '--host': opts.host = value; break;
      case '--web-control': opts.webControl = value !== 'false' && value !== '0' && value !== 'off'; break;
      case '--seq-start': opts.seqStart = Number(value); break;
      case '--history': opts.history = Number(value); break;
      case '--root': opts.root = path.resolve(value); break;
      default: throw new Error(`unknown flag ${flag}`);
    }
  }
  return opts;
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

const TONIC_SEMITONES = { C: 0, D: 2, E: 4, F: 5, G: 7, A: 9, B: 11 };
const KEY_RE = /^\s*([A-Ga-g])([#b♯♭]?)\s*(minor|min|m|major|maj)?\s*$/;
const PROGRESSIONS = {
  minor: [['i', 'VI', 'III', 'VII', 'i', 'iv', 'V', 'i'], ['i', 'iv', 'VI', 'V', 'i', 'III', 'iv', 'V']],
  major: [['I', 'vi', 'IV', 'V', 'I', 'iii', 'IV', 'V'], ['I', 'IV', 'vi', 'V', 'I', 'IV', 'V', 'I']],
};

/** "F# minor" → { name, rootHz, mode } or null. */
function parseKey(text) {
  const m = KEY_RE.exec(String(text));
  if (!m) return null;
  const tonic = m[1].toUpperCase();
  const accidental = m[2] === '#' || m[2] === '♯' ? '#' : m[2] === 'b' || m[2] === '♭' ? 'b' : '';
  const mode = m[3] && m[3].toLowerCase().startsWith('maj') ? 'major' : m[3] ? 'minor' : 'major';
  const semis = TONIC_SEMITONES[tonic] + (accidental === '#' ? 1 : accidental === 'b' ? -1 : 0);
  const midi = 57 + (((semis - 9) % 12) + 12) % 12; // A3 = 57 and the octave above it
  return { name: `${tonic}${accidental} ${mode}`, mode, rootHz: 440 * 2 ** ((midi - 69) / 12) };
}

export function startMockServer(options = {}) {
  const opts = { ...parseArgs([]), ...options };
  const params = { key: 'A minor', bpm: 70, intensity: 0.5, seed: 42 };
  let keyInfo = parseKey(params.key);
  const log = { sets: [], connections: [], closes: 0 };
  const history = new Map(); // seq → { stereo: Int16Array, timestamp }
  let seq = opts.seqStart - 1; // last produced
  let phraseIndex = 0;
  let phrase = null;
  let phraseEndsAt = 0;
  let pausedUntil = 0;
  let starvedUntil = 0;
  const clients = new Set();

  // ---- audio -------------------------------------------------------------------------
  // A soft chord on the key's root with a few partials, a slow bell-like lead on the scale and a
  // little filtered noise: enough spread across the spectrum to look and sound like the daemon.
  const noise = { seed: 12345, lowL: 0, lowR: 0 };
  const MINOR = [0, 2, 3, 5, 7, 8, 10];
  const MAJOR = [0, 2, 4, 5, 7, 9, 11];
  function leadHz(noteIndex) {
    const scale = keyInfo.mode === 'minor' ? MINOR : MAJOR;
    const h = Math.imul(noteIndex + 1, 2654435761) >>> 0;
    const degree = scale[h % 7];
    return keyInfo.rootHz * 4 * 2 ** (degree / 12);
  }
  function renderChunk(n) {
    const out = new Int16Array(CHUNK_FRAMES * 2);
    const third = keyInfo.mode === 'minor' ? 2 ** (3 / 12) : 2 ** (4 / 12);
    const freqs = [keyInfo.rootHz / 2, keyInfo.rootHz, keyInfo.rootHz * third, keyInfo.rootHz * 2 ** (7 / 12)];
    const level = 0.25 + 0.25 * params.intensity;
    const noteSeconds = (2 * 60) / params.bpm;
    const first = n * CHUNK_FRAMES;
    for (let i = 0; i < CHUNK_FRAMES; i++) {
      const t = (first + i) / SAMPLE_RATE;
      const swell = 0.75 + 0.25 * Math.sin(2 * Math.PI * 0.1 * t);
      let l = 0;
      let r = 0;
      for (let k = 0; k < freqs.length; k++) {
        const f = freqs[k];
        l += 0.1 * (Math.sin(2 * Math.PI * f * t) + 0.3 * Math.sin(4 * Math.PI * f * t));
        r += 0.1 * (Math.sin(2 * Math.PI * f * 1.002 * t + k) + 0.3 * Math.sin(4 * Math.PI * f * 1.002 * t + k));
      }
      l *= swell;
      r *= swell;
      const note = Math.floor(t / noteSeconds);
      const phase = t / noteSeconds - note; // 0..1 inside the note: the envelope is 0 at both ends
      const env = Math.sin(Math.PI * phase) ** 2 * Math.exp(-2 * phase);
      const bell = 0.08 * env * Math.sin(2 * Math.PI * leadHz(note) * t);
      l += bell * 0.8;
      r += bell;
      noise.seed = (Math.imul(noise.seed, 1664525) + 1013904223) >>> 0;
      const white = noise.seed / 2 ** 31 - 1;
      noise.lowL += (white - noise.lowL) * 0.2;
      noise.lowR += (white - noise.lowR) * 0.15;
      l += 0.02 * noise.lowL;
      r += 0.02 * noise.lowR;
      out[2 * i] = Math.round(Math.max(-1, Math.min(1, level * l)) * 32767);
      out[2 * i + 1] = Math.round(Math.max(-1, Math.min(1, level * r)) * 32767);
    }
    return out;
  }

  function mono(stereo) {
    const out = new Int16Array(stereo.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = (stereo[2 * i] + stereo[2 * i + 1]) >> 1;
    return out;
  }

  function encode(entry, s, channels, encoding) {
    const pcm = channels === 1 ? mono(entry.stereo) : entry.stereo;
    const bytes = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    if (encoding === 'binary') {
      const frame = Buffer.alloc(16 + bytes.length);
      frame.writeBigUInt64LE(BigInt(s), 0);
      frame.writeBigUInt64LE(BigInt(entry.timestamp), 8);
      bytes.copy(frame, 16);
      return frame;
    }
    return JSON.stringify({
      type: 'audio', data: bytes.toString('base64'), timestamp: entry.timestamp, sequence: s,
      sample_rate: SAMPLE_RATE, format: 'pcm16', channels,
    });
  }

  function sendAudio(client, s) {
    const entry = history.get(s);
    if (!entry) return;
    if (client.ws.readyState === client.ws.OPEN) {
      client.ws.send(encode(entry, s, client.channels, client.encoding), { binary: client.encoding === 'binary' });
      client.sentSeq = s;
    }
  }

  // ---- messages ----------------------------------------------------------------------
  function newPhrase() {
    const options = PROGRESSIONS[keyInfo.mode];
    // As the daemon does: tagged with the chunk (and the frame in it) where the phrase starts.
    phrase = {
      type: 'phrase', sequence: Math.max(seq, 0), offset_frames: 0,
      key: params.key, bpm: params.bpm, chords: options[phraseIndex % options.length],
    };
    phraseIndex++;
    phraseEndsAt = Date.now() + (8 * 4 * 60000) / params.bpm;
    broadcast(phrase);
  }

  function broadcast(obj) {
    const text = JSON.stringify(obj);
    for (const c of clients) if (c.ws.readyState === c.ws.OPEN) c.ws.send(text);
  }

  function paramsMessage() {
    return { type: 'params', params: { ...params } };
  }

  function handleSet(client, msg) {
    log.sets.push({ param: msg.param, value: msg.value, at: Date.now() });
    const reply = (obj) => client.ws.send(JSON.stringify(obj));
    if (!opts.webControl) return reply({ type: 'error', message: 'web control is disabled on this server' });
    const value = String(msg.value ?? '');
    switch (msg.param) {
      case 'bpm': {
        const bpm = Number(value);
        if (!Number.isInteger(bpm) || bpm < 40 || bpm > 120) {
          return reply({ type: 'error', message: `bpm: ${value} is out of range (allowed 40..=120)` });
        }
        params.bpm = bpm;
        break;
      }
      case 'intensity': {
        const x = Number(value);
        if (!Number.isFinite(x) || x < 0 || x > 1) {
          return reply({ type: 'error', message: `intensity: ${value} is out of range (allowed 0.0..=1.0)` });
        }
        params.intensity = x;
        break;
      }
      case 'key': {
        const k = parseKey(value);
        if (!k) return reply({ type: 'error', message: `key: "${value}" is not a key (e.g. "D minor")` });
        keyInfo = k;
        params.key = k.name;
        break;
      }
      default:
        return reply({ type: 'error', message: `unknown parameter "${msg.param}"` });
    }
    broadcast(paramsMessage());
  }

  // ---- pacer: one chunk per 100 ms on an absolute clock -------------------------------
  const startedAt = Date.now();
  let ticks = 0;
  let timer = null;
  function tick() {
    const now = Date.now();
    while (startedAt + ticks * CHUNK_MS <= now) {
      ticks++;
      seq++;
      const starved = now < starvedUntil; // the daemon's generator fell behind: silence + notice
      history.set(seq, { stereo: starved ? new Int16Array(CHUNK_FRAMES * 2) : renderChunk(seq), timestamp: startedAt + ticks * CHUNK_MS });
      if (starved) broadcast({ type: 'underrun', sequence: seq });
      history.delete(seq - opts.history);
      if (now >= phraseEndsAt) newPhrase();
    }
    if (now >= pausedUntil) {
      for (const c of clients) {
        for (let s = c.sentSeq + 1; s <= seq; s++) sendAudio(c, s);
      }
    }
    timer = setTimeout(tick, Math.max(1, startedAt + ticks * CHUNK_MS - Date.now()));
  }

  // ---- HTTP --------------------------------------------------------------------------
  async function serveStatic(req, res, urlPath) {
    const rel = urlPath === '/' ? 'index.html' : decodeURIComponent(urlPath.slice(1));
    const file = path.resolve(opts.root, rel);
    if (!file.startsWith(opts.root + path.sep) || rel.startsWith('test/')) {
      res.writeHead(404).end('not found');
      return;
    }
    try {
      const body = await fs.readFile(file);
      res.writeHead(200, { 'content-type': MIME[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  }

  const json = (res, obj) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(obj));
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    switch (url.pathname) {
      case '/healthz': res.writeHead(200).end('ok\n'); return;
      case '/api/status':
        json(res, {
          version: 'mock', backend: { name: 'mock', reason: 'test server' }, listeners: clients.size,
          next_sequence: seq + 1, params: { ...params }, web_control: opts.webControl, healthy: true,
        });
        return;
      case '/mock/log': json(res, log); return;
      case '/mock/drop': // close every WebSocket abruptly, as a network drop would
        for (const c of clients) c.ws.terminate();
        json(res, { dropped: true });
        return;
      case '/mock/pause': // hold back delivery (jitter); chunks queue and arrive in a burst
        pausedUntil = Date.now() + Number(url.searchParams.get('ms') || 500);
        json(res, { pausedUntil });
        return;
      case '/mock/starve': // send silence chunks with `underrun` notices, as a starved daemon does
        starvedUntil = Date.now() + Number(url.searchParams.get('ms') || 300);
        json(res, { starvedUntil });
        return;
      default:
        serveStatic(req, res, url.pathname);
    }
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname !== '/ws') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const channels = url.searchParams.get('channels') === '2' ? 2 : 1;
      const encoding = url.searchParams.get('encoding') === 'binary' ? 'binary' : 'json';
      const resumeRaw = url.searchParams.get('resume');
      const client = { ws, channels, encoding, sentSeq: seq };
      log.connections.push({ at: Date.now(), channels, encoding, resume: resumeRaw === null ? null : Number(resumeRaw), seq });
      ws.send(JSON.stringify({
        type: 'hello', version: 'mock', backend: { name: 'mock', reason: 'test server' },
        format: { encoding, channels, sample_rate: SAMPLE_RATE, sample_format: 'pcm16', chunk_frames: CHUNK_FRAMES, chunk_ms: CHUNK_MS },
        params: { ...params }, web_control: opts.webControl, sequence: seq,
      }));
      // The current phrase at once, so the chord row fills before the next phrase (recommended
      // to the daemon; it is a plain `phrase` message).
      if (phrase) ws.send(JSON.stringify(phrase));
      if (resumeRaw !== null) {
        const resume = Number(resumeRaw);
        // Continue right after the listener's last chunk if we still have it; a resume point
        // from the future (e.g. from before our restart) just means "live".
        if (Number.isSafeInteger(resume) && resume < seq) client.sentSeq = Math.max(resume, seq - opts.history + 1);
      }
      clients.add(client);
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        let msg;
        try { msg = JSON.parse(String(data)); } catch { return; }
        if (msg && msg.type === 'set') handleSet(client, msg);
      });
      ws.on('close', () => {
        clients.delete(client);
        log.closes++;
      });
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      newPhrase();
      tick();
      const { port } = server.address();
      resolve({
        port,
        url: `http://${opts.host}:${port}`,
        close: () => new Promise((done) => {
          clearTimeout(timer);
          for (const c of clients) c.ws.terminate();
          wss.close();
          server.close(() => done());
        }),
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const opts = parseArgs(process.argv.slice(2));
  startMockServer(opts).then(
    ({ url }) => console.log(`listening on ${url}`),
    (err) => {
      console.error(`mock-server: ${err.message}`);
      process.exit(1);
    },
  );
}
