// The player: a <video> on the item's stream (or its finished download), details, and the actions
// that make sense for the item: Play and the file always when it plays; Download only when there
// is something to fetch (never for a local file, which is one already, or a finished download).
// As a lesson of a course (#/player/<id>?course=<course id>): it resumes where the person stopped,
// keeps the position, marks the lesson watched, and plays the next lesson after a countdown.
// Speed and keyboard shortcuts work everywhere. Each part is one function of its own below (and
// in js/player/), so subtitles, chapters or a conversion state slot in beside them.

import { get, post, query } from '../api.js';
import { notify } from '../notify.js';
import { append, h, progressBar } from '../dom.js';
import { poll } from '../poller.js';
import { bytes, duration, SOURCE_NAMES, when } from '../format.js';
import { convertGate } from './convert.js';
import {
  courseHash, getCourse, lessonHash, lessonsInOrder, nextLesson, previousLesson, rememberCourse,
} from '../courses.js';
import { markWatched } from '../progress.js';
import { playerShortcuts, shortcutsHelp } from '../player/keys.js';
import { speedControl } from '../player/speed.js';
import { trackProgress } from '../player/tracker.js';
import { courseDone, upNext } from '../player/upnext.js';
import { enhancePlayer } from './tracks.js';

// A finished download's URL: the signed `file.url` when the API gives one, else the plain route.
export function fileUrl(download) {
  return download?.file?.url || download?.file_url || `/api/downloads/${download.id}/file`;
}

function video(src, title) {
  const message = h('p', { class: 'media-error', role: 'alert', hidden: true });
  const el = h('video', { controls: true, preload: 'metadata', src, 'aria-label': title });
  el.addEventListener('error', () => {
    const code = el.error ? el.error.code : '?';
    message.textContent = `The video could not be played (media error ${code}). Try downloading it.`;
    message.hidden = false;
  });
  const osd = h('div', { class: 'osd', 'aria-hidden': 'true' });
  return h('div', { class: 'video-wrap' }, h('div', { class: 'video-box' }, el, osd), message);
}

// A word over the video for a moment: what a shortcut did.
function flash(wrap, text) {
  const osd = wrap.querySelector('.osd');
  if (!osd) return;
  osd.textContent = text;
  osd.classList.remove('shown');
  void osd.offsetWidth; // restart the fade
  osd.classList.add('shown');
}

function details(rows) {
  return h('dl', { class: 'details' },
    rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

function playableSrc(item) {
  if (item.stream_url) return item.playback_url || item.stream_url;
  const download = item.download;
  return download && download.state === 'succeeded' ? fileUrl(download) : null;
}

// Files of this server already: a local file, or (another source) an item made from a download.
const FILE_SOURCES = ['local', 'download'];

// Whether POST /api/downloads {item_id} has anything to fetch for `item` (the server answers 409
// for a local file and for an item without a link).
export function canDownload(item) {
  if (FILE_SOURCES.includes(item.source)) return false;
  return item.source === 'drive' || Boolean(item.stream_url || item.url);
}

// The link to save the item's bytes: its finished download, or the file itself.
function fileLink(item, download) {
  const done = download?.state === 'succeeded';
  const href = done ? fileUrl(download) : FILE_SOURCES.includes(item.source) && item.stream_url;
  return href ? h('a', { class: 'button-link', href, download: '' }, 'Save the file') : null;
}

function downloadArea(item, signal, onPlayable, play) {
  const status = h('p', { class: 'download-state' });
  const bar = progressBar('Download progress');
  bar.hidden = true;
  const button = h('button', { type: 'button', class: 'admin-only' }, 'Download');
  const playButton = h('button', { type: 'button', onclick: play }, 'Play');
  const fileSlot = h('span', { class: 'file-slot' });
  let watching = false;

  function show(download) {
    const done = download?.state === 'succeeded';
    const active = ['queued', 'running'].includes(download?.state);
    playButton.hidden = !playableSrc({ ...item, download });
    fileSlot.replaceChildren(...[fileLink(item, download)].filter(Boolean));
    button.hidden = !canDownload(item) || done;
    button.disabled = active;
    if (!download) return;
    status.textContent = `Download #${download.id}: ${download.state}`;
    bar.hidden = !['queued', 'running', 'succeeded'].includes(download.state);
    bar.update(done ? 100 : download.percent ?? download.progress?.percent ?? null);
  }

  function watch() {
    if (watching) return;
    watching = true;
    const poller = poll(async () => {
      const fresh = await get(`/api/catalog/items/${item.id}`, { signal });
      show(fresh.download);
      const state = fresh.download?.state;
      if (state === 'succeeded') onPlayable(fresh);
      if (!['queued', 'running'].includes(state)) poller.stop();
    }, { interval: 1000, hiddenInterval: 10000, signal });
  }

  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const created = await post('/api/downloads', { item_id: item.id }, { signal });
      notify(`Download #${created.download.id} is ${created.download.state}.`);
      show(created.download);
      watch();
    } catch {
      button.disabled = false; // announced by the API client; the person may try again
    }
  });
  show(item.download);
  if (['queued', 'running'].includes(item.download?.state)) watch();
  const area = h('div', { class: 'download-area' }, playButton, fileSlot, button, status, bar);
  area.playButton = playButton;
  return area;
}

