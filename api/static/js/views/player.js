// The player: a <video> on the item's stream (or its finished download), details, a download button.

import { get, post } from '../api.js';
import { notify } from '../notify.js';
import { h, progressBar } from '../dom.js';
import { poll } from '../poller.js';
import { bytes, duration, when } from '../format.js';

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

function downloadArea(item, signal, onPlayable) {
  const status = h('p', { class: 'download-state' });
  const bar = progressBar('Download progress');
  bar.hidden = true;
  const button = h('button', { type: 'button' }, 'Download');
  let watching = false;

  function show(download) {
    if (!download) return;
    status.textContent = `Download #${download.id}: ${download.state}`;
    bar.hidden = !['queued', 'running', 'succeeded'].includes(download.state);
    const done = download.state === 'succeeded';
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
      // announced by the API client
    } finally {
      button.disabled = false;
    }
  });
  show(item.download);
  if (['queued', 'running'].includes(item.download?.state)) watch();
  return h('div', { class: 'download-area' }, button, status, bar);
}

export async function playerView({ root, signal }, id) {
  const item = await get(`/api/catalog/items/${id}`, { signal });
  const slot = h('div', { class: 'player-slot' });
  const src = playableSrc(item);
  const mustDownload = h('p', { class: 'notice-inline' },
    'This item is a link: download it first, then it plays here.');
  slot.append(src ? video(src, item.title) : mustDownload);
  const onPlayable = (fresh) => {
    if (slot.querySelector('video')) return;
    slot.replaceChildren(video(playableSrc(fresh), fresh.title));
    notify(`“${fresh.title}” is downloaded and ready to play.`);
  };
  root.append(
    h('p', { class: 'back' }, h('a', { href: '#/catalog' }, '← Catalog')),
    h('h1', {}, item.title),
    slot,
    details([
      ['Size', bytes(item.size_bytes)],
      ['Duration', duration(item.duration_s)],
      ['Source', item.source],
      ['Type', item.mime_type || '—'],
      ['Modified', when(item.modified_at)],
    ]),
    downloadArea(item, signal, onPlayable),
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
