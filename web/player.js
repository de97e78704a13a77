// player.js — owns the Web Audio graph: AudioContext → jitter-buffer worklet → volume → analyser → speakers.
//
// The page hands it raw pcm16 chunks; decoding to float and timing happen in the worklet so the
// main thread stays idle between messages (phones). Everything here is created lazily on the
// first play, because browsers only let an AudioContext start after a user gesture.
// Where AudioWorklet is missing (it needs a secure context, and plain http:// on a LAN address
// is not one) the same jitter buffer runs on the main thread behind a ScriptProcessorNode.

const WORKLET_URL = new URL('./worklet.js', import.meta.url);

const SCRIPT_BUFFER_FRAMES = 2048; // ~46 ms per callback: safe against main-thread hiccups
const RENDER_QUANTUM = 128;

export class Player {
  /** @param {{engine?: 'worklet'|'script'|null}} [options] force an engine (debugging, tests) */
  constructor({ engine = null } = {}) {
    this.forcedEngine = engine;
    this.engine = null; // 'worklet' | 'script' once started
    this.post = () => {}; // page → jitter buffer
    this.ctx = null;
    this.node = null;
    this.gainNode = null;
    this.analyser = null;
    this.volume = 0.8;
    this.stats = null; // latest worklet statistics
    this.onStats = () => {};
    this.onEvent = () => {};
    this.timeData = null;
    this.freqData = null;
    this.generation = 0;
  }

  get running() {
    return !!this.ctx && this.ctx.state === 'running';
  }

  /** Build the graph if needed and resume the context. Call from a user gesture. */
  async start({ sampleRate = 44100, channels = 2 } = {}) {
    this.generation++; // cancels the suspend of a stop() still fading out
    if (this.ctx && this.ctx.sampleRate !== sampleRate && this.ctxRateRequested !== sampleRate) {
      await this.close();
    }
    let resumed = Promise.resolve();
    if (!this.ctx) {
      this.ctxRateRequested = sampleRate;
      try {
        this.ctx = new AudioContext({ sampleRate, latencyHint: 'playback' });
      } catch {
        // Some browsers refuse explicit rates; the worklet resamples then.
        this.ctx = new AudioContext({ latencyHint: 'playback' });
      }
      // Resume before the first await: iOS only honours it inside the gesture's own task.
      resumed = this.ctx.resume();
      const ctx = this.ctx;
      ctx.onstatechange = () => this.onEvent({ type: 'context', state: ctx.state });
      const worklet = this.forcedEngine !== 'script' && !!this.ctx.audioWorklet;
      this.engine = worklet ? 'worklet' : 'script';
      this.node = worklet ? await this.makeWorkletNode() : await this.makeScriptNode();
      this.gainNode = new GainNode(this.ctx, { gain: this.volume });
      this.analyser = new AnalyserNode(this.ctx, { fftSize: 2048, smoothingTimeConstant: 0.8, minDecibels: -95, maxDecibels: -25 });
      this.timeData = new Float32Array(this.analyser.fftSize);
      this.freqData = new Uint8Array(this.analyser.frequencyBinCount);
      this.node.connect(this.gainNode).connect(this.analyser).connect(this.ctx.destination);
    } else if (this.ctx.state !== 'running') {
      resumed = this.ctx.resume();
    }
    this.configure({ sampleRate, channels });
    this.post({ type: 'start' });
    await resumed;
  }

  async makeWorkletNode() {
    await this.ctx.audioWorklet.addModule(WORKLET_URL);
    const node = new AudioWorkletNode(this.ctx, 'ambient-jitter-buffer', {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [2],
    });
    node.port.onmessage = (event) => this.onWorkletMessage(event.data);
    this.post = (msg, transfer) => node.port.postMessage(msg, transfer);
    return node;
  }

  /** The fallback: the processor class on this thread, fed render quanta by a ScriptProcessor. */
  async makeScriptNode() {
    const { JitterBufferProcessor } = await import(WORKLET_URL.href);
    const ctx = this.ctx;
    const clock = { sampleRate: ctx.sampleRate, currentTime: 0 };
    const proc = new JitterBufferProcessor({}, clock);
    proc.port.toPage = (msg) => this.onWorkletMessage(msg);
    this.post = (msg) => proc.port.onmessage({ data: msg });
    const node = ctx.createScriptProcessor(SCRIPT_BUFFER_FRAMES, 1, 2);
    let frames = 0;
    node.onaudioprocess = (event) => {
      const left = event.outputBuffer.getChannelData(0);
      const right = event.outputBuffer.getChannelData(1);
      for (let at = 0; at < left.length; at += RENDER_QUANTUM) {
        clock.currentTime = frames / ctx.sampleRate;
        proc.process([], [[left.subarray(at, at + RENDER_QUANTUM), right.subarray(at, at + RENDER_QUANTUM)]]);
        frames += RENDER_QUANTUM;
      }
    };
    return node;
  }

  configure({ sampleRate, channels }) {
    this.post({ type: 'config', sampleRate, channels });
  }

  /** Fade out, then let the context sleep (saves battery). */
  async stop() {
    if (!this.node) return;
    const generation = this.generation;
    this.post({ type: 'stop' });
    await new Promise((resolve) => setTimeout(resolve, 350));
    if (generation === this.generation && this.ctx && this.ctx.state === 'running') await this.ctx.suspend();
  }

  async close() {
    if (!this.ctx) return;
    const ctx = this.ctx;
    this.ctx = null;
    this.node = null;
    this.post = () => {};
    await ctx.close();
  }

  /** Resume after the browser suspended us (mobile tab switch, interruption). */
  async wake() {
    if (this.ctx && this.ctx.state !== 'running' && this.ctx.state !== 'closed') {
      try {
        await this.ctx.resume();
      } catch {
        /* not allowed without a gesture; the play button still works */
      }
    }
  }

  /** Hand one chunk to the worklet. `buffer` is transferred (not copied). */
  push(seq, timestamp, buffer, offset, channels) {
    this.post({ type: 'chunk', seq, timestamp, pcm: buffer, offset, channels }, [buffer]);
  }

  setLink(up) {
    this.post({ type: 'link', up });
  }

  reset() {
    this.post({ type: 'reset' });
  }

  setVolume(value) {
    this.volume = value;
    if (this.gainNode) this.gainNode.gain.setTargetAtTime(value, this.ctx.currentTime, 0.05);
  }

  /** RMS of what is leaving the graph right now (0 when nothing plays). */
  energy() {
    if (!this.analyser) return 0;
    this.analyser.getFloatTimeDomainData(this.timeData);
    let sum = 0;
    for (let i = 0; i < this.timeData.length; i++) sum += this.timeData[i] * this.timeData[i];
    return Math.sqrt(sum / this.timeData.length);
  }

  /** Output latency of the device path, in ms, as far as the browser knows it. */
  deviceLatencyMs() {
    if (!this.ctx) return 0;
    return ((this.ctx.outputLatency || 0) + (this.ctx.baseLatency || 0)) * 1000;
  }

  onWorkletMessage(msg) {
    if (msg.type === 'stats') {
      msg.receivedAt = Date.now();
      msg.receivedAtPerf = performance.now();
      this.stats = msg;
      this.onStats(msg);
    } else {
      this.onEvent(msg);
    }
  }
}
