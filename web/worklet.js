// worklet.js — the jitter buffer that turns ambientd's 100 ms chunks into continuous sound.
//
// Runs on the audio rendering thread. The page posts decoded chunks (pcm16, keyed by the
// stream's global `sequence`); this processor places them by sequence, waits until the
// adaptive target depth is buffered, and plays them out with a fractional read position so a
// tiny playback-rate trim can keep the depth near the target for hours (server and sound card
// clocks never agree exactly). Missing chunks and underruns are bridged with short crossfades
// so the listener never hears a click. Statistics go back to the page through the port.
//
// The same module also runs on the page's main thread, behind a ScriptProcessorNode, where
// AudioWorklet is missing (plain http:// on a LAN address is not a secure context): there the
// page passes a clock ({sampleRate, currentTime}) and a port, and nothing is registered.

const SLOTS = 64; // 6.4 s of 100 ms chunks; far more than the largest target.
const MIN_TARGET_MS = 200;
const MAX_TARGET_MS = 1000;
const START_TARGET_MS = 250;
const MAX_DEPTH_MS = 3000; // above this (e.g. after a suspended tab) skip ahead to the target
const XFADE_FRAMES = 512; // ~12 ms: long enough to hide a discontinuity, short enough to be unheard
const START_FADE_S = 0.6;
const REBUFFER_FADE_S = 0.25;
const STOP_FADE_S = 0.3;
const STABLE_SHRINK_S = 15; // after this long without an underrun, shrink the target a little
const RATE_DEADBAND_MS = 50;
const MAX_SPEEDUP = 0.005; // ±0.5 % is a few cents of pitch: inaudible on slow pads
const MAX_SLOWDOWN = 0.003;
const STATS_INTERVAL_S = 0.25;
// Right after a fresh start the music is still fading in, so a burst that lands then (the rest
// of the page's small history request) is trimmed at once instead of by the slow rate trim.
const STARTUP_WINDOW_S = 1.0;
const STARTUP_EXCESS_MS = 150;

const State = { IDLE: 'idle', BUFFERING: 'buffering', PLAYING: 'playing', STOPPING: 'stopping' };

/** Outside an AudioWorkletGlobalScope: a base with a port the page drives by hand. */
class MainThreadBase {
  constructor() {
    this.port = {
      onmessage: null, // page → processor, set below
      toPage: () => {}, // processor → page, set by the page
      postMessage(msg) {
        this.toPage(msg);
      },
    };
  }
}

const Base = globalThis.AudioWorkletProcessor ?? MainThreadBase;

export class JitterBufferProcessor extends Base {
  /**
   * @param {object} [_options] AudioWorkletNode options (unused)
   * @param {{sampleRate: number, currentTime: number}} [clock] defaults to the worklet scope
   */
  constructor(_options, clock = globalThis) {
    super();
    this.clock = clock;
    this.outRate = clock.sampleRate;
    this.streamRate = this.outRate;
    this.channels = 2;
    this.slotSeq = new Float64Array(SLOTS).fill(-1);
    this.slotFrames = new Int32Array(SLOTS);
    this.slotData = Array.from({ length: SLOTS }, () => [new Float32Array(0), new Float32Array(0)]);
    this.slotTimestamp = new Float64Array(SLOTS);

    this.state = State.IDLE;
    this.readSeq = -1; // sequence of the chunk under the read head, -1 before the first chunk
    this.readPos = 0; // fractional frame position inside that chunk
    this.newestSeq = -1; // highest sequence ever stored

    this.targetMs = START_TARGET_MS;
    this.smoothedDepthMs = 0;
    this.rate = 1;
    this.linkUp = true;
    this.lastUnderrunAt = 0;
    this.lastShrinkAt = 0;

    // Envelope: gain ramps linearly towards gainGoal at gainStep per frame.
    this.gain = 0;
    this.gainGoal = 0;
    this.gainStep = 0;

    // The last XFADE_FRAMES source frames played, per channel, so a discontinuity can be
    // bridged by a time-mirrored copy of what was just heard (continuous in value at the seam).
    this.history = [new Float32Array(XFADE_FRAMES), new Float32Array(XFADE_FRAMES)];
    this.historyPos = 0;
    this.tail = [new Float32Array(XFADE_FRAMES), new Float32Array(XFADE_FRAMES)];
    this.tailPos = XFADE_FRAMES; // == XFADE_FRAMES: no crossfade running
    this.tailFadesToNew = true; // false: the tail fades to silence (underrun) instead

    this.stats = {
      received: 0, inOrder: 0, outOfOrder: 0, duplicates: 0, late: 0,
      gaps: 0, underruns: 0, outages: 0, skips: 0, startSkips: 0, firstSeq: -1, lastSeq: -1,
    };
    this.lastStatsAt = 0;
    this.startedOnce = false;
    this.freshStartAt = -Infinity;

    this.port.onmessage = (event) => this.onMessage(event.data);
  }

