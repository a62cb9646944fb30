// Subscriptions: subscribe a course or a Drive folder, see what each brought and when it last
// looked, unsubscribe; and the recent webhook notifications with their state.

import { del, get, post, query } from '../api.js';
import { field, h } from '../dom.js';
import { notify } from '../notify.js';
import { poll } from '../poller.js';
import { when } from '../format.js';

function sourceName(sub, courses) {
  if (sub.source === 'classroom') {
    const course = courses.get(sub.course_id);
    return course ? `Course ${course.name}` : `Course ${sub.course_id}`;
  }
  return `Drive folder ${sub.folder_id}`;
}

function subscriptionRow(sub, courses, signal, refresh) {
  const label = sourceName(sub, courses);
  const button = h('button', { type: 'button', 'aria-label': `Unsubscribe ${label}`,
    onclick: async () => {
      button.disabled = true;
      try {
        await del(`/api/subscriptions/${sub.id}`, { signal });
        notify(`Unsubscribed from ${label}; its downloads stay.`);
      } catch { /* announced */ }
      refresh();
    } }, 'Unsubscribe');
  return h('tr', { 'data-subscription-id': String(sub.id) },
    h('td', { 'data-label': 'Source' }, label),
    h('td', { 'data-label': 'Format' }, sub.format || 'default'),
    h('td', { 'data-label': 'Downloads', class: 'brought' }, String(sub.downloads)),
    h('td', { 'data-label': 'Last checked', class: 'checked' }, when(sub.last_checked_at)),
    h('td', { 'data-label': 'Since' }, when(sub.created_at)),
    h('td', { 'data-label': 'Actions', class: 'actions' }, button));
}

function notificationRow(row) {
  const error = row.last_error ? h('span', { class: 'row-error' }, row.last_error) : null;
  return h('tr', { 'data-delivery-id': String(row.id) },
    h('td', { 'data-label': 'Event' }, h('span', {}, row.event), error),
    h('td', { 'data-label': 'State', class: 'state', 'data-state': row.state }, row.state),
    h('td', { 'data-label': 'Attempts' }, String(row.attempts)),
    h('td', { 'data-label': 'Receiver' }, row.host),
    h('td', { 'data-label': 'When' }, when(row.delivered_at || row.created_at)));
}

function table(caption, headings, tbody) {
  return h('table', { class: 'rows' },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
}

function subscribeForm(signal, refresh) {
  const source = h('select', { name: 'source' },
    h('option', { value: 'classroom' }, 'Classroom course'),
    h('option', { value: 'drive' }, 'Drive folder'));
  const course = h('select', { name: 'course_id' });
  const folder = h('input', { name: 'folder_id', type: 'text', autocomplete: 'off', spellcheck: false });
  const format = h('input', { name: 'format', type: 'text', autocomplete: 'off', placeholder: 'bv*+ba/b' });
  const courseField = field('Course', course);
  const folderField = field('Drive folder id', folder, 'A folder inside the indexed Drive folders.');
  const toggle = () => {
    courseField.hidden = source.value !== 'classroom';
    folderField.hidden = source.value !== 'drive';
  };
  source.addEventListener('change', toggle);
  toggle();
  const submit = h('button', { type: 'submit' }, 'Subscribe');
  const form = h('form', { class: 'filters', onsubmit: async (event) => {
    event.preventDefault();
    const body = { source: source.value };
    if (source.value === 'classroom') body.course_id = course.value;
    else body.folder_id = folder.value.trim();
    if (format.value.trim()) body.format = format.value.trim();
    submit.disabled = true;
    try {
      const sub = await post('/api/subscriptions', body, { signal });
      notify(`Subscribed: ${sub.downloads} video${sub.downloads === 1 ? '' : 's'} enqueued.`);
      refresh();
    } catch { /* announced */ } finally { submit.disabled = false; }
  } }, field('Source', source), courseField, folderField,
  field('Format (optional)', format, 'A yt-dlp format selector for YouTube materials.'), submit);
  form.fill = (list) => {
    course.replaceChildren(...list.map((c) => h('option', { value: c.id }, c.name)));
    if (!list.length) course.append(h('option', { value: '' }, 'No courses: sync Classroom first'));
  };
  return form;
}

export async function subscriptionsView({ root, signal }) {
  const courses = new Map();
  const subs = h('tbody');
  const subsEmpty = h('p', { class: 'summary' });
  const notes = h('tbody');
  const notesEmpty = h('p', { class: 'summary' });
  let poller = null;
  const refresh = () => { if (poller) poller.now(); };
  const form = subscribeForm(signal, refresh);

  async function tick() {
    const [subPage, notePage] = await Promise.all([
      get(query('/api/subscriptions', { limit: 200 }), { signal }),
      get(query('/api/notifications', { limit: 20 }), { signal }),
    ]);
    subs.replaceChildren(...subPage.items.map((s) => subscriptionRow(s, courses, signal, refresh)));
    subsEmpty.textContent = subPage.items.length ? '' : 'No subscriptions yet.';
    notes.replaceChildren(...notePage.items.map(notificationRow));
    notesEmpty.textContent = notePage.items.length ? '' : 'No notifications yet (set WEBHOOK_URLS).';
  }

  root.append(h('h1', {}, 'Subscriptions'),
    h('section', { 'aria-labelledby': 'sub-new-h' }, h('h2', { id: 'sub-new-h' }, 'Subscribe'), form),
    h('section', { 'aria-labelledby': 'sub-h' }, h('h2', { id: 'sub-h' }, 'Subscribed'), subsEmpty,
      table('Subscriptions, newest first', ['Source', 'Format', 'Downloads', 'Last checked', 'Since',
        'Actions'], subs)),
    h('section', { 'aria-labelledby': 'note-h' }, h('h2', { id: 'note-h' }, 'Recent notifications'),
      notesEmpty, table('Webhook deliveries, newest first', ['Event', 'State', 'Attempts', 'Receiver',
        'When'], notes)));
  const page = await get(query('/api/classroom/courses', { limit: 200 }), { signal });
  for (const course of page.items) courses.set(course.id, course);
  form.fill(page.items);
  poller = poll(tick, { interval: 3000, hiddenInterval: 15000, signal });
}
