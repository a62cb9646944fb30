// The player: a <video> on the item's stream (or its finished download), details, and the actions
// that make sense for the item: Play and the file always when it plays; Download only when there
// is something to fetch (never for a local file, which is one already, or a finished download).

import { get, post } from '../api.js';
import { notify } from '../notify.js';
import { h, progressBar } from '../dom.js';
import { poll } from '../poller.js';
import { bytes, duration, SOURCE_NAMES, when } from '../format.js';
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
  return h('div', { class: 'video-wrap' }, el, message);
}

function details(rows) {
  return h('dl', { class: 'details' },
    rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

function playableSrc(item) {
  if (item.stream_url) return item.stream_url;
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

export async function playerView({ root, signal }, id) {
  const item = await get(`/api/catalog/items/${id}`, { signal });
  const slot = h('div', { class: 'player-slot' });
  const src = playableSrc(item);
  const mustDownload = h('p', { class: 'notice-inline' }, canDownload(item)
    ? 'This item is a link: download it first, then it plays here.'
    : 'This item has no video Aula can play or download.');
  slot.append(src ? video(src, item.title) : mustDownload);
  let area = null;
  const onPlayable = (fresh) => {
    if (slot.querySelector('video')) return;
    slot.replaceChildren(video(playableSrc(fresh), fresh.title));
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
  followVideo(slot, area.playButton);
  enhancePlayer(slot, item); // subtitles, chapters, ?t= (tracks.js)
  root.append(
    h('p', { class: 'back' }, h('a', { href: '#/catalog' }, '← Catalog')),
    h('h1', {}, item.title),
    slot,
    area,
    details(rows),
  );
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