  onMessage(msg) {
    switch (msg.type) {
      case 'config':
        this.streamRate = msg.sampleRate || this.outRate;
        this.channels = msg.channels === 1 ? 1 : 2;
        break;
      case 'chunk':
        this.storeChunk(msg.seq, msg.timestamp, msg.pcm, msg.offset || 0, msg.channels || this.channels);
        break;
      case 'link':
        this.linkUp = !!msg.up;
        break;
      case 'start':
        this.startedOnce = false; // a fresh start gets the long fade-in and a 'started' report
        if (this.state === State.STOPPING || this.state === State.IDLE) {
          if (this.state === State.STOPPING && this.gain > 0) this.beginTail(false); // no click
          this.state = this.readSeq >= 0 ? State.BUFFERING : State.IDLE;
        }
        break;
      case 'stop':
        this.state = State.STOPPING;
        this.rampTo(0, STOP_FADE_S);
        break;
      case 'reset':
        this.flush();
        break;
      default:
        break;
    }
  }

  // ---- storage -------------------------------------------------------------------------

  storeChunk(seq, timestamp, pcmBuffer, offset, channels) {
    const st = this.stats;
    st.received++;
    if (st.firstSeq < 0) st.firstSeq = seq;
    if (st.lastSeq >= 0) {
      if (seq === st.lastSeq + 1) st.inOrder++;
      else st.outOfOrder++;
    } else {
      st.inOrder++;
    }
    st.lastSeq = seq;

    if (this.readSeq >= 0) {
      if (seq < this.readSeq - SLOTS || seq >= this.readSeq + SLOTS) {
        // The stream restarted (daemon restart) or jumped far ahead: start over at `seq`.
        this.flush();
      } else if (seq < this.readSeq) {
        st.late++;
        return;
      }
    }
    const slot = seq % SLOTS;
    if (this.slotSeq[slot] === seq) {
      st.duplicates++;
      return;
    }

    const samples = new Int16Array(pcmBuffer, offset, (pcmBuffer.byteLength - offset) >> 1);
    const frames = (samples.length / channels) | 0;
    let planes = this.slotData[slot];
    if (planes[0].length !== frames) {
      planes = [new Float32Array(frames), new Float32Array(frames)];
      this.slotData[slot] = planes;
    }
    const left = planes[0];
    const right = planes[1];
    const scale = 1 / 32768;
    if (channels === 2) {
      for (let i = 0, j = 0; i < frames; i++, j += 2) {
        left[i] = samples[j] * scale;
        right[i] = samples[j + 1] * scale;
      }
    } else {
      for (let i = 0; i < frames; i++) {
        const v = samples[i] * scale;
        left[i] = v;
        right[i] = v;
      }
    }
    this.slotSeq[slot] = seq;
    this.slotFrames[slot] = frames;
    this.slotTimestamp[slot] = timestamp || 0;
    if (seq > this.newestSeq) this.newestSeq = seq;

    if (this.readSeq < 0) {
      this.readSeq = seq;
      this.readPos = 0;
    }
    if (this.state === State.IDLE) this.state = State.BUFFERING;
  }

