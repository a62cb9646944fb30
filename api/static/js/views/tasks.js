// Tasks: recent task records with state and progress, and cancel. The list is read every few
// ticks; in between only the active tasks are asked for, with If-None-Match (mostly 304s).

import { del, get, query } from '../api.js';
import { field, h, progressBar } from '../dom.js';
import { poll } from '../poller.js';
import { when } from '../format.js';

export const ACTIVE_STATES = ['PENDING', 'STARTED', 'PROGRESS', 'RETRY'];
const NAMES = ['', 'catalog.rebuild', 'catalog.sync', 'downloads.fetch', 'classroom.sync', 'maintenance.cleanup',
  'notifications.deliver'];
const LIST_EVERY = 4; // ticks

function makeRow(task, signal, refresh) {
  const cells = {
    name: h('td', { 'data-label': 'Task' }),
    state: h('td', { 'data-label': 'State', class: 'state' }),
    progress: h('td', { 'data-label': 'Progress' }),
    created: h('td', { 'data-label': 'Created' }),
    finished: h('td', { 'data-label': 'Finished' }),
    actions: h('td', { 'data-label': 'Actions', class: 'actions' }),
  };
  const bar = progressBar(`Progress of task ${task.name}`);
  cells.progress.append(bar);
  const cancel = h('button', { type: 'button', 'aria-label': `Cancel task ${task.name} ${task.id}`,
    onclick: async () => {
      cancel.disabled = true;
      try { await del(`/api/tasks/${task.id}`, { signal }); } catch { /* announced */ }
      refresh();
    } }, 'Cancel');
  cells.actions.append(cancel);
  return { tr: h('tr', { 'data-task-id': task.id }, Object.values(cells)), cells, bar, cancel };
}

function updateRow(row, task) {
  const { cells, bar, cancel } = row;
  cells.name.replaceChildren(h('span', {}, task.name), h('span', { class: 'task-id' }, task.id));
  if (task.error) cells.name.append(h('span', { class: 'row-error' }, task.error.message));
  cells.state.textContent = task.state;
  cells.state.dataset.state = task.state;
  const done = task.state === 'SUCCESS';
  bar.update(done ? 100 : task.progress?.percent ?? null, task.progress?.message || '');
  cells.created.textContent = when(task.created_at);
  cells.finished.textContent = when(task.finished_at);
  cancel.hidden = !ACTIVE_STATES.includes(task.state);
}

export async function tasksView({ root, signal }) {
  const tbody = h('tbody');
  const empty = h('p', { class: 'summary' });
  const nameFilter = h('select', { name: 'name' }, NAMES.map((n) => h('option', { value: n }, n || 'All tasks')));
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
  }

  root.append(h('h1', {}, 'Tasks'),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() }, field('Show', nameFilter)),
    empty,
    h('table', { class: 'rows' },
      h('caption', { class: 'visually-hidden' }, 'Recent tasks, newest first'),
      h('thead', {}, h('tr', {}, ['Task', 'State', 'Progress', 'Created', 'Finished', 'Actions']
        .map((t) => h('th', { scope: 'col' }, t)))),
      tbody));
  poller = poll(tick, { interval: 1000, hiddenInterval: 10000, signal });
}