// The Play button says what it will do, whichever control started or paused the video.
function followVideo(slot, playButton) {
  const el = slot.querySelector('video');
  if (!el) return;
  const label = () => { playButton.textContent = el.paused ? 'Play' : 'Pause'; };
  for (const name of ['play', 'pause', 'ended', 'emptied']) el.addEventListener(name, label);
}

// The lesson's course (when the address names one) and its place in it.
async function courseContext(item, params, signal) {
  const courseId = params.get('course');
  if (!courseId) return null;
  let course;
  try {
    course = await getCourse(courseId, { signal, quiet: true });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    return null; // a course gone or hidden: the lesson still plays on its own
  }
  const lessons = lessonsInOrder(course);
  const lesson = lessons.find((l) => String(l.id) === String(item.id)) || null;
  if (lesson) rememberCourse(item.id, course.id);
  return { course, lesson, lessons, next: nextLesson(course, item.id), previous: previousLesson(course, item.id) };
}

// The saved progress: from the course page's lesson, from the item, else from the person's list.
async function savedProgress(item, context, signal) {
  if (context?.lesson) return context.lesson.progress || null;
  if (item.progress !== undefined) return item.progress;
  try {
    const page = await get(query('/api/progress', { state: 'in_progress', limit: 200 }), { signal, quiet: true });
    return (page.items || []).find((entry) => String(entry.item_id) === String(item.id)) || null;
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    return null;
  }
}

// "Mark watched" / "Mark unwatched", and the badge beside the title; `set(watched)` follows saves.
function watchedControls(item, progress, signal) {
  const badge = h('span', { class: 'watched-badge' }, '✓ Watched');
  const button = h('button', { type: 'button', class: 'ghost' });
  let watched = false;
  const set = (value) => {
    watched = Boolean(value);
    badge.hidden = !watched;
    button.textContent = watched ? 'Mark unwatched' : 'Mark watched';
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      set((await markWatched(item.id, !watched, { signal })).watched);
    } catch { /* announced by the API client */ }
    button.disabled = false;
  });
  set(progress?.watched);
  return { badge, button, set };
}

// Where the lesson sits in its course, and the way to the lessons around it.
function lessonLine(context) {
  if (!context?.lesson) return null;
  const { lesson, lessons } = context;
  const place = lessons.indexOf(lesson) + 1;
  const section = lesson.section?.title;
  return h('p', { class: 'lesson-line' }, [section, `Lesson ${place} of ${lessons.length}`].filter(Boolean).join(' · '));
}

function lessonButtons(context) {
  if (!context?.lesson) return [];
  const link = (lesson, text, cls) => (lesson
    ? h('a', { class: `button-link ${cls}`, href: lessonHash(lesson.id, context.course.id), title: lesson.title }, text)
    : null);
  return [link(context.previous, '← Previous', 'previous'), link(context.next, 'Next lesson →', 'next')];
}

// Everything that happens around the <video>: resume and saves, speed, shortcuts, the end.
function setUpPlayback(wrap, item, { context, progress, watched, speedSlot, params, signal }) {
  const el = wrap.querySelector('video');
  if (!el) return;
  speedSlot.replaceChildren(speedControl(el, signal));
  playerShortcuts(el, wrap.querySelector('.video-box'), { signal, onDone: (text) => flash(wrap, text) });
  trackProgress(el, item.id, {
    progress, signal,
    onSaved: (answer) => watched.set(answer?.watched),
    onResumed: (at) => {
      if (at > 0) flash(wrap, `Resumed at ${duration(Math.floor(at))}`);
      if (params.get('autoplay')) {
        el.play().catch(() => {}); // refused without a gesture: the person presses play
        history.replaceState(null, '', lessonHash(item.id, context?.course.id));
      }
    },
  });
  el.addEventListener('ended', () => onEnded(wrap, context, signal), { signal });
}