  flush() {
    this.slotSeq.fill(-1);
    this.readSeq = -1;
    this.readPos = 0;
    this.newestSeq = -1;
    if (this.state === State.PLAYING) {
      this.beginTail(false);
      this.state = State.BUFFERING;
    }
  }

  has(seq) {
    return seq >= 0 && this.slotSeq[seq % SLOTS] === seq;
  }

  /** Frames buffered contiguously from the read head, in stream frames. */
  contiguousFrames() {
    if (this.readSeq < 0 || !this.has(this.readSeq)) return 0;
    let frames = this.slotFrames[this.readSeq % SLOTS] - this.readPos;
    for (let s = this.readSeq + 1; s <= this.newestSeq && this.has(s); s++) {
      frames += this.slotFrames[s % SLOTS];
    }
    return frames;
  }

  /** Next stored sequence after `seq`, or -1. */
  nextAvailable(seq) {
    for (let s = seq + 1; s <= this.newestSeq; s++) if (this.has(s)) return s;
    return -1;
  }

  release(seq) {
    this.slotSeq[seq % SLOTS] = -1;
  }

  // ---- envelopes and crossfades -------------------------------------------------------

  rampTo(goal, seconds) {
    this.gainGoal = goal;
    this.gainStep = Math.abs(goal - this.gain) / Math.max(1, seconds * this.outRate);
  }

  /** Snapshot the mirrored history; it is mixed out over the next XFADE_FRAMES frames. */
  beginTail(fadesToNew) {
    for (let c = 0; c < 2; c++) {
      const hist = this.history[c];
      const tail = this.tail[c];
      for (let k = 0; k < XFADE_FRAMES; k++) {
        const idx = (this.historyPos - 1 - k + 2 * XFADE_FRAMES) % XFADE_FRAMES;
        tail[k] = hist[idx] * this.gain;
      }
    }
    this.tailPos = 0;
    this.tailFadesToNew = fadesToNew;
  }

  // ---- rendering ----------------------------------------------------------------------

  process(_inputs, outputs) {
    const out = outputs[0];
    const outL = out[0];
    const outR = out.length > 1 ? out[1] : null;
    const n = outL.length;
    const blockMs = (n / this.outRate) * 1000;

    if (this.state === State.BUFFERING) this.maybeStartPlaying();
    if (this.state === State.PLAYING) {
      this.trimOverflow();
      this.adaptRate(blockMs);
    }

    const baseStep = this.streamRate / this.outRate;
    const step = baseStep * this.rate;
    for (let i = 0; i < n; i++) {
      let l = 0;
      let r = 0;
      let sourcePlayed = false;
      if (this.state === State.PLAYING || this.state === State.STOPPING) {
        if (!this.has(this.readSeq)) this.handleMissing();
        if (this.has(this.readSeq)) {
          const slot = this.readSeq % SLOTS;
          const frames = this.slotFrames[slot];
          const pos = this.readPos;
          const i0 = pos | 0;
          const frac = pos - i0;
          const planes = this.slotData[slot];
          l = planes[0][i0];
          r = planes[1][i0];
          if (frac > 0) {
            // Linear interpolation; the next frame may live in the next chunk.
            let nl = l;
            let nr = r;
            if (i0 + 1 < frames) {
              nl = planes[0][i0 + 1];
              nr = planes[1][i0 + 1];
            } else if (this.has(this.readSeq + 1)) {
              const next = this.slotData[(this.readSeq + 1) % SLOTS];
              nl = next[0][0];
              nr = next[1][0];
            }
            l += (nl - l) * frac;
            r += (nr - r) * frac;
          }
          sourcePlayed = true;
          this.readPos += step;
          if (this.readPos >= frames) {
            this.readPos -= frames;
            this.release(this.readSeq);
            this.readSeq++;
          }
        }
      }

      if (sourcePlayed) {
        this.history[0][this.historyPos] = l;
        this.history[1][this.historyPos] = r;
        this.historyPos = (this.historyPos + 1) % XFADE_FRAMES;
      }

      // Gain envelope (fade-in / fade-out).
      if (this.gain !== this.gainGoal) {
        if (this.gain < this.gainGoal) this.gain = Math.min(this.gainGoal, this.gain + this.gainStep);
        else this.gain = Math.max(this.gainGoal, this.gain - this.gainStep);
      }
      l *= this.gain;
      r *= this.gain;

      // Crossfade from the mirrored tail of what was last heard (raised cosine).
      if (this.tailPos < XFADE_FRAMES) {
        const w = 0.5 - 0.5 * Math.cos((Math.PI * this.tailPos) / XFADE_FRAMES);
        const k = this.tailPos;
        const newWeight = this.tailFadesToNew ? w : 0;
        l = this.tail[0][k] * (1 - w) + l * newWeight;
        r = this.tail[1][k] * (1 - w) + r * newWeight;
        this.tailPos++;
      }

      outL[i] = l;
      if (outR) outR[i] = r;
    }

    if (this.state === State.STOPPING && this.gain === 0) {
      this.state = State.IDLE;
      this.slotSeq.fill(-1);
      this.readSeq = -1;
      this.newestSeq = -1;
    }

    const now = this.clock.currentTime;
    if (now - this.lastStatsAt >= STATS_INTERVAL_S) {
      this.lastStatsAt = now;
      this.postStats();
    }
    return true;
  }

