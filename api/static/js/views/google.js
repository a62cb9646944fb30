// Settings → Google accounts: the OAuth client file, Connect (the browser goes to Google and comes
// back), the accounts with their status, a paste box for a server the browser cannot reach,
// Reconnect, Delete and a folder picker over the account's Drive. No token is ever shown.

import { del, get, post, query, request } from '../api.js';
import { field, h } from '../dom.js';
import { notify } from '../notify.js';

const GUIDE = '/api/google/guide';
const STATUS = { ok: 'ok', needs_reconnect: 'needs reconnecting', revoked: 'revoked' };

function clientPart(signal, reload) {
  const state = h('p', { class: 'google-client', 'aria-live': 'polite' });
  const file = h('input', { type: 'file', name: 'client_file', accept: '.json,application/json', required: true });
  const form = h('form', { class: 'stack' },
    field('Google client file (JSON)', file, 'The file Google Cloud\'s Credentials page downloads for a Desktop client.'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Upload client file')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    try {
      const text = await chosen.text();
      await request('PUT', '/api/google/client', { body: text, contentType: 'application/json', signal });
      notify('Google client saved.');
    } catch { /* announced */ }
    form.reset();
    reload().catch(() => {});
  });
  const show = (client) => {
    state.replaceChildren(client.configured
      ? `Client ${client.client_id} (${client.type === 'web' ? 'Web' : 'Desktop'}). `
      : 'No Google client yet: make one in Google Cloud and upload its file. ',
    'Redirect URI: ', h('code', {}, client.redirect_uri), '.');
  };
  return { node: h('div', {}, h('p', {}, 'New to this? ', h('a', { href: GUIDE, target: '_blank', rel: 'noopener' },
    'The guide (docs/google.md)'), ' walks through the Google Cloud side in ten minutes.'), state, form), show };
}

function connectPart(signal, reload) {
  const link = h('p', { class: 'google-auth-link', hidden: true });
  const address = h('input', { type: 'url', name: 'redirect_url', autocomplete: 'off', required: true });
  const paste = h('form', { class: 'stack' },
    field('Paste the address', address, 'Signed in on another device? After allowing access, copy the whole'
      + ' address from that browser\'s address bar (it ends on an error page) and paste it here.'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Finish connecting')));
  paste.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const made = await post('/api/google/connections/complete', { redirect_url: address.value.trim() }, { signal });
      notify(`Connected ${made.email}.`);
      link.hidden = true;
    } catch { /* announced */ }
    paste.reset();
    reload().catch(() => {});
  });
  const start = async (path, here) => {
    const started = await post(path, {}, { signal });
    if (here) {
      location.assign(started.authorization_url);
      return;
    }
    link.replaceChildren('Open this address in a browser where you can sign in to Google (valid 10 minutes): ',
      h('a', { href: started.authorization_url, target: '_blank', rel: 'noopener', class: 'auth-url' }, 'Google sign-in'),
      ' ', h('code', { class: 'auth-url-text' }, started.authorization_url));
    link.hidden = false;
  };
  const buttons = h('div', { class: 'buttons' },
    h('button', { type: 'button', onclick: () => start('/api/google/connections', true).catch(() => {}) }, 'Connect a Google account'),
    h('button', { type: 'button', onclick: () => start('/api/google/connections', false).catch(() => {}) }, 'Connect from another device'));
  return { node: h('div', { class: 'stack' }, buttons, link, paste), start };
}

async function folderPicker(connection, signal, reload) {
  const listing = await get(query('/api/drive/files', { folder_id: 'root', connection_id: connection.id }), { signal });
  const chosen = new Set(connection.drive_folder_ids);
  const box = (id, label) => h('label', { class: 'folder-choice' },
    h('input', { type: 'checkbox', value: id, checked: chosen.has(id) }), ' ', label);
  const folders = listing.files.filter((file) => file.is_folder);
  const form = h('form', { class: 'stack folder-picker', 'aria-label': `Drive folders of ${connection.email}` },
    h('fieldset', {}, h('legend', {}, `Folders Aula indexes for ${connection.email}`),
      box('root', 'All of My Drive'), ...folders.map((folder) => box(folder.id, folder.name))),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Save folders')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const ids = [...form.querySelectorAll('input:checked')].map((input) => input.value);
    try {
      await request('PATCH', `/api/google/connections/${connection.id}`, { json: { drive_folder_ids: ids }, signal });
      notify('Folders saved; the next rebuild follows them.');
    } catch { /* announced */ }
    reload().catch(() => {});
  });
  return form;
}

