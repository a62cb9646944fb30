// What the player adds around its <video>: subtitle <track>s with a language menu, chapters as
// marks on a seek strip and as a list, and a start time from the address (#/player/7?t=42).
// player.js calls enhancePlayer(slot, item) once its <video> is in the slot.

import { h } from '../dom.js';
import { duration } from '../format.js';

// The second to start at: `?t=` in the hash (what a search hit links to), else null.
export function startTime(hash = location.hash) {
  const found = /[?&]t=(\d+(?:\.\d+)?)/.exec(hash);
  return found ? Number(found[1]) : null;
}

// The player's address at `seconds` into an item.
export function playerHref(itemId, seconds) {
  return seconds ? `#/player/${itemId}?t=${Math.floor(seconds * 1000) / 1000}` : `#/player/${itemId}`;
}

function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const hms = [Math.floor(whole / 3600), Math.floor(whole / 60) % 60, whole % 60];
  const text = hms.map((n) => String(n).padStart(2, '0')).join(':');
  return hms[0] ? text : text.slice(3);
}

// The track to show first: one in the browser's language, else none (a person turns one on).
function preferred(subtitles) {
  const wanted = (navigator.language || 'en').toLowerCase();
  const base = wanted.split('-')[0];
  const exact = subtitles.findIndex((s) => s.language.toLowerCase() === wanted);
  return exact >= 0 ? exact : subtitles.findIndex((s) => s.language.toLowerCase().split('-')[0] === base);
}

function addTracks(video, subtitles) {
  const first = preferred(subtitles);
  subtitles.forEach((s, index) => {
    video.append(h('track', { kind: 'subtitles', src: s.url, srclang: s.language, label: s.label,
      'data-subtitle-id': s.id, default: index === first }));
  });
  const menu = h('select', { class: 'subtitle-menu', name: 'subtitles', 'aria-label': 'Subtitles' },
    h('option', { value: '' }, 'Subtitles off'),
    subtitles.map((s, index) => h('option', { value: String(index), selected: index === first }, s.label)));
  const choose = (chosen) => {
    Array.from(video.textTracks).forEach((track, index) => {
      track.mode = index === chosen ? 'showing' : 'disabled';
    });
  };
  menu.addEventListener('change', () => choose(menu.value === '' ? -1 : Number(menu.value)));
  // A <track> marked default shows once loaded; the menu stays the one source of truth.
  video.addEventListener('loadedmetadata', () => choose(menu.value === '' ? -1 : Number(menu.value)),
    { once: true });
  return h('label', { class: 'subtitle-choice' }, 'Subtitles ', menu);
}

function chapterStrip(video, chapters, total) {
  const strip = h('div', { class: 'chapter-strip', role: 'group', 'aria-label': 'Chapters on the timeline' });
  const played = h('span', { class: 'chapter-played', 'aria-hidden': 'true' });
  strip.append(played);
  const length = () => (Number.isFinite(video.duration) && video.duration > 0 ? video.duration : total);
  const place = () => {
    const whole = length();
    for (const mark of strip.querySelectorAll('.chapter-mark')) {
      mark.style.left = whole ? `${Math.min(100, (Number(mark.dataset.start) / whole) * 100)}%` : '0';
    }
    played.style.width = whole ? `${Math.min(100, (video.currentTime / whole) * 100)}%` : '0';
  };
  for (const chapter of chapters) {
    strip.append(h('button', { type: 'button', class: 'chapter-mark', 'data-start': chapter.start_s,
      title: `${clock(chapter.start_s)} ${chapter.title}`, 'aria-label': `Chapter: ${chapter.title}`,
      onclick: () => { video.currentTime = chapter.start_s; } }));
  }
  video.addEventListener('timeupdate', place);
  video.addEventListener('loadedmetadata', place);
  place();
  return strip;
}

function chapterList(video, chapters) {
  return h('ol', { class: 'chapter-list', 'aria-label': 'Chapters' }, chapters.map((chapter) =>
    h('li', {}, h('button', { type: 'button', class: 'chapter-jump', onclick: () => {
      video.currentTime = chapter.start_s;
      video.play().catch(() => {});
    } }, h('span', { class: 'chapter-time' }, clock(chapter.start_s)), ' ', chapter.title))));
}

function seekOnLoad(video, seconds) {
  if (seconds === null) return;
  const go = () => { video.currentTime = seconds; };
  if (video.readyState >= 1) go();
  else video.addEventListener('loadedmetadata', go, { once: true });
}

// Tracks, chapters and the start time for the <video> in `slot`; nothing when there is none.
export function enhancePlayer(slot, item) {
  const video = slot.querySelector('video');
  if (!video) return;
  const extras = [];
  const subtitles = item.subtitles || [];
  if (subtitles.length) extras.push(addTracks(video, subtitles));
  const chapters = item.chapters || [];
  if (chapters.length) {
    extras.push(chapterStrip(video, chapters, item.duration_s || 0),
      h('details', { class: 'chapters', open: true }, h('summary', {}, `Chapters (${chapters.length}) · ${duration(item.duration_s)}`),
        chapterList(video, chapters)));
  }
  if (extras.length) slot.append(h('div', { class: 'player-tracks' }, extras));
  seekOnLoad(video, startTime());
}