function onEnded(wrap, context, signal) {
  if (!context?.lesson) return;
  const box = wrap.querySelector('.video-box');
  if (!context.next) {
    courseDone(box, courseHash(context.course.id));
    return;
  }
  const next = context.next;
  upNext(box, next, {
    signal,
    go: () => { location.hash = lessonHash(next.id, context.course.id, { autoplay: '1' }); },
  });
}

export async function playerView({ root, signal }, id, params = new URLSearchParams()) {
  const item = await get(`/api/catalog/items/${id}`, { signal });
  const context = await courseContext(item, params, signal);
  const progress = await savedProgress(item, context, signal);
  const watched = watchedControls(item, progress, signal);
  const speedSlot = h('span', { class: 'speed-slot' });
  const slot = h('div', { class: 'player-slot' });
  const src = playableSrc(item);
  const mustDownload = h('p', { class: 'notice-inline' }, canDownload(item)
    ? 'This item is a link: download it first, then it plays here.'
    : 'This item has no video Aula can play or download.');
  const playback = { context, progress, watched, speedSlot, params, signal };
  let area = null;
  const gate = src && await convertGate(item, { signal, onReady: (url) => {
    slot.replaceChildren(video(url, item.title));
    setUpPlayback(slot.firstElementChild, item, playback);
    enhancePlayer(slot, item);
    area.playButton.hidden = false;
    followVideo(slot, area.playButton);
  } });
  slot.append(gate || (src ? video(src, item.title) : mustDownload));
  const onPlayable = (fresh) => {
    if (slot.querySelector('video')) return;
    slot.replaceChildren(video(playableSrc(fresh), fresh.title));
    setUpPlayback(slot.firstElementChild, item, playback);
    enhancePlayer(slot, fresh);
    followVideo(slot, area.playButton);
    notify(`“${fresh.title}” is downloaded and ready to play.`);
  };
  const play = () => {
    const el = slot.querySelector('video');
    if (!el) return;
    if (el.paused) el.play().catch(() => {}); // a refusal shows in the video's own error message
    else el.pause();
  };
  const rows = [
    ['Size', bytes(item.size_bytes)],
    ['Duration', duration(item.duration_s)],
    ['Source', SOURCE_NAMES[item.source] || item.source],
    ['Type', item.mime_type || '—'],
    ['Modified', when(item.modified_at)],
  ];
  if (item.source === 'local') rows.splice(3, 0, ['File', item.source_id]);
  area = downloadArea(item, signal, onPlayable, play);
  if (gate) area.playButton.hidden = true; // nothing to play until the conversion is done
  if (src && !gate) setUpPlayback(slot.firstElementChild, item, playback);
  followVideo(slot, area.playButton);
  if (!gate) enhancePlayer(slot, item); // subtitles, chapters, ?t= (tracks.js)
  const back = context
    ? h('a', { href: courseHash(context.course.id) }, `← ${context.course.title}`)
    : h('a', { href: '#/catalog' }, '← Catalog');
  append(root, [ // skips the parts a lone item has not (null)
    h('p', { class: 'back' }, back),
    h('div', { class: 'player-title' }, h('h1', {}, item.title), watched.badge),
    lessonLine(context),
    slot,
    h('div', { class: 'player-actions' },
      area, h('div', { class: 'player-bar' }, ...lessonButtons(context), speedSlot, watched.button)),
    details(rows),
    shortcutsHelp(),
  ]);
}

export async function downloadPlayerView({ root, signal }, id) {
  const download = await get(`/api/downloads/${id}`, { signal });
  const title = download.title || download.url;
  root.append(h('p', { class: 'back' }, h('a', { href: '#/downloads' }, '← Downloads')),
    h('h1', {}, title));
  if (download.state !== 'succeeded') {
    root.append(h('p', {}, `Download #${download.id} is ${download.state}; it plays once it has succeeded.`));
    return;
  }
  root.append(video(fileUrl(download), title),
    details([
      ['Size', bytes(download.file?.size_bytes)],
      ['File', download.file?.path || '—'],
      ['Finished', when(download.finished_at)],
    ]),
    h('p', {}, h('a', { href: fileUrl(download), download: '' }, 'Save the file')));
}
