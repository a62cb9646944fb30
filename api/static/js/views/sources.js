// Sources: rebuild and sync buttons with their task's progress, last sync times, Classroom courses.

import { get, post, query } from '../api.js';
import { h, progressBar } from '../dom.js';
import { notify } from '../notify.js';
import { poll } from '../poller.js';
import { timeAgo } from '../format.js';
import { ACTIVE_STATES, stateWord } from './tasks.js';

const tracked = {}; // control key -> task id, kept while the user visits other views
const LAST = [['catalog.rebuild', 'Last catalog rebuild'], ['catalog.sync', 'Last Drive sync'],
  ['classroom.sync', 'Last Classroom sync']];

// {"local": {"items": 2, "removed": 0}} -> "local: items 2, removed 0"
function describe(result) {
  return Object.entries(result).map(([key, value]) => (value && typeof value === 'object'
    ? `${key}: ${describe(value)}` : `${key} ${value}`)).join(', ');
}

function summary(task) {
  if (task.state === 'SUCCESS' && task.result) return describe(task.result);
  if (task.error) return task.error.message;
  return task.progress?.message || '';
}

function taskControl(key, label, start, signal, onDone) {
  const button = h('button', { type: 'button', 'data-control': key }, label);
  const bar = progressBar(`${label} progress`);
  const state = h('span', { class: 'task-state', 'data-control-state': key });
  const note = h('span', { class: 'task-note' });
  bar.hidden = true; // until there is a task to show
  let poller = null;

  function follow(taskId) {
    tracked[key] = taskId;
    bar.hidden = false;
    if (poller) poller.stop();
    poller = poll(async () => {
      const task = await get(`/api/tasks/${taskId}`, { signal });
      state.textContent = stateWord(task.state);
      state.dataset.state = task.state;
      bar.update(task.state === 'SUCCESS' ? 100 : task.progress?.percent ?? null);
      note.textContent = summary(task);
      if (!ACTIVE_STATES.includes(task.state)) {
        poller.stop();
        if (task.state === 'SUCCESS') onDone();
      }
    }, { interval: 1000, hiddenInterval: 10000, signal });
  }

  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const answer = await start();
      notify(`${label}: task queued.`);
      follow(answer.task_id);
    } catch {
      // announced by the API client
    } finally {
      button.disabled = false;
    }
  });
  if (tracked[key]) follow(tracked[key]);
  const li = h('li', { class: 'task-control' }, button, h('span', { class: 'task-live' }, state, bar, note));
  li.button = button;
  return li;
}

// The server refuses Drive and Classroom work until Google is connected: say so, and where.
async function needGoogle(controls, notice, signal) {
  let connected = true;
  try {
    const infos = await get('/api/credentials', { signal, quiet: true });
    connected = infos.some((info) => info.kind === 'google' && info.configured);
    // A connected account (Settings → Google) counts too.
    if (!connected) connected = (await get(query('/api/google/connections', { limit: 1 }), { signal, quiet: true })).items.length > 0;
  } catch {
    return; // unknown: leave the buttons as they are, the server has the last word
  }
  for (const control of controls) {
    control.button.disabled = !connected;
    if (connected) control.button.removeAttribute('aria-describedby');
    else control.button.setAttribute('aria-describedby', notice.id);
  }
  notice.hidden = connected;
}

async function lastTimes(list, signal) {
  const rows = await Promise.all(LAST.map(async ([name, label]) => {
    const page = await get(query('/api/tasks', { name, state: 'SUCCESS', limit: 1 }), { signal });
    return [label, timeAgo(page.items[0]?.finished_at)];
  }));
  list.replaceChildren(...rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

function courseRow(course, signal) {
  const result = h('span', { class: 'course-result', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', 'aria-label': `Download all videos of ${course.name}`,
    onclick: async () => {
      button.disabled = true;
      try {
        const body = await post(`/api/classroom/courses/${encodeURIComponent(course.id)}/downloads`,
          undefined, { signal });
        const refused = body.refused?.length ? `, ${body.refused.length} refused` : '';
        result.textContent = `${body.downloads.length} enqueued, ${body.skipped} skipped${refused}.`;
      } catch { /* announced */ } finally { button.disabled = false; }
    } }, 'Download all');
  const follow = h('button', { type: 'button', 'aria-label': `Subscribe to ${course.name}`,
    onclick: async () => {
      follow.disabled = true;
      try {
        const body = { source: 'classroom', course_id: course.id };
        const sub = await post('/api/subscriptions', body, { signal });
        result.textContent = `Subscribed: new videos download on their own (${sub.downloads} so far).`;
      } catch { /* announced */ } finally { follow.disabled = false; }
    } }, 'Subscribe');
  return h('tr', {},
    h('td', { 'data-label': 'Course' }, course.name),
    h('td', { 'data-label': 'Section' }, course.section || '—'),
    h('td', { 'data-label': 'State' }, course.state || '—'),
    h('td', { 'data-label': 'Items' }, String(course.item_count)),
    h('td', { 'data-label': 'Actions', class: 'actions' }, button, follow, result));
}

async function courses(tbody, empty, signal) {
  const page = await get(query('/api/classroom/courses', { limit: 200 }), { signal });
  tbody.replaceChildren(...page.items.map((course) => courseRow(course, signal)));
  tbody.parentElement.hidden = !page.items.length;
  empty.textContent = page.items.length ? '' : 'No courses yet: sync Classroom first.';
}

function googleNotice(id) {
  return h('p', { class: 'notice-inline info', id, hidden: true },
    'Google is not connected yet, so Drive and Classroom cannot be synced. ',
    h('a', { href: '#/settings' }, 'Connect Google in Settings'));
}

export async function sourcesView({ root, signal }) {
  const times = h('dl', { class: 'details' });
  const tbody = h('tbody');
  const empty = h('p', { class: 'summary' });
  const refresh = () => lastTimes(times, signal).catch(() => {});
  const rebuild = (source) => () => post('/api/catalog/rebuild', { source }, { signal });
  const afterClassroom = () => { refresh(); courses(tbody, empty, signal).catch(() => {}); };
  const google = [
    taskControl('rebuild-drive', 'Rebuild Drive', rebuild('drive'), signal, refresh),
    taskControl('sync-drive', 'Sync Drive', () => post('/api/catalog/sync', { source: 'drive' }, { signal }),
      signal, refresh),
    taskControl('sync-classroom', 'Sync Classroom', () => post('/api/classroom/sync', undefined, { signal }),
      signal, afterClassroom),
  ];
  const notice = googleNotice('google-needed');
  root.append(
    h('h1', {}, 'Sources'),
    notice,
    h('section', { 'aria-labelledby': 'cat-h' }, h('h2', { id: 'cat-h' }, 'Catalog'),
      h('ul', { class: 'controls' },
        taskControl('rebuild-local', 'Rebuild local', rebuild('local'), signal, refresh),
        google[0],
        taskControl('rebuild-all', 'Rebuild all', rebuild('all'), signal, refresh),
        google[1]),
      times),
    h('section', { 'aria-labelledby': 'cls-h' }, h('h2', { id: 'cls-h' }, 'Google Classroom'),
      h('ul', { class: 'controls' }, google[2]),
      empty,
      h('table', { class: 'rows' },
        h('caption', { class: 'visually-hidden' }, 'Classroom courses'),
        h('thead', {}, h('tr', {}, ['Course', 'Section', 'State', 'Items', 'Actions']
          .map((t) => h('th', { scope: 'col' }, t)))),
        tbody)));
  await Promise.all([refresh(), courses(tbody, empty, signal).catch(() => {}),
    needGoogle(google, notice, signal)]);
}
