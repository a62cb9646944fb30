// Tasks: recent work in words ("Rebuild local catalog", "Download “Aula 1”"), its state and
// progress, when (relative; the exact time on hover), and Cancel; the Celery id and task name sit
// in a Details disclosure. The list is read every few ticks; in between only the active tasks are
// asked for, with If-None-Match (mostly 304s).

import { del, get, query } from '../api.js';
import { field, h, progressBar } from '../dom.js';
import { poll } from '../poller.js';
import { timeAgo } from '../format.js';

export const ACTIVE_STATES = ['PENDING', 'STARTED', 'PROGRESS', 'RETRY'];
export const STATE_WORDS = {
  PENDING: 'Waiting', STARTED: 'Running', PROGRESS: 'Running', RETRY: 'Retrying',
  SUCCESS: 'Done', FAILURE: 'Failed', REVOKED: 'Canceled',
};
const FILTERS = [['', 'All tasks'], ['catalog.rebuild', 'Catalog rebuilds'], ['catalog.sync', 'Drive syncs'],
  ['downloads.fetch', 'Downloads'], ['classroom.sync', 'Classroom syncs'], ['maintenance.cleanup', 'Clean-ups'],
  ['notifications.deliver', 'Notifications']];
const REBUILDS = { local: 'Rebuild local catalog', drive: 'Rebuild Drive catalog', all: 'Rebuild whole catalog' };
const TITLES = {
  'catalog.sync': 'Sync Drive',
  'classroom.sync': 'Sync Classroom',
  'maintenance.cleanup': 'Clean up',
  'notifications.deliver': 'Send a notification',
};
const LIST_EVERY = 4; // ticks

// A long URL cut in its middle: the host and the end, which tell most about it.
function shortUrl(url, max = 64) {
  return url.length <= max ? url : `${url.slice(0, max - 26)}…${url.slice(-25)}`;
}

// What a person calls the task; `subject` comes with the list (GET /api/tasks), not the poll.
export function taskTitle(task, subject = task.subject) {
  if (task.name === 'catalog.rebuild') return REBUILDS[subject?.source] || 'Rebuild catalog';
  if (task.name === 'downloads.fetch') {
    const what = subject?.title || (subject?.url && shortUrl(subject.url));
    return what ? `Download “${what}”` : 'Download';
  }
  if (task.name.startsWith('testing.')) return `Test task (${task.name.slice(8)})`;
  return TITLES[task.name] || task.name;
}

export function stateWord(state) {
  return STATE_WORDS[state] || state;
}

function disclosure(task, started) {
  return h('details', { class: 'task-details' }, h('summary', {}, 'Details'),
    h('dl', {},
      h('dt', {}, 'Task id'), h('dd', {}, h('code', { class: 'task-id' }, task.id)),
      h('dt', {}, 'Kind'), h('dd', {}, h('code', {}, task.name)),
      h('dt', {}, 'Started'), started));
}

function makeRow(task, signal, refresh) {
  const cells = {
    name: h('td', { 'data-label': 'Task', class: 'task-name' }),
    state: h('td', { 'data-label': 'State', class: 'state' }),
    progress: h('td', { 'data-label': 'Progress' }),
    created: h('td', { 'data-label': 'Created' }),
    finished: h('td', { 'data-label': 'Finished' }),
    actions: h('td', { 'data-label': 'Actions', class: 'actions' }),
  };
  const title = h('span', { class: 'task-title' });
  const error = h('span', { class: 'row-error', hidden: true });
  const started = h('dd', {});
  cells.name.append(title, error, disclosure(task, started));
  const bar = progressBar('Progress');
  cells.progress.append(bar);
  const cancel = h('button', { type: 'button', class: 'admin-only', onclick: async () => {
    cancel.disabled = true;
    try { await del(`/api/tasks/${task.id}`, { signal }); } catch { /* announced */ }
    refresh();
  } }, 'Cancel');
  cells.actions.append(cancel);
  const created = timeAgo(task.created_at);
  cells.created.append(created);
  const tr = h('tr', { 'data-task-id': task.id }, Object.values(cells));
  return { tr, cells, bar, cancel, title, error, started, times: [created], shown: {} };
}

