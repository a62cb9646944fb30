// Keyboard shortcuts of the player, as on the usual video sites: space or k play/pause, j and l
// 10 s back and ahead, the left and right arrows 5 s, up and down the volume, f full screen, m
// mute, < and > the speed. Never while typing in a field, nor with Ctrl, Alt or Meta held.

import { h } from '../dom.js';
import { stepSpeed } from './speed.js';

const TYPING = 'input, textarea, select, [contenteditable]:not([contenteditable="false"])';
// Space and Enter activate these themselves; the shortcut must not do it a second time.
const ACTIVATES = 'button, a[href], summary, [role="button"]';

export const SHORTCUTS = [
  ['Space or K', 'Play or pause'], ['J / L', '10 seconds back / ahead'], ['← / →', '5 seconds back / ahead'],
  ['↑ / ↓', 'Volume up / down'], ['F', 'Full screen'], ['M', 'Mute'], ['< / >', 'Slower / faster'],
];

function seek(video, by) {
  const end = Number.isFinite(video.duration) ? video.duration : Infinity;
  video.currentTime = Math.max(0, Math.min(end, video.currentTime + by));
  return `${by > 0 ? '+' : '−'}${Math.abs(by)} s`;
}

function volume(video, by) {
  video.muted = false;
  video.volume = Math.max(0, Math.min(1, Math.round((video.volume + by) * 20) / 20));
  return `Volume ${Math.round(video.volume * 100)}%`;
}

function togglePlay(video) {
  if (video.paused || video.ended) {
    video.play().catch(() => {}); // a refusal shows in the video's own error message
    return 'Play';
  }
  video.pause();
  return 'Pause';
}

export function toggleFullscreen(box) {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else box.requestFullscreen().catch(() => {});
  return null;
}

const ACTIONS = {
  ' ': togglePlay, k: togglePlay,
  j: (v) => seek(v, -10), l: (v) => seek(v, 10),
  ArrowLeft: (v) => seek(v, -5), ArrowRight: (v) => seek(v, 5),
  ArrowUp: (v) => volume(v, 0.05), ArrowDown: (v) => volume(v, -0.05),
  m: (v) => { v.muted = !v.muted; return v.muted ? 'Muted' : 'Sound on'; },
  '>': (v) => `${stepSpeed(v, 1)}×`, '<': (v) => `${stepSpeed(v, -1)}×`,
  f: (v, box) => toggleFullscreen(box),
};

function actionFor(event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return null;
  const target = event.target instanceof Element ? event.target : null;
  if (target && target.closest(TYPING)) return null;
  if (target && (event.key === ' ' || event.key === 'Enter') && target.closest(ACTIVATES)) return null;
  const key = event.key.length === 1 && event.key !== ' ' ? event.key.toLowerCase() : event.key;
  return ACTIONS[event.key] || ACTIONS[key] || null;
}

// `box`: what goes full screen (the video with its overlays); `onDone(text)` shows what happened.
export function playerShortcuts(video, box, { signal, onDone }) {
  window.addEventListener('keydown', (event) => {
    const action = actionFor(event);
    if (!action) return;
    event.preventDefault(); // no page scroll, no second handling by the video's own controls
    const said = action(video, box);
    if (said && onDone) onDone(said);
  }, { capture: true, signal });
}

export function shortcutsHelp() {
  return h('details', { class: 'shortcuts' }, h('summary', {}, 'Keyboard shortcuts'),
    h('dl', {}, SHORTCUTS.flatMap(([keys, what]) => [h('dt', {}, h('kbd', {}, keys)), h('dd', {}, what)])));
}
