// The router: #/catalog, #/player/<id>, #/downloads, #/tasks, #/sources, #/subscriptions,
// #/settings.

import { ApiError } from './api.js';
import { clear, h } from './dom.js';
import { clearNotices } from './notify.js';
import { catalogView } from './views/catalog.js';
import { downloadsView } from './views/downloads.js';
import { playerView, downloadPlayerView } from './views/player.js';
import { settingsView } from './views/settings.js';
import { sourcesView } from './views/sources.js';
import { subscriptionsView } from './views/subscriptions.js';
import { tasksView } from './views/tasks.js';

const ROUTES = [
  [/^#\/catalog$/, 'catalog', () => catalogView],
  [/^#\/player\/(\d+)$/, 'catalog', (id) => (ctx) => playerView(ctx, id)],
  [/^#\/downloads$/, 'downloads', () => downloadsView],
  [/^#\/downloads\/(\d+)\/play$/, 'downloads', (id) => (ctx) => downloadPlayerView(ctx, id)],
  [/^#\/tasks$/, 'tasks', () => tasksView],
  [/^#\/sources$/, 'sources', () => sourcesView],
  [/^#\/subscriptions$/, 'subscriptions', () => subscriptionsView],
  [/^#\/settings(?:\?setting=([A-Z][A-Z0-9_]*))?$/, 'settings', (setting) => (ctx) => settingsView(ctx, setting)],
  [/^#\/settings\?connected=\d+$/, 'settings', () => (ctx) => settingsView(ctx)],
];

let leave = null; // aborts the current view's polls and requests
let firstRoute = true;

function match(hash) {
  for (const [pattern, nav, make] of ROUTES) {
    const found = pattern.exec(hash);
    if (found) return { nav, view: make(...found.slice(1)) };
  }
  return null;
}

function markNav(nav) {
  for (const link of document.querySelectorAll('nav a[data-view]')) {
    if (link.dataset.view === nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function notFound(ctx) {
  ctx.root.append(
    h('h1', { tabindex: '-1' }, 'Not found'),
    h('p', {}, 'Nothing is at this address. ', h('a', { href: '#/catalog' }, 'Back to the catalog')),
  );
}

async function route() {
  const found = match(location.hash);
  if (!found && !location.hash) {
    location.replace('#/catalog');
    return;
  }
  if (leave) leave.abort();
  leave = new AbortController();
  clearNotices(location.hash); // what the last view said is about the last view
  const root = clear(document.getElementById('main'));
  markNav(found ? found.nav : null);
  const ctx = { root, signal: leave.signal };
  try {
    await (found ? found.view : notFound)(ctx);
  } catch (error) {
    if (error.name === 'AbortError') return;
    if (!(error instanceof ApiError)) throw error;
    // Already announced; the view still gets a heading and a way back instead of a blank page.
    if (!root.querySelector('h1')) {
      root.append(h('h1', {}, 'This view could not be loaded'),
        h('p', {}, error.message, ' ', h('a', { href: '#/catalog' }, 'Back to the catalog')));
    }
  }
  // After a navigation, focus goes to the new view's heading; on first load it stays put, so the
  // skip link is the first stop of the Tab key.
  const heading = root.querySelector('h1');
  if (heading && !firstRoute && !root.contains(document.activeElement)) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
  firstRoute = false;
}

window.addEventListener('hashchange', route);
route();
