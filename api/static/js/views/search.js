// Search what was said: a box in the header and #/search?q=..., hits grouped by course, each
// opening the player at the second the words are spoken.

import { get, query } from '../api.js';
import { h } from '../dom.js';
import { playerHref } from './tracks.js';

const PAGE = 50;

function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds || 0));
  const m = Math.floor(whole / 60);
  return `${m}:${String(whole % 60).padStart(2, '0')}`;
}

// The header's search box: on every page, it opens the search view.
export function mountSearchBox() {
  const header = document.querySelector('header.top');
  if (!header || header.querySelector('.top-search')) return;
  const input = h('input', { type: 'search', name: 'q', placeholder: 'Search what was said',
    'aria-label': 'Search lessons and transcripts', autocomplete: 'off' });
  const form = h('form', { class: 'top-search', role: 'search', onsubmit: (event) => {
    event.preventDefault();
    const words = input.value.trim();
    if (words) location.hash = `#/search?q=${encodeURIComponent(words)}`;
  } }, input);
  header.insertBefore(form, document.getElementById('who'));
}

async function courseNames(signal) {
  try {
    const page = await get(query('/api/classroom/courses', { limit: 200 }), { signal, quiet: true });
    return new Map(page.items.map((course) => [course.id, course.name]));
  } catch {
    return new Map(); // without names a group shows its course id
  }
}

function hitLink(hit) {
  const at = hit.start_s > 0 ? clock(hit.start_s) : 'title';
  return h('li', { class: 'hit' },
    h('a', { href: playerHref(hit.item_id, hit.start_s), 'data-item-id': hit.item_id, 'data-start': hit.start_s },
      h('span', { class: 'hit-time' }, at), ' ',
      h('span', { class: 'hit-title' }, hit.title), ' ',
      hit.start_s > 0 ? h('q', { class: 'hit-text' }, hit.text) : null));
}

function grouped(hits, names) {
  const groups = new Map();
  for (const hit of hits) {
    const key = hit.course_id || '';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(hit);
  }
  return Array.from(groups, ([course, list]) => h('section', { class: 'hit-group', 'data-course-id': course },
    h('h2', {}, course ? names.get(course) || `Course ${course}` : 'Lessons outside a course'),
    h('ul', { class: 'hits' }, list.map(hitLink))));
}

export async function searchView({ root, signal }, encoded) {
  const q = encoded ? decodeURIComponent(encoded.replace(/\+/g, ' ')) : '';
  const input = h('input', { type: 'search', name: 'q', value: q, autocomplete: 'off',
    'aria-label': 'Search words' });
  const results = h('div', { class: 'search-results', 'aria-live': 'polite' });
  const form = h('form', { class: 'search-form', role: 'search', onsubmit: (event) => {
    event.preventDefault();
    const words = input.value.trim();
    if (words) location.hash = `#/search?q=${encodeURIComponent(words)}`;
  } }, input, h('button', { type: 'submit' }, 'Search'));
  root.append(h('h1', {}, q ? `Search: ${q}` : 'Search'), form, results);
  if (!q) {
    results.append(h('p', {}, 'Words from a lesson’s title or from what is said in it.'));
    return;
  }
  const [page, names] = await Promise.all([
    get(query('/api/search', { q, limit: PAGE }), { signal }), courseNames(signal)]);
  const hits = [...page.items];
  results.append(h('p', { class: 'summary' }, hits.length
    ? `${hits.length}${page.next_cursor ? '+' : ''} ${hits.length === 1 ? 'place' : 'places'} found.` : 'Nothing found.'), ...grouped(hits, names));
}
