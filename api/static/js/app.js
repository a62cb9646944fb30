// The router: #/home (continue watching, courses), #/course/<id>, #/catalog, #/player/<id>, #/downloads, #/tasks, #/sources, #/subscriptions,
// #/settings; people: #/signin, #/setup, #/account, #/users. Who is signed in decides the rest.

import { ApiError, del, get, session } from './api.js';
import { clear, h } from './dom.js';
import { clearNotices } from './notify.js';
import { accountView, setupView, signInView, usersView } from './views/account.js';
import { catalogView } from './views/catalog.js';
import { courseView } from './views/course.js';
import { homeView } from './views/home.js';
import { downloadsView } from './views/downloads.js';
import { playerView, downloadPlayerView } from './views/player.js';
import { settingsView } from './views/settings.js';
import { sourcesView } from './views/sources.js';
import { subscriptionsView } from './views/subscriptions.js';
import { tasksView } from './views/tasks.js';
import { mountSearchBox, searchView } from './views/search.js';

const ROUTES = [
  [/^#\/home$/, 'home', () => homeView],
  [/^#\/course\/([^/?#]+)$/, 'home', (id) => (ctx) => courseView(ctx, decodeURIComponent(id))],
  [/^#\/player\/(\d+)\?(.*)$/, 'home', (id, qs) => (ctx) => playerView(ctx, id, new URLSearchParams(qs))],
  [/^#\/catalog$/, 'catalog', () => catalogView],
  [/^#\/player\/(\d+)(?:\?t=\d+(?:\.\d+)?)?$/, 'catalog', (id) => (ctx) => playerView(ctx, id)],
  [/^#\/search(?:\?q=([^&]*))?$/, null, (q) => (ctx) => searchView(ctx, q)],
  [/^#\/downloads$/, 'downloads', () => downloadsView],
  [/^#\/downloads\/(\d+)\/play$/, 'downloads', (id) => (ctx) => downloadPlayerView(ctx, id)],
  [/^#\/tasks$/, 'tasks', () => tasksView],
  [/^#\/sources$/, 'sources', () => sourcesView],
  [/^#\/subscriptions$/, 'subscriptions', () => subscriptionsView],
  [/^#\/signin$/, null, () => signInView],
  [/^#\/setup$/, null, () => setupView],
  [/^#\/account$/, 'account', () => accountView],
  [/^#\/users$/, 'users', () => usersView],
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
    location.replace('#/home');
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

// Who is here: the header's user menu, and admin-only navigation hidden from viewers (the API
// refuses them anyway). Signed out once people exist: only the sign-in page.
async function whoAmI() {
  try {
    const me = await get('/api/session', { quiet: true });
    Object.assign(session, { user: me.user, role: me.role, csrf: me.csrf_token, setupRequired: me.setup_required });
  } catch (error) {
    if (error.status !== 401) throw error;
    // Signed out once people exist; any other 401 is the admin token (REQUIRE_AUTH_FOR_READS)
    // of an install without people, which Settings asks for as before.
    const signIn = error.details && error.details.reason === 'sign_in_required';
    Object.assign(session, { user: null, role: null, csrf: null, setupRequired: !signIn });
  }
  session.known = true;
}

function signOutButton() {
  return h('button', { type: 'button', class: 'linkish', onclick: async () => {
    try { await del('/api/session'); } catch { /* announced */ }
    location.replace('#/signin');
    location.reload();
  } }, 'Sign out');
}

function renderWho() {
  const who = clear(document.getElementById('who'));
  const nav = document.querySelector('header.top nav');
  const signedOut = !session.setupRequired && !session.role;
  nav.hidden = signedOut;
  document.body.dataset.role = session.role || (session.setupRequired ? 'admin' : 'none');
  for (const item of document.querySelectorAll('nav li[data-admin]')) {
    item.hidden = session.role === 'viewer' || (item.hasAttribute('data-people') && session.setupRequired);
  }
  if (session.setupRequired) {
    who.append(h('a', { href: '#/setup', class: 'setup-link' }, 'Create the admin account'));
  } else if (session.user) {
    who.append(h('span', { class: 'who-name' }, `${session.user.username} (${session.user.role})`), ' ',
      h('a', { href: '#/account' }, 'Account'), ' ', signOutButton());
  } else if (session.role) {
    who.append(h('span', { class: 'who-name' }, 'admin token'));
  }
}

async function start() {
  await whoAmI();
  renderWho();
  if (session.setupRequired || session.role) mountSearchBox();
  const signedOut = !session.setupRequired && !session.role;
  if (signedOut && !location.hash.startsWith('#/signin')) {
    if (location.hash) sessionStorage.setItem('aula.after', location.hash);
    location.replace('#/signin');
  }
  window.addEventListener('hashchange', route);
  route();
}

start();
