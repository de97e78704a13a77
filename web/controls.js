// controls.js — the key, tempo and intensity controls (shown only when the daemon allows web
// control): the key list, keeping the controls in step with the daemon's params without
// fighting the listener's hand, and what a change sends.

const TONICS = ['C', 'C#', 'Db', 'D', 'Eb', 'E', 'F', 'F#', 'Gb', 'G', 'Ab', 'A', 'Bb', 'B'];
const MODES = ['minor', 'major'];

/** Intensity as the page shows and sends it (two decimals), or a dash. */
export function fmtIntensity(v) {
  const n = Number(v);
  return Number.isFinite(n) ? n.toFixed(2) : '—';
}

export class Controls {
  /**
   * @param {object} ui the page's elements (controls, ctlKey, ctlBpm, ctlBpmOut, ctlIntensity,
   *   ctlIntensityOut, ctlError)
   * @param {(param: string, value: string) => void} send sends one `set`
   */
  constructor(ui, send) {
    this.ui = ui;
    for (const mode of MODES) {
      for (const tonic of TONICS) {
        const opt = document.createElement('option');
        opt.value = `${tonic} ${mode}`;
        opt.textContent = `${tonic.replace('#', '♯').replace(/^([A-G])b$/, '$1♭')} ${mode}`;
        ui.ctlKey.append(opt);
      }
    }
    ui.ctlKey.addEventListener('change', () => send('key', ui.ctlKey.value));
    ui.ctlBpm.addEventListener('input', () => (ui.ctlBpmOut.textContent = ui.ctlBpm.value));
    ui.ctlBpm.addEventListener('change', () => send('bpm', ui.ctlBpm.value));
    ui.ctlIntensity.addEventListener('input', () => (ui.ctlIntensityOut.textContent = fmtIntensity(ui.ctlIntensity.value)));
    ui.ctlIntensity.addEventListener('change', () => send('intensity', fmtIntensity(ui.ctlIntensity.value)));
  }

  get visible() {
    return !this.ui.controls.hidden;
  }

  show(visible) {
    this.ui.controls.hidden = !visible;
  }

  /** Shows `params`, except in a control the listener is using. */
  sync(params) {
    const ui = this.ui;
    if (params.key && document.activeElement !== ui.ctlKey) {
      if (![...ui.ctlKey.options].some((o) => o.value === params.key)) {
        const opt = document.createElement('option');
        opt.value = params.key;
        opt.textContent = params.key;
        ui.ctlKey.prepend(opt);
      }
      ui.ctlKey.value = params.key;
    }
    if (params.bpm !== undefined && document.activeElement !== ui.ctlBpm) {
      ui.ctlBpm.value = params.bpm;
      ui.ctlBpmOut.textContent = String(params.bpm);
    }
    if (params.intensity !== undefined && document.activeElement !== ui.ctlIntensity) {
      ui.ctlIntensity.value = params.intensity;
      ui.ctlIntensityOut.textContent = fmtIntensity(params.intensity);
    }
  }
}
