// Where a lesson is: resumed at its saved position, then written about every 10 s while it plays,
// on pause, after a seek while paused, and when the person leaves (another view, a hidden or
// closed tab).

import { resumePoint, saveOnLeaving, saveProgress } from '../progress.js';

const EVERY_MS = 10_000;
const round = (seconds) => Math.round(seconds * 10) / 10;

function bodyOf(video) {
  const body = { position_s: round(video.currentTime) };
  if (Number.isFinite(video.duration) && video.duration > 0) body.duration_s = round(video.duration);
  return body;
}

// `progress`: the saved progress (or null); `onSaved(answer)` gets each PUT's answer;
// `onResumed(seconds)` is called once the position is restored (0: from the start).
export function trackProgress(video, itemId, { progress, signal, onSaved, onResumed }) {
  let ready = false; // nothing is written before the saved position is restored
  let lastSent = null;
  let timer = null;
  const changed = () => ready && (lastSent === null || Math.abs(video.currentTime - lastSent) >= 0.5);

  async function save() {
    if (!changed()) return;
    lastSent = video.currentTime;
    try {
      const answer = await saveProgress(itemId, bodyOf(video));
      if (onSaved && !signal.aborted) onSaved(answer);
    } catch (error) {
      lastSent = null; // try again at the next chance
      if (error.name !== 'AbortError' && error.status === 404) stop();
    }
  }

  function leave() {
    if (!changed()) return;
    lastSent = video.currentTime;
    saveOnLeaving(itemId, bodyOf(video));
  }

  function resume() {
    const at = resumePoint(progress, video.duration);
    if (at > 0) video.currentTime = at;
    lastSent = at;
    ready = true;
    if (onResumed) onResumed(at);
  }

  const tick = () => { if (!video.paused) save(); };
  const start = () => { clearInterval(timer); timer = setInterval(tick, EVERY_MS); };
  function stop() { clearInterval(timer); timer = null; }
  const hidden = () => { if (document.visibilityState === 'hidden') leave(); };

  const on = { signal };
  if (video.readyState >= 1) resume();
  else video.addEventListener('loadedmetadata', resume, { once: true, signal });
  video.addEventListener('play', start, on);
  video.addEventListener('pause', () => { stop(); save(); }, on);
  video.addEventListener('seeked', () => { if (video.paused) save(); }, on);
  video.addEventListener('ended', () => { stop(); save(); }, on);
  document.addEventListener('visibilitychange', hidden, on);
  window.addEventListener('pagehide', leave, on);
  signal.addEventListener('abort', () => { stop(); leave(); }, { once: true });
  return { save };
}