// A folder by the name Drive last gave it, its id as the tooltip; one Drive no longer lets the
// account read (deleted, trashed, unshared) keeps its last name and says so.
function folderLabel(folder) {
  const name = folder.name || (folder.id === 'root' ? 'My Drive' : folder.id);
  if (folder.readable === false) {
    return h('span', { class: 'drive-folder unreadable', 'data-folder-id': folder.id,
      title: `Drive folder ${folder.id}: this account cannot read it any more` },
    name, ' ', h('em', {}, '(cannot be read)'));
  }
  return h('span', { class: 'drive-folder', 'data-folder-id': folder.id, title: `Drive folder ${folder.id}` }, name);
}

function folderCell(connection) {
  const folders = connection.drive_folders || [];
  if (!folders.length) return '—';
  return folders.flatMap((folder, index) => [index ? ', ' : null, folderLabel(folder)]);
}

function accountRow(connection, signal, reload, connect, picker, changed) {
  const actions = h('td', { 'data-label': 'Actions', class: 'actions' });
  if (connection.status !== 'ok') {
    actions.append(h('button', { type: 'button', onclick: () => connect.start(`/api/google/connections/${connection.id}/reconnect`, true).catch(() => {}) }, 'Reconnect'));
  } else {
    actions.append(h('button', { type: 'button', onclick: async () => {
      try { picker.replaceChildren(await folderPicker(connection, signal, reload)); } catch { /* announced */ }
    } }, 'Folders'));
  }
  actions.append(h('button', { type: 'button', 'aria-label': `Delete ${connection.email}`, onclick: async () => {
    try { await del(`/api/google/connections/${connection.id}`, { signal }); notify(`${connection.email} removed.`); } catch { /* announced */ }
    reload().catch(() => {});
    changed(); // a credential of PUT /api/credentials/google goes with the connection it made
  } }, 'Delete'));
  const missing = connection.missing_scopes.length
    ? h('span', { class: 'row-error' }, `Not allowed: ${connection.missing_scopes.map((s) => s.split('/').pop()).join(', ')}`) : null;
  return h('tr', { 'data-connection': String(connection.id) },
    h('td', { 'data-label': 'Account' }, connection.email, missing),
    h('td', { 'data-label': 'Kind' }, connection.kind === 'oauth' ? 'account' : 'service account'),
    h('td', { 'data-label': 'Status', class: `status status-${connection.status}` }, STATUS[connection.status] || connection.status,
      connection.status_reason && connection.status !== 'ok' ? h('span', { class: 'row-error' }, connection.status_reason) : null),
    h('td', { 'data-label': 'Folders' }, folderCell(connection)),
    actions);
}

// `changed` is told when a deletion here may have changed the stored credentials.
export function googleSection(signal, changed = () => {}) {
  const tbody = h('tbody');
  const picker = h('div');
  let reload = async () => {};
  const client = clientPart(signal, () => reload());
  const connect = connectPart(signal, () => reload());
  reload = async () => {
    const [info, page] = await Promise.all([get('/api/google/client', { signal }),
      get(query('/api/google/connections', { limit: 200 }), { signal })]);
    client.show(info);
    tbody.replaceChildren(...page.items.map((c) => accountRow(c, signal, reload, connect, picker, changed)));
    if (!page.items.length) tbody.append(h('tr', {}, h('td', { colspan: 5 }, 'No Google account connected yet.')));
  };
  const section = h('section', { 'aria-labelledby': 'ga-h', class: 'google-accounts' },
    h('h2', { id: 'ga-h' }, 'Google accounts'), client.node,
    h('table', { class: 'rows' },
      h('caption', { class: 'visually-hidden' }, 'Connected Google accounts'),
      h('thead', {}, h('tr', {}, ['Account', 'Kind', 'Status', 'Folders', 'Actions']
        .map((t) => h('th', { scope: 'col' }, t)))),
      tbody),
    connect.node, picker);
  return { section, reload };
}

// Back from Google: say which account arrived (the callback's 303 names it).
export function connectedFrom(hash) {
  const found = /[?&]connected=(\d+)/.exec(hash);
  return found ? Number(found[1]) : null;
}

