// opus-wasm.js — the fallback where WebCodecs cannot decode Opus (Safari before 26, Firefox
// before 130, some embedded browsers): the same /ws?encoding=opus frames decoded by libopus in
// WebAssembly, the `opus-decoder` npm package (MIT, vendored as opus-decoder.min.js and
// fetched only when this decoder is made), into the same pcm16 chunks as opus.js.

import { CHANNELS, RATE, packetsOf, planesToPcm16 } from './opus.js';

const SCRIPT = '/opus-decoder.min.js';
// Chunks kept while the WebAssembly compiles (well under a second); beyond that, the oldest go.
const MAX_WAITING = 20;

let loaded = null;

/** Loads the vendored decoder once (a classic script: it defines globalThis['opus-decoder']). */
function loadDecoderScript() {
  loaded ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = SCRIPT;
    script.onload = () => resolve(globalThis['opus-decoder']);
    script.onerror = () => {
      loaded = null;
      reject(new Error(`cannot load ${SCRIPT}`));
    };
    document.head.append(script);
  });
  return loaded;
}

export class WasmOpusChunkDecoder {
  /** @param {(seq:number, timestamp:number, pcm:ArrayBuffer) => void} onChunk */
  constructor(onChunk) {
    this.onChunk = onChunk;
    this.errors = 0;
    this.kind = 'wasm';
    this.decoder = null;
    this.waiting = []; // [seq, timestamp, packets] that came before the decoder was ready
    this.closed = false;
    this.ready = this.open();
  }

  async open() {
    try {
      const { OpusDecoder } = await loadDecoderScript();
      const decoder = new OpusDecoder({ channels: CHANNELS, sampleRate: RATE });
      await decoder.ready;
      if (this.closed) {
        decoder.free();
        return;
      }
      this.decoder = decoder;
      for (const [seq, timestamp, packets] of this.waiting.splice(0)) this.decodeNow(seq, timestamp, packets);
    } catch (err) {
      this.errors++;
      this.failure = String(err.message || err);
    }
  }

  /** Decode one frame's packets; `offset` is where the packet count is. */
  decode(seq, timestamp, buffer, offset) {
    const packets = packetsOf(buffer, offset);
    if (!packets || this.closed) return;
    if (!this.decoder) {
      // Copies: the frame's buffer is not ours to keep.
      this.waiting.push([seq, timestamp, packets.map((p) => p.slice())]);
      if (this.waiting.length > MAX_WAITING) this.waiting.shift();
      return;
    }
    this.decodeNow(seq, timestamp, packets);
  }

  decodeNow(seq, timestamp, packets) {
    const { channelData, samplesDecoded, errors } = this.decoder.decodeFrames(packets);
    this.errors += errors?.length ?? 0;
    if (!samplesDecoded) return;
    const pcm = new Int16Array(samplesDecoded * CHANNELS);
    planesToPcm16(channelData, samplesDecoded, pcm);
    this.onChunk(seq, timestamp, pcm.buffer);
  }

  /** Forget waiting chunks and the decoder's state (a restarted stream). */
  reset() {
    this.waiting = [];
    this.decoder?.reset();
  }

  close() {
    this.closed = true;
    this.waiting = [];
    this.decoder?.free();
    this.decoder = null;
  }
}
