// Settings: the admin token (this tab only), Google credentials and cookies.txt. Secrets go to
// the server and are never shown back: only configured / updated_at / fingerprint are. Server
// settings (.env) are explained here too: errors caused by one link to #/settings?setting=NAME.

import { del, get, put, request, token } from '../api.js';
import { field, h } from '../dom.js';
import { notify } from '../notify.js';
import { when } from '../format.js';
import { connectedFrom, googleSection } from './google.js';
import { scheduleSection } from './schedule.js';

function tokenSection() {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off' });
  const state = h('p', { class: 'token-state', 'aria-live': 'polite' });
  const show = () => {
    state.textContent = token.get() ? 'A token is stored for this tab.' : 'No token is stored.';
  };
  const forget = h('button', { type: 'button', onclick: () => { token.forget(); show(); notify('Admin token forgotten.'); } },
    'Forget token');
  const form = h('form', { class: 'stack' }, field('Admin token', input,
    'Kept in this tab\'s sessionStorage only; sent as a Bearer token with every request.'),
  h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Save token'), forget));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    token.set(input.value.trim());
    input.value = '';
    show();
    notify('Admin token saved for this tab.');
  });
  show();
  return h('section', { 'aria-labelledby': 'tok-h' }, h('h2', { id: 'tok-h' }, 'Admin token'), state, form);
}

// `changed` is told after a removal: removing the google credential disconnects its account.
function statusTable(tbody, signal, changed) {
  const load = async () => {
    const infos = await get('/api/credentials', { signal });
    tbody.replaceChildren(...infos.map((info) => h('tr', { 'data-kind': info.kind },
      h('td', { 'data-label': 'Credential' }, info.kind),
      h('td', { 'data-label': 'Configured', class: 'configured' }, info.configured ? 'yes' : 'no'),
      h('td', { 'data-label': 'Updated' }, when(info.updated_at)),
      h('td', { 'data-label': 'Fingerprint' }, h('code', {}, info.fingerprint || '—')),
      h('td', { 'data-label': 'Actions', class: 'actions' }, info.configured
        ? h('button', { type: 'button', 'aria-label': `Remove the ${info.kind} credential`,
          title: info.kind === 'google' ? 'Also deletes the Google account connection it made' : null, onclick: async () => {
          try { await del(`/api/credentials/${info.kind}`, { signal }); notify(`${info.kind} removed.`); } catch { /* announced */ }
          load().catch(() => {});
          changed();
        } }, 'Remove') : null))));
  };
  return load;
}

function googleForm(signal, reload) {
  const inputs = {
    client_id: h('input', { type: 'text', name: 'client_id', required: true, autocomplete: 'off' }),
    client_secret: h('input', { type: 'password', name: 'client_secret', required: true, autocomplete: 'off' }),
    refresh_token: h('input', { type: 'password', name: 'refresh_token', required: true, autocomplete: 'off' }),
  };
  const form = h('form', { class: 'stack' },
    field('OAuth client ID', inputs.client_id),
    field('OAuth client secret', inputs.client_secret),
    field('Refresh token', inputs.refresh_token, 'Drive read-only and Classroom read-only scopes.'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Save Google credentials')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]));
    try {
      await put('/api/credentials/google', body, { signal });
      notify('Google credentials saved.');
    } catch { /* announced */ }
    form.reset(); // the secrets leave the page whatever the answer
    reload().catch(() => {});
  });
  return h('section', { 'aria-labelledby': 'g-h' }, h('h2', { id: 'g-h' }, 'Google credentials (by hand)'), form);
}

function cookiesForm(signal, reload) {
  const file = h('input', { type: 'file', name: 'cookies', accept: '.txt,text/plain', required: true });
  const form = h('form', { class: 'stack' },
    field('cookies.txt (Netscape format)', file, 'Sent with URL downloads, for sites that need a login.'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Upload cookies')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    try {
      const text = await chosen.text();
      await request('PUT', '/api/credentials/cookies', { body: text, contentType: 'text/plain', signal });
      notify('Cookies saved.');
    } catch { /* announced */ }
    form.reset();
    reload().catch(() => {});
  });
  return h('section', { 'aria-labelledby': 'c-h' }, h('h2', { id: 'c-h' }, 'Cookies for URL downloads'), form);
}

