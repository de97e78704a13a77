// worklet.test.mjs — the jitter buffer on its own, driven block by block in Node through its
// main-thread base and a hand-advanced clock: placement by sequence, the start fade, concealment
// of a missing chunk and of an underrun without clicks, target growth, overflow trimming,
// restarts, and the playback-rate trim.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// web/ has no package.json, so import the module's text as an ES module.
const SOURCE = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'worklet.js'), 'utf8');
const { JitterBufferProcessor } = await import(`data:text/javascript,${encodeURIComponent(SOURCE)}`);
const RATE = 44100;
const CHUNK = 4410;
const BLOCK = 128;

/** A processor on the main-thread base (as the ScriptProcessor fallback runs it), plus helpers. */
function makeProcessor() {
  const clock = { sampleRate: RATE, currentTime: 0 };
  const proc = new JitterBufferProcessor({}, clock);
  const messages = [];
  proc.port.toPage = (m) => messages.push(m);
  const send = (data) => proc.port.onmessage({ data });
  send({ type: 'config', sampleRate: RATE, channels: 2 });
  let frame = 0;
  let spare = new Float32Array(0); // rendered but not yet returned
  return {
    proc,
    messages,
    /** Post chunk `seq`: a 227 Hz sine whose phase follows the global frame number. */
    chunk(seq, amp = 0.5) {
      const pcm = new Int16Array(CHUNK * 2);
      for (let i = 0; i < CHUNK; i++) {
        const v = Math.round(amp * 32767 * Math.sin((2 * Math.PI * 227 * (seq * CHUNK + i)) / RATE));
        pcm[2 * i] = v;
        pcm[2 * i + 1] = v;
      }
      send({ type: 'chunk', seq, timestamp: seq * 100, pcm: pcm.buffer, offset: 0, channels: 2 });
    },
    send,
    /** Render `frames` frames; returns the left channel. Whole blocks; the excess is kept. */
    render(frames) {
      const out = new Float32Array(frames);
      let done = 0;
      while (done < frames) {
        if (spare.length === 0) {
          const l = new Float32Array(BLOCK);
          const r = new Float32Array(BLOCK);
          proc.process([], [[l, r]]);
          frame += BLOCK;
          clock.currentTime = frame / RATE;
          spare = l;
        }
        const take = Math.min(spare.length, frames - done);
        out.set(spare.subarray(0, take), done);
        spare = spare.subarray(take);
        done += take;
      }
      return out;
    },
  };
}

/**
 * Largest jump between neighbouring samples. A 227 Hz sine at 0.5 moves at most ~0.016 per
 * frame; at 22.7 cycles per chunk, skipping a chunk or starting mid-stream breaks the phase.
 */
function maxStep(samples, before = 0) {
  let worst = 0;
  let prev = before;
  for (const v of samples) {
    worst = Math.max(worst, Math.abs(v - prev));
    prev = v;
  }
  return worst;
}

const SINE_STEP = 0.5 * Math.sin((2 * Math.PI * 227) / RATE) * 1.05;

test('waits for the target depth, then fades in without a click', () => {
  const w = makeProcessor();
  w.chunk(3); // mid-stream: the first sample is far from zero
  assert.ok(w.render(CHUNK).every((v) => v === 0), 'silent while below the 250 ms target');
  w.chunk(4);
  w.chunk(5);
  // Real time from here: one chunk arrives per chunk played.
  const out = new Float32Array(CHUNK * 8);
  for (let i = 0; i < 8; i++) {
    w.chunk(6 + i);
    out.set(w.render(CHUNK), i * CHUNK);
  }
  assert.ok(w.messages.some((m) => m.type === 'started'), 'reports the start');
  assert.ok(maxStep(out) <= SINE_STEP, `no click at the start (max step ${maxStep(out)})`);
  const peakLate = Math.max(...out.subarray(out.length - CHUNK).map(Math.abs));
  assert.ok(peakLate > 0.45, `full level after the fade-in (${peakLate})`);
  assert.equal(lastStats(w).underruns, 0);
});

test('chunks arriving out of order are placed by sequence', () => {
  const ordered = makeProcessor();
  const shuffled = makeProcessor();
  for (const s of [0, 1, 2, 3, 4, 5]) ordered.chunk(s);
  for (const s of [0, 2, 1, 4, 3, 5]) shuffled.chunk(s);
  assert.deepEqual(shuffled.render(CHUNK * 5), ordered.render(CHUNK * 5));
});

test('a missing chunk is crossfaded over, not clicked', () => {
  const w = makeProcessor();
  for (let s = 0; s < 8; s++) if (s !== 4) w.chunk(s); // chunk 4 never comes
  const out = w.render(CHUNK * 5);
  const stats = lastStats(w);
  assert.equal(stats.gaps, 1);
  assert.equal(stats.underruns, 0);
  // The seam: the phase of the sine jumps by 100 ms there; a raw splice would step up to ~1.0.
  assert.ok(maxStep(out) <= 0.08, `seam is smooth (max step ${maxStep(out).toFixed(4)})`);
});

test('an underrun fades out, grows the target and fades back in', () => {
  const w = makeProcessor();
  for (let s = 0; s < 3; s++) w.chunk(s);
  let out = w.render(CHUNK * 3 + 2000); // runs dry: 3 chunks only
  const dry = lastStats(w);
  assert.equal(dry.underruns, 1);
  assert.ok(dry.targetMs > 250 && dry.targetMs <= 1000, `target grew to ${dry.targetMs}`);
  assert.ok(maxStep(out) <= SINE_STEP * 2, `fade to silence is smooth (max step ${maxStep(out)})`);
  for (let s = 3; s < 12; s++) w.chunk(s);
  out = w.render(CHUNK * 6);
  assert.ok(maxStep(out) <= SINE_STEP * 2, 'resumption is smooth');
  assert.equal(lastStats(w).state, 'playing');
});

