// The catalog: a grid of cards with thumbnails, filters, title search and infinite scroll.

import { get, query } from '../api.js';
import { clear, field, h } from '../dom.js';
import { duration, SOURCE_NAMES } from '../format.js';

const PAGE = 24;
// "download": items made from finished URL downloads (CONTRACT 8.6), once the catalog has them.
const SOURCES = [['', 'All sources'], ['local', 'Local'], ['drive', 'Google Drive'], ['classroom', 'Classroom'],
  ['download', 'Downloads']];
// Kept across views, so the back button from the player finds the same filters.
const filters = { q: '', source: '', course_id: '' };

function thumbnail(item) {
  const placeholder = () => h('span', { class: 'thumb placeholder', 'aria-hidden': 'true' }, '▶');
  if (!item.thumbnail_url) return placeholder();
  const img = h('img', { class: 'thumb', src: item.thumbnail_url, alt: '', loading: 'lazy',
    width: 320, height: 180 });
  img.addEventListener('error', () => img.replaceWith(placeholder()), { once: true });
  return img;
}

function card(item) {
  const meta = [duration(item.duration_s), SOURCE_NAMES[item.source] || item.source];
  if (!item.stream_url) meta.push(item.download?.state === 'succeeded' ? 'downloaded' : 'link');
  return h('li', {},
    h('a', { class: 'card', href: `#/player/${item.id}`, 'data-item-id': item.id },
      thumbnail(item),
      h('span', { class: 'card-title' }, item.title),
      h('span', { class: 'card-meta' }, meta.join(' · '))));
}

function select(label, name, options) {
  const control = h('select', { name },
    options.map(([value, text]) => h('option', { value, selected: filters[name] === value }, text)));
  return { control, wrap: field(label, control) };
}

async function courseOptions(signal) {
  try {
    const page = await get(query('/api/classroom/courses', { limit: 200 }), { signal, quiet: true });
    return page.items.map((course) => [course.id, course.section ? `${course.name} (${course.section})` : course.name]);
  } catch {
    return []; // without courses the filter only offers "All courses"
  }
}

function filterForm(courses, onChange) {
  const search = h('input', { type: 'search', name: 'q', value: filters.q, autocomplete: 'off',
    placeholder: 'Words of the title' });
  const source = select('Source', 'source', SOURCES);
  const course = select('Course', 'course_id', [['', 'All courses'], ...courses]);
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { filters.q = search.value.trim(); onChange(); }, 300);
  });
  for (const { control } of [source, course]) {
    control.addEventListener('change', () => { filters[control.name] = control.value; onChange(); });
  }
  const form = h('form', { class: 'filters', role: 'search', onsubmit: (e) => {
    e.preventDefault(); clearTimeout(timer); filters.q = search.value.trim(); onChange();
  } }, field('Search titles', search), source.wrap, course.wrap);
  return form;
}

export async function catalogView({ root, signal }) {
  const grid = h('ul', { class: 'grid', 'aria-label': 'Catalog items' });
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'load-more', hidden: true }, 'Load more');
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
  root.append(h('h1', {}, 'Catalog'));
  const formSlot = h('div');
  root.append(formSlot, summary, grid, more, sentinel);

  let cursor = null;
  let generation = 0;
  let loading = false;
  let observer = null;

  async function load(reset) {
    if (loading && !reset) return;
    const mine = reset ? ++generation : generation;
    loading = true;
    const params = { ...filters, limit: PAGE, cursor: reset ? null : cursor };
    try {
      const page = await get(query('/api/catalog/items', params), { signal });
      if (mine !== generation) return;
      if (reset) clear(grid);
      grid.append(...page.items.map(card));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      const count = grid.children.length;
      if (count) summary.textContent = `${count} item${count === 1 ? '' : 's'} shown${cursor ? ', more below' : ''}.`;
      else {
        summary.replaceChildren('No items match. To fill the catalog, rebuild a source under ',
          h('a', { href: '#/sources' }, 'Sources'), '.');
      }
    } finally {
      if (mine === generation) loading = false;
    }
    // An observer reports only changes: if the sentinel is still in reach, ask it again.
    if (cursor && mine === generation) { observer.unobserve(sentinel); observer.observe(sentinel); }
  }

  more.addEventListener('click', () => load(false).catch(() => {}));
  observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && cursor && !loading) load(false).catch(() => {});
  }, { rootMargin: '400px' });
  observer.observe(sentinel);
  signal.addEventListener('abort', () => observer.disconnect(), { once: true });

  const first = load(true);
  formSlot.append(filterForm(await courseOptions(signal), () => load(true).catch(() => {})));
  await first;
}