  maybeStartPlaying() {
    if (this.readSeq < 0) return;
    if (!this.has(this.readSeq)) {
      const next = this.nextAvailable(this.readSeq);
      if (next < 0) return;
      this.readSeq = next;
      this.readPos = 0;
    }
    let depthMs = (this.contiguousFrames() / this.streamRate) * 1000;
    if (depthMs < this.targetMs) return;
    if (!this.startedOnce) {
      // A fresh start may come with a backlog (the page asks for a little to start at once):
      // begin just far enough back to hold the target, not at the oldest chunk. (Less would
      // lower the latency a little, but risks an underrun before the first live chunk.)
      while (this.has(this.readSeq + 1)) {
        const chunkMs = (this.slotFrames[this.readSeq % SLOTS] / this.streamRate) * 1000;
        if (depthMs - chunkMs < this.targetMs) break;
        depthMs -= chunkMs;
        this.release(this.readSeq);
        this.readSeq++;
        this.readPos = 0;
      }
    }
    this.state = State.PLAYING;
    this.smoothedDepthMs = depthMs;
    this.rate = 1;
    this.lastShrinkAt = this.clock.currentTime;
    const fade = this.startedOnce ? REBUFFER_FADE_S : START_FADE_S;
    this.gain = 0;
    this.rampTo(1, fade);
    if (!this.startedOnce) {
      this.startedOnce = true;
      this.freshStartAt = this.clock.currentTime;
      this.port.postMessage({ type: 'started', currentTime: this.clock.currentTime });
    } else {
      this.port.postMessage({ type: 'resumed', currentTime: this.clock.currentTime });
    }
  }

  /** The chunk under the read head is absent: conceal a gap, or declare an underrun. */
  handleMissing() {
    const next = this.nextAvailable(this.readSeq);
    if (next >= 0) {
      // A hole with audio after it (chunks lost across a reconnect): skip it, crossfading.
      this.stats.gaps += next - this.readSeq;
      this.beginTail(true);
      this.readSeq = next;
      this.readPos = 0;
      return;
    }
    // Nothing to play: fade the tail to silence. What arrives next is not a start-up burst.
    this.freshStartAt = -Infinity;
    this.beginTail(false);
    this.gain = 0;
    this.gainGoal = 0;
    if (this.state === State.STOPPING) return; // becomes IDLE at the end of this block
    this.state = State.BUFFERING;
    if (this.linkUp) {
      // Jitter beat the buffer: ask for more headroom next time.
      this.stats.underruns++;
      this.targetMs = Math.min(MAX_TARGET_MS, Math.max(this.targetMs * 1.5, this.targetMs + 150));
    } else {
      // The connection was down; a deeper buffer would not have helped for long.
      this.stats.outages++;
    }
    this.lastUnderrunAt = this.clock.currentTime;
    this.lastShrinkAt = this.clock.currentTime;
    this.port.postMessage({ type: 'underrun', targetMs: this.targetMs, linkUp: this.linkUp });
  }

