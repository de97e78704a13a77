// visualizer.js — a quiet live picture of the sound: a log-frequency spectrum drawn as a soft
// glowing curve, with the waveform as a faint line over it. It draws at most 24 times a second
// and not at all while the page is hidden or nothing plays, to stay light on phones.

const FRAME_MS = 1000 / 24; // slow music needs no more; each frame is a software raster on many phones
const MIN_HZ = 40;
const MAX_HZ = 12000;
const POINTS = 96;

export class Visualizer {
  constructor(canvas, player) {
    this.canvas = canvas;
    this.player = player;
    this.g = canvas.getContext('2d');
    this.running = false;
    this.timer = 0;
    this.smooth = new Float32Array(POINTS);
    this.wavePeak = 0.1;
    this.raf = 0;
    this.resize = this.resize.bind(this);
    window.addEventListener('resize', this.resize);
    this.resize();
  }

  resize() {
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    const rect = this.canvas.getBoundingClientRect();
    this.canvas.width = Math.max(1, Math.round(rect.width * dpr));
    this.canvas.height = Math.max(1, Math.round(rect.height * dpr));
    this.drawFrame(false);
  }

  start() {
    if (this.running) return;
    this.running = true;
    // Ask for a frame only when one is due: a rAF request every display frame would keep the
    // compositor producing 60 frames a second even when most are skipped.
    const loop = () => {
      if (!this.running) return;
      this.drawFrame(true);
      this.timer = setTimeout(() => {
        this.raf = requestAnimationFrame(loop);
      }, FRAME_MS);
    };
    this.raf = requestAnimationFrame(loop);
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    cancelAnimationFrame(this.raf);
    this.smooth.fill(0);
    this.drawFrame(false);
  }

  drawFrame(live) {
    const { g, canvas } = this;
    const w = canvas.width;
    const h = canvas.height;
    g.clearRect(0, 0, w, h);

    const analyser = this.player.analyser;
    const values = this.smooth;
    if (live && analyser) {
      const bins = this.player.freqData;
      analyser.getByteFrequencyData(bins);
      const nyquist = analyser.context.sampleRate / 2;
      for (let p = 0; p < POINTS; p++) {
        const hz = MIN_HZ * (MAX_HZ / MIN_HZ) ** (p / (POINTS - 1));
        const idx = Math.min(bins.length - 1, Math.round((hz / nyquist) * bins.length));
        const v = bins[idx] / 255;
        values[p] += (v - values[p]) * 0.35;
      }
    }

    // Spectrum: a filled curve rising from the bottom, with a brighter edge.
    const baseline = h * 0.98;
    const height = h * 0.9;
    const grad = g.createLinearGradient(0, baseline - height, 0, baseline);
    grad.addColorStop(0, 'rgba(143, 214, 200, 0.5)');
    grad.addColorStop(0.6, 'rgba(127, 167, 224, 0.16)');
    grad.addColorStop(1, 'rgba(127, 167, 224, 0.02)');
    g.beginPath();
    g.moveTo(0, baseline);
    for (let p = 0; p < POINTS; p++) {
      const x = (p / (POINTS - 1)) * w;
      const y = baseline - values[p] ** 1.2 * height;
      if (p === 0) g.lineTo(x, y);
      else {
        const px = ((p - 1) / (POINTS - 1)) * w;
        const py = baseline - values[p - 1] ** 1.2 * height;
        g.quadraticCurveTo(px, py, (px + x) / 2, (py + y) / 2);
      }
    }
    g.lineTo(w, baseline);
    g.fillStyle = grad;
    g.fill();
    g.lineWidth = Math.max(1, w / 500);
    g.strokeStyle = 'rgba(143, 214, 200, 0.75)';
    g.stroke();

    // Waveform: a thin line through the middle.
    g.lineWidth = Math.max(1, w / 600);
    g.strokeStyle = 'rgba(230, 240, 255, 0.3)';
    g.beginPath();
    const data = this.player.timeData;
    if (live && analyser && data) {
      analyser.getFloatTimeDomainData(data);
      let peak = 0;
      for (let i = 0; i < data.length; i++) peak = Math.max(peak, Math.abs(data[i]));
      // A slow automatic gain keeps quiet passages visible without jumping about.
      this.wavePeak += (Math.max(peak, 0.02) - this.wavePeak) * (peak > this.wavePeak ? 0.3 : 0.02);
      const scale = (h * 0.22) / this.wavePeak;
      const step = Math.max(1, Math.floor(data.length / 160));
      for (let i = 0, k = 0; i < data.length; i += step, k++) {
        const x = (i / (data.length - 1)) * w;
        const y = h * 0.45 - data[i] * scale;
        if (k === 0) g.moveTo(x, y);
        else g.lineTo(x, y);
      }
    } else {
      g.moveTo(0, h * 0.45);
      g.lineTo(w, h * 0.45);
    }
    g.stroke();
  }
}