test('an underrun while the link is down counts as an outage and keeps the target', () => {
  const w = makeProcessor();
  for (let s = 0; s < 3; s++) w.chunk(s);
  w.send({ type: 'link', up: false });
  w.render(CHUNK * 4);
  const s = lastStats(w);
  assert.equal(s.underruns, 0);
  assert.equal(s.outages, 1);
  assert.equal(s.targetMs, 250);
});

test('a huge backlog while playing (suspended tab) is trimmed back to the target', () => {
  const w = makeProcessor();
  for (let s = 0; s < 3; s++) w.chunk(s);
  for (let s = 3; s < 15; s++) {
    w.chunk(s); // 1.2 s in real time: past the start-up window
    w.render(CHUNK);
  }
  for (let s = 15; s < 65; s++) w.chunk(s); // then 5 s at once
  w.render(BLOCK * 4);
  const s = lastStats(w);
  assert.ok(s.skips > 0, 'skipped ahead');
  assert.ok(s.depthMs < 1000, `depth ${s.depthMs} ms back near the target`);
});

test('a restarted stream (sequence starts again) is followed', () => {
  const w = makeProcessor();
  for (let s = 1000; s < 1004; s++) w.chunk(s);
  w.render(CHUNK * 2);
  w.send({ type: 'reset' });
  for (let s = 0; s < 4; s++) w.chunk(s);
  w.render(CHUNK * 2);
  const s = lastStats(w);
  assert.equal(s.state, 'playing');
  assert.ok(s.readSeq >= 0 && s.readSeq < 4, `reading the new stream (at ${s.readSeq})`);
});

test('a fresh start with a backlog begins at the target depth', () => {
  const w = makeProcessor();
  for (let s = 0; s < 10; s++) w.chunk(s); // 1 s at once (a resume backlog)
  w.render(BLOCK);
  const s = lastStats(w);
  assert.equal(s.state, 'playing');
  assert.ok(s.depthMs >= 250 && s.depthMs < 350, `starts ${s.depthMs} ms deep, just above the 250 ms target`);
  assert.equal(s.skips, 0, 'nothing was heard, so nothing was skipped');
});

test('a burst right after the start is trimmed while the music fades in', () => {
  const w = makeProcessor();
  for (let s = 0; s < 3; s++) w.chunk(s);
  w.render(BLOCK); // started
  for (let s = 3; s < 8; s++) w.chunk(s); // the rest of the history request lands late
  w.render(BLOCK);
  const s = lastStats(w);
  assert.ok(s.startSkips > 0 && s.skips === 0, `trimmed at start (${s.startSkips})`);
  assert.ok(s.depthMs <= 250 + 150, `depth ${s.depthMs} ms near the target`);
});

test('a depth above target is trimmed by a gentle rate change, not a jump', () => {
  const w = makeProcessor();
  for (let s = 0; s < 3; s++) w.chunk(s);
  w.render(CHUNK * 11); // playing, past the startup window, about to run dry
  for (let s = 3; s < 13; s++) w.chunk(s);
  let next = 13; // a 1 s burst after an underrun: rebuffered and playing 1 s deep
  const out = new Float32Array(CHUNK * 40);
  for (let i = 0; i < 40; i++) {
    // keep feeding in real time: one chunk per 100 ms rendered
    w.chunk(next++);
    out.set(w.render(CHUNK), i * CHUNK);
  }
  const s = lastStats(w);
  assert.ok(s.rate > 1 && s.rate <= 1.005, `plays slightly fast (${s.rate})`);
  assert.equal(s.skips, 0);
  assert.ok(maxStep(out) <= SINE_STEP * 1.1, `no discontinuity (max step ${maxStep(out)} vs ${SINE_STEP})`);
});

/** Fresh statistics, as the worklet would post them. */
function lastStats(w) {
  w.proc.postStats();
  return w.messages.filter((m) => m.type === 'stats').at(-1);
}

/**
 * Five simulated minutes where the sound card runs `drift` faster (+) or slower (-) than the
 * daemon's clock: chunks arrive on the daemon's clock, frames leave on the card's.
 */
function driftRun(drift) {
  const w = makeProcessor();
  const cardFramesPerChunk = CHUNK / (1 + drift);
  let seq = 0;
  let due = 0;
  const depths = [];
  for (let frame = 0; frame < RATE * 300; frame += BLOCK) {
    while (frame >= due) {
      w.chunk(seq++, 0.2);
      due += cardFramesPerChunk;
    }
    w.render(BLOCK);
    if (frame % (RATE * 10) < BLOCK) depths.push(lastStats(w).smoothedDepthMs);
  }
  return { stats: lastStats(w), depths };
}

for (const drift of [0.001, -0.001]) {
  test(`clock drift of ${drift * 100} % for 5 minutes: no underrun, the depth stays near the target`, () => {
    const { stats, depths } = driftRun(drift);
    assert.equal(stats.underruns, 0);
    assert.equal(stats.skips, 0);
    const late = depths.slice(6); // after the first minute
    for (const d of late) {
      assert.ok(Math.abs(d - stats.targetMs) < 150, `depth ${d.toFixed(0)} ms vs target ${stats.targetMs} ms (${late.map(Math.round)})`);
    }
  });
}