  /** Far too much buffered (tab was suspended, burst after resume): jump to the target. */
  trimOverflow() {
    const depthMs = (this.contiguousFrames() / this.streamRate) * 1000;
    const starting = this.clock.currentTime - this.freshStartAt < STARTUP_WINDOW_S;
    const limit = starting ? this.targetMs + STARTUP_EXCESS_MS : Math.max(MAX_DEPTH_MS, this.targetMs * 3);
    if (depthMs <= limit) return;
    let excessMs = depthMs - this.targetMs;
    let skipped = 0;
    while (this.has(this.readSeq + 1)) {
      const chunkMs = (this.slotFrames[this.readSeq % SLOTS] / this.streamRate) * 1000;
      if (excessMs < chunkMs) break;
      excessMs -= chunkMs;
      this.release(this.readSeq);
      this.readSeq++;
      skipped++;
    }
    if (skipped > 0) {
      this.readPos = 0;
      if (starting) this.stats.startSkips += skipped;
      else this.stats.skips += skipped;
      this.beginTail(true);
      this.smoothedDepthMs = (this.contiguousFrames() / this.streamRate) * 1000;
    }
  }

  /** Slowly steer the depth towards the target, and the target towards its floor. */
  adaptRate(blockMs) {
    const depthMs = (this.contiguousFrames() / this.streamRate) * 1000;
    const alpha = blockMs / 2000; // ~2 s smoothing: chunks arrive in 100 ms steps
    this.smoothedDepthMs += (depthMs - this.smoothedDepthMs) * alpha;

    const now = this.clock.currentTime;
    if (now - this.lastShrinkAt >= STABLE_SHRINK_S && now - this.lastUnderrunAt >= STABLE_SHRINK_S) {
      this.lastShrinkAt = now;
      this.targetMs = Math.max(MIN_TARGET_MS, Math.round(this.targetMs * 0.92));
    }

    const err = this.smoothedDepthMs - this.targetMs;
    if (Math.abs(err) <= RATE_DEADBAND_MS) {
      // Hysteresis: keep a running trim until well inside the deadband, then play at 1:1.
      if (this.rate !== 1 && Math.abs(err) < RATE_DEADBAND_MS / 2) this.rate = 1;
      return;
    }
    const excess = err > 0 ? err - RATE_DEADBAND_MS : err + RATE_DEADBAND_MS;
    this.rate = 1 + Math.max(-MAX_SLOWDOWN, Math.min(MAX_SPEEDUP, excess * 0.00002));
  }

  postStats() {
    const depthFrames = this.contiguousFrames();
    const playingSlot = this.readSeq >= 0 ? this.readSeq % SLOTS : -1;
    const playingTimestamp = this.has(this.readSeq) ? this.slotTimestamp[playingSlot] : 0;
    this.port.postMessage({
      type: 'stats',
      state: this.state,
      depthMs: (depthFrames / this.streamRate) * 1000,
      smoothedDepthMs: this.smoothedDepthMs,
      targetMs: this.targetMs,
      rate: this.rate,
      gain: this.gain,
      readSeq: this.readSeq,
      readPos: this.readPos,
      playingTimestamp,
      currentTime: this.clock.currentTime,
      ...this.stats,
    });
  }
}

if (typeof registerProcessor === 'function') registerProcessor('ambient-jitter-buffer', JitterBufferProcessor);
