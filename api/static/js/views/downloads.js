// Downloads: a live table (progress, speed, ETA, cancel, retry, play) and a form to add a URL.

import { del, get, patch, post, query } from '../api.js';
import { field, h, progressBar } from '../dom.js';
import { notify } from '../notify.js';
import { poll } from '../poller.js';
import { eta, speed } from '../format.js';
import { fileUrl } from './player.js';
import { WAITING } from './schedule.js';

const FORMATS = [
  ['', 'Best (default)'],
  ['bv*+ba/b', 'Best video + best audio (bv*+ba/b)'],
  ['worst', 'Smallest (worst)'],
  ['mp4', 'MP4 only (mp4)'],
  ['custom', 'Custom selector…'],
];
const ACTIVE = ['queued', 'running'];

function addForm(signal, onAdded) {
  const url = h('input', { type: 'url', name: 'url', required: true, placeholder: 'https://…' });
  const format = h('select', { name: 'format' }, FORMATS.map(([v, t]) => h('option', { value: v }, t)));
  const custom = h('input', { type: 'text', name: 'custom', autocomplete: 'off' });
  const customField = field('Custom format selector', custom, 'A yt-dlp format selector.');
  customField.hidden = true;
  format.addEventListener('change', () => {
    customField.hidden = format.value !== 'custom';
    custom.required = format.value === 'custom';
  });
  const submit = h('button', { type: 'submit' }, 'Add download');
  const form = h('form', { class: 'add-download admin-only' },
    field('Video URL', url), field('Format', format), customField, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const chosen = format.value === 'custom' ? custom.value.trim() : format.value;
    const body = { url: url.value.trim(), ...(chosen ? { format: chosen } : {}) };
    submit.disabled = true;
    try {
      const created = await post('/api/downloads', body, { signal });
      notify(`Download #${created.download.id} is ${created.download.state}.`);
      form.reset();
      customField.hidden = true;
      onAdded();
    } catch {
      // announced by the API client
    } finally {
      submit.disabled = false;
    }
  });
  return h('section', { class: 'admin-only', 'aria-labelledby': 'add-h' }, h('h2', { id: 'add-h' }, 'Add a download'), form);
}

function actionButtons(download, signal, refresh) {
  const act = (label, run) => h('button', { type: 'button', class: 'admin-only', 'aria-label': `${label} download #${download.id}`,
    onclick: async (event) => {
      event.currentTarget.disabled = true;
      try { await run(); } catch { /* announced */ }
      refresh();
    } }, label);
  const out = [];
  if (ACTIVE.includes(download.state)) {
    out.push(act('Cancel', () => del(`/api/downloads/${download.id}`, { signal })));
  }
  if (['failed', 'canceled'].includes(download.state)) {
    out.push(act('Retry', () => post(`/api/downloads/${download.id}/retry`, undefined, { signal })));
  }
  if (download.state === 'succeeded') {
    out.push(h('a', { href: `#/downloads/${download.id}/play`, 'aria-label': `Play download #${download.id}` }, 'Play'),
      h('a', { href: fileUrl(download), download: '', 'aria-label': `Save the file of download #${download.id}` }, 'File'));
    // Protected downloads are never removed by their subscription's retention.
    const keep = !download.protected;
    out.push(act(keep ? 'Protect' : 'Unprotect',
      () => patch(`/api/downloads/${download.id}`, { protected: keep }, { signal })));
  }
  return out;
}

function makeRow(download) {
  const cells = {
    name: h('td', { 'data-label': 'Download' }),
    state: h('td', { 'data-label': 'State', class: 'state' }),
    progress: h('td', { 'data-label': 'Progress' }),
    speed: h('td', { 'data-label': 'Speed' }),
    eta: h('td', { 'data-label': 'ETA' }),
    actions: h('td', { 'data-label': 'Actions', class: 'actions' }),
  };
  const bar = progressBar(`Progress of download #${download.id}`);
  cells.progress.append(bar);
  const tr = h('tr', { 'data-download-id': download.id }, Object.values(cells));
  return { tr, cells, bar, state: null };
}

function updateRow(row, download, signal, refresh) {
  const { cells, bar } = row;
  const p = download.progress || {};
  cells.name.replaceChildren(h('span', { class: 'url' }, download.title || download.url));
  if (download.error) cells.name.append(h('span', { class: 'row-error' }, download.error));
  cells.state.textContent = download.state;
  cells.state.dataset.state = download.state;
  const percent = download.state === 'succeeded' ? 100 : p.percent;
  const waiting = WAITING[download.waiting_reason] || 'waiting';
  bar.update(percent ?? null, download.state === 'queued' ? waiting : '');
  cells.speed.textContent = download.state === 'running' ? speed(p.speed_bps) : '—';
  cells.eta.textContent = download.state === 'running' ? eta(p.eta_s) : '—';
  const shape = `${download.state}:${download.protected}`;
  if (row.state !== shape) { // rebuilt only on change, so focus on a button survives polls
    cells.actions.replaceChildren(...actionButtons(download, signal, refresh));
    row.state = shape;
  }
}

export async function downloadsView({ root, signal }) {
  const tbody = h('tbody');
  const empty = h('p', { class: 'summary' });
  const table = h('table', { class: 'rows' },
    h('caption', { class: 'visually-hidden' }, 'Downloads, newest first'),
    h('thead', {}, h('tr', {}, ['Download', 'State', 'Progress', 'Speed', 'ETA', 'Actions']
      .map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const rows = new Map();
  let poller = null;
  const refresh = () => poller && poller.now();

  async function tick() {
    const page = await get(query('/api/downloads', { limit: 100 }), { signal });
    const seen = new Set();
    page.items.forEach((download, index) => {
      seen.add(download.id);
      if (!rows.has(download.id)) rows.set(download.id, makeRow(download));
      const row = rows.get(download.id);
      updateRow(row, download, signal, refresh);
      if (tbody.children[index] !== row.tr) tbody.insertBefore(row.tr, tbody.children[index] || null);
    });
    for (const [id, row] of rows) if (!seen.has(id)) { row.tr.remove(); rows.delete(id); }
    empty.textContent = page.items.length ? '' : 'No downloads yet.';
  }

  root.append(h('h1', {}, 'Downloads'), addForm(signal, refresh),
    h('section', { 'aria-labelledby': 'list-h' }, h('h2', { id: 'list-h' }, 'Recent downloads'), empty, table));
  poller = poll(tick, { interval: 1500, hiddenInterval: 10000, signal });
}
