// Progress of lessons and courses (CONTRACT 8.3): reading a lesson's progress, writing it (also
// while the page goes away), marking by hand, and the words and bars that show it.

import { put, session, token } from './api.js';
import { h } from './dom.js';
import { duration } from './format.js';

// Jellyfin's rules: under 5% is not worth resuming; from 90% on the lesson counts as watched.
export const RESUME_FROM = 0.05;
export const WATCHED_AT = 0.9;

export const progressUrl = (itemId) => `/api/progress/${encodeURIComponent(itemId)}`;

// Where to start a lesson: its saved position when that is worth resuming, else the beginning.
export function resumePoint(progress, length) {
  if (!progress || progress.watched) return 0;
  const at = Number(progress.position_s) || 0;
  const total = Number(length || progress.duration_s) || 0;
  if (!total || at < total * RESUME_FROM || at >= total * WATCHED_AT) return 0;
  return at;
}

// Not resumed nor watched, in progress, or watched.
export function stateOf(progress) {
  if (!progress) return 'new';
  if (progress.watched) return 'watched';
  return Number(progress.position_s) > 0 ? 'in_progress' : 'new';
}

// Writes still on their way: a view that shows progress waits for them, so it never shows a
// position older than the one just left behind.
const pending = new Set();

function tracked(promise) {
  pending.add(promise);
  const done = () => pending.delete(promise);
  promise.then(done, done);
  return promise;
}

export function progressSettled() {
  return Promise.allSettled([...pending]);
}

export function saveProgress(itemId, body, options = {}) {
  return tracked(put(progressUrl(itemId), body, { quiet: true, ...options }));
}

// A write that outlives the page (pagehide, a closed tab): fetch with keepalive, which, unlike
// sendBeacon, can send PUT with the CSRF header of a signed-in person (or the admin token).
export function saveOnLeaving(itemId, body) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const stored = token.get();
  if (stored) headers.Authorization = `Bearer ${stored}`;
  if (session.csrf) headers['X-CSRF-Token'] = session.csrf;
  return tracked(fetch(progressUrl(itemId), {
    method: 'PUT', headers, body: JSON.stringify(body), keepalive: true, credentials: 'same-origin',
  }).catch(() => null)); // the page is going; nobody is left to tell
}

export function markWatched(itemId, watched, options = {}) {
  return tracked(put(progressUrl(itemId), { watched }, options));
}

// A thin bar of how far a lesson got (or a course, with `percent`), with words for screen readers.
export function positionBar(position, length, label = 'Watched') {
  const total = Number(length) || 0;
  const value = total ? Math.max(0, Math.min(total, Number(position) || 0)) : 0;
  const bar = h('progress', { class: 'position-bar', max: total || 1, value });
  bar.setAttribute('aria-label', label);
  bar.setAttribute('aria-valuetext', total ? `${duration(value)} of ${duration(total)}` : 'not started');
  return bar;
}

export function completionBar(progress) {
  const percent = Math.round(Number(progress?.percent) || 0);
  const bar = h('progress', { class: 'completion-bar', max: 100, value: percent });
  const watched = progress?.watched ?? 0;
  const total = progress?.total ?? 0;
  const words = total && watched >= total ? 'Completed' : `${watched} of ${total} watched`;
  bar.setAttribute('aria-label', `Course completion: ${words}`);
  return h('span', { class: 'completion' }, bar, h('span', { class: 'completion-text' }, `${percent}% · ${words}`));
}

// "3:12 left", for a lesson in progress.
export function timeLeft(position, length) {
  const total = Number(length) || 0;
  if (!total) return '';
  return `${duration(Math.max(0, total - (Number(position) || 0)))} left`;
}
