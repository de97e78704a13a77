// opus.js — decodes /ws?encoding=opus frames with WebCodecs' AudioDecoder into the pcm16
// chunks the jitter buffer plays (48 kHz stereo, 4,800 frames per 100 ms chunk); where
// WebCodecs cannot, opus-wasm.js does the same with libopus in WebAssembly.
//
// A frame is: sequence u64 LE, timestamp u64 LE (the connection reads those), then a packet
// count (u8) and each 20 ms Opus packet as its length (u16 LE) and its bytes. The decoder
// keeps its state from chunk to chunk, so seams are as the encoder made them; outputs come
// back in order, so each chunk is complete after its packets' outputs.

export const RATE = 48000;
export const CHANNELS = 2;
const CONFIG = { codec: 'opus', sampleRate: RATE, numberOfChannels: CHANNELS };

/** Whether this browser's WebCodecs decode the stream. */
export async function webCodecsOpus() {
  if (typeof AudioDecoder === 'undefined' || typeof EncodedAudioChunk === 'undefined') return false;
  try {
    return (await AudioDecoder.isConfigSupported(CONFIG)).supported === true;
  } catch {
    return false;
  }
}

/**
 * Which decoder plays Opus here: 'webcodecs', else 'wasm' (WebAssembly), else null (PCM).
 * `asked` ('webcodecs' | 'wasm', from ?opus=) forces one where the browser has it.
 */
export async function opusDecoderKind(asked = null) {
  const wasm = typeof WebAssembly === 'object' && typeof WebAssembly.instantiate === 'function';
  if (asked === 'wasm') return wasm ? 'wasm' : null;
  if (await webCodecsOpus()) return 'webcodecs';
  return asked === 'webcodecs' || !wasm ? null : 'wasm';
}

/** One frame's Opus packets (views into `buffer`), or null if the frame is cut short or empty. */
export function packetsOf(buffer, offset) {
  const view = new DataView(buffer);
  if (buffer.byteLength < offset + 1) return null;
  const count = view.getUint8(offset);
  let at = offset + 1;
  const packets = [];
  for (let i = 0; i < count; i++) {
    if (at + 2 > buffer.byteLength) return null;
    const len = view.getUint16(at, true);
    if (at + 2 + len > buffer.byteLength) return null;
    packets.push(new Uint8Array(buffer, at + 2, len));
    at += 2 + len;
  }
  return packets.length ? packets : null;
}

/** Writes `frames` frames of float `planes` into interleaved pcm16 `out` from frame `from`. */
export function planesToPcm16(planes, frames, out, from = 0) {
  let at = from * CHANNELS;
  for (let i = 0; i < frames && at + 1 < out.length; i++) {
    for (let c = 0; c < CHANNELS; c++) {
      const s = Math.max(-1, Math.min(1, planes[Math.min(c, planes.length - 1)][i]));
      out[at++] = s < 0 ? s * 32768 : s * 32767;
    }
  }
}

export class OpusChunkDecoder {
  /** @param {(seq:number, timestamp:number, pcm:ArrayBuffer) => void} onChunk */
  constructor(onChunk) {
    this.onChunk = onChunk;
    this.pending = []; // chunks waiting for their packets' outputs, in order
    this.errors = 0;
    this.kind = 'webcodecs';
    this.decoder = null;
    this.open();
  }

  open() {
    this.decoder = new AudioDecoder({
      output: (data) => this.output(data),
      error: () => {
        // A broken decoder: start a new one (the next chunks play; the lost ones are a gap).
        this.errors++;
        this.pending = [];
        this.open();
      },
    });
    this.decoder.configure(CONFIG);
  }

  /** Queue one frame's packets; `offset` is where the packet count is. */
  decode(seq, timestamp, buffer, offset) {
    const packets = packetsOf(buffer, offset);
    if (!packets || this.decoder.state !== 'configured') return;
    const chunk = { seq, timestamp, packets: packets.length, done: 0, frames: 0, pcm: null };
    this.pending.push(chunk);
    packets.forEach((data, i) => {
      // Timestamps in µs: 20 ms per packet, from the chunk's sequence (100 ms per chunk).
      this.decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: (seq * 100 + i * 20) * 1000, data }));
    });
  }

  output(data) {
    const chunk = this.pending[0];
    if (!chunk) {
      data.close();
      return;
    }
    const frames = data.numberOfFrames;
    if (!chunk.pcm) chunk.pcm = new Int16Array(frames * chunk.packets * CHANNELS);
    const planes = [];
    for (let c = 0; c < CHANNELS; c++) {
      const plane = new Float32Array(frames);
      data.copyTo(plane, { planeIndex: data.numberOfChannels > 1 ? c : 0, format: 'f32-planar' });
      planes.push(plane);
    }
    data.close();
    const out = chunk.pcm;
    planesToPcm16(planes, frames, out, chunk.frames);
    chunk.frames += frames;
    chunk.done++;
    if (chunk.done === chunk.packets) {
      this.pending.shift();
      this.onChunk(chunk.seq, chunk.timestamp, out.buffer);
    }
  }

  /** Forget queued chunks and the decoder's state (a restarted stream). */
  reset() {
    this.pending = [];
    try {
      this.decoder.reset();
      this.decoder.configure(CONFIG);
    } catch {
      this.open();
    }
  }

  close() {
    this.pending = [];
    try {
      this.decoder.close();
    } catch {
      /* already closed */
    }
  }
}
