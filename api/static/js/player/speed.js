// Playback speed: a menu beside the video, remembered in this browser (localStorage) for every
// lesson, whichever control changed it (this menu, the video's own menu, a shortcut).

import { h } from '../dom.js';

const KEY = 'aula.speed';
export const RATES = [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2];
const sane = (rate) => Number.isFinite(rate) && rate >= 0.25 && rate <= 4;

export function storedSpeed() {
  let rate = NaN;
  try { rate = Number(localStorage.getItem(KEY)); } catch { /* storage refused: 1× */ }
  return sane(rate) && rate > 0 ? rate : 1;
}

function remember(rate) {
  try { localStorage.setItem(KEY, String(rate)); } catch { /* private mode: this lesson only */ }
}

export function setSpeed(video, rate) {
  if (!sane(rate)) return;
  video.playbackRate = rate;
  video.defaultPlaybackRate = rate; // a new source starts at this rate, not at 1×
}

// One step up or down the menu's rates (the > and < shortcuts).
export function stepSpeed(video, direction) {
  const current = video.playbackRate;
  const up = RATES.find((rate) => rate > current + 1e-9);
  const down = [...RATES].reverse().find((rate) => rate < current - 1e-9);
  const to = direction > 0 ? (up ?? RATES[RATES.length - 1]) : (down ?? RATES[0]);
  setSpeed(video, to);
  return to;
}

const label = (rate) => `${rate}×`;

export function speedControl(video, signal) {
  const select = h('select', { name: 'speed', class: 'speed' },
    RATES.map((rate) => h('option', { value: String(rate) }, label(rate))));
  const show = (rate) => {
    if (![...select.options].some((o) => Number(o.value) === rate)) {
      select.append(h('option', { value: String(rate) }, label(rate)));
    }
    select.value = String([...select.options].find((o) => Number(o.value) === rate).value);
  };
  select.addEventListener('change', () => setSpeed(video, Number(select.value)), { signal });
  video.addEventListener('ratechange', () => {
    const rate = video.playbackRate;
    if (!sane(rate)) return;
    if (video.defaultPlaybackRate !== rate) video.defaultPlaybackRate = rate;
    remember(rate);
    show(rate);
  }, { signal });
  const rate = storedSpeed();
  setSpeed(video, rate);
  show(rate);
  return h('label', { class: 'speed-field' }, h('span', {}, 'Speed'), select);
}