// What the settings that errors name do, and a line to put in .env.
const SERVER_SETTINGS = {
  DOWNLOAD_ALLOW_PRIVATE_HOSTS: ['true', 'Lets downloads reach loopback and private addresses (this machine,'
    + ' your home or school network). Link-local and cloud metadata addresses stay refused.'],
  ADMIN_TOKEN: ['<a secret of 24 characters or more>', 'Once set, changes need this token (enter it'
    + ' above) and may come from any machine; until then only from this one.'],
  DISK_FREE_FLOOR_MB: ['256', 'Downloads are refused while less than this many MB are free in the'
    + ' download folder.'],
  MAX_CONTENT_LENGTH: ['2097152', 'The largest request body, in bytes, that Aula accepts.'],
  ENCRYPTION_KEY: ['<new key>,<old key>', 'The keys stored credentials are encrypted with, newest first;'
    + ' make run writes one when none is set. Keep an old key after the new one until nothing needs it.'],
};

function serverSettings(named) {
  const intro = h('p', {}, 'Aula reads its server settings when it starts: from its environment, or from'
    + ' the ', h('code', {}, '.env'), ' file in its folder (', h('code', {}, '.env.example'),
  ' lists every one with its default). Change one there, then restart Aula (stop ', h('code', {}, 'make run'),
  ' with Ctrl-C and start it again).');
  const section = h('section', { 'aria-labelledby': 'srv-h', class: 'server-settings' },
    h('h2', { id: 'srv-h' }, 'Server settings'), intro);
  if (named) {
    const [example, what] = SERVER_SETTINGS[named] || ['…', 'See .env.example for what it does.'];
    const box = h('div', { class: 'setting-box', tabindex: '-1', 'data-setting': named },
      h('h3', {}, h('code', {}, named)),
      h('p', {}, what),
      h('p', {}, 'In ', h('code', {}, '.env'), ': ', h('code', { class: 'env-line' }, `${named}=${example}`)));
    section.append(box);
  }
  return section;
}

export async function settingsView({ root, signal }, setting = null) {
  const tbody = h('tbody');
  // The credential of PUT /api/credentials/google and the connection it makes are one: a change
  // to either redraws both tables.
  let google = null;
  const reload = statusTable(tbody, signal, () => google.reload().catch(() => {}));
  google = googleSection(signal, () => reload().catch(() => {}));
  const reloadBoth = () => Promise.all([reload(), google.reload()]);
  const schedule = scheduleSection(signal);
  // Arriving from an error that names a setting, its explanation comes first.
  const server = serverSettings(setting);
  root.append(...[
    h('h1', {}, 'Settings'),
    setting ? server : null,
    tokenSection(),
    google.section,
    schedule.section,
    h('section', { 'aria-labelledby': 'cred-h' }, h('h2', { id: 'cred-h' }, 'Stored credentials'),
      h('table', { class: 'rows' },
        h('caption', { class: 'visually-hidden' }, 'Stored credentials, never shown back'),
        h('thead', {}, h('tr', {}, ['Credential', 'Configured', 'Updated', 'Fingerprint', 'Actions']
          .map((t) => h('th', { scope: 'col' }, t)))),
        tbody)),
    googleForm(signal, reloadBoth),
    cookiesForm(signal, reload),
    setting ? null : server].filter(Boolean));
  const box = root.querySelector('.setting-box');
  if (box) {
    box.focus({ preventScroll: true });
    box.scrollIntoView({ block: 'center' });
  }
  await Promise.all([reload().catch(() => {}), google.reload().catch(() => {}),
    schedule.reload().catch(() => {})]);
  const connected = connectedFrom(location.hash);
  if (connected !== null) {
    const row = root.querySelector(`tr[data-connection="${connected}"]`);
    if (row) notify(`Connected ${row.querySelector('td').firstChild.textContent}.`);
  }
}
