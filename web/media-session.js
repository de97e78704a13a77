// media-session.js — what the lock screen and the media keys show and do (Media Session API,
// where the browser has it): the key and tempo as the title, play / pause / stop as actions.

import { fmtIntensity } from './controls.js';

/** Shows `params` (key, bpm, intensity) as what is playing. */
export function showOnLockScreen(params) {
  if (!('mediaSession' in navigator) || typeof MediaMetadata === 'undefined') return;
  navigator.mediaSession.metadata = new MediaMetadata({
    title: params.key ? `Ambient in ${params.key}` : 'Ambient',
    artist: 'ambientd',
    album: params.bpm ? `${params.bpm} bpm · intensity ${fmtIntensity(params.intensity)}` : 'Endless ambient music',
  });
}

/** Wires the media keys to `handlers` ({ play, pause, stop }) and says whether it is playing. */
export function setupMediaSession(handlers, params) {
  if (!('mediaSession' in navigator)) return;
  showOnLockScreen(params);
  for (const [action, handler] of Object.entries(handlers)) {
    try {
      navigator.mediaSession.setActionHandler(action, () => handler());
    } catch {
      /* action not supported by this browser */
    }
  }
}

/** Tells the lock screen whether the page is playing. */
export function setPlaybackState(playing) {
  if ('mediaSession' in navigator) navigator.mediaSession.playbackState = playing ? 'playing' : 'paused';
}