// Times are rebuilt only when they change, so an open Details stays open across polls.
function setTime(row, key, cell, iso) {
  if (row.shown[key] === iso) return;
  row.shown[key] = iso;
  const el = timeAgo(iso);
  row.times = row.times.filter((t) => t.dataset.key !== key);
  el.dataset.key = key;
  row.times.push(el);
  cell.replaceChildren(el);
}

function updateRow(row, task) {
  const { cells, bar, cancel } = row;
  if (task.subject !== undefined) row.subject = task.subject;
  const title = taskTitle(task, row.subject);
  row.title.textContent = title;
  if (row.subject?.url) row.title.title = row.subject.url;
  row.error.textContent = task.error?.message || '';
  row.error.hidden = !task.error;
  cells.state.textContent = stateWord(task.state);
  cells.state.dataset.state = task.state;
  const active = ACTIVE_STATES.includes(task.state);
  const done = task.state === 'SUCCESS';
  // A task that ended without success keeps the percent it reached, and no busy bar.
  bar.hidden = !active && !done && task.progress?.percent == null;
  bar.update(done ? 100 : task.progress?.percent ?? null, task.progress?.message || '');
  bar.querySelector('progress').setAttribute('aria-label', `Progress of ${title}`);
  setTime(row, 'started', row.started, task.started_at);
  setTime(row, 'finished', cells.finished, task.finished_at);
  cancel.hidden = !active;
  cells.actions.classList.toggle('idle', !active);
  cancel.setAttribute('aria-label', `Cancel ${title}`);
}

export async function tasksView({ root, signal }) {
  const tbody = h('tbody');
  const empty = h('p', { class: 'summary' });
  const nameFilter = h('select', { name: 'name' }, FILTERS.map(([value, text]) => h('option', { value }, text)));
  const rows = new Map();
  let ticks = 0;
  let poller = null;
  const refresh = () => { ticks = 0; if (poller) poller.now(); };
  nameFilter.addEventListener('change', refresh);

  async function readList() {
    const page = await get(query('/api/tasks', { limit: 50, name: nameFilter.value }), { signal });
    const seen = new Set(page.items.map((t) => t.id));
    for (const [id, row] of rows) if (!seen.has(id)) { row.tr.remove(); rows.delete(id); }
    page.items.forEach((task, index) => {
      if (!rows.has(task.id)) rows.set(task.id, makeRow(task, signal, refresh));
      const row = rows.get(task.id);
      updateRow(row, task);
      row.active = ACTIVE_STATES.includes(task.state);
      if (tbody.children[index] !== row.tr) tbody.insertBefore(row.tr, tbody.children[index] || null);
    });
    empty.textContent = page.items.length ? '' : 'No tasks yet.';
  }

  async function readActive() {
    for (const [id, row] of rows) {
      if (!row.active) continue;
      const task = await get(`/api/tasks/${id}`, { signal });
      updateRow(row, task);
      row.active = ACTIVE_STATES.includes(task.state);
    }
  }

  async function tick() {
    const listTurn = ticks % LIST_EVERY === 0;
    ticks += 1;
    await (listTurn ? readList() : readActive());
    for (const row of rows.values()) for (const time of row.times) time.refresh(); // "2 minutes ago" moves on
  }

  root.append(h('h1', {}, 'Tasks'),
    h('form', { class: 'filters tasks-filter', onsubmit: (e) => e.preventDefault() }, field('Show', nameFilter)),
    empty,
    h('table', { class: 'rows tasks' },
      h('caption', { class: 'visually-hidden' }, 'Recent tasks, newest first'),
      h('thead', {}, h('tr', {}, ['Task', 'State', 'Progress', 'Created', 'Finished', 'Actions']
        .map((t) => h('th', { scope: 'col' }, t)))),
      tbody));
  poller = poll(tick, { interval: 1000, hiddenInterval: 10000, signal });
}
