// connection.js — the WebSocket to ambientd's /ws, kept alive through drops and daemon restarts.
//
// Reconnects with exponential backoff and jitter (0.5 s doubling to 30 s, reset once the server
// has said hello), resumes with ?resume=<last sequence> so a short drop loses nothing, and
// notices silent dead links (no frame for a few seconds) that the browser would not report.
// It parses frames and hands them on; it knows nothing about audio or the page.

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
const STALL_MS = 5000; // the server sends 10 chunks per second; this much silence means a dead link
const HEADER_BYTES = 16; // binary audio frame: sequence u64 LE, timestamp u64 LE, then pcm16 (or Opus packets)

export class Connection {
  /**
   * @param {object} options
   * @param {number} options.channels 1 or 2
   * @param {'binary'|'json'|'opus'} options.encoding (opus: the payload after the header
   *   is the packets, which the owner decodes; see opus.js)
   * @param {string} [options.base] ws:// or wss:// origin; defaults to the page's own host
   */
  constructor({ channels = 2, encoding = 'binary', base } = {}) {
    this.channels = channels;
    this.encoding = encoding;
    this.base = base || `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;
    this.ws = null;
    this.wanted = false;
    this.attempt = 0;
    this.retryTimer = 0;
    this.stallTimer = 0;
    this.retryAt = 0;
    this.lastSeq = null; // highest sequence received, for ?resume=
    this.lastFrameAt = 0;
    this.freshConnection = false;
    this.state = 'idle'; // idle | connecting | open | waiting | offline
    this.reconnects = 0;
    this.bytesReceived = 0; // WebSocket payload bytes, all connections together
    this.lastCloseReason = '';
    // Callbacks, set by the owner.
    this.onAudio = () => {}; // (seq, timestampMs, buffer, byteOffset, channels, restarted)
    this.onMessage = () => {}; // (parsed JSON object)
    this.onState = () => {}; // (state, detail)
    this.onlineListener = () => this.connectSoon();
  }

  url() {
    const params = new URLSearchParams({ channels: String(this.channels), encoding: this.encoding });
    if (this.lastSeq !== null) params.set('resume', String(this.lastSeq));
    return `${this.base}/ws?${params}`;
  }

  /** Start from just after `seq` (a little history) instead of live. Call before start(). */
  resumeAfter(seq) {
    this.lastSeq = seq;
  }

  start() {
    if (this.wanted) return;
    this.wanted = true;
    window.addEventListener('online', this.onlineListener);
    this.open();
  }

  stop() {
    this.wanted = false;
    window.removeEventListener('online', this.onlineListener);
    clearTimeout(this.retryTimer);
    clearInterval(this.stallTimer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close(1000, 'listener stopped');
    }
    this.lastSeq = null;
    this.setState('idle');
  }

  /** A network came back: skip the rest of the wait. */
  connectSoon() {
    if (this.wanted && this.state === 'waiting') {
      clearTimeout(this.retryTimer);
      this.open();
    }
  }

  setState(state, detail = {}) {
    this.state = state;
    this.onState(state, detail);
  }

  open() {
    clearTimeout(this.retryTimer);
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (err) {
      this.scheduleRetry(String(err));
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.setState('connecting', { attempt: this.attempt });

    ws.onopen = () => {
      this.freshConnection = true;
      this.lastFrameAt = performance.now();
      this.setState('open', { resumed: this.lastSeq !== null });
      clearInterval(this.stallTimer);
      this.stallTimer = setInterval(() => {
        if (performance.now() - this.lastFrameAt > STALL_MS) this.abandon(ws, 'no data for 5 s');
      }, 1000);
    };
    ws.onmessage = (event) => {
      this.lastFrameAt = performance.now();
      this.bytesReceived += typeof event.data === 'string' ? event.data.length : event.data.byteLength;
      if (typeof event.data === 'string') this.handleText(event.data);
      else this.handleBinary(event.data);
    };
    ws.onerror = () => {
      /* onclose follows and carries the useful part */
    };
    ws.onclose = (event) => {
      clearInterval(this.stallTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      // 1006: no close frame at all (refused, reset, network gone); the status says "lost" already.
      this.lastCloseReason = event.reason || (event.code === 1006 ? '' : `closed with code ${event.code}`);
      if (this.wanted) this.scheduleRetry(this.lastCloseReason);
      else this.setState('idle');
    };
  }

  /**
   * Give up on a socket that looks dead without waiting for its close handshake, which on a
   * vanished network can take minutes.
   */
  abandon(ws, reason) {
    clearInterval(this.stallTimer);
    ws.onclose = null;
    ws.onmessage = null;
    ws.close(4000, reason);
    if (this.ws !== ws) return;
    this.ws = null;
    this.lastCloseReason = reason;
    if (this.wanted) this.scheduleRetry(reason);
  }

  scheduleRetry(reason) {
    const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5)); // ±25 % jitter spreads a crowd
    this.attempt++;
    this.reconnects++;
    this.retryAt = performance.now() + delay;
    this.setState(navigator.onLine === false ? 'offline' : 'waiting', { reason, delay, attempt: this.attempt });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  handleText(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'hello') this.attempt = 0; // a server that speaks is a success
    if (msg.type === 'audio') {
      this.handleJsonAudio(msg);
      return;
    }
    this.onMessage(msg);
  }

  handleJsonAudio(msg) {
    const binary = atob(msg.data || '');
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    this.deliver(Number(msg.sequence), Number(msg.timestamp) || 0, bytes.buffer, 0, msg.channels || this.channels);
  }

  handleBinary(buffer) {
    if (buffer.byteLength < HEADER_BYTES) return;
    const view = new DataView(buffer);
    const seq = Number(view.getBigUint64(0, true));
    const timestamp = Number(view.getBigUint64(8, true));
    this.deliver(seq, timestamp, buffer, HEADER_BYTES, this.channels);
  }

  deliver(seq, timestamp, buffer, offset, channels) {
    this.attempt = 0;
    // After a resume the server continues above lastSeq; anything at or below it on a fresh
    // connection means the daemon restarted and numbering began again.
    const restarted = this.freshConnection && this.lastSeq !== null && seq <= this.lastSeq;
    this.freshConnection = false;
    if (restarted || this.lastSeq === null || seq > this.lastSeq) this.lastSeq = seq;
    this.onAudio(seq, timestamp, buffer, offset, channels, restarted);
  }

  /** Send a JSON control message; false when not connected. */
  send(obj) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }
}
